"""VIMAE: the Variational InfoMax AutoEncoder (Crescimanna & Graham, variational_infomax_ae.txt).

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
  variance). Defaults: ``config.mmd_kernel="imq"``, ``config.mmd_scales`` = losses.DEFAULT_SCALES (WAE's
  list), ``config.mmd_unbiased=True``; the scales are multiplied by sigma_p^2 (1 for N(0, 1), pi^2/3 for
  Logistic(0, 1)) so that scale 1 is the prior's typical squared distance. With ``mmd_kernel="rbf"`` the
  same scaled bandwidths are used.
- Prior ``config.prior``: ``"normal"`` (VIMAE-n, p(z) = N(0, I)) or ``"logistic"`` (VIMAE-l, independent
  Logistic(0, 1) coordinates, section V). ``config.prior_scale`` (default 1, the paper's) scales either
  prior; sqrt(3)/pi gives the unit-variance Logistic, whose entropy (1.405 nats) is below N(0, 1)'s
  (1.419), the comparison of section III.B. ``sample_prior`` draws from this prior, for the MMD and for
  generation (ancestral samples decode(sample_prior(...))).

Metrics: recon_nll, mmd (the batch MMD^2), kl (the rate E KL(q(z|x) || p(z)): closed form for the
normal prior, a one-sample estimate -H(q(z|x)) - log p(z) for the logistic one; not optimised), elbo
(-(recon_nll + kl), the ELBO under the model's prior), and prior_nll (-E log p(z) of the codes).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from mi_vae import losses as L
from mi_vae.methods.base import VAEMethod

PRIORS = ("normal", "logistic")


class VIM(VAEMethod):
    """VIMAE-n / VIMAE-l: reconstruction + lambda_ * MMD(q(z), p(z)) (eq. 5 with the MMD of eq. 12)."""

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.prior = str(config.get("prior", "normal"))
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {', '.join(PRIORS)}, got {self.prior!r}")
        self.prior_scale = float(config.get("prior_scale", 1.0))
        if not self.prior_scale > 0:
            raise ValueError(f"prior_scale must be positive, got {self.prior_scale}")
        self.lambda_ = float(config.lambda_)
        self.mmd_kernel = str(config.get("mmd_kernel", "imq"))
        self.mmd_unbiased = bool(config.get("mmd_unbiased", True))
        scales = tuple(float(s) for s in config.get("mmd_scales", L.DEFAULT_SCALES))
        self.mmd_scales = tuple(s * self.prior_variance for s in scales)

    @property
    def prior_variance(self) -> float:
        """Per-dimension variance of p(z): s^2 (normal) or s^2 pi^2 / 3 (logistic)."""
        var = self.prior_scale ** 2
        return var * math.pi ** 2 / 3.0 if self.prior == "logistic" else var

    def init(self, rng, x):
        variables = self.init_vae(rng, x)
        return {"params": {"vae": variables["params"]}, "batch_stats": variables.get("batch_stats", {})}

    # --- the prior ------------------------------------------------------------------------
    def sample_prior(self, rng: jax.Array, n: int) -> jax.Array:
        """z ~ p(z), [n, latent_dim]: N(0, s^2 I) (VIMAE-n) or Logistic(0, s) per coordinate (VIMAE-l)."""
        if self.prior == "logistic":
            return L.sample_logistic(rng, (n, self.latent_dim), scale=self.prior_scale)
        return self.prior_scale * L.sample_normal(rng, (n, self.latent_dim))

    def prior_log_prob(self, z: jax.Array) -> jax.Array:
        """log p(z) per example, [B]."""
        if self.prior == "logistic":
            return L.logistic_log_prob(z, scale=self.prior_scale)
        return L.normal_log_prob(z / self.prior_scale) - self.latent_dim * math.log(self.prior_scale)

    def rate(self, terms: dict) -> jax.Array:
        """KL(q(z|x) || p(z)) per example: closed form (normal) or -H(q(z|x)) - log p(z) at the sample."""
        if self.prior == "normal" and self.prior_scale == 1.0:
            return terms["kl"]
        return -L.normal_entropy(terms["log_var"]) - self.prior_log_prob(terms["z"])

    def batch_mmd(self, z: jax.Array, z_prior: jax.Array) -> jax.Array:
        """MMD^2(q(z), p(z)) on a batch of codes and prior draws (eq. 12), the configured kernel."""
        return L.mmd(z, z_prior, kernel=self.mmd_kernel, unbiased=self.mmd_unbiased, scales=self.mmd_scales)

    # --- the loss -------------------------------------------------------------------------
    def losses(self, params, batch_stats, batch, rng, step):
        rng_z, rng_prior = jax.random.split(rng)
        terms, new_stats = self.forward(params, batch_stats, batch["x"], rng_z)
        z = terms["z"]
        mmd = self.batch_mmd(z, self.sample_prior(rng_prior, z.shape[0]))
        recon_nll = -jnp.mean(terms["log_px"])
        kl = jnp.mean(jax.lax.stop_gradient(self.rate(terms)))
        metrics = {"recon_nll": recon_nll, "mmd": mmd, "kl": kl, "elbo": -(recon_nll + kl),
                   "prior_nll": -jnp.mean(jax.lax.stop_gradient(self.prior_log_prob(z)))}
        return {"vae": (recon_nll + self.lambda_ * mmd, metrics)}, new_stats


__all__ = ["PRIORS", "VIM"]
