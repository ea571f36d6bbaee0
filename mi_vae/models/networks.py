"""Encoders, decoders and critics (Flax Linen)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any

LOG_VAR_MIN = -10.0
LOG_VAR_MAX = 10.0


def _f32(x: jax.Array) -> jax.Array:
    return x.astype(jnp.float32)


class MLP(nn.Module):
    """Dense stack: ``widths`` hidden layers with ``activation``, then a linear layer to ``out``."""

    widths: Sequence[int]
    out: int
    activation: Callable = nn.relu
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        for w in self.widths:
            h = self.activation(nn.Dense(w, dtype=self.dtype)(h))
        return nn.Dense(self.out, dtype=self.dtype)(h)


class GaussianHead(nn.Module):
    """Dense head to (mean, log_var) of q(z|x); log_var clipped to [LOG_VAR_MIN, LOG_VAR_MAX]."""

    latent_dim: int
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = _f32(nn.Dense(2 * self.latent_dim, dtype=self.dtype)(h.reshape(h.shape[0], -1)))
        mean, log_var = jnp.split(h, 2, axis=-1)
        return mean, jnp.clip(log_var, LOG_VAR_MIN, LOG_VAR_MAX)


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

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> tuple[jax.Array, jax.Array]:
        h = x.astype(self.dtype)
        for c in self.channels:
            h = nn.relu(nn.Conv(c, (4, 4), strides=2, padding=1, dtype=self.dtype)(h))
        return GaussianHead(self.latent_dim, dtype=self.dtype)(h)


class Conv32Encoder(Conv28Encoder):
    """32x32 conv encoder (CIFAR): 4x4 stride-2 convs 64-128-256 (32->16->8->4), dense head."""

    channels: Sequence[int] = (64, 128, 256)


class DCGAN64Encoder(nn.Module):
    """DCGAN/WAE-style 64x64 encoder (VIMAE CelebA): 4x4 stride-2 convs 128-256-512-1024, BatchNorm, ReLU."""

    latent_dim: int
    channels: Sequence[int] = (128, 256, 512, 1024)
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> tuple[jax.Array, jax.Array]:
        h = x.astype(self.dtype)
        for c in self.channels:
            h = nn.Conv(c, (4, 4), strides=2, padding=1, dtype=self.dtype)(h)
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
        return _f32(h).reshape((z.shape[0], *self.out_shape))


def _conv_transpose(c: int, k: int, s: int, p: int, dtype: Dtype) -> nn.ConvTranspose:
    """PyTorch ``ConvTranspose2d(k, stride=s, padding=p)``: out = (in - 1) * s - 2p + k."""
    return nn.ConvTranspose(c, (k, k), strides=(s, s), padding=[(k - 1 - p, k - 1 - p)] * 2, dtype=dtype)


class Conv28Decoder(nn.Module):
    """InfoMax-VAE's 28x28 decoder: 1x1 conv z->118, transposed convs 118-118-56-28-28-C (1->2->4->7->14->28)."""

    out_shape: Sequence[int]
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        h = z.astype(self.dtype).reshape(z.shape[0], 1, 1, -1)
        h = nn.relu(nn.Conv(118, (1, 1), dtype=self.dtype)(h))
        for c, k, s, p in ((118, 4, 2, 1), (56, 4, 2, 1), (28, 4, 1, 0), (28, 4, 2, 1)):
            h = nn.relu(_conv_transpose(c, k, s, p, self.dtype)(h))
        return _f32(_conv_transpose(self.out_shape[-1], 4, 2, 1, self.dtype)(h))


class Conv32Decoder(nn.Module):
    """32x32 conv decoder (CIFAR): dense to 4x4x256, transposed convs 128-64-C (4->8->16->32)."""

    out_shape: Sequence[int]
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        h = nn.relu(nn.Dense(4 * 4 * 256, dtype=self.dtype)(z.astype(self.dtype)))
        h = h.reshape(z.shape[0], 4, 4, 256)
        for c in (128, 64):
            h = nn.relu(_conv_transpose(c, 4, 2, 1, self.dtype)(h))
        return _f32(_conv_transpose(self.out_shape[-1], 4, 2, 1, self.dtype)(h))


