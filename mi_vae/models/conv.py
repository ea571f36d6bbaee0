"""Convolutions as one matrix multiply (im2col), the fast path on the CPU.

XLA:CPU runs a forward convolution as a fast fused kernel but differentiates it into its generic
convolution path, where the weight and input gradients of small strided convolutions are several
times slower than the matrix multiplies they amount to. Written as im2col — the k_h * k_w strided
slices of the padded input concatenated along channels, times the kernel reshaped to
[k_h * k_w * C_in, C_out] —

    y[n, a, b, :] = sum_{i, j, c} x_pad[n, s_h a + i, s_w b + j, c] kernel[i, j, c, :]
                  = patches[n, a, b, :] @ kernel.reshape(k_h k_w C_in, C_out),

the forward pass is one matmul, and JAX differentiates it into two matmuls (weight gradient
patches^T @ dy, patch gradient dy @ kernel^T) and pads of the slices (col2im). Same parameters,
same function; on GPU/TPU the XLA convolution stays the choice (``impl="auto"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

#: ``config.model.conv_impl``: "auto" (im2col on the CPU backend, XLA's convolution elsewhere), "xla", "im2col".
CONV_IMPLS = ("auto", "xla", "im2col")


def resolve_impl(impl: str) -> str:
    """``impl`` with "auto" resolved for the default backend: "im2col" on CPU, "xla" on GPU/TPU."""
    if impl not in CONV_IMPLS:
        raise ValueError(f"conv_impl must be one of {', '.join(CONV_IMPLS)}; got {impl!r}")
    if impl == "auto":
        return "im2col" if jax.default_backend() == "cpu" else "xla"
    return impl


def im2col_conv(x: jax.Array, kernel: jax.Array, strides: Sequence[int], padding: Sequence[tuple[int, int]],
                precision=None, preferred_element_type=None) -> jax.Array:
    """2-D cross-correlation ``lax.conv_general_dilated(x, kernel, strides, padding)`` in NHWC/HWIO as one matmul.

    Args:
      x: ``[N, H, W, C_in]``; kernel: ``[k_h, k_w, C_in, C_out]``.
      strides: (s_h, s_w); padding: ((lo_h, hi_h), (lo_w, hi_w)), negative values crop.

    Returns:
      ``[N, H_out, W_out, C_out]``, H_out = (H + lo_h + hi_h - k_h) // s_h + 1 (likewise W_out).
    """
    (s_h, s_w), ((lo_h, hi_h), (lo_w, hi_w)) = strides, padding
    k_h, k_w, c_in, c_out = kernel.shape
    x = jax.lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (lo_h, hi_h, 0), (lo_w, hi_w, 0), (0, 0, 0)))
    n, h, w, _ = x.shape
    h_out, w_out = (h - k_h) // s_h + 1, (w - k_w) // s_w + 1
    if k_h == k_w == 1 and s_h == s_w == 1:
        patches = x[:, :h_out, :w_out]
    else:
        patches = jnp.concatenate([
            jax.lax.slice(x, (0, i, j, 0), (n, i + s_h * (h_out - 1) + 1, j + s_w * (w_out - 1) + 1, c_in),
                          (1, s_h, s_w, 1))
            for i in range(k_h) for j in range(k_w)], axis=-1)  # [N, H_out, W_out, k_h k_w C_in], (i, j, c) order
    return jax.lax.dot_general(patches, kernel.reshape(k_h * k_w * c_in, c_out), (((3,), (0,)), ((), ())),
                               precision=precision, preferred_element_type=preferred_element_type)


class Conv(nn.Conv):
    """``nn.Conv`` with ``impl``: "xla" is ``nn.Conv`` itself, "im2col" runs ``im2col_conv`` (same parameters,
    initializers and function), "auto" picks per backend (``resolve_impl``). Convolutions im2col does not
    cover (not 2-D, string padding, dilation, feature groups, a mask) run as ``nn.Conv``."""

    impl: str = "auto"

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        kernel_size = (self.kernel_size,) if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
        nd = len(kernel_size)
        padding = self.padding if isinstance(self.padding, str) else nn.linear.canonicalize_padding(self.padding, nd)

        def all_ones(v):
            return v is None or (v == 1 if isinstance(v, int) else all(d == 1 for d in v))

        if (resolve_impl(self.impl) != "im2col" or nd != 2 or isinstance(padding, str) or inputs.ndim != 4
                or not all_ones(self.input_dilation) or not all_ones(self.kernel_dilation)
                or self.feature_group_count != 1 or self.mask is not None):
            return super().__call__(inputs)
        strides = (self.strides,) * nd if isinstance(self.strides, int) else tuple(self.strides or (1,) * nd)
        kernel = self.param("kernel", self.kernel_init, (*kernel_size, inputs.shape[-1], self.features),
                            self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        x, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        y = im2col_conv(x, kernel, strides, padding, precision=self.precision)
        return y if bias is None else y + bias.reshape((1, 1, 1, -1))


class ConvTranspose(nn.ConvTranspose):
    """``nn.ConvTranspose`` with ``impl``; "im2col" covers stride 1 with explicit padding and no kernel transpose,
    which is the stride-1 correlation ``im2col_conv(x, kernel, 1, padding)`` (strided transposed convolutions run
    as ``layers.SubPixelConvTranspose``). Others run as ``nn.ConvTranspose``."""

    impl: str = "auto"

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        kernel_size = (self.kernel_size,) if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
        nd = len(kernel_size)
        strides = (1,) * nd if self.strides is None else tuple(self.strides)
        padding = self.padding if isinstance(self.padding, str) else nn.linear.canonicalize_padding(self.padding, nd)
        dilation = (1,) * nd if self.kernel_dilation is None else tuple(self.kernel_dilation)
        if (resolve_impl(self.impl) != "im2col" or nd != 2 or inputs.ndim != 4 or isinstance(padding, str)
                or any(s != 1 for s in strides) or any(d != 1 for d in dilation) or self.transpose_kernel
                or self.mask is not None):
            return super().__call__(inputs)
        kernel = self.param("kernel", self.kernel_init, (*kernel_size, inputs.shape[-1], self.features),
                            self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        x, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        y = im2col_conv(x, kernel, strides, padding, precision=self.precision,
                        preferred_element_type=self.preferred_element_type)
        return y if bias is None else y + bias.reshape((1, 1, 1, -1))


__all__ = ["CONV_IMPLS", "Conv", "ConvTranspose", "im2col_conv", "resolve_impl"]
