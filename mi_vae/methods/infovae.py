"""InfoVAE (Zhao, Song & Ermon, "InfoVAE: Information Maximizing Variational Autoencoders", 2017,
arXiv:1706.02262): the probabilistic autoencoder and the InfoVAE family.

Notation: recon = -E_{q(z|x)}[log p(x|z)] and KL = KL(q(z|x) || p(z)), both batch means of per-example
values (nats); D(q(z) || p(z)) a divergence between the aggregate posterior q(z) = E_x q(z|x) and the
prior p(z) = N(0, I), estimated on the (global) mini-batch of codes z_i ~ q(z|x_i). The encoder is the
usual diagonal Gaussian q(z|x) with reparameterised samples in every variant. ``regularizer``
selects the loss the ``vae`` player minimises:

``"ae"``: the probabilistic autoencoder, eq. (2):
    loss = recon                          (maximises L_AE = E_{q(x,z)}[log p(x|z)])
  No regulariser at all; alpha and lambda_ are not used. The encoder stays Gaussian and z is still
  sampled from q(z|x): Proposition 1 is about a stochastic q(z|x) (its Markov chain (3) must be
  ergodic), so the encoder is not made deterministic. Nothing ties q(z|x) to p(z), so training makes it
  "deterministic-ish" (log-variances fall toward the clip LOG_VAR_MIN and the means spread out) and
  ancestral sampling p(z) p(x|z) is not a valid sampler: the method declares no ``prior_sampling``
  capability and evaluation draws samples from the Markov chain of eq. 3 (``VAEModel.markov_chain``).

``"elbo"``: the ELBO baseline of section 2 / eq. (1) (Kingma & Welling):
    loss = recon + KL                     (alpha and lambda_ are not used; see also method beta_vae)

``"mmd"``, ``"stein"``, ``"adversarial"``: the InfoVAE objective
    loss = recon + (1 - alpha) * KL + (alpha + lambda_ - 1) * D(q(z) || p(z))
  i.e. minus L_InfoVAE = E log p(x|z) - (1 - alpha) E KL(q(z|x)||p(z)) - (alpha + lambda - 1) D(q(z)||p(z))
  of the later (AAAI 2019) version of the paper, which is where alpha comes from. The stored text has
  no alpha: its criterion is section 4's unnumbered
      L_IVAE = -lambda D(q_phi(z) || p(z)) + E_{q(z,x)}[log p(x|z)],
  which is the case alpha = 1 (the default), i.e. loss = recon + lambda_ * D. D is
    mmd:         L_MMD(q(z), p(z)) (section 4.1.3, the MMD-VAE criterion L_MMD-VAE), between the batch of
                 codes z ~ q(z|x) and as many prior draws, ``losses.mmd`` with kernel ``mmd_kernel``
                 (default "rbf": InfoVAE's Gaussian kernel; ``mmd_scales`` default (1.0,), one
                 Gaussian exp(-||z - z'||^2 / (2 d)); ``mmd_unbiased`` default False, the
                 V-statistic of the InfoVAE reference code).
    stein:       the Stein surrogate of section 4.1.2, D_hat = -(1/n) sum_i z_i . stop_gradient(phi*(z_i))
                 with phi* the empirical Stein variational direction for the score of N(0, I)
                 (``losses.stein_surrogate(z, lambda z: -z) / n``, RBF kernel, median-heuristic bandwidth
                 unless ``stein_bandwidth`` > 0). Its value is not a divergence; its gradient
                 w.r.t. the encoder's parameters w is the paper's (1/n) sum_i (dz_i/dw)^T (-phi*(z_i)),
                 an estimate of grad_w KL(q(z) || p(z)), so gradient descent moves the codes along phi*
                 (the paper's surrogate z^T stop_gradient(phi*) has the opposite sign). It reaches the
                 encoder only through z (kernel, bandwidth and score are constants). Dividing by n puts
                 it on the per-example scale of recon, so lambda_ does not depend on the batch size.
    adversarial: the adversarial autoencoder's Jensen-Shannon term (section 4.1.1, Makhzani et al.) with a
                 discriminator MLP T on z: D = non-saturating generator loss -E_q[log sigmoid T(z)]
                 (``losses.gan_generator_loss``). A second player "discriminator" (its own optimizer,
                 ``config.optim.discriminator``) minimises the cross-entropy
                 -E_p[log sigmoid T(z)] - E_q[log(1 - sigmoid T(z))] (``losses.gan_discriminator_loss``)
                 with prior draws as "real" and codes z ~ q(z|x) as "fake"; with ``update_mode="sequential"``
                 the engine updates the VAE first, then the discriminator, on the same batch; with
                 "simultaneous" both learn from one forward pass.

Metrics (batch means): recon_nll, kl, elbo; ``regularizer`` (the D term's value, 0 for ae/elbo); ``mmd``
(the batch MMD^2 to the prior, for every variant, as a diagnostic of q(z) vs p(z)); for stein ``stein``
(the surrogate's value) and ``stein_phi_norm`` (mean ||phi*(z_i)||, near 0 when q(z) = p(z)); for adversarial
``gen_loss`` and ``disc_accuracy`` (and, for the discriminator player, ``disc_loss``, ``disc_accuracy``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from mi_vae import losses, models
from mi_vae.errors import ConfigError
from mi_vae.methods import base

REGULARIZERS = ("ae", "elbo", "mmd", "stein", "adversarial")


def normal_score(z: jax.Array) -> jax.Array:
    """grad_z log N(z; 0, I) = -z."""
    return -z


@dataclasses.dataclass(frozen=True)
class InfoVAE:
    """InfoVAE with one of ``REGULARIZERS`` (see the module docstring for each loss)."""

    model: base.VAEModel
    regularizer: str
    alpha: float
    lambda_: float
    mmd_kernel: str
    mmd_scales: tuple[float, ...]
    mmd_unbiased: bool
    stein_bandwidth: float | None
    discriminator: models.MLP | None
    update: str

    default_optim = {"discriminator": {"learning_rate": 1e-4}}  # "a sufficiently small learning rate"

    @property
    def players(self) -> tuple[str, ...]:
        return ("vae", "discriminator") if self.regularizer == "adversarial" else ("vae",)

    @property
    def capabilities(self) -> frozenset[str]:
        caps = base.capabilities(self.model, base.MARKOV_CHAIN)
        # The unregularised autoencoder's p(z) p(x|z) is not its generative model (Proposition 1).
        return caps - {base.PRIOR_SAMPLING} if self.regularizer == "ae" else caps

    # --- coefficients ---------------------------------------------------------------------
    @property
    def kl_weight(self) -> float:
        """Weight of E KL(q(z|x) || p(z)): 0 (ae), 1 (elbo) or 1 - alpha."""
        return {"ae": 0.0, "elbo": 1.0}.get(self.regularizer, 1.0 - self.alpha)

    @property
    def divergence_weight(self) -> float:
        """Weight of D(q(z) || p(z)): 0 (ae, elbo) or alpha + lambda_ - 1."""
        return 0.0 if self.regularizer in ("ae", "elbo") else self.alpha + self.lambda_ - 1.0

    # --- model ----------------------------------------------------------------------------
    def init(self, rng, x):
        rng_vae, rng_disc = jax.random.split(rng)
        nets = {}
        if self.discriminator is not None:
            z = jnp.zeros((x.shape[0], self.model.latent_dim), jnp.float32)
            nets["discriminator"] = self.discriminator.init(rng_disc, z)["params"]
        return base.init_players(self.model, rng_vae, x, **nets)

    def discriminate(self, disc_params, z: jax.Array) -> jax.Array:
        """Discriminator logits T(z), [B] float32 (positive: "prior sample")."""
        return self.discriminator.apply({"params": disc_params}, z)[:, 0].astype(jnp.float32)

    # --- divergences between q(z) and p(z) -------------------------------------------------
    def batch_mmd(self, z: jax.Array, z_prior: jax.Array) -> jax.Array:
        """MMD^2 between codes and prior draws with the configured kernel (InfoVAE 4.1.3)."""
        return losses.mmd(z, z_prior, kernel=self.mmd_kernel, unbiased=self.mmd_unbiased, scales=self.mmd_scales)

    def stein_term(self, z: jax.Array) -> jax.Array:
        """Stein surrogate / n (InfoVAE 4.1.2): d/dz_i = -phi*(z_i) / n; gradient only through z."""
        return losses.stein_surrogate(z, normal_score, bandwidth=self.stein_bandwidth) / z.shape[0]

    def divergence(self, params, z: jax.Array, z_prior: jax.Array):
        """(D, metrics) for the configured regulariser, from codes z ~ q(z|x) and prior draws.

        The adversarial D reads the discriminator through ``stop_gradient`` under the simultaneous update.
        """
        mmd = self.batch_mmd(z, z_prior)
        if self.regularizer == "mmd":
            return mmd, {"mmd": mmd}
        metrics = {"mmd": jax.lax.stop_gradient(mmd)}
        if self.regularizer == "stein":
            stein = self.stein_term(z)
            phi = -z.shape[0] * jax.grad(self.stein_term)(jax.lax.stop_gradient(z))
            metrics.update(stein=stein, stein_phi_norm=jnp.mean(jnp.linalg.norm(phi, axis=-1)))
            return stein, metrics
        if self.regularizer == "adversarial":
            disc = params["discriminator"]
            if self.update == "simultaneous":
                disc = jax.lax.stop_gradient(disc)
            logits_fake = self.discriminate(disc, z)
            gen = losses.gan_generator_loss(logits_fake)
            logits_real = self.discriminate(disc, z_prior)
            metrics.update(gen_loss=gen, disc_accuracy=_accuracy(logits_real, logits_fake))
            return gen, metrics
        return jnp.zeros((), jnp.float32), metrics

    # --- losses ---------------------------------------------------------------------------
    def losses(self, params, batch_stats, batch, rng, step):
        rng_z, rng_prior = jax.random.split(rng)
        x = batch["x"]
        terms, new_stats = self.model.forward(params, batch_stats, x, rng_z)
        z = terms["z"]
        z_prior = self.model.sample_prior(rng_prior, z.shape[0])
        divergence, div_metrics = self.divergence(params, z, z_prior)
        metrics = {**base.elbo_metrics(terms), "regularizer": divergence, **div_metrics,
                   # I_q(x; z) against the batch's aggregate posterior (<= log B), logged for figure 1
                   "mi_batch": jax.lax.stop_gradient(losses.aggregate_posterior_mi(z, terms["mean"],
                                                                                   terms["log_var"]))}
        loss = metrics["recon_nll"]
        if self.kl_weight:
            loss = loss + self.kl_weight * metrics["kl"]
        if self.divergence_weight:
            loss = loss + self.divergence_weight * divergence
        out = {"vae": (loss, metrics)}
        if self.regularizer == "adversarial":
            # The discriminator sees the codes as data: no gradient into the encoder from its loss.
            logits_real = self.discriminate(params["discriminator"], z_prior)
            logits_fake = self.discriminate(params["discriminator"], jax.lax.stop_gradient(z))
            disc_loss = losses.gan_discriminator_loss(logits_real, logits_fake)
            out["discriminator"] = (disc_loss, {"disc_loss": disc_loss,
                                                "disc_accuracy": _accuracy(logits_real, logits_fake)})
        return out, new_stats


def _accuracy(logits_real: jax.Array, logits_fake: jax.Array) -> jax.Array:
    """Discriminator accuracy at threshold 0, averaged over the real and the fake halves."""
    return 0.5 * (jnp.mean((logits_real > 0).astype(jnp.float32)) + jnp.mean((logits_fake < 0).astype(jnp.float32)))


def build(spec: base.DataSpec, *, model, dtype, regularizer: str = "mmd", alpha: float = 1.0,
          lambda_: float = 1000.0, mmd_kernel: str = "rbf", mmd_scales=(1.0,), mmd_unbiased: bool = False,
          stein_bandwidth: float = 0.0, update_mode: str = "simultaneous", mmd_bandwidth: str = "2d") -> InfoVAE:
    """InfoVAE; the defaults are the MMD-VAE of the paper's MNIST experiments.

    Args:
      spec: the data.
      model: ``config.model``: latent_dim, encoder, decoder, and (adversarial) ``discriminator``
        (``models.MLP`` fields; default widths 512-512).
      dtype: compute dtype of the networks.
      regularizer: one of ``REGULARIZERS``.
      alpha: the InfoVAE weight alpha (loss = recon + (1 - alpha) KL + (alpha + lambda_ - 1) D); unused by
        "ae" and "elbo".
      lambda_: the InfoVAE weight lambda of the same loss; unused by "ae" and "elbo".
      mmd_kernel: ``losses.mmd``'s kernel, for the "mmd" regulariser and the ``mmd`` metric.
      mmd_scales: ``losses.mmd``'s scales (same use).
      mmd_unbiased: ``losses.mmd``'s U-statistic switch (same use).
      mmd_bandwidth: the RBF kernel's base bandwidth h in exp(-||z - z'||^2 / (s h)): "2d" (the library's
        ``losses`` convention) or "d2", the InfoVAE authors' code, exp(-||z - z'||^2 / d^2) at scale 1 (d the
        latent size; for d > 2 a wider kernel, 5x at d = 10).
      stein_bandwidth: the Stein kernel's bandwidth; <= 0: the median heuristic.
      update_mode: "simultaneous" or "sequential" (matters for the adversarial regulariser only).
    """
    base.check_model(model, nets=("discriminator",))
    if regularizer not in REGULARIZERS:
        raise ConfigError(f"regularizer must be one of {', '.join(REGULARIZERS)}, got {regularizer!r}")
    if mmd_bandwidth not in MMD_BANDWIDTHS:
        raise ConfigError(f"mmd_bandwidth must be one of {', '.join(MMD_BANDWIDTHS)}, got {mmd_bandwidth!r}")
    if mmd_bandwidth == "d2" and mmd_kernel != "rbf":
        raise ConfigError("mmd_bandwidth='d2' is the authors' RBF kernel: it needs mmd_kernel='rbf'")
    # losses.mmd's RBF uses h = s * 2d; the authors' h = d^2 is s' = s * d / 2
    widen = int(model["latent_dim"]) / 2.0 if mmd_bandwidth == "d2" else 1.0
    discriminator = None
    if regularizer == "adversarial":
        fields = {"widths": (512, 512), **base.net_kwargs(model, "discriminator", models.MLP)}
        discriminator = models.MLP(out=1, dtype=dtype, **fields)
    return InfoVAE(base.make_model(spec, model, dtype), regularizer, alpha=float(alpha), lambda_=float(lambda_),
                   mmd_kernel=str(mmd_kernel), mmd_scales=tuple(float(s) * widen for s in mmd_scales),
                   mmd_unbiased=bool(mmd_unbiased),
                   stein_bandwidth=float(stein_bandwidth) if stein_bandwidth and stein_bandwidth > 0 else None,
                   discriminator=discriminator, update=base.check_update(update_mode))


MMD_BANDWIDTHS = ("2d", "d2")

__all__ = ["MMD_BANDWIDTHS", "REGULARIZERS", "InfoVAE", "build", "normal_score"]
