"""The method interface: players, parameters, per-player losses, update order.

A method is a small object built from a config and a ``DataSpec``. It declares its *players*
(parameter groups, each with its own optimizer) in the order the engine updates them, and returns
every player's loss from one function::

    init(rng, x) -> {"params": {player: ...}, "batch_stats": {...}}
    losses(params, batch_stats, batch, rng, step) -> ({player: (loss, metrics)}, new_batch_stats)

The engine (``mi_vae.train``) differentiates ``losses(...)[player][0]`` with respect to
``params[player]`` only, one player after the other, each seeing the players updated before it
(alternating updates on the same batch). Losses are minimised and are float32 scalars; ``metrics``
are float32 scalars named after the objective's terms.

``VAEMethod`` holds what every VAE-like method shares: the encoder/decoder, the likelihood of x,
the prior, the reparameterised sample and the ELBO terms.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from mi_vae import losses as L
from mi_vae import models
from mi_vae.models.text import token_log_prob

Params = Any
Metrics = dict[str, jax.Array]
PlayerLosses = dict[str, tuple[jax.Array, Metrics]]

LOG_SCALE_MIN = -7.0  # clip for Gaussian decoder log-scales


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a method needs to know about the data: one example's shape and its likelihood."""

    example_shape: tuple[int, ...]
    likelihood: str  # "bernoulli" | "gaussian" | "categorical" | "tokens"
    num_classes: int | None = None


def compute_dtype(config: ml_collections.ConfigDict):
    names = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
    if config.compute_dtype not in names:
        raise ValueError(f"compute_dtype must be one of {sorted(names)}, got {config.compute_dtype!r}")
    return names[config.compute_dtype]


class Method:
    """Base class: a single player ``"vae"``; subclasses add players (critic, discriminator, ...)."""

    players: tuple[str, ...] = ("vae",)
    #: the player whose forward pass updates BatchNorm statistics
    batch_stats_player: str = "vae"

    def __init__(self, config: ml_collections.ConfigDict, spec: DataSpec):
        self.config = config
        self.spec = spec
        self.dtype = compute_dtype(config)

    def learning_rate(self, player: str) -> float:
        """``config.learning_rate`` for the VAE, ``config.<player>_learning_rate`` for other players."""
        if player == "vae":
            return float(self.config.learning_rate)
        return float(self.config[f"{player}_learning_rate"])

    def init(self, rng: jax.Array, x: jax.Array) -> dict:
        raise NotImplementedError

    def losses(self, params, batch_stats, batch, rng, step) -> tuple[PlayerLosses, Any]:
        raise NotImplementedError


