"""Building blocks shared by the networks: dense stacks, the Gaussian head, strided transposed convs.

Every module takes ``dtype`` (the compute dtype); parameters stay float32 and heads return float32
(``to_f32``) so that losses are computed in float32. Log-variances of Gaussian heads are clipped to
[LOG_VAR_MIN, LOG_VAR_MAX].
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mi_vae.models.conv import ConvTranspose, im2col_conv, resolve_impl

Dtype = Any

LOG_VAR_MIN = -10.0
LOG_VAR_MAX = 10.0


def to_f32(x: jax.Array) -> jax.Array:
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
        h = to_f32(nn.Dense(2 * self.latent_dim, dtype=self.dtype)(h.reshape(h.shape[0], -1)))
        mean, log_var = jnp.split(h, 2, axis=-1)
        return mean, jnp.clip(log_var, LOG_VAR_MIN, LOG_VAR_MAX)


class SubPixelConvTranspose(nn.ConvTranspose):
    r"""``nn.ConvTranspose`` (``transpose_kernel=False``) computed in sub-pixel (phase) form, without multiplying zeros.

    Same fields, parameters (``kernel`` [*k, C_in, C_out], ``bias`` [C_out]), initializers and output as
    ``nn.ConvTranspose``, which is ``lax.conv_general_dilated(x, kernel, window_strides=1, padding=(pad_lo, pad_hi),
    lhs_dilation=s) + bias``: a stride-1 convolution over the input with ``s - 1`` zeros inserted between pixels.
    On GPU that is what runs, so for s=2 in 2-D about 3/4 of the multiply-adds hit inserted zeros. Per spatial
    axis, writing the output index as ``o = s*m + a`` (phase ``a`` in
    ``0..s-1``), only taps of one residue class mod s meet a real input pixel::

        out[s*m + a] = sum over taps t ≡ (pad_lo - a) (mod s) of x[(s*m + a + t - pad_lo) / s] * kernel[t]
                     = sum_j x[m + d_a + j] * kernel[r_a + s*j],
        r_a = (pad_lo - a) mod s,   d_a = (a + r_a - pad_lo) / s,   x[i] = 0 outside the input.

    So each phase is an ordinary stride-1 correlation of the undilated input with its sub-kernel ``kernel[r_a::s]``
    at input offsets ``d_a + j``. The sub-kernels are zero-padded to one common window (the union of offsets over
    phases), stacked along output channels, and run as ONE stride-1 conv to ``prod(s) * C_out`` channels; a
    depth-to-space reshape interleaves the phases and the result is cropped to the dilated form's size
    ``(in - 1)*s + 1 + pad_lo + pad_hi - k + 1`` (PyTorch's ``(in - 1)*s - 2p + k`` for ``pad = k - 1 - p``; a crop
    is needed only when that is not a multiple of s, e.g. k=3, s=2). For k=4, s=2, p=1 the common window is 3x3 with
    2x2 real taps per phase: 9 multiply-adds per output pixel per channel pair instead of 16, of which 4 are useful.
    ``separate_phases=True`` instead runs one conv per phase with its own sub-kernel (4 useful multiply-adds of 4, but
    ``prod(s)`` smaller convolutions): faster for wide layers, slower for narrow ones (BENCHMARKS.md).

    Strides of 1 everywhere, string padding ('SAME'/'VALID'/'CIRCULAR'), kernel dilation or ``transpose_kernel``
    fall back to ``nn.ConvTranspose``'s own computation.
    """

    separate_phases: bool = False
    impl: str = "auto"  # the stride-1 convolution inside: "xla" | "im2col" | "auto" (mi_vae.models.conv)

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        kernel_size = (self.kernel_size,) if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
        nd = len(kernel_size)

        def broadcast(v: int | Sequence[int] | None) -> tuple[int, ...]:
            v = 1 if v is None else v
            return (v,) * nd if isinstance(v, int) else tuple(v)

        strides, dilation = broadcast(self.strides), broadcast(self.kernel_dilation)
        padding = self.padding if isinstance(self.padding, str) else nn.linear.canonicalize_padding(self.padding, nd)
        if (isinstance(padding, str) or self.transpose_kernel or any(d != 1 for d in dilation)
                or all(s == 1 for s in strides)):
            return super().__call__(inputs)

        batch_shape = inputs.shape[: inputs.ndim - nd - 1]
        x = inputs.reshape((-1, *inputs.shape[inputs.ndim - nd - 1:]))
        kernel_shape = (*kernel_size, x.shape[-1], self.features)
        if self.mask is not None and self.mask.shape != kernel_shape:
            raise ValueError(f"Mask needs to have the same shape as weights: {self.mask.shape}, {kernel_shape}")
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        if self.mask is not None:
            kernel = kernel * self.mask
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        x, kernel, bias = self.promote_dtype(x, kernel, bias, dtype=self.dtype)

        # Per axis: each phase's (first input offset d_a, taps r_a, r_a + s, ...), and the output sizes.
        out_sizes, low_sizes, phase_taps = [], [], []
        for axis, (k, s, (lo, hi)) in enumerate(zip(kernel_size, strides, padding)):
            out_sizes.append((x.shape[1 + axis] - 1) * s + 1 + lo + hi - k + 1)
            low_sizes.append(-(-out_sizes[-1] // s))  # low-resolution positions, ceil(out / s); extras are cropped
            phase_taps.append([((a + (lo - a) % s - lo) // s, list(range((lo - a) % s, k, s))) for a in range(s)])
        dims = jax.lax.ConvDimensionNumbers((0, nd + 1, *range(1, nd + 1)), (nd + 1, nd, *range(nd)),
                                            (0, nd + 1, *range(1, nd + 1)))

        im2col = resolve_impl(self.impl) == "im2col" and nd == 2

        def conv(sub_kernel, pads):
            # Negative padding (all offsets > 0, or more low-res positions than needed) is a crop in lax.
            if im2col:
                return im2col_conv(x, sub_kernel, (1,) * nd, pads, precision=self.precision,
                                   preferred_element_type=self.preferred_element_type)
            return jax.lax.conv_general_dilated(x, sub_kernel, (1,) * nd, pads, dimension_numbers=dims,
                                                precision=self.precision,
                                                preferred_element_type=self.preferred_element_type)

        if self.separate_phases:  # one conv per phase, each with its own sub-kernel: no zero taps at all
            phases = []
            for phase in itertools.product(*(range(s) for s in strides)):
                sub, pads = kernel, []
                for axis, a in enumerate(phase):
                    d, taps = phase_taps[axis][a]
                    sub = jnp.take(sub, jnp.asarray(taps, jnp.int32), axis=axis)
                    pads.append((-d, low_sizes[axis] + d + len(taps) - 1 - x.shape[1 + axis]))
                if sub.size:
                    phases.append(conv(sub, pads))
                else:  # k < s: this phase meets no tap
                    phases.append(jnp.zeros((x.shape[0], *low_sizes, self.features), x.dtype))
            y = jnp.stack(phases, axis=-2)  # [N, m0, m1, ..., s0*s1*..., C]
        else:  # one conv: sub-kernels zero-padded to a common window, phases stacked along output channels
            conv_pads, fused = [], kernel
            for axis, (k, s) in enumerate(zip(kernel_size, strides)):
                taps = phase_taps[axis]
                used = [(d, t) for d, t in taps if t]
                d_min, d_max = min(d for d, _ in used), max(d + len(t) - 1 for d, t in used)
                width = d_max - d_min + 1
                table = [[k] * (d - d_min) + t + [k] * (d_max - d - len(t) + 1) if t else [k] * width
                         for d, t in taps]  # tap k is a zero row appended to the kernel
                # phase outputs z[m'] = sum_u x[m' + d_min + u] * sub[u], m' = 0..m-1
                conv_pads.append((-d_min, low_sizes[axis] + d_max - x.shape[1 + axis]))
                fused = jnp.take(jnp.pad(fused, [(0, 1) if i == 2 * axis else (0, 0) for i in range(fused.ndim)]),
                                 jnp.asarray(sum(table, []), jnp.int32), axis=2 * axis).reshape(
                    (*fused.shape[: 2 * axis], s, width, *fused.shape[2 * axis + 1:]))
            # fused: [s0, W0, s1, W1, ..., C_in, C_out] -> [W0, W1, ..., C_in, s0, s1, ..., C_out]
            perm = (*range(1, 2 * nd, 2), 2 * nd, *range(0, 2 * nd, 2), 2 * nd + 1)
            y = conv(fused.transpose(perm).reshape((*fused.shape[1: 2 * nd: 2], x.shape[-1], -1)), conv_pads)
        # depth to space: [N, m0, m1, ..., s0*s1*...*C] -> [N, m0*s0, m1*s1, ..., C]; crop to the dilated form's size
        y = y.reshape((y.shape[0], *low_sizes, *strides, self.features))
        y = y.transpose((0, *[i for axis in range(nd) for i in (1 + axis, 1 + nd + axis)], 1 + 2 * nd))
        y = y.reshape((y.shape[0], *[m * s for m, s in zip(low_sizes, strides)], self.features))
        y = y[(slice(None), *[slice(0, o) for o in out_sizes])]
        if bias is not None:
            y = y + bias.reshape((1,) * (y.ndim - 1) + (-1,))
        return y.reshape((*batch_shape, *y.shape[1:])) if len(batch_shape) != 1 else y


def conv_transpose(c: int, k: int, s: int, p: int, dtype: Dtype, separate_phases: bool = False,
                   impl: str = "auto") -> nn.ConvTranspose:
    """PyTorch ``ConvTranspose2d(k, stride=s, padding=p)``: out = (in - 1) * s - 2p + k.

    Strided ones run as :class:`SubPixelConvTranspose` (same parameters and function, no multiplies by inserted zeros);
    ``impl`` chooses how the convolution inside runs (``mi_vae.models.conv``).
    """
    if s == 1:
        return ConvTranspose(c, (k, k), strides=(s, s), padding=[(k - 1 - p, k - 1 - p)] * 2, dtype=dtype, impl=impl)
    return SubPixelConvTranspose(c, (k, k), strides=(s, s), padding=[(k - 1 - p, k - 1 - p)] * 2, dtype=dtype,
                                 separate_phases=separate_phases, impl=impl)



__all__ = ["LOG_VAR_MAX", "LOG_VAR_MIN", "MLP", "GaussianHead", "SubPixelConvTranspose", "conv_transpose", "to_f32"]
