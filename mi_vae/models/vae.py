"""The VAE modules: one ``apply`` runs encode -> reparameterize -> decode (Flax's examples/vae form).

* ``VAE``: a Gaussian q(z|x) and a decoder of z.
* ``CategoricalVAE``: q(z|x) q(c|x) with a Gumbel-softmax relaxed categorical c (VMI thesis section
  4.3.2, eq. 4.16-4.20); the decoder reads the code [z, c].

Both take the sampling key as an argument, ``module.apply(variables, x, rng, train=...)``, so the draw
is ``losses.reparameterize(rng, mean, log_var)`` exactly. Decoders that need x (teacher forcing) are
``AutoregressiveDecoder``s: they are called ``decoder(z, train, x=x)`` and declare their sampler, a
``sample(fns, z, rng, greedy)`` method in the class body that draws x ~ p(x|z) through ``DecoderFns``
(the bound decoder's functions, applied from outside the loop so Flax scopes never cross a
``lax`` loop).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import flax.linen as nn
import jax
import jax.numpy as jnp

from mi_vae import losses


class DecoderFns(NamedTuple):
    """A trained decoder's functions, for its sampler: ``logits(z, x)`` (teacher-forced output),
    ``initial_carry(z)`` and ``step(carry, token, z) -> (carry, logits)`` (recurrent decoders)."""

    logits: Callable[[jax.Array, jax.Array], jax.Array]
    initial_carry: Callable[[jax.Array], Any]
    step: Callable[[Any, jax.Array, jax.Array], tuple[Any, jax.Array]]


@runtime_checkable
class AutoregressiveDecoder(Protocol):
    """A decoder p(x|z) = prod_i p(x_i | x_<i, z): called ``decoder(z, train, x=x)``, sampled by ``sample``."""

    #: whether ``VAEModel.decode(z)`` without x draws x greedily (text) or ancestrally (images)
    default_greedy: ClassVar[bool]

    def sample(self, fns: DecoderFns, z: jax.Array, rng: jax.Array, greedy: bool) -> jax.Array:
        """x ~ p(x|z) (or the greedy choice at every position), ``[B, *out_shape]`` float32."""
        ...


def is_autoregressive(decoder: nn.Module) -> bool:
    return isinstance(decoder, AutoregressiveDecoder)


def decode(decoder: nn.Module, code: jax.Array, train: bool, x: jax.Array | None = None) -> jax.Array:
    """``decoder(code, train)``; autoregressive decoders also get x (teacher forcing)."""
    if is_autoregressive(decoder):
        return decoder(code, train, x=x)
    return decoder(code, train)


class VAE(nn.Module):
    """Encoder q(z|x) = N(mean, diag(exp(log_var))) and decoder p(x|z).

    ``__call__(x, rng, train=..., num_samples=None)`` returns ``{"mean", "log_var", "z", "code", "out"}``:
    mean, log_var ``[B, d]``; z = code ``[B, d]`` (or ``[k, B, d]`` for ``num_samples=k``, k independent
    draws per example, decoded as one batch of k * B with ``out`` ``[k * B, ...]``).
    """

    encoder: nn.Module
    decoder: nn.Module

    def __call__(self, x: jax.Array, rng: jax.Array, *, train: bool, num_samples: int | None = None) -> dict:
        mean, log_var = self.encoder(x, train)
        z = losses.reparameterize(rng, mean, log_var, num_samples)
        if num_samples is None:
            out = self.decode(z, train, x=x)
        else:
            out = self.decode(z.reshape(-1, z.shape[-1]), train, x=jnp.concatenate([x] * num_samples))
        return {"mean": mean, "log_var": log_var, "z": z, "code": z, "out": out}

    def encode(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, ...]:
        return self.encoder(x, train)

    def decode(self, code: jax.Array, train: bool = False, x: jax.Array | None = None) -> jax.Array:
        return decode(self.decoder, code, train, x)


class CategoricalVAE(nn.Module):
    """q(z, c|x) = q(z|x) q(c|x) (VMI thesis eq. 4.16) and p(x|z, c); the decoder reads [z, c].

    ``encoder`` returns (mean, log_var, logits) (``models.CategoricalGaussianEncoder``). ``__call__(x,
    rng, train=..., temperature=tau)`` draws z by reparameterisation and c ~ GumbelSoftmax(logits, tau)
    (eq. 4.20; straight-through one-hot if ``hard``; tau defaults to ``temperature``, the trained
    model's) from the two halves of ``rng``, and returns
    ``{"mean", "log_var", "logits", "z", "c", "code", "out"}`` with code = [z, c] ``[B, d + K]``.
    """

    encoder: nn.Module
    decoder: nn.Module
    hard: bool = False
    temperature: float = 0.5

    def __call__(self, x: jax.Array, rng: jax.Array, *, train: bool, temperature=None) -> dict:
        temperature = self.temperature if temperature is None else temperature
        mean, log_var, logits = self.encoder(x, train)
        rng_z, rng_c = jax.random.split(rng)
        z = losses.reparameterize(rng_z, mean, log_var)
        c = losses.gumbel_softmax(rng_c, logits, temperature, hard=self.hard)
        code = jnp.concatenate([z, c], axis=-1)
        return {"mean": mean, "log_var": log_var, "logits": logits, "z": z, "c": c, "code": code,
                "out": self.decode(code, train, x=x)}

    def encode(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, ...]:
        return self.encoder(x, train)

    def decode(self, code: jax.Array, train: bool = False, x: jax.Array | None = None) -> jax.Array:
        return decode(self.decoder, code, train, x)


__all__ = ["AutoregressiveDecoder", "CategoricalVAE", "DecoderFns", "VAE", "decode", "is_autoregressive"]
