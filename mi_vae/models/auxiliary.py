"""Auxiliary networks of the MI methods (Flax Linen).

* ``GaussianPosterior``: x -> (mean, log_var) of a diagonal Gaussian over a latent (sub-)vector.
  The Mutual Autoencoder's r_omega(z|x) (the Mutual Autoencoder paper eq. 9, Algorithm 1) and the VMI
  thesis's auxiliary Q(z_hat | x) for a Gaussian sub-vector (the VMI thesis eq. 4.13).
* ``CategoricalPosterior``: x -> logits of Q(c | x) over K categories (VMI thesis eq. 4.21).
* ``CategoricalGaussianEncoder``: x -> (mean, log_var, logits), the joint encoder
  q(z, c | x) = q(z|x) q(c|x) of the VMI thesis section 4.3.2 (eq. 4.16), on any encoder of
  ``models.build_encoder``.

Inputs are flattened; every head returns float32 and log-variances are clipped to
[LOG_VAR_MIN, LOG_VAR_MAX] like the encoders'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mi_vae.models.layers import LOG_VAR_MAX, LOG_VAR_MIN, MLP

Dtype = Any


def _flat(x: jax.Array, dtype: Dtype) -> jax.Array:
    return x.reshape(x.shape[0], -1).astype(dtype)


class GaussianPosterior(nn.Module):
    """r(z|x) = N(z; mean(x), diag(exp(log_var(x)))): an MLP on flatten(x).

    ``__call__(x)`` returns (mean, log_var), each ``[B, latent_dim]`` float32.
    """

    latent_dim: int
    widths: Sequence[int] = (256, 256)
    activation: Callable = nn.relu
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = MLP(tuple(self.widths), 2 * self.latent_dim, self.activation, dtype=self.dtype)(_flat(x, self.dtype))
        mean, log_var = jnp.split(h.astype(jnp.float32), 2, axis=-1)
        return mean, jnp.clip(log_var, LOG_VAR_MIN, LOG_VAR_MAX)


class CategoricalPosterior(nn.Module):
    """Q(c|x) = Categorical(softmax(logits(x))): an MLP on flatten(x); returns ``[B, K]`` logits."""

    num_categories: int
    widths: Sequence[int] = (256, 256)
    activation: Callable = nn.relu
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = MLP(tuple(self.widths), self.num_categories, self.activation, dtype=self.dtype)(_flat(x, self.dtype))
        return h.astype(jnp.float32)


class CategoricalGaussianEncoder(nn.Module):
    """Joint encoder q(z|x) q(c|x) (VMI thesis eq. 4.16) on a Gaussian encoder ``base``.

    ``base`` must be an encoder of ``build_encoder`` built with latent size
    ``latent_dim + num_categories``; its (mean, log_var) heads are one dense layer on the trunk,
    so their first ``latent_dim`` entries are the Gaussian part and the remaining
    ``num_categories`` mean entries are a dense head on the same trunk features: the categorical
    logits (the surplus log-variances are unused). This keeps every architecture of
    ``build_encoder`` (MLP, conv, BatchNorm) available to the joint encoder.

    ``__call__(x, train)`` returns (mean, log_var, logits): ``[B, latent_dim]``, ``[B, latent_dim]``,
    ``[B, num_categories]``.
    """

    base: nn.Module
    latent_dim: int
    num_categories: int

    def __call__(self, x: jax.Array, train: bool = True):
        mean, log_var = self.base(x, train)
        d = self.latent_dim
        return mean[:, :d], log_var[:, :d], mean[:, d:d + self.num_categories]


__all__ = ["CategoricalGaussianEncoder", "CategoricalPosterior", "GaussianPosterior"]