class DCGAN64Decoder(nn.Module):
    """DCGAN/WAE-style 64x64 decoder (VIMAE CelebA): dense to 8x8x1024, transposed convs 512-256-128, BatchNorm."""

    out_shape: Sequence[int]
    channels: Sequence[int] = (512, 256, 128)
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        h = nn.Dense(8 * 8 * 1024, dtype=self.dtype)(z.astype(self.dtype)).reshape(z.shape[0], 8, 8, 1024)
        h = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype)(h))
        for c in self.channels:
            h = _conv_transpose(c, 4, 2, 1, self.dtype)(h)
            h = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype)(h))
        return _f32(nn.Conv(self.out_shape[-1], (3, 3), padding=1, dtype=self.dtype)(h))


ENCODERS = {"mlp": MLPEncoder, "conv28": Conv28Encoder, "conv32": Conv32Encoder, "dcgan64": DCGAN64Encoder}
DECODERS = {"mlp": MLPDecoder, "conv28": Conv28Decoder, "conv32": Conv32Decoder, "dcgan64": DCGAN64Decoder}


def _register_autoregressive() -> None:
    """Strong (autoregressive) decoders and the text encoder, in their own modules."""
    from mi_vae.models.pixelcnn import PixelCNNDecoder
    from mi_vae.models.text import BiLSTMEncoder, LSTMDecoder

    ENCODERS["bilstm"] = BiLSTMEncoder
    DECODERS.update(pixelcnn=PixelCNNDecoder, lstm=LSTMDecoder)


def build_encoder(name: str, latent_dim: int, dtype: Dtype = jnp.float32, **kwargs) -> nn.Module:
    """Encoder by name (see ``ENCODERS``); ``kwargs`` are the module's fields (e.g. ``widths``)."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; valid: {', '.join(sorted(ENCODERS))}")
    return ENCODERS[name](latent_dim=latent_dim, dtype=dtype, **kwargs)


def build_decoder(name: str, out_shape: Sequence[int], dtype: Dtype = jnp.float32, **kwargs) -> nn.Module:
    """Decoder by name (see ``DECODERS``) producing an output of shape ``[B, *out_shape]``."""
    if name not in DECODERS:
        raise ValueError(f"unknown decoder {name!r}; valid: {', '.join(sorted(DECODERS))}")
    return DECODERS[name](out_shape=tuple(out_shape), dtype=dtype, **kwargs)


def is_autoregressive(decoder: nn.Module) -> bool:
    """True for decoders that need x (teacher forcing): class attribute ``autoregressive = True``."""
    return bool(getattr(type(decoder), "autoregressive", False))


class VAE(nn.Module):
    """Encoder + decoder; ``__call__`` initialises both. Methods use ``encode`` and ``decode``.

    An autoregressive decoder (``is_autoregressive``) is called ``decoder(z, train, x=x)`` and needs
    x; every other decoder is called ``decoder(z, train)`` and ``x`` is ignored.
    """

    encoder: nn.Module
    decoder: nn.Module

    def __call__(self, x: jax.Array, z: jax.Array, train: bool = True):
        return self.encode(x, train), self.decode(z, train, x=x)

    def encode(self, x: jax.Array, train: bool = True) -> tuple[jax.Array, jax.Array]:
        return self.encoder(x, train)

    def decode(self, z: jax.Array, train: bool = True, x: jax.Array | None = None) -> jax.Array:
        if is_autoregressive(self.decoder):
            return self.decoder(z, train, x=x)
        return self.decoder(z, train)


_register_autoregressive()


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
        return _f32(MLP(self.widths, 1, self.activation, dtype=self.dtype)(h.astype(self.dtype)))[:, 0]
