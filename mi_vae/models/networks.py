"""Encoders, decoders and the critic t(x, z) (Flax Linen), chosen by name in ``mi_vae.models``.

Encoders map x -> (mean, log_var) of a diagonal Gaussian q(z|x); decoders map a code z -> the
parameters of p(x|z) with shape ``out_shape``. Every module takes ``dtype`` (the compute dtype);
parameters stay float32 and heads return float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mi_vae.models.conv import Conv
from mi_vae.models.layers import MLP, Dtype, GaussianHead, conv_transpose, to_f32

# ----------------------------------------------------------------------------- encoders


class MLPEncoder(nn.Module):
    latent_dim: int
    widths: Sequence[int] = (512, 512)
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> tuple[jax.Array, jax.Array]:
        h = x.reshape(x.shape[0], -1).astype(self.dtype)
        for w in self.widths:
            h = nn.relu(nn.Dense(w, dtype=self.dtype)(h))
        return GaussianHead(self.latent_dim, dtype=self.dtype)(h)


class Conv28Encoder(nn.Module):
    """InfoMax-VAE's 28x28 encoder: 4x4 stride-2 pad-1 convs 1->28->28->56->118 (28->14->7->3->1).

    Any stack of 4x4 stride-2 ReLU convs followed by the Gaussian head; ``Conv32Encoder`` is the
    same net with CIFAR's channels.
    """

    latent_dim: int
    channels: Sequence[int] = (28, 28, 56, 118)
    dtype: Dtype = jnp.float32
    conv_impl: str = "auto"  # config.model.conv_impl (mi_vae.models.conv)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> tuple[jax.Array, jax.Array]:
        h = x.astype(self.dtype)
        for c in self.channels:
            h = nn.relu(Conv(c, (4, 4), strides=2, padding=1, dtype=self.dtype, impl=self.conv_impl)(h))
        return GaussianHead(self.latent_dim, dtype=self.dtype)(h)


class Conv32Encoder(Conv28Encoder):
    """32x32 conv encoder (CIFAR): 4x4 stride-2 convs 64-128-256 (32->16->8->4), dense head."""

    channels: Sequence[int] = (64, 128, 256)


class DCGAN64Encoder(nn.Module):
    """DCGAN/WAE-style 64x64 encoder (VIMAE CelebA): 4x4 stride-2 convs 128-256-512-1024, BatchNorm, ReLU."""

    latent_dim: int
    channels: Sequence[int] = (128, 256, 512, 1024)
    dtype: Dtype = jnp.float32
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> tuple[jax.Array, jax.Array]:
        h = x.astype(self.dtype)
        for c in self.channels:
            h = Conv(c, (4, 4), strides=2, padding=1, dtype=self.dtype, impl=self.conv_impl)(h)
            h = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype)(h))
        return GaussianHead(self.latent_dim, dtype=self.dtype)(h)


# ----------------------------------------------------------------------------- decoders


class MLPDecoder(nn.Module):
    """z -> parameters of p(x|z) with shape ``out_shape``; ``widths`` sets depth and width."""

    out_shape: Sequence[int]
    widths: Sequence[int] = (512, 512)
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        h = MLP(self.widths, math.prod(self.out_shape), dtype=self.dtype)(z.astype(self.dtype))
        return to_f32(h).reshape((z.shape[0], *self.out_shape))


class Conv28Decoder(nn.Module):
    """InfoMax-VAE's 28x28 decoder: 1x1 conv z->118, transposed convs 118-118-56-28-28-C (1->2->4->7->14->28)."""

    out_shape: Sequence[int]
    dtype: Dtype = jnp.float32
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        h = z.astype(self.dtype).reshape(z.shape[0], 1, 1, -1)
        h = nn.relu(Conv(118, (1, 1), dtype=self.dtype, impl=self.conv_impl)(h))
        for c, k, s, p in ((118, 4, 2, 1), (56, 4, 2, 1), (28, 4, 1, 0), (28, 4, 2, 1)):
            h = nn.relu(conv_transpose(c, k, s, p, self.dtype, impl=self.conv_impl)(h))
        return to_f32(conv_transpose(self.out_shape[-1], 4, 2, 1, self.dtype, impl=self.conv_impl)(h))


class Conv32Decoder(nn.Module):
    """32x32 conv decoder (CIFAR): dense to 4x4x256, transposed convs 128-64-C (4->8->16->32)."""

    out_shape: Sequence[int]
    dtype: Dtype = jnp.float32
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        h = nn.relu(nn.Dense(4 * 4 * 256, dtype=self.dtype)(z.astype(self.dtype)))
        h = h.reshape(z.shape[0], 4, 4, 256)
        for c in (128, 64):
            h = nn.relu(conv_transpose(c, 4, 2, 1, self.dtype, impl=self.conv_impl)(h))
        return to_f32(conv_transpose(self.out_shape[-1], 4, 2, 1, self.dtype, impl=self.conv_impl)(h))


class DCGAN64Decoder(nn.Module):
    """DCGAN/WAE-style 64x64 decoder (VIMAE CelebA): dense to 8x8x1024, transposed convs 512-256-128, BatchNorm."""

    out_shape: Sequence[int]
    channels: Sequence[int] = (512, 256, 128)
    dtype: Dtype = jnp.float32
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        h = nn.Dense(8 * 8 * 1024, dtype=self.dtype)(z.astype(self.dtype)).reshape(z.shape[0], 8, 8, 1024)
        h = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype)(h))
        for c in self.channels:  # wide layers: one conv per phase is faster here (BENCHMARKS.md, H100 bf16)
            h = conv_transpose(c, 4, 2, 1, self.dtype, separate_phases=True, impl=self.conv_impl)(h)
            h = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype)(h))
        return to_f32(Conv(self.out_shape[-1], (3, 3), padding=1, dtype=self.dtype, impl=self.conv_impl)(h))


class Critic(nn.Module):
    """Critic t(x, z): MLP on concat(flatten(x), z) -> one score per pair (InfoMax-VAE, 1000-400-100-1).

    ``__call__(x, z)`` scores aligned pairs; passing x and z of batch size B gives ``[B]`` scores.
    """

    widths: Sequence[int] = (1000, 400, 100)
    activation: Callable = nn.relu
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, z: jax.Array) -> jax.Array:
        h = jnp.concatenate([x.reshape(x.shape[0], -1), z.reshape(z.shape[0], -1)], axis=-1)
        return to_f32(MLP(self.widths, 1, self.activation, dtype=self.dtype)(h.astype(self.dtype)))[:, 0]
