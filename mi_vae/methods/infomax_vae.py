"""InfoMax-VAE (Rezaabad & Vishwanath, "Learning Representations by Maximizing Mutual Information in
Variational Autoencoders", 2020, arXiv:1912.13361).

Objective maximised (eq. 5-6), with a critic t(x, z):
    E_q[log p(x|z)] - beta * KL(q(z|x) || p(z)) + alpha * I_hat(x; z)
with I_hat one of the bounds of ``mi_vae.losses`` (``mi_bound``):
    nwj      E_{q(x,z)}[t] - E_{q(x)q(z)}[exp(t - 1)]      the f-dual of KL, eq. 6 (the paper's; default)
    dv       E_{q(x,z)}[t] - log E_{q(x)q(z)}[exp t]       Donsker-Varadhan (section IV.B)
    js       the Jensen-Shannon dual (Deep InfoMax), for encoder and critic; mi_estimate logs NWJ of t + 1
    smile    DV with the marginal scores clipped to [-5, 5] (Song & Ermon 2020), the critic trained by JS
    infonce  CPC's InfoNCE over the batch's B x B pairs (<= log B; B^2 critic calls per step)
Samples of q(x)q(z) pair each x with a z permuted across the (global) batch (all other z for infonce).

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

MI_BOUNDS = ("nwj", "dv", "js", "smile", "infonce")
SMILE_CLIP = 5.0


@dataclasses.dataclass(frozen=True)
class InfoMaxVAE:
    model: base.VAEModel
    critic: models.Critic
    alpha: float
    beta: float
    mi_bound: str
    update: str

    players = ("vae", "critic")
    default_optim = {"critic": {"learning_rate": 1e-5}}  # the paper's critic learning rate

    @property
    def capabilities(self) -> frozenset[str]:
        return base.capabilities(self.model)

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

    def bound(self, critic_params, x, z, rng):
        """(the VAE's objective I_hat, the critic's objective, the MI estimate in nats) of ``mi_bound``."""
        if self.mi_bound == "infonce":
            b = x.shape[0]  # scores[i, j] = t(x_i, z_j): every x against every code of the batch
            scores = self.critic.apply({"params": critic_params}, jnp.repeat(x, b, axis=0), jnp.tile(z, (b, 1)))
            value = losses.infonce_bound(scores.reshape(b, b))
            return value, value, value
        t_joint, t_marginal = self.critic_scores(critic_params, x, z, rng)
        if self.mi_bound == "nwj":
            value = losses.nwj_bound(t_joint, t_marginal)
            return value, value, value
        if self.mi_bound == "dv":
            value = losses.donsker_varadhan_bound(t_joint, t_marginal)
            return value, value, value
        js = losses.js_bound(t_joint, t_marginal)
        if self.mi_bound == "js":
            return js, js, losses.nwj_bound(t_joint + 1.0, t_marginal + 1.0)
        smile = losses.smile_bound(t_joint, t_marginal, clip=SMILE_CLIP)
        return smile, js, smile

    def losses(self, params, batch_stats, batch, rng, step):
        rng_z, rng_perm = jax.random.split(rng)
        x = batch["x"]
        terms, new_stats = self.model.forward(params, batch_stats, x, rng_z)
        # The VAE's bound sees the critic as fixed; the critic sees the codes as data.
        critic_fixed = jax.lax.stop_gradient(params["critic"]) if self.update == "simultaneous" else params["critic"]
        mi, _, mi_estimate = self.bound(critic_fixed, x, terms["z"], rng_perm)
        metrics = {**base.elbo_metrics(terms), "mi_estimate": mi_estimate}
        vae_loss = metrics["recon_nll"] + self.beta * metrics["kl"] - self.alpha * mi
        _, critic_objective, critic_estimate = self.bound(params["critic"], x, jax.lax.stop_gradient(terms["z"]),
                                                          rng_perm)
        return {"vae": (vae_loss, metrics), "critic": (-critic_objective, {"mi_estimate": critic_estimate})}, new_stats


def build(spec: base.DataSpec, *, model, dtype, alpha: float = 20.0, beta: float = 1.0, mi_bound: str = "nwj",
          update_mode: str = "simultaneous") -> InfoMaxVAE:
    """InfoMax-VAE with the paper's Fashion-MNIST coefficients as defaults.

    Args:
      spec: the data.
      model: ``config.model``: latent_dim, encoder, decoder, and ``critic`` (``models.Critic`` fields,
        default widths 1000-400-100, the paper's).
      dtype: compute dtype of the networks.
      alpha: weight of the MI estimate I_hat (eq. 5).
      beta: weight of KL(q(z|x) || p(z)).
      mi_bound: one of ``MI_BOUNDS``: "nwj" (the f-dual bound of eq. 6, the paper's), "dv", "js", "smile",
        "infonce" (see the module docstring).
      update_mode: "simultaneous" (the authors' code) or "sequential".
    """
    base.check_model(model, nets=("critic",))
    if mi_bound not in MI_BOUNDS:
        raise ConfigError(f"mi_bound must be one of {', '.join(MI_BOUNDS)}, got {mi_bound!r}")
    critic = models.Critic(dtype=dtype, **base.net_kwargs(model, "critic", models.Critic))
    return InfoMaxVAE(base.make_model(spec, model, dtype), critic, alpha=float(alpha), beta=float(beta),
                      mi_bound=mi_bound, update=base.check_update(update_mode))


__all__ = ["MI_BOUNDS", "InfoMaxVAE", "build"]