class VAEMethod(Method):
    """Shared machinery of every VAE-like method: q(z|x), p(x|z), p(z) and the ELBO terms."""

    def __init__(self, config: ml_collections.ConfigDict, spec: DataSpec):
        super().__init__(config, spec)
        out_shape = list(spec.example_shape)
        if spec.likelihood == "gaussian":  # decoder emits a mean and a log-scale per dimension
            out_shape[-1] *= 2
        self.latent_dim = int(config.latent_dim)
        self.vae = models.VAE(
            encoder=models.build_encoder(config.encoder.name, self.latent_dim, self.dtype, **_kw(config.encoder)),
            decoder=models.build_decoder(config.decoder.name, out_shape, self.dtype, **_kw(config.decoder)),
        )

    # --- the model -----------------------------------------------------------------------
    def init_vae(self, rng: jax.Array, x: jax.Array) -> dict:
        z = jnp.zeros((x.shape[0], self.latent_dim), jnp.float32)
        return self.vae.init(rng, x, z, train=False)

    def encode(self, params, batch_stats, x, train: bool = False):
        """(mean, log_var) of q(z|x), each [B, latent_dim]."""
        return self._apply(params, batch_stats, train, x, method=models.VAE.encode)

    @property
    def autoregressive(self) -> bool:
        """Whether the decoder is autoregressive (needs x: ``decoder(z, train, x=x)``)."""
        return models.is_autoregressive(self.vae.decoder)

    def decode(self, params, batch_stats, z, train: bool = False, x=None):
        """Decoder output for z: Bernoulli/categorical logits or Gaussian (mean, log_scale) packed on the last axis.

        ``x`` is used by autoregressive decoders only (ignored otherwise): with x, the teacher-forced
        output (logits of x_i given x_<i and z); without x, x is first drawn from p(x|z) by
        ``sample_autoregressive`` (greedy or ancestral per the decoder's ``default_greedy``, fixed key
        0, so decode(z) is a deterministic function of z) and the teacher-forced output on that draw
        is returned, so ``reconstruction(decode(z))`` is that draw's per-position probabilities (text:
        the greedy tokens). Costs one decoder pass per position.
        """
        if self.autoregressive:
            if x is None:
                x = jax.lax.stop_gradient(self.sample_autoregressive(params, batch_stats, z, jax.random.PRNGKey(0)))
            return self._apply(params, batch_stats, train, z, x, method=_decode_with_x)
        return self._apply(params, batch_stats, train, z, method=models.VAE.decode)

    def sample_autoregressive(self, params, batch_stats, z, rng, greedy: bool | None = None):
        """x ~ p(x|z) from an autoregressive decoder (jittable; one loop step per position).

        PixelCNN: ``lax.fori_loop`` over the pixels ({0,1} float32 images); LSTM: ``lax.scan`` over
        the tokens (ids as float32, pad after <eos>). ``greedy`` (default: the decoder's
        ``default_greedy``) takes the most probable value at each step instead of sampling.
        """
        decoder = self.vae.decoder
        if not self.autoregressive:
            raise ValueError("sample_autoregressive needs an autoregressive decoder")
        greedy = bool(getattr(decoder, "default_greedy", False)) if greedy is None else greedy

        def logits_fn(z, x):
            return self._apply(params, batch_stats, False, z, x, method=_decode_with_x)

        def init_fn(z):
            return self._apply(params, batch_stats, False, z, method=lambda m, z, train: m.decoder.initial_carry(z))

        def step_fn(carry, token, z):
            return self._apply(params, batch_stats, False, carry, token, z,
                               method=lambda m, c, t, z, train: m.decoder.step(c, t, z))

        return type(decoder).sampler(decoder, logits_fn, (init_fn, step_fn), z, rng, greedy)

    def _apply(self, params, batch_stats, train, *args, method):
        variables = {"params": params["vae"], **({"batch_stats": batch_stats} if batch_stats else {})}
        if train and batch_stats:
            out, _ = self.vae.apply(variables, *args, train=True, method=method, mutable=["batch_stats"])
            return out
        return self.vae.apply(variables, *args, train=False, method=method)

    def forward(self, params, batch_stats, x, rng, train: bool = True):
        """Encode, sample z ~ q(z|x) by reparameterisation, decode.

        Returns (terms, new_batch_stats) with terms: mean, log_var, z, out (decoder output),
        log_px (log p(x|z), [B]) and kl (KL(q(z|x) || p(z)), [B]).
        """
        variables = {"params": params["vae"], **({"batch_stats": batch_stats} if batch_stats else {})}
        mutable = ["batch_stats"] if (train and batch_stats) else False

        def run(module):
            mean, log_var = module.encode(x, train)
            eps = L.sample_normal(rng, mean.shape)
            z = mean + jnp.exp(0.5 * log_var) * eps
            return mean, log_var, z, module.decode(z, train, x=x)

        result = self.vae.apply(variables, method=run, mutable=mutable)
        (mean, log_var, z, out), new_stats = result if mutable else (result, {})
        new_batch_stats = new_stats.get("batch_stats", batch_stats)
        terms = dict(mean=mean, log_var=log_var, z=z, out=out, log_px=self.log_likelihood(out, x),
                     kl=L.gaussian_kl(mean, log_var))
        return terms, new_batch_stats

    def log_likelihood(self, out: jax.Array, x: jax.Array) -> jax.Array:
        """log p(x|z) per example [B] under the data's likelihood, from the decoder output."""
        if self.spec.likelihood == "bernoulli":
            return L.bernoulli_log_prob(out, x)
        if self.spec.likelihood == "gaussian":
            mean, log_scale = jnp.split(out, 2, axis=-1)
            return L.gaussian_log_prob(mean, jnp.maximum(log_scale, LOG_SCALE_MIN), x)
        if self.spec.likelihood == "categorical":
            return L.categorical_log_prob(out, x)
        if self.spec.likelihood == "tokens":
            return token_log_prob(out, x)
        raise ValueError(f"unknown likelihood {self.spec.likelihood!r}")

    def reconstruction(self, out: jax.Array) -> jax.Array:
        """The decoder's point estimate of x: Bernoulli/categorical probabilities or the Gaussian mean.

        Tokens: the most probable id at each position (float32). Autoregressive decoders: per
        position given the *observed* (teacher-forced) or drawn prefix, see ``decode``.
        """
        if self.spec.likelihood == "tokens":
            return jnp.argmax(out, axis=-1).astype(jnp.float32)
        if self.spec.likelihood == "bernoulli":
            return jax.nn.sigmoid(out)
        if self.spec.likelihood == "gaussian":
            return jnp.split(out, 2, axis=-1)[0]
        return jax.nn.softmax(out, axis=-1)

    def sample_prior(self, rng: jax.Array, n: int) -> jax.Array:
        """z ~ p(z) = N(0, I), [n, latent_dim].

        A method that changes the prior overrides this and ``prior_log_prob``.
        """
        return L.sample_normal(rng, (n, self.latent_dim))

    def prior_log_prob(self, z: jax.Array) -> jax.Array:
        """log p(z) per example [B] for p(z) = N(0, I)."""
        return L.normal_log_prob(z)


def _decode_with_x(module, z, x, train):
    """``VAE.decode`` with x (teacher forcing) for ``apply(..., method=...)``."""
    return module.decode(z, train, x=x)


def _kw(section: ml_collections.ConfigDict) -> dict:
    """Module fields from a config section (everything but its ``name``), tuples for sequences."""
    return {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in section.items() if k != "name"}
