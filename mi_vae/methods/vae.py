"""VAE and beta-VAE.

Loss (minimised), per example averaged over the batch:
    -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z))
beta = 1 is the VAE (Kingma & Welling 2014, arXiv:1312.6114); beta_H > 1 (Higgins et al. 2017) and
beta_A < 1 are the beta-VAE baselines of the VIMAE paper (Crescimanna & Graham 2019, section V).
"""

from __future__ import annotations

import dataclasses

from mi_vae.methods import base


@dataclasses.dataclass(frozen=True)
class BetaVAE:
    """-ELBO with the KL weighted by ``beta`` (one player, "vae")."""

    model: base.VAEModel
    beta: float = 1.0

    players = ("vae",)
    update = "sequential"
    default_optim = {}

    @property
    def capabilities(self) -> frozenset[str]:
        return base.capabilities(self.model)

    def init(self, rng, x):
        return base.init_players(self.model, rng, x)

    def losses(self, params, batch_stats, batch, rng, step):
        terms, new_stats = self.model.forward(params, batch_stats, batch["x"], rng)
        metrics = base.elbo_metrics(terms)
        loss = metrics["recon_nll"] + self.beta * metrics["kl"]
        return {"vae": (loss, metrics)}, new_stats


def build(spec: base.DataSpec, *, model, dtype, beta: float = 1.0) -> BetaVAE:
    """The VAE (``beta`` = 1) or a beta-VAE.

    Args:
      spec: the data.
      model: ``config.model`` (latent_dim, encoder, decoder).
      dtype: compute dtype of the networks.
      beta: weight of KL(q(z|x) || p(z)).
    """
    base.check_model(model)
    return BetaVAE(base.make_model(spec, model, dtype), beta=float(beta))


__all__ = ["BetaVAE", "build"]
