"""InfoMax-VAE (Rezaabad & Vishwanath, infomax_vae.txt).

Objective maximised (eq. 5-6), with a critic t(x, z):
    E_q[log p(x|z)] - beta * KL(q(z|x) || p(z)) + alpha * I_hat(x; z)
    I_hat = E_{q(x,z)}[t(x,z)] - E_{q(x)q(z)}[exp(t(x,z) - 1)]      (divergence="kl": f-dual of KL, eq. 6)
    I_hat = E_{q(x,z)}[t(x,z)] - log E_{q(x)q(z)}[exp t(x,z)]        (divergence="dv": Donsker-Varadhan)
Samples of q(x)q(z) pair each x with a z permuted across the (global) batch.

Players, updated in this order on the same batch:
    vae:    -(recon - beta * KL + alpha * I_hat)   (critic fixed)
    critic: -I_hat                                 (encoder fixed; the critic's own optimizer)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mi_vae import losses as L
from mi_vae import models
from mi_vae.methods.base import VAEMethod
from mi_vae.methods.vae import elbo_metrics

MI_BOUNDS = {"kl": L.nwj_bound, "dv": L.donsker_varadhan_bound}


class InfoMaxVAE(VAEMethod):
    players = ("vae", "critic")

    def __init__(self, config, spec):
        super().__init__(config, spec)
        if config.divergence not in MI_BOUNDS:
            raise ValueError(f"divergence must be one of {sorted(MI_BOUNDS)}, got {config.divergence!r}")
        self.mi_bound = MI_BOUNDS[config.divergence]
        self.critic = models.Critic(widths=tuple(config.critic.widths), dtype=self.dtype)

    def init(self, rng, x):
        rng_vae, rng_critic = jax.random.split(rng)
        variables = self.init_vae(rng_vae, x)
        z = jnp.zeros((x.shape[0], self.latent_dim), jnp.float32)
        critic = self.critic.init(rng_critic, x, z)["params"]
        return {"params": {"vae": variables["params"], "critic": critic},
                "batch_stats": variables.get("batch_stats", {})}

    def critic_scores(self, critic_params, x, z, rng):
        """t on joint pairs (x_i, z_i) and on marginal pairs (x_i, z_perm(i)), in one critic call."""
        z_marginal = L.shuffle_marginal(rng, z)
        scores = self.critic.apply({"params": critic_params},
                                   jnp.concatenate([x, x]), jnp.concatenate([z, z_marginal]))
        return jnp.split(scores, 2)

    def losses(self, params, batch_stats, batch, rng, step):
        rng_z, rng_perm = jax.random.split(rng)
        x = batch["x"]
        terms, new_stats = self.forward(params, batch_stats, x, rng_z)
        t_joint, t_marginal = self.critic_scores(params["critic"], x, terms["z"], rng_perm)
        mi = self.mi_bound(t_joint, t_marginal)
        metrics = {**elbo_metrics(terms), "mi_estimate": mi}
        vae_loss = metrics["recon_nll"] + self.config.beta * metrics["kl"] - self.config.alpha * mi
        # The critic sees the encoder's samples as data: no gradient to the encoder through its loss.
        t_joint_c, t_marginal_c = self.critic_scores(params["critic"], x, jax.lax.stop_gradient(terms["z"]), rng_perm)
        critic_loss = -self.mi_bound(t_joint_c, t_marginal_c)
        return {"vae": (vae_loss, metrics), "critic": (critic_loss, {"mi_estimate": -critic_loss})}, new_stats
