"""InfoVAE (Zhao, Song & Ermon, infovae.txt): the probabilistic autoencoder and the InfoVAE family.

Notation: recon = -E_{q(z|x)}[log p(x|z)] and KL = KL(q(z|x) || p(z)), both batch means of per-example
values (nats); D(q(z) || p(z)) a divergence between the aggregate posterior q(z) = E_x q(z|x) and the
prior p(z) = N(0, I), estimated on the (global) mini-batch of codes z_i ~ q(z|x_i). The encoder is the
usual diagonal Gaussian q(z|x) with reparameterised samples in every variant. ``config.regularizer``
selects the loss the ``vae`` player minimises:

``"ae"``: the probabilistic autoencoder, eq. (2):
    loss = recon                          (maximises L_AE = E_{q(x,z)}[log p(x|z)])
  No regulariser at all; alpha and lambda_ are not used. The encoder stays Gaussian and z is still
  sampled from q(z|x): Proposition 1 is about a stochastic q(z|x) (its Markov chain (3) must be
  ergodic), so the encoder is not made deterministic. Nothing ties q(z|x) to p(z), so training makes it
  "deterministic-ish" (log-variances fall toward the clip LOG_VAR_MIN and the means spread out) and
  ancestral sampling p(z) p(x|z) is not a valid sampler: use ``markov_chain_samples`` (eq. 3).

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
                 codes z ~ q(z|x) and as many prior draws, ``losses.mmd`` with kernel ``config.mmd_kernel``
                 (default "rbf": InfoVAE's Gaussian kernel; ``config.mmd_scales`` default (1.0,), one
                 Gaussian exp(-||z - z'||^2 / (2 d)); ``config.mmd_unbiased`` default False, the
                 V-statistic of the InfoVAE reference code).
    stein:       the Stein surrogate of section 4.1.2, D_hat = -(1/n) sum_i z_i . stop_gradient(phi*(z_i))
                 with phi* the empirical Stein variational direction for the score of N(0, I)
                 (``losses.stein_surrogate(z, lambda z: -z) / n``, RBF kernel, median-heuristic bandwidth
                 unless ``config.stein_bandwidth`` > 0). Its value is not a divergence; its gradient
                 w.r.t. the encoder's parameters w is the paper's (1/n) sum_i (dz_i/dw)^T (-phi*(z_i)),
                 an estimate of grad_w KL(q(z) || p(z)), so gradient descent moves the codes along phi*
                 (the paper's surrogate z^T stop_gradient(phi*) has the opposite sign). It reaches the
                 encoder only through z (kernel, bandwidth and score are constants). Dividing by n puts
                 it on the per-example scale of recon, so lambda_ does not depend on the batch size.
    adversarial: the adversarial autoencoder's Jensen-Shannon term (section 4.1.1, Makhzani et al.) with a
                 discriminator MLP T on z: D = non-saturating generator loss -E_q[log sigmoid T(z)]
                 (``losses.gan_generator_loss``). A second player "discriminator" (its own Adam,
                 ``config.discriminator_learning_rate``) minimises the cross-entropy
                 -E_p[log sigmoid T(z)] - E_q[log(1 - sigmoid T(z))] (``losses.gan_discriminator_loss``)
                 with prior draws as "real" and codes z ~ q(z|x) as "fake"; the engine updates the VAE
                 first, then the discriminator, on the same batch.

Metrics (batch means): recon_nll, kl, elbo; ``regularizer`` (the D term's value, 0 for ae/elbo); ``mmd``
(the batch MMD^2 to the prior, for every variant, as a diagnostic of q(z) vs p(z)); for stein ``stein``
(the surrogate's value) and ``stein_phi_norm`` (mean ||phi*(z_i)||, near 0 when q(z) = p(z)); for adversarial
``gen_loss`` and ``disc_accuracy`` (and, for the discriminator player, ``disc_loss``, ``disc_accuracy``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mi_vae import losses as L
from mi_vae import models
from mi_vae.methods.base import VAEMethod
from mi_vae.methods.vae import elbo_metrics

REGULARIZERS = ("ae", "elbo", "mmd", "stein", "adversarial")


def normal_score(z: jax.Array) -> jax.Array:
    """grad_z log N(z; 0, I) = -z."""
    return -z


class InfoVAE(VAEMethod):
    """InfoVAE; ``config.regularizer`` in ``REGULARIZERS`` (see the module docstring for each loss).

    Config keys: ``regularizer``; ``alpha`` (default 1) and ``lambda_`` for mmd/stein/adversarial;
    ``mmd_kernel``, ``mmd_scales``, ``mmd_unbiased`` (mmd, and the ``mmd`` metric);
    ``stein_bandwidth`` (None or <= 0: median heuristic); ``discriminator.widths`` and
    ``discriminator_learning_rate`` (adversarial).
    """

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.regularizer = str(config.regularizer)
        if self.regularizer not in REGULARIZERS:
            raise ValueError(f"regularizer must be one of {', '.join(REGULARIZERS)}, got {self.regularizer!r}")
        self.players = ("vae", "discriminator") if self.regularizer == "adversarial" else ("vae",)
        self.alpha = float(config.get("alpha", 1.0))
        divergence_variant = self.regularizer in ("mmd", "stein", "adversarial")
        self.lambda_ = float(config.lambda_) if divergence_variant else float(config.get("lambda_", 0.0))
        self.mmd_kernel = str(config.get("mmd_kernel", "rbf"))
        self.mmd_scales = tuple(float(s) for s in config.get("mmd_scales", (1.0,)))
        self.mmd_unbiased = bool(config.get("mmd_unbiased", False))
        bandwidth = config.get("stein_bandwidth", None)
        self.stein_bandwidth = float(bandwidth) if bandwidth is not None and float(bandwidth) > 0 else None
        if self.regularizer == "adversarial":
            widths = tuple(config.discriminator.widths)
            self.discriminator = models.MLP(widths, 1, dtype=self.dtype)

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
        variables = self.init_vae(rng_vae, x)
        params = {"vae": variables["params"]}
        if self.regularizer == "adversarial":
            z = jnp.zeros((x.shape[0], self.latent_dim), jnp.float32)
            params["discriminator"] = self.discriminator.init(rng_disc, z)["params"]
        return {"params": params, "batch_stats": variables.get("batch_stats", {})}

    def discriminate(self, disc_params, z: jax.Array) -> jax.Array:
        """Discriminator logits T(z), [B] float32 (positive: "prior sample")."""
        return self.discriminator.apply({"params": disc_params}, z)[:, 0].astype(jnp.float32)

    # --- divergences between q(z) and p(z) -------------------------------------------------
    def batch_mmd(self, z: jax.Array, z_prior: jax.Array) -> jax.Array:
        """MMD^2 between codes and prior draws with the configured kernel (InfoVAE 4.1.3)."""
        return L.mmd(z, z_prior, kernel=self.mmd_kernel, unbiased=self.mmd_unbiased, scales=self.mmd_scales)

    def stein_term(self, z: jax.Array) -> jax.Array:
        """Stein surrogate / n (InfoVAE 4.1.2): d/dz_i = -phi*(z_i) / n; gradient only through z."""
        return L.stein_surrogate(z, normal_score, bandwidth=self.stein_bandwidth) / z.shape[0]

    def divergence(self, params, z: jax.Array, z_prior: jax.Array):
        """(D, metrics) for the configured regulariser, from codes z ~ q(z|x) and prior draws."""
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
            logits_fake = self.discriminate(params["discriminator"], z)
            gen = L.gan_generator_loss(logits_fake)
            logits_real = self.discriminate(params["discriminator"], z_prior)
            metrics.update(gen_loss=gen, disc_accuracy=_accuracy(logits_real, logits_fake))
            return gen, metrics
        return jnp.zeros((), jnp.float32), metrics

    # --- losses ---------------------------------------------------------------------------
    def losses(self, params, batch_stats, batch, rng, step):
        rng_z, rng_prior = jax.random.split(rng)
        x = batch["x"]
        terms, new_stats = self.forward(params, batch_stats, x, rng_z)
        z = terms["z"]
        z_prior = self.sample_prior(rng_prior, z.shape[0])
        divergence, div_metrics = self.divergence(params, z, z_prior)
        metrics = {**elbo_metrics(terms), "regularizer": divergence, **div_metrics,
                   # I_q(x; z) against the batch's aggregate posterior (<= log B), logged for figure 1
                   "mi_batch": jax.lax.stop_gradient(L.aggregate_posterior_mi(z, terms["mean"], terms["log_var"]))}
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
            disc_loss = L.gan_discriminator_loss(logits_real, logits_fake)
            out["discriminator"] = (disc_loss, {"disc_loss": disc_loss,
                                                "disc_accuracy": _accuracy(logits_real, logits_fake)})
        return out, new_stats

    # --- sampling -------------------------------------------------------------------------
    def markov_chain_samples(self, params, batch_stats, x0: jax.Array, rng: jax.Array, num_steps: int):
        """The Markov chain of Proposition 1 (eq. 3) from ``x0``: [num_steps + 1, B, ...], x0 first.

        x^(t+1) = mean of p(x | z^(t)),  z^(t) ~ q(z | x^(t)).
        The paper samples x^(t+1) ~ p(x|z^(t)); here x^(t+1) is the decoder's mean (Bernoulli
        probabilities / Gaussian mean), which keeps the chain in the data's value range without
        pixel noise; the encoder's sample z^(t) keeps it stochastic. BatchNorm uses running averages.
        ``x0`` is float data (uint8 images are mapped to [0, 1] like ``mi_vae.data.to_float``).
        The sampler for ``regularizer="ae"``, whose p(z) p(x|z) is not a valid generative model; it
        works for every variant.
        """
        x0 = jnp.asarray(x0)
        x0 = x0.astype(jnp.float32) / 255.0 if x0.dtype == jnp.uint8 else x0.astype(jnp.float32)  # stored images

        def step(x, key):
            mean, log_var = self.encode(params, batch_stats, x, train=False)
            z = mean + jnp.exp(0.5 * log_var) * L.sample_normal(key, mean.shape)
            x_next = self.reconstruction(self.decode(params, batch_stats, z, train=False)).astype(jnp.float32)
            return x_next, x_next

        _, xs = jax.lax.scan(step, x0, jax.random.split(rng, num_steps))
        return jnp.concatenate([x0[None], xs], axis=0)


def _accuracy(logits_real: jax.Array, logits_fake: jax.Array) -> jax.Array:
    """Discriminator accuracy at threshold 0, averaged over the real and the fake halves."""
    return 0.5 * (jnp.mean((logits_real > 0).astype(jnp.float32)) + jnp.mean((logits_fake < 0).astype(jnp.float32)))


__all__ = ["REGULARIZERS", "InfoVAE", "normal_score"]
