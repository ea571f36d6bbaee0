"""InfoMax-VAE (Rezaabad & Vishwanath, "Learning Representations by Maximizing Mutual Information in
Variational Autoencoders", 2020, arXiv:1912.13361).

Objective maximised (eq. 5-6), with a critic t(x, z):
    E_q[log p(x|z)] - beta * KL(q(z|x) || p(z)) + alpha * I_hat(x; z)
    I_hat = E_{q(x,z)}[t(x,z)] - E_{q(x)q(z)}[exp(t(x,z) - 1)]      (divergence="kl": f-dual of KL, eq. 6)
    I_hat = E_{q(x,z)}[t(x,z)] - log E_{q(x)q(z)}[exp t(x,z)]        (divergence="dv": Donsker-Varadhan)
Samples of q(x)q(z) pair each x with a z permuted across the (global) batch.

Players:
    vae:    -(recon - beta * KL + alpha * I_hat)   (the critic's parameters held fixed)
    critic: -I_hat                                 (the codes held fixed; its own optimizer)
``update_mode="simultaneous"`` (the authors' code): one forward, the critic learns from the same codes the
VAE is scored with. ``"sequential"``: the VAE first, then the critic on codes of the updated encoder.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from mi_vae import losses, models
from mi_vae.errors import ConfigError
from mi_vae.methods import base

MI_BOUNDS = {"kl": losses.nwj_bound, "dv": losses.donsker_varadhan_bound}


@dataclasses.dataclass(frozen=True)
class InfoMaxVAE:
    model: base.VAEModel
    critic: models.Critic
    alpha: float
    beta: float
    divergence: str
    update: str

    players = ("vae", "critic")
    default_optim = {"critic": {"learning_rate": 1e-5}}  # the paper's critic learning rate

    @property
    def capabilities(self) -> frozenset[str]:
        return base.capabilities(self.model)

    @property
    def mi_bound(self):
        return MI_BOUNDS[self.divergence]

    def init(self, rng, x):
        rng_vae, rng_critic = jax.random.split(rng)
        z = jnp.zeros((x.shape[0], self.model.latent_dim), jnp.float32)
        return base.init_players(self.model, rng_vae, x, critic=self.critic.init(rng_critic, x, z)["params"])

    def critic_scores(self, critic_params, x, z, rng):
        """t on joint pairs (x_i, z_i) and on marginal pairs (x_i, z_perm(i)), in one critic call."""
        z_marginal = losses.shuffle_marginal(rng, z)
        scores = self.critic.apply({"params": critic_params}, jnp.concatenate([x, x]),
                                   jnp.concatenate([z, z_marginal]))
        return jnp.split(scores, 2)

    def losses(self, params, batch_stats, batch, rng, step):
        rng_z, rng_perm = jax.random.split(rng)
        x = batch["x"]
        terms, new_stats = self.model.forward(params, batch_stats, x, rng_z)
        # The VAE's bound sees the critic as fixed; the critic sees the codes as data.
        critic_fixed = jax.lax.stop_gradient(params["critic"]) if self.update == "simultaneous" else params["critic"]
        mi = self.mi_bound(*self.critic_scores(critic_fixed, x, terms["z"], rng_perm))
        metrics = {**base.elbo_metrics(terms), "mi_estimate": mi}
        vae_loss = metrics["recon_nll"] + self.beta * metrics["kl"] - self.alpha * mi
        critic_loss = -self.mi_bound(*self.critic_scores(params["critic"], x, jax.lax.stop_gradient(terms["z"]),
                                                         rng_perm))
        return {"vae": (vae_loss, metrics), "critic": (critic_loss, {"mi_estimate": -critic_loss})}, new_stats


def build(spec: base.DataSpec, *, model, dtype, alpha: float = 20.0, beta: float = 1.0, divergence: str = "kl",
          update_mode: str = "simultaneous") -> InfoMaxVAE:
    """InfoMax-VAE with the paper's Fashion-MNIST coefficients as defaults.

    Args:
      spec: the data.
      model: ``config.model``: latent_dim, encoder, decoder, and ``critic`` (``models.Critic`` fields,
        default widths 1000-400-100, the paper's).
      dtype: compute dtype of the networks.
      alpha: weight of the MI estimate I_hat (eq. 5).
      beta: weight of KL(q(z|x) || p(z)).
      divergence: "kl" (the f-dual bound of eq. 6, NWJ) or "dv" (Donsker-Varadhan).
      update_mode: "simultaneous" (the authors' code) or "sequential".
    """
    base.check_model(model, nets=("critic",))
    if divergence not in MI_BOUNDS:
        raise ConfigError(f"divergence must be one of {', '.join(sorted(MI_BOUNDS))}, got {divergence!r}")
    critic = models.Critic(dtype=dtype, **base.net_kwargs(model, "critic", models.Critic))
    return InfoMaxVAE(base.make_model(spec, model, dtype), critic, alpha=float(alpha), beta=float(beta),
                      divergence=divergence, update=base.check_update(update_mode))


__all__ = ["MI_BOUNDS", "InfoMaxVAE", "build"]
