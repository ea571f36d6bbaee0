"""Conditional gated PixelCNN decoder p(x|z) for small binary images (van den Oord et al. 2016).

p(x|z) = prod_i Bernoulli(x_i | sigmoid(logit_i(x_<i, z))) over the pixels in raster order (row by
row, left to right); one channel (binary images such as dynamically binarized (Fashion-)MNIST).
The InfoVAE paper's strong decoder (InfoVAE, figure 1): with it the ELBO can ignore z.

Architecture (the gated PixelCNN with a vertical and a horizontal stack, which has no blind spot):
  * vertical stack: convolutions whose output at row r sees input rows <= r (any column within the
    kernel); it reaches the horizontal stack only shifted down by one row, so the horizontal stack
    sees rows < r from it;
  * horizontal stack: 1 x (k//2 + 1) convolutions over columns <= c of the same row; the first
    layer's input is shifted right by one column ("mask A": pixel (r, c) itself is excluded), later
    layers include column c ("mask B": they only carry features of earlier pixels), with a residual
    connection;
  * every layer is gated, y = tanh(W_f * x + V_f z) * sigmoid(W_g * x + V_g z), the conditioning
    V z a learned projection of z added inside the gate (separately for each stack and layer);
  * output head on the horizontal stack: ReLU, 1x1 conv, ReLU, 1x1 conv to the logits.

Receptive field: each layer extends the vertical stack by p = k // 2 rows up and p columns each side and the
horizontal stack by p columns left, so pixel (r, c) sees *every* earlier pixel exactly when
p * num_layers >= max(H, W) - 1 (``full_view_layers``; 14 layers at k = 5 for 28 x 28, where 6 layers
let the last pixel see 182 of its 783 predecessors). Fewer layers leave far-away context to z.

The decoder is autoregressive (a ``models.AutoregressiveDecoder``): it is called as
``decoder(z, train, x=x)`` with the observed x (teacher forcing) and returns the logits of every
pixel given the pixels before it. Sampling runs the network once per pixel inside a
``lax.fori_loop`` (``sample_pixelcnn``), which the decoder's ``sample`` runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from mi_vae.models.vae import DecoderFns

Dtype = Any


def full_view_layers(height: int, width: int, kernel_size: int) -> int:
    """The fewest gated layers with which every pixel's logit depends on all pixels before it in raster order:
    ceil((max(H, W) - 1) / (k // 2)) (tests/test_pixelcnn.py checks it on the full Jacobian)."""
    p = int(kernel_size) // 2
    return -(-(max(int(height), int(width)) - 1) // p)


def _gate(h: jax.Array) -> jax.Array:
    a, b = jnp.split(h, 2, axis=-1)
    return jnp.tanh(a) * jax.nn.sigmoid(b)


def _shift_down(h: jax.Array) -> jax.Array:
    """Row r of the output is row r - 1 of the input (zeros in row 0)."""
    return jnp.pad(h, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1]


def _shift_right(h: jax.Array) -> jax.Array:
    """Column c of the output is column c - 1 of the input (zeros in column 0)."""
    return jnp.pad(h, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :-1]


class PixelCNNDecoder(nn.Module):
    """Conditional gated PixelCNN: ``(z [B, d], x [B, H, W, 1]) -> logits [B, H, W, 1]``.

    Fields: ``out_shape`` (H, W, 1); ``channels`` (features per stack); ``num_layers`` gated layers
    (the first is the mask-A layer); ``kernel_size`` k (odd); ``head_channels`` of the output head.
    """

    out_shape: Sequence[int]
    channels: int = 64
    num_layers: int = 6
    kernel_size: int = 5
    head_channels: int = 128
    dtype: Dtype = jnp.float32

    #: ``VAEModel.decode(z)`` without x draws x by ancestral sampling, not greedily (``models.AutoregressiveDecoder``)
    default_greedy: ClassVar[bool] = False

    @nn.nowrap
    def sample(self, fns: DecoderFns, z: jax.Array, rng: jax.Array, greedy: bool) -> jax.Array:
        """Images ``[B, H, W, 1]`` drawn pixel by pixel from p(x|z) (``sample_pixelcnn``)."""
        return sample_pixelcnn(fns.logits, z, rng, self.out_shape, greedy)

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True, x: jax.Array | None = None) -> jax.Array:
        if x is None:
            raise ValueError("PixelCNNDecoder needs x (teacher forcing); sample with sample_pixelcnn")
        if self.out_shape[-1] != 1:
            raise ValueError(f"PixelCNNDecoder models one binary channel, got out_shape {tuple(self.out_shape)}")
        k, f = int(self.kernel_size), int(self.channels)
        if k % 2 == 0 or k < 3:
            raise ValueError(f"kernel_size must be odd and >= 3, got {k}")
        p = k // 2
        x = (2.0 * x.astype(self.dtype) - 1.0).reshape(x.shape[0], *self.out_shape[:2], 1)  # {0,1} -> {-1,1}
        z = z.astype(self.dtype)
        v, h = x, x
        for layer in range(self.num_layers):
            first = layer == 0
            cond = nn.Dense(4 * f, dtype=self.dtype, name=f"cond_{layer}")(z)[:, None, None, :]
            cond_v, cond_h = jnp.split(cond, 2, axis=-1)
            # vertical stack: output row r sees input rows r-p..r
            v_pre = nn.Conv(2 * f, (p + 1, k), padding="VALID", dtype=self.dtype, name=f"v_conv_{layer}")(
                jnp.pad(v, ((0, 0), (p, 0), (p, p), (0, 0))))
            # horizontal stack: columns c-p..c of the same row (c-p-1..c-1 for the mask-A layer)
            h_in = _shift_right(h) if first else h
            h_pre = nn.Conv(2 * f, (1, p + 1), padding="VALID", dtype=self.dtype, name=f"h_conv_{layer}")(
                jnp.pad(h_in, ((0, 0), (0, 0), (p, 0), (0, 0))))
            # the vertical stack enters the horizontal one shifted down: rows < r only
            h_pre = h_pre + nn.Conv(2 * f, (1, 1), dtype=self.dtype, name=f"v_to_h_{layer}")(_shift_down(v_pre))
            v = _gate(v_pre + cond_v)
            h_out = nn.Conv(f, (1, 1), dtype=self.dtype, name=f"h_out_{layer}")(_gate(h_pre + cond_h))
            h = h_out if first else h + h_out
        out = nn.Conv(self.head_channels, (1, 1), dtype=self.dtype, name="head_0")(nn.relu(h))
        out = nn.Conv(1, (1, 1), dtype=self.dtype, name="head_1")(nn.relu(out))
        return out.astype(jnp.float32)


def sample_pixelcnn(logits_fn: Callable[[jax.Array, jax.Array], jax.Array], z: jax.Array, rng: jax.Array,
                    shape: Sequence[int], greedy: bool = False) -> jax.Array:
    """Ancestral sampling x ~ p(x|z) pixel by pixel in raster order, jittable (``lax.fori_loop``).

    ``logits_fn(z, x) -> [B, H, W, 1]`` is the teacher-forced decoder; at step i the canvas holds the
    pixels drawn so far (zeros after), logit i depends only on them, and pixel i is set to
    Bernoulli(sigmoid(logit_i)) (or to sigmoid(logit_i) > 0.5 if ``greedy``). Returns float32 {0, 1}
    images ``[B, H, W, 1]``. Cost: H * W decoder passes.
    """
    h, w, c = (int(s) for s in shape)
    b = z.shape[0]
    u = jax.random.uniform(rng, (b, h * w, c))

    def body(i, x):
        p = jax.nn.sigmoid(logits_fn(z, x).reshape(b, h * w, c)[:, i])
        bit = (p > 0.5) if greedy else (jax.lax.dynamic_index_in_dim(u, i, axis=1, keepdims=False) < p)
        return x.reshape(b, h * w, c).at[:, i].set(bit.astype(x.dtype)).reshape(b, h, w, c)

    return jax.lax.fori_loop(0, h * w, body, jnp.zeros((b, h, w, c), jnp.float32))


__all__ = ["PixelCNNDecoder", "full_view_layers", "sample_pixelcnn"]
