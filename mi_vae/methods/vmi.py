"""Variational mutual information maximisation for VAEs (VMI; vmi_vae_thesis.txt, chapter 4).

Objective maximised (eq. 4.11 / 4.12), with an auxiliary network Q on the decoder's output:

    L = ELBO + lambda_ * MI
    MI = H(c) + E_{x ~ data, c ~ q(c|x)}[ log Q(c | x_hat) ],   x_hat = decoder output for the code  (eq. 4.9)

The thesis's x ~ p_theta(x|z) is taken as the decoder's point estimate x_hat (Bernoulli or
categorical probabilities, Gaussian mean), Q's input. MI is a Barber-Agakov lower bound (eq. 4.4,
4.8). H(c) is, as in the thesis, the entropy of c's prior, a constant (``code_entropy="prior"``).
That is exact only while the aggregate posterior q(c) = E_x q(c|x) stays near the prior: with a
large lambda_ the categorical encoder can send every x to one category (Q then predicts c
perfectly and the estimate reads log K). ``code_entropy="aggregate"`` (categorical layout) uses
instead the entropy of the batch's aggregate posterior, H(mean_b softmax(logits_b)), which makes
the bound honest and rewards balanced categories. Two latent layouts (``config.mi_target``):

* ``"subvector"`` (section 4.3.1, eq. 4.13-4.14): z ~ q(z|x) = N(mu(x), sigma^2(x)) of
  ``latent_dim`` dims, prior N(0, I); c = z_hat = z[:, :mi_dims] (the first ``mi_dims``
  coordinates); Q(z_hat | x_hat) a diagonal Gaussian MLP; H(z_hat) = mi_dims/2 log(2 pi e).
  ELBO = E_q log p(x|z) - KL(q(z|x) || N(0, I)) (eq. 4.10).
* ``"categorical"`` (section 4.3.2, eq. 4.15-4.22): q(z, c|x) = q(z|x) q(c|x) (eq. 4.16) with a
  Gaussian z of ``latent_dim`` dims and a ``num_categories``-way c relaxed by Gumbel-softmax,
  c ~ GS(pi(x)) at temperature tau (eq. 4.20); uniform prior p(c). The decoder takes the
  concatenation [z, c] (``latent_dim + num_categories`` inputs, z first). Q(c | x_hat) is a
  categorical MLP and log Q(c|x_hat) = sum_k c_k log softmax(Q(x_hat))_k (the relaxed sample as a
  soft target); H(c) = log K.
  ELBO = E_q log p(x|z, c) - KL(q(z|x) || N(0, I)) - KL(q(c|x) || Unif(K)) (eq. 4.19; the second
  KL is ``losses.categorical_kl_to_uniform``). tau is annealed with the step:
  tau(t) = tau_start * (tau_end / tau_start) ** min(t / temperature_anneal_steps, 1)
  (exponential decay from ``temperature_start`` to ``temperature_end``, then constant).

Players, in this order on each batch (Algorithm 1, lines 4-5: Q first, then the VAE):
    q:   -MI                                (Q's parameters; the VAE fixed)
    vae: -(ELBO + lambda_ * MI)             (encoder and decoder; Q fixed, just updated)
Q's loss has no lambda_, so with lambda_ = 0 Q still measures the MI lower bound of a plain VAE
(the thesis's Figure 4.8 comparison). The MI gradient reaches the encoder through c (reparameterised
Gaussian / Gumbel-softmax sample) and both encoder and decoder through x_hat.

Config keys: mi_target, lambda_, mi_dims (subvector), num_categories, temperature_start,
temperature_end, temperature_anneal_steps, hard_gumbel (straight-through one-hot c; default
False), code_entropy ("prior" | "aggregate"), q.widths, q_learning_rate.

Evaluation hooks: ``encode`` returns the Gaussian (mean, log_var); ``categorical_code`` the logits
of q(c|x); ``decode`` and ``sample_prior`` work on full codes of ``decoder_input_dim`` =
latent_dim + num_categories entries laid out [z, one-hot c] (num_categories = 0 for "subvector").
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from mi_vae import losses as L
from mi_vae import models
from mi_vae.methods.base import VAEMethod, _kw
from mi_vae.methods.vae import elbo_metrics
from mi_vae.models.auxiliary import (
    CategoricalGaussianEncoder,
    CategoricalPosterior,
    GaussianPosterior,
)

MI_TARGETS = ("subvector", "categorical")


class VMI(VAEMethod):
    players = ("q", "vae")

    def __init__(self, config, spec):
        super().__init__(config, spec)
        if config.mi_target not in MI_TARGETS:
            raise ValueError(f"mi_target must be one of {MI_TARGETS}, got {config.mi_target!r}")
        self.mi_target = config.mi_target
        self.lambda_ = float(config.lambda_)
        q_widths = tuple(config.q.widths)
        if self.categorical:
            self.num_categories = int(config.num_categories)
            base = models.build_encoder(config.encoder.name, self.latent_dim + self.num_categories, self.dtype,
                                        **_kw(config.encoder))
            self.vae = models.VAE(
                encoder=CategoricalGaussianEncoder(base, self.latent_dim, self.num_categories),
                decoder=models.build_decoder(config.decoder.name, self._decoder_out_shape(), self.dtype,
                                             **_kw(config.decoder)),
            )
            self.q_net = CategoricalPosterior(self.num_categories, widths=q_widths, dtype=self.dtype)
            self.prior_entropy = math.log(self.num_categories)  # H(c), c ~ Unif(K)
            self.tau_start = float(config.temperature_start)
            self.tau_end = float(config.temperature_end)
            self.anneal_steps = int(config.temperature_anneal_steps)
            self.hard_gumbel = bool(config.get("hard_gumbel", False))
            self.entropy_estimate = config.get("code_entropy", "prior")
            if self.entropy_estimate not in ("prior", "aggregate"):
                raise ValueError(f"code_entropy must be 'prior' or 'aggregate', got {self.entropy_estimate!r}")
        else:
            self.num_categories = 0
            self.mi_dims = int(config.mi_dims)
            if not 1 <= self.mi_dims <= self.latent_dim:
                raise ValueError(f"mi_dims must be in [1, latent_dim={self.latent_dim}], got {self.mi_dims}")
            self.q_net = GaussianPosterior(self.mi_dims, widths=q_widths, dtype=self.dtype)
            self.prior_entropy = 0.5 * self.mi_dims * math.log(2.0 * math.pi * math.e)  # H(z_hat), N(0, I)
            self.entropy_estimate = "prior"
        #: size of the decoder's input: [z (latent_dim), c (num_categories)]
        self.decoder_input_dim = self.latent_dim + self.num_categories

    @property
    def categorical(self) -> bool:
        return self.mi_target == "categorical"

    def _decoder_out_shape(self):
        out_shape = list(self.spec.example_shape)
        if self.spec.likelihood == "gaussian":
            out_shape[-1] *= 2
        return out_shape

    # --- parameters ----------------------------------------------------------------------
    def init(self, rng, x):
        rng_vae, rng_q = jax.random.split(rng)
        code = jnp.zeros((x.shape[0], self.decoder_input_dim), jnp.float32)
        variables = self.vae.init(rng_vae, x, code, train=False)
        q = self.q_net.init(rng_q, jnp.zeros((1, *self.spec.example_shape), jnp.float32))["params"]
        return {"params": {"vae": variables["params"], "q": q}, "batch_stats": variables.get("batch_stats", {})}

    def init_vae(self, rng, x):
        code = jnp.zeros((x.shape[0], self.decoder_input_dim), jnp.float32)
        return self.vae.init(rng, x, code, train=False)

    # --- the model -----------------------------------------------------------------------
    def temperature(self, step) -> jax.Array:
        """Gumbel-softmax temperature at ``step``: exponential decay tau_start -> tau_end."""
        frac = jnp.clip(jnp.asarray(step, jnp.float32) / max(self.anneal_steps, 1), 0.0, 1.0)
        return self.tau_start * (self.tau_end / self.tau_start) ** frac

    def _encode_all(self, params, batch_stats, x, train=False):
        return self._apply(params, batch_stats, train, x, method=models.VAE.encode)

    def encode(self, params, batch_stats, x, train: bool = False):
        """(mean, log_var) of the Gaussian q(z|x), each ``[B, latent_dim]``."""
        out = self._encode_all(params, batch_stats, x, train)
        return out[0], out[1]

    def categorical_code(self, params, batch_stats, x):
        """Logits of q(c|x), ``[B, num_categories]`` (mi_target="categorical" only)."""
        if not self.categorical:
            raise ValueError("categorical_code needs mi_target='categorical'")
        return self._encode_all(params, batch_stats, x)[2]

    def decode(self, params, batch_stats, z, train: bool = False):
        """Decoder output for the full code ``z`` = [gaussian z (latent_dim), c (num_categories)].

        With mi_target="subvector" the code is the Gaussian z alone (num_categories = 0).
        """
        return super().decode(params, batch_stats, z, train)

    def sample_prior(self, rng, n):
        """Full codes from the prior, ``[n, decoder_input_dim]``: [z ~ N(0, I), one-hot c ~ Unif(K)]."""
        rng_z, rng_c = jax.random.split(rng)
        z = L.draw_flat(jax.random.normal, rng_z, (n, self.latent_dim))
        if not self.categorical:
            return z
        c = jax.nn.one_hot(jax.random.randint(rng_c, (n,), 0, self.num_categories), self.num_categories,
                           dtype=jnp.float32)
        return jnp.concatenate([z, c], axis=-1)

    def prior_log_prob(self, code):
        """log p(code) per example: log N(z; 0, I), plus log p(c) = -log K for the one-hot c of the
        categorical layout (a density in z times a probability mass in c)."""
        log_p = L.normal_log_prob(code[..., :self.latent_dim])
        return log_p - math.log(self.num_categories) if self.categorical else log_p

    def forward(self, params, batch_stats, x, rng, train: bool = True, temperature=None):
        """Encode, sample the code (reparameterised z; Gumbel-softmax c at ``temperature``), decode.

        ``temperature`` defaults to ``temperature_end`` (the trained model's). Returns (terms,
        new_batch_stats); terms: mean, log_var, z, code (the decoder input), out, log_px, kl
        (total, [B]), kl_z, and for the categorical layout logits, c, kl_c.
        """
        variables = {"params": params["vae"], **({"batch_stats": batch_stats} if batch_stats else {})}
        mutable = ["batch_stats"] if (train and batch_stats) else False
        rng_z, rng_c = jax.random.split(rng)
        tau = self.tau_end if (temperature is None and self.categorical) else temperature

        def run(module):
            enc = module.encode(x, train)
            mean, log_var = enc[0], enc[1]
            eps = L.draw_flat(jax.random.normal, rng_z, mean.shape)
            z = mean + jnp.exp(0.5 * log_var) * eps
            if self.categorical:
                c = L.gumbel_softmax(rng_c, enc[2], tau, hard=self.hard_gumbel)
                code = jnp.concatenate([z, c], axis=-1)
                extra = (enc[2], c)
            else:
                code, extra = z, ()
            return mean, log_var, z, code, module.decode(code, train), extra

        result = self.vae.apply(variables, method=run, mutable=mutable)
        (mean, log_var, z, code, out, extra), new_stats = result if mutable else (result, {})
        new_batch_stats = new_stats.get("batch_stats", batch_stats)
        kl_z = L.gaussian_kl(mean, log_var)
        terms = {"mean": mean, "log_var": log_var, "z": z, "code": code, "out": out,
                 "log_px": self.log_likelihood(out, x), "kl_z": kl_z, "kl": kl_z}
        if self.categorical:
            logits, c = extra
            kl_c = L.categorical_kl_to_uniform(logits)
            terms.update(logits=logits, c=c, kl_c=kl_c, kl=kl_z + kl_c)
        return terms, new_batch_stats

    # --- the MI regulariser ----------------------------------------------------------------
    def mi_lower_bound(self, q_params, terms) -> jax.Array:
        """MI = H(c) + mean log Q(c | x_hat) (eq. 4.9 / 4.13 / 4.21) on the batch's codes."""
        x_hat = self.reconstruction(terms["out"])
        if self.categorical:
            q_logits = self.q_net.apply({"params": q_params}, x_hat)
            log_q = jnp.sum(terms["c"] * jax.nn.log_softmax(q_logits, axis=-1), axis=-1)
        else:
            mean, log_var = self.q_net.apply({"params": q_params}, x_hat)
            log_q = L.gaussian_log_prob(mean, 0.5 * log_var, terms["z"][:, :self.mi_dims])
        return L.barber_agakov_bound(log_q, self.entropy(terms))

    def entropy(self, terms) -> jax.Array:
        """H(c): the prior's (constant), or for ``code_entropy="aggregate"`` the entropy of the batch's
        aggregate posterior q(c) = mean_b softmax(logits_b) (categorical layout only)."""
        if self.entropy_estimate == "prior":
            return jnp.asarray(self.prior_entropy, jnp.float32)
        p = jnp.mean(jax.nn.softmax(terms["logits"], axis=-1), axis=0)
        return -jnp.sum(p * jnp.log(jnp.maximum(p, 1e-12)))

    def losses(self, params, batch_stats, batch, rng, step):
        temperature = self.temperature(step) if self.categorical else None
        terms, new_stats = self.forward(params, batch_stats, batch["x"], rng, temperature=temperature)
        metrics = elbo_metrics(terms)
        mi = self.mi_lower_bound(params["q"], terms)
        metrics["mi_estimate"] = mi
        if self.categorical:
            metrics.update(kl_z=jnp.mean(terms["kl_z"]), kl_c=jnp.mean(terms["kl_c"]), temperature=temperature)
        vae_loss = -metrics["elbo"] - self.lambda_ * mi
        # Q sees the VAE's codes and outputs as data (no gradient to the VAE through its loss).
        q_loss = -self.mi_lower_bound(params["q"], jax.lax.stop_gradient(terms))
        return {"q": (q_loss, {"mi_estimate": -q_loss}), "vae": (vae_loss, metrics)}, new_stats


__all__ = ["MI_TARGETS", "VMI"]
