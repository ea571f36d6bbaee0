"""The Mutual Autoencoder (MAE; "The Mutual Autoencoder: Controlling Information in Latent Code
Representations", anonymous ICLR 2018 submission, OpenReview).

Objective maximised (eq. 10-11), with the exact L1 penalty of eq. 6 and the Barber-Agakov bound of
eq. 7 / 9 on the *model's* mutual information I_p(x; z):

    L_MAE = ELBO(x) - C * | I_BA - M |
    ELBO  = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z))                        (eq. ELBO)
    I_BA  = H_p(z) + E_{z ~ p(z), x ~ p(x|z)}[log r_omega(z|x)]                 (eq. 7, 9)

p(z) = N(0, I), so H_p(z) = d/2 log(2 pi e) is a constant. r_omega(z|x) is a Gaussian MLP
(``models.auxiliary.GaussianPosterior``).

Players, updated in this order on each step (Algorithm 1: UPDATEMODEL, then UPDATEMIESTIMATE):
    vae: -ELBO + C * |I_BA - M|        gradient C * sign(I_BA - M) * grad_theta I_BA (Alg. 1 l.17,
                                       eq. 22), r_omega held fixed (section 5.3: the d r_p / d p
                                       term of eq. 13 is dropped)
    r:   -E_{z ~ p(z), x ~ p(x|z)}[log r_omega(z|x)]   on fresh joint samples of the just-updated
                                       decoder (Alg. 1 l.8-10), the decoder held fixed.

grad_theta of E_{z ~ p(z), x ~ p_theta(x|z)}[log r(z|x)] (Alg. 1 l.14):
  * continuous x (likelihood "gaussian"): reparameterisation, x = mu_theta(z) + sigma_theta(z) * eps;
  * discrete x ("categorical", "bernoulli"): REINFORCE (Appendix A.2, eq. 26),
    E[grad_theta log p_theta(x|z) * (log r(z|x) - b)], with ``reinforce_samples`` S >= 2 draws of x
    per z and the leave-one-out baseline b_s = mean_{s' != s} log r(z|x_s') (a baseline that
    depends on z but not on x_s keeps the estimator unbiased). The loss carries the surrogate
    I_BA + s - stop_gradient(s), s = mean[stop_gradient(log r - b) * log p(x|z)], whose value is
    I_BA and whose gradient is the REINFORCE estimate.

Appendix C / section 6, resampling (importance-weighted) encoder (Cremer et al. 2017):
``importance_weighted_encoder = k`` (k > 1; the paper uses k = 5) replaces the ELBO by the
IWAE bound  E_{z_1..k ~ q(z|x)}[log (1/k) sum_j w_j],  w_j = p(x|z_j) p(z_j) / q(z_j|x), which is
(Cremer et al. 2017) the ELBO of the implicit resampling posterior q_IW(z|x): draw z_1..z_k from
q(z|x) and keep z_j with probability w_j / sum_i w_i. ``sample_posterior`` draws from q_IW.
0 or 1 keeps the Gaussian encoder.

``achieved_mi`` measures a trained decoder's I_BA with a freshly trained r (its own Adam loop),
the ``mi_achieved`` reported next to ``mi_target`` = M by evaluation.

Autoregressive decoders (PixelCNN, the LSTM text decoder): x ~ p(x|z) is drawn by
``VAEModel.sample_x`` (no gradient) and log p(x|z) is its teacher-forced likelihood, which
carries the REINFORCE gradient as above. ``config.model.r.name`` (default "mlp") may name an encoder
of ``models.ENCODERS`` (e.g. "bilstm" for token sequences) to use as r_omega, its other keys the fields.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from mi_vae import losses, models
from mi_vae.errors import ConfigError
from mi_vae.methods import base


@dataclasses.dataclass(frozen=True)
class MutualAutoencoder:
    model: base.VAEModel
    r_net: nn.Module
    C: float
    M: float
    iw_samples: int
    mi_batch_size: int  # 0: the data batch's size
    reinforce_samples: int

    players = ("vae", "r")
    update = "sequential"  # Algorithm 1: UPDATEMODEL, then UPDATEMIESTIMATE on the updated decoder
    default_optim = {}

    @property
    def capabilities(self) -> frozenset[str]:
        return base.capabilities(self.model, base.ACHIEVED_MI)

    @property
    def mi_target(self) -> float:
        """M, the target of I_p(x; z) (nats), reported next to ``achieved_mi``."""
        return self.M

    @property
    def continuous_x(self) -> bool:
        return self.model.spec.likelihood == "gaussian"

    @property
    def prior_entropy(self) -> float:
        """H_p(z) of the prior N(0, I_d)."""
        return 0.5 * self.model.latent_dim * math.log(2.0 * math.pi * math.e)

    # --- parameters ------------------------------------------------------------------------
    def init(self, rng, x):
        rng_vae, rng_r = jax.random.split(rng)
        return base.init_players(self.model, rng_vae, x, r=self.init_r(rng_r))

    def init_r(self, rng):
        return self.r_net.init(rng, jnp.zeros((1, *self.model.spec.example_shape), jnp.float32))["params"]

    # --- the model's joint p(z) p(x|z) and the Barber-Agakov bound --------------------------
    def sample_x(self, out: jax.Array, rng: jax.Array, num: int):
        """``num`` draws x ~ p(x|z) from decoder outputs ``out`` [n, ...]: x [num, n, ...], log p(x|z) [num, n].

        Gaussian x is reparameterised (differentiable in ``out``); discrete x is not, and its
        log p(x|z) carries the score-function gradient.
        """
        n = out.shape[0]
        tiled = jnp.broadcast_to(out, (num, *out.shape))
        kind = self.model.spec.likelihood
        if kind == "gaussian":
            mean, log_scale = jnp.split(tiled, 2, axis=-1)
            x = mean + jnp.exp(jnp.maximum(log_scale, base.LOG_SCALE_MIN)) * losses.sample_normal(rng, mean.shape)
        elif kind == "categorical":  # Gumbel-max
            gumbel = losses.draw_flat(jax.random.gumbel, rng, tiled.shape)
            x = jax.nn.one_hot(jnp.argmax(jax.lax.stop_gradient(tiled) + gumbel, axis=-1), out.shape[-1],
                               dtype=jnp.float32)
        else:  # bernoulli
            u = losses.draw_flat(jax.random.uniform, rng, tiled.shape)
            x = (u < jax.nn.sigmoid(jax.lax.stop_gradient(tiled))).astype(jnp.float32)
        log_px = self.model.log_likelihood(tiled.reshape(num * n, *out.shape[1:]),
                                           x.reshape(num * n, *x.shape[2:])).reshape(num, n)
        return x, log_px

    def sample_joint(self, params, batch_stats, rng, n: int, num_x: int = 1):
        """z ~ p(z) [n, d]; x ~ p(x|z) [num_x, n, ...] with log p(x|z) [num_x, n]."""
        rng_z, rng_x = jax.random.split(rng)
        z = self.model.sample_prior(rng_z, n)
        if self.model.autoregressive:  # ancestral draws (no gradient), then their teacher-forced log p(x|z)
            zs = jnp.concatenate([z] * num_x)
            x = jax.lax.stop_gradient(self.model.sample_x(params, batch_stats, zs, rng_x, greedy=False))
            log_px = self.model.log_likelihood(self.model.decode(params, batch_stats, zs, x=x), x).reshape(num_x, n)
            return z, x.reshape(num_x, n, *x.shape[1:]), log_px
        out = self.model.decode(params, batch_stats, z)
        x, log_px = self.sample_x(out, rng_x, num_x)
        return z, x, log_px

    def log_r(self, r_params, x, z):
        """log r_omega(z|x) per pair; x [..., *example_shape], z [..., d] with the same leading axes."""
        lead = z.shape[:-1]
        mean, log_var = self.r_net.apply({"params": r_params}, x.reshape(-1, *self.model.spec.example_shape))
        return losses.diag_gaussian_log_prob(z.reshape(-1, z.shape[-1]), mean, log_var).reshape(lead)

    def mi_bound(self, params, batch_stats, rng, n: int):
        """I_BA = H_p(z) + E log r(z|x) on n joint samples, differentiable w.r.t. the decoder.

        Returns (mi, mi_value): ``mi`` has the value of I_BA and the gradient of Alg. 1 line 14
        (reparameterised for Gaussian x, REINFORCE with a leave-one-out baseline for discrete x);
        r is held fixed (stop_gradient). ``mi_value`` is the plain estimate.
        """
        s = 1 if self.continuous_x else self.reinforce_samples
        z, x, log_px = self.sample_joint(params, batch_stats, rng, n, s)
        log_r = self.log_r(jax.lax.stop_gradient(params["r"]), x, jnp.broadcast_to(z, (s, *z.shape)))  # [s, n]
        mi = losses.barber_agakov_bound(log_r.reshape(-1), self.prior_entropy)
        if self.continuous_x:
            return mi, mi
        baseline = (jnp.sum(log_r, axis=0, keepdims=True) - log_r) / (s - 1)  # leave-one-out, per z
        surrogate = jnp.mean(jax.lax.stop_gradient(log_r - baseline) * log_px)  # MAE eq. 26
        return mi + surrogate - jax.lax.stop_gradient(surrogate), jax.lax.stop_gradient(mi)

    # --- the ELBO or the importance-weighted (resampling encoder) bound ----------------------
    def log_weights(self, params, batch_stats, x, rng, k: int, train: bool):
        """k draws z_j ~ q(z|x): terms with log w_j = log p(x|z_j) + log p(z_j) - log q(z_j|x) ``[k, B]``."""
        terms, new_stats = self.model.forward(params, batch_stats, x, rng, train=train, num_samples=k)
        terms["log_w"] = terms["log_px"] + terms["log_pz"] - terms["log_qz"]
        return terms, new_stats

    def iwae_bound(self, params, batch_stats, x, rng, k: int | None = None):
        """Per-example IWAE bound log (1/k) sum_j w_j ``[B]`` (the ELBO of the resampling encoder)."""
        k = k or max(self.iw_samples, 1)
        terms, _ = self.log_weights(params, batch_stats, x, rng, k, train=False)
        return jax.nn.logsumexp(terms["log_w"], axis=0) - math.log(k)

    def sample_posterior(self, params, batch_stats, x, rng):
        """z ~ the encoder: q_IW(z|x) (resample one of k Gaussian draws by w) if k > 1, else q(z|x)."""
        rng_z, rng_pick = jax.random.split(rng)
        terms, _ = self.log_weights(params, batch_stats, x, rng_z, max(self.iw_samples, 1), train=False)
        gumbel = losses.draw_flat(jax.random.gumbel, rng_pick, terms["log_w"].shape)
        pick = jnp.argmax(terms["log_w"] + gumbel, axis=0)
        return jnp.take_along_axis(terms["z"], pick[None, :, None], axis=0)[0]

    def elbo_terms(self, params, batch_stats, x, rng):
        """(objective to maximise [scalar], metrics, new batch_stats): the ELBO, or the IWAE bound."""
        if self.iw_samples > 1:
            terms, new_stats = self.log_weights(params, batch_stats, x, rng, self.iw_samples, train=True)
            iwae = jnp.mean(jax.nn.logsumexp(terms["log_w"], axis=0) - math.log(self.iw_samples))
            recon_nll = -jnp.mean(terms["log_px"])
            kl = jnp.mean(terms["log_qz"] - terms["log_pz"])
            metrics = {"recon_nll": recon_nll, "kl": kl, "elbo": -(recon_nll + kl), "iwae_bound": iwae}
            return iwae, metrics, new_stats
        terms, new_stats = self.model.forward(params, batch_stats, x, rng)
        metrics = base.elbo_metrics(terms)
        return metrics["elbo"], metrics, new_stats

    # --- the players' losses ------------------------------------------------------------------
    def losses(self, params, batch_stats, batch, rng, step):
        rng_elbo, rng_model, rng_r = jax.random.split(rng, 3)
        x = batch["x"]
        n = self.mi_batch_size or x.shape[0]
        bound, metrics, new_stats = self.elbo_terms(params, batch_stats, x, rng_elbo)

        # UPDATEMODEL (Alg. 1 l.12-17): -ELBO + C |I_BA - M| (eq. 6, 10), r fixed.
        mi, mi_value = self.mi_bound(params, batch_stats, rng_model, n)
        penalty = losses.mi_target_penalty(mi, self.M, self.C)
        vae_loss = -bound + penalty
        metrics = {**metrics, "mi_estimate": mi_value, "mi_penalty": jax.lax.stop_gradient(penalty)}

        # UPDATEMIESTIMATE (Alg. 1 l.7-10): max_omega E log r_omega(z|x) on fresh samples, decoder fixed.
        frozen = {**params, "vae": jax.lax.stop_gradient(params["vae"])}
        z, x_joint, _ = self.sample_joint(frozen, batch_stats, rng_r, n)
        log_r = self.log_r(params["r"], jax.lax.stop_gradient(x_joint[0]), z)
        r_loss = -jnp.mean(log_r)
        r_metrics = {"mi_estimate": losses.barber_agakov_bound(log_r, self.prior_entropy)}
        return {"vae": (vae_loss, metrics), "r": (r_loss, r_metrics)}, new_stats

    # --- evaluation -------------------------------------------------------------------------
    def achieved_mi(self, params, batch_stats, rng, num_steps: int = 2000, num_samples: int = 10000,
                    batch_size: int = 256, learning_rate: float = 1e-3) -> float:
        """I_BA of the trained decoder with a freshly trained r (the ``mi_achieved`` metric).

        A new r_omega (same architecture) is fitted by Adam(``learning_rate``) for ``num_steps``
        steps, each on ``batch_size`` fresh joint samples z ~ p(z), x ~ p(x|z); the bound
        H_p(z) + mean log r(z|x) (eq. 7) is then averaged over ``num_samples`` other fresh joint
        samples. Returns nats (a lower bound on I_p(x; z), tight when r matches p(z|x)).
        """
        optimizer = optax.adam(learning_rate)
        num_chunks = max(1, -(-int(num_samples) // batch_size))
        params = {"vae": params["vae"]}

        @jax.jit
        def run(params, batch_stats, rng):
            rng_init, rng_train, rng_eval = jax.random.split(rng, 3)
            r = self.init_r(rng_init)

            def train_step(carry, key):
                r, opt_state = carry
                z, x, _ = self.sample_joint(params, batch_stats, key, batch_size)
                loss, grads = jax.value_and_grad(lambda r: -jnp.mean(self.log_r(r, x[0], z)))(r)
                updates, opt_state = optimizer.update(grads, opt_state, r)
                return (optax.apply_updates(r, updates), opt_state), loss

            (r, _), _ = jax.lax.scan(train_step, (r, optimizer.init(r)), jax.random.split(rng_train, num_steps))

            def eval_chunk(key):
                z, x, _ = self.sample_joint(params, batch_stats, key, batch_size)
                return jnp.mean(self.log_r(r, x[0], z))

            return self.prior_entropy + jnp.mean(jax.lax.map(eval_chunk, jax.random.split(rng_eval, num_chunks)))

        return float(run(params, batch_stats, rng))


def build(spec: base.DataSpec, *, model, dtype, C: float = 1.0, M: float = 1.0, importance_weighted_encoder: int = 0,
          mi_batch_size: int = 0, reinforce_samples: int = 4) -> MutualAutoencoder:
    """The Mutual Autoencoder.

    Args:
      spec: the data.
      model: ``config.model``: latent_dim, encoder, decoder, and ``r`` (r_omega: ``name`` "mlp", a
        ``models.GaussianPosterior`` with its ``widths``, or an encoder of ``models.ENCODERS`` by name).
      dtype: compute dtype of the networks.
      C: the penalty constant of C |I_BA - M| (eq. 10).
      M: the target MI (nats).
      importance_weighted_encoder: k > 1 uses the resampling encoder's IWAE bound (Appendix C); 0 or 1 the ELBO.
      mi_batch_size: joint samples z ~ p(z), x ~ p(x|z) per step; 0: the batch size.
      reinforce_samples: S >= 2 draws of x per z for the REINFORCE gradient (discrete x).
    """
    base.check_model(model, nets=("r",))
    if C < 0 or M < 0:
        raise ConfigError(f"MAE needs C >= 0 and M >= 0, got C={C}, M={M}")
    vae = base.make_model(spec, model, dtype)
    r_section = dict(dict(model).get("r", {}))
    r_name = r_section.get("name", "mlp")
    if r_name == "mlp":
        r_net = models.GaussianPosterior(vae.latent_dim, dtype=dtype,
                                         **models.module_kwargs(r_section, models.GaussianPosterior,
                                                                "config.model.r"))
    else:  # an encoder architecture by name (e.g. "bilstm" for text): x -> (mean, log_var)
        r_net = models.build_encoder(r_section, vae.latent_dim, dtype, dict(model).get("conv_impl", "auto"))
    if spec.likelihood != "gaussian" and int(reinforce_samples) < 2:
        raise ConfigError("reinforce_samples must be >= 2 (leave-one-out baseline) for discrete x")
    return MutualAutoencoder(vae, r_net, C=float(C), M=float(M), iw_samples=int(importance_weighted_encoder),
                             mi_batch_size=int(mi_batch_size), reinforce_samples=int(reinforce_samples))


__all__ = ["MutualAutoencoder", "build"]
