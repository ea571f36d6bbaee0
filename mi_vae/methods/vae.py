"""VAE and beta-VAE.

Loss (minimised), per example averaged over the batch:
    -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z))
beta = 1 is the VAE (Kingma & Welling 2014); beta_H > 1 (Higgins et al. 2017) and beta_A < 1 are the
beta-VAE baselines of the VIMAE paper (variational_infomax_ae.txt, section V).
"""

from __future__ import annotations

import jax.numpy as jnp

from mi_vae.methods.base import VAEMethod


def elbo_metrics(terms: dict) -> dict:
    """The ELBO's terms as batch means: recon_nll, kl, elbo."""
    recon_nll = -jnp.mean(terms["log_px"])
    kl = jnp.mean(terms["kl"])
    return {"recon_nll": recon_nll, "kl": kl, "elbo": -(recon_nll + kl)}


class BetaVAE(VAEMethod):
    players = ("vae",)

    @property
    def beta(self) -> float:
        return float(self.config.get("beta", 1.0))

    def init(self, rng, x):
        variables = self.init_vae(rng, x)
        return {"params": {"vae": variables["params"]}, "batch_stats": variables.get("batch_stats", {})}

    def losses(self, params, batch_stats, batch, rng, step):
        terms, new_stats = self.forward(params, batch_stats, batch["x"], rng)
        metrics = elbo_metrics(terms)
        loss = metrics["recon_nll"] + self.beta * metrics["kl"]
        return {"vae": (loss, metrics)}, new_stats


class VAE(BetaVAE):
    """beta = 1 whatever the config says."""

    @property
    def beta(self) -> float:
        return 1.0


__all__ = ["VAE", "BetaVAE", "elbo_metrics"]
