"""VIMAE: the Variational InfoMax AutoEncoder (Crescimanna & Graham, "The Variational InfoMax
AutoEncoder", 2019, arXiv:1905.10549).

Objective maximised, eq. (5): VIM = h_{theta,phi}(X|Z) - lambda D(q_phi(z) || p(z)), lambda > 0, with
h_{theta,phi}(X|Z) = E_{p(x)} E_{q_phi(z|x)}[log p_theta(x|z)] (the reconstruction term of eq. 4) and,
"in all the described experiments" (section V), D approximated by the MMD of eq. (12). The loss the
single ``vae`` player minimises is therefore

    loss = -E_{p(x)} E_{q(z|x)}[log p(x|z)] + lambda_ * MMD^2(q(z), p(z))

- Encoder: stochastic. The paper's objective is written for a variational q_phi(z|x) (eq. 2-6, the
  reconstruction is an expectation over q_phi(z|x), and section IV contrasts it with the deterministic
  case), so q(z|x) is the usual diagonal Gaussian and z ~ q(z|x) by reparameterisation, in the
  reconstruction and in the MMD. There is no KL(q(z|x) || p(z)) term.
- MMD: between the (global) batch of codes z_i ~ q(z|x_i) and as many prior draws. The paper does not
  name its kernel; it uses "the same settings and autoencoder models used in [25]" (WAE, Tolstikhin et
  al.), whose MMD is the U-statistic with the inverse multiquadratics kernel summed over scales,
  k(z, z') = sum_s C_s / (C_s + ||z - z'||^2), C_s = 2 d sigma_p^2 s (sigma_p^2 the prior's per-dimension
  variance). Defaults: ``mmd_kernel="imq"``, ``mmd_scales`` = losses.DEFAULT_SCALES (WAE's
  list), ``mmd_unbiased=True``; the scales are multiplied by sigma_p^2 (1 for N(0, 1), pi^2/3 for
  Logistic(0, 1)) so that scale 1 is the prior's typical squared distance. With ``mmd_kernel="rbf"`` the
  same scaled bandwidths are used.
- ``prior``: ``"normal"`` (VIMAE-n, p(z) = N(0, I)) or ``"logistic"`` (VIMAE-l, independent
  Logistic(0, 1) coordinates, section V). ``prior_scale`` (default 1, the paper's) scales either
  prior; sqrt(3)/pi gives the unit-variance Logistic, whose entropy (1.405 nats) is below N(0, 1)'s
  (1.419), the comparison of section III.B. ``model.sample_prior`` draws from this prior, for the MMD
  and for generation (ancestral samples decode(sample_prior(...))).

- ``reconstruction``: ``"likelihood"`` (the paper's h(X|Z): -log p(x|z) per example, a Bernoulli
  cross-entropy of ~230 nats per Fashion-MNIST image) or ``"wae_l2"``, WAE's MNIST cost that VIMAE says it
  follows, c(x, x_hat) = 0.05 ||x - x_hat||^2 with x_hat the decoder's mean at the sampled z (~1 per image):
  against it lambda_ = 10 weighs the MMD one to two orders more than against the cross-entropy.
- ``kernel_scale``: ``"prior"`` multiplies the kernel scales by the prior's variance (VIMAE-l's kernel
  is then pi^2/3 = 3.3x wider than VIMAE-n's); ``"unit"`` uses them as given, the same kernel for both
  priors (the comparison of the two priors with equal kernels).

Metrics: recon_nll, mmd (the batch MMD^2), kl (the rate E KL(q(z|x) || p(z)): closed form for the
normal prior, a one-sample estimate -H(q(z|x)) - log p(z) for the logistic one; not optimised), elbo
(-(recon_nll + kl), the ELBO under the model's prior), and prior_nll (-E log p(z) of the codes).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from mi_vae import losses
from mi_vae.errors import ConfigError
from mi_vae.methods import base

PRIORS = ("normal", "logistic")
RECONSTRUCTIONS = ("likelihood", "wae_l2")
KERNEL_SCALES = ("prior", "unit")
WAE_L2_WEIGHT = 0.05  # WAE's MNIST cost c(x, y) = 0.05 ||x - y||^2 (Tolstikhin et al. 2018, appendix)


@dataclasses.dataclass(frozen=True)
class VIM:
    """VIMAE-n / VIMAE-l: reconstruction + lambda_ * MMD(q(z), p(z)) (eq. 5 with the MMD of eq. 12)."""

    model: base.VAEModel
    lambda_: float
    mmd_kernel: str
    mmd_scales: tuple[float, ...]  # already multiplied by the prior's variance when kernel_scale="prior"
    mmd_unbiased: bool
    reconstruction: str = "likelihood"

    players = ("vae",)
    update = "sequential"
    default_optim = {}

    @property
    def capabilities(self) -> frozenset[str]:
        return base.capabilities(self.model)

    def init(self, rng, x):
        return base.init_players(self.model, rng, x)

    def batch_mmd(self, z: jax.Array, z_prior: jax.Array) -> jax.Array:
        """MMD^2(q(z), p(z)) on a batch of codes and prior draws (eq. 12), the configured kernel."""
        return losses.mmd(z, z_prior, kernel=self.mmd_kernel, unbiased=self.mmd_unbiased, scales=self.mmd_scales)

    def losses(self, params, batch_stats, batch, rng, step):
        rng_z, rng_prior = jax.random.split(rng)
        terms, new_stats = self.model.forward(params, batch_stats, batch["x"], rng_z)
        z = terms["z"]
        mmd = self.batch_mmd(z, self.model.sample_prior(rng_prior, z.shape[0]))
        recon_nll = -jnp.mean(terms["log_px"])
        kl = jnp.mean(jax.lax.stop_gradient(terms["kl"]))
        metrics = {"recon_nll": recon_nll, "mmd": mmd, "kl": kl, "elbo": -(recon_nll + kl),
                   "prior_nll": -jnp.mean(jax.lax.stop_gradient(self.model.prior_log_prob(z)))}
        if self.reconstruction == "wae_l2":
            x = batch["x"].astype(jnp.float32)
            x_hat = self.model.reconstruction(terms["out"]).astype(jnp.float32)
            cost = WAE_L2_WEIGHT * jnp.mean(jnp.sum(jnp.square(x - x_hat).reshape(x.shape[0], -1), axis=1))
            metrics["wae_cost"] = cost
        else:
            cost = recon_nll
        return {"vae": (cost + self.lambda_ * mmd, metrics)}, new_stats


def build(spec: base.DataSpec, *, model, dtype, lambda_: float = 10.0, prior: str = "normal",
          prior_scale: float = 1.0, mmd_kernel: str = "imq", mmd_scales=losses.DEFAULT_SCALES,
          mmd_unbiased: bool = True, reconstruction: str = "likelihood", kernel_scale: str = "prior") -> VIM:
    """VIMAE with the paper's 28x28 coefficients as defaults (lambda 10; 100 for CIFAR10 and CelebA).

    Args:
      spec: the data.
      model: ``config.model`` (latent_dim, encoder, decoder).
      dtype: compute dtype of the networks.
      lambda_: weight of MMD^2(q(z), p(z)).
      prior: "normal" (VIMAE-n) or "logistic" (VIMAE-l).
      prior_scale: scale s of the prior.
      mmd_kernel: ``losses.mmd``'s kernel.
      mmd_scales: ``losses.mmd``'s scales.
      mmd_unbiased: ``losses.mmd``'s U-statistic switch.
      reconstruction: "likelihood" (-log p(x|z), the paper's h(X|Z)) or "wae_l2" (0.05 ||x - x_hat||^2, WAE's).
      kernel_scale: "prior" (scales times the prior's per-dimension variance) or "unit" (as given: the same
        kernel for every prior).
    """
    base.check_model(model)
    if prior not in PRIORS:
        raise ConfigError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
    if reconstruction not in RECONSTRUCTIONS:
        raise ConfigError(f"reconstruction must be one of {', '.join(RECONSTRUCTIONS)}, got {reconstruction!r}")
    if kernel_scale not in KERNEL_SCALES:
        raise ConfigError(f"kernel_scale must be one of {', '.join(KERNEL_SCALES)}, got {kernel_scale!r}")
    latent_dim = int(model["latent_dim"])
    p_z = base.Prior(latent_dim, kind=prior, scale=float(prior_scale))
    if reconstruction == "wae_l2" and spec.likelihood not in ("bernoulli", "gaussian"):
        raise ConfigError(f"reconstruction='wae_l2' needs image or real-valued data, not {spec.likelihood!r}")
    variance = p_z.variance if kernel_scale == "prior" else 1.0
    return VIM(base.make_model(spec, model, dtype, prior=p_z), lambda_=float(lambda_), mmd_kernel=str(mmd_kernel),
               mmd_scales=tuple(float(s) * variance for s in mmd_scales), mmd_unbiased=bool(mmd_unbiased),
               reconstruction=reconstruction)


__all__ = ["KERNEL_SCALES", "PRIORS", "RECONSTRUCTIONS", "VIM", "WAE_L2_WEIGHT", "build"]
