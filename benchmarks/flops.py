"""Analytic model FLOPs from layer shapes (XLA's ``cost_analysis`` on GPU leaves convolutions out).

Conventions (what "model FLOPs" means in BENCHMARKS.md and in the harness's ``mfu``):

* One multiply-add is 2 FLOPs. Only the matrix work of dense, convolution and transposed-convolution
  layers is counted; biases, activations, BatchNorm, losses, MMD kernels, optimizer updates and other
  elementwise work are left out (they are a few percent at most for the models here).
* Dense ``[..., Cin] -> [..., Cout]``: ``2 * rows * Cin * Cout`` (rows = product of leading axes).
* Convolution: ``2 * N * out_pixels * prod(kernel) * Cin / groups * Cout``. Taps that fall on the zero
  padding are counted, the usual convention (what cuDNN and XLA's CPU cost model count too).
* Transposed convolution (stride s): only *useful* multiply-adds, i.e. none with the zeros that an
  input-dilated implementation inserts between input pixels: every input pixel meets every kernel tap
  once, ``2 * N * in_pixels * prod(kernel) * Cin * Cout``. When ``out = s * in`` per spatial axis (the
  usual k=4, s=2, p=1 upsampling) this equals ``2 * N * out_pixels * prod(kernel) * Cin * Cout / s^2``.
  It is the adjoint of the convolution out -> in with the same (k, s, p), so it has the same count, taps
  landing on the cropped border included (mirroring the padding convention above). A stride-2 transposed
  conv run as an input-dilated convolution does about 4x these hardware FLOPs; they are not "useful".
* A training step costs 3x its forward FLOPs (forward + backward, the backward being about twice the
  forward: gradients w.r.t. activations and w.r.t. weights). The forward is every network call the
  step's losses make: for InfoMax-VAE the encoder and decoder once and the critic on the joint and the
  shuffled pairs, for the VAE player and again (on the detached codes) for the critic player.
* MFU = model FLOPs per step / step time / peak. The peak is the NVIDIA H100 SXM dense (no sparsity)
  bf16 tensor-core rate, 989.4e12 FLOP/s (``H100_SXM_BF16_DENSE_PEAK``; the H200 has the same compute
  peak). On a CPU the harness reports ``mfu: null``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

#: NVIDIA H100 SXM5, dense bf16/fp16 tensor-core peak with fp32 accumulate, FLOP/s (datasheet: 1979 with sparsity)
H100_SXM_BF16_DENSE_PEAK = 989.4e12

#: a training step's FLOPs over its forward FLOPs (forward + backward at ~2x forward)
TRAIN_STEP_FORWARD_MULTIPLIER = 3


def dense_flops(rows: int, in_features: int, out_features: int) -> int:
    """FLOPs of ``[rows, in] @ [in, out]``: 2 * rows * in * out."""
    return 2 * int(rows) * int(in_features) * int(out_features)


def conv_flops(batch: int, out_spatial: Sequence[int], kernel: Sequence[int], in_channels: int,
               out_channels: int, groups: int = 1) -> int:
    """FLOPs of a (strided, padded) convolution: 2 * N * out_pixels * prod(kernel) * Cin/groups * Cout."""
    macs_per_output = math.prod(kernel) * (int(in_channels) // groups) * int(out_channels)
    return 2 * int(batch) * math.prod(out_spatial) * macs_per_output


def conv_transpose_flops(batch: int, in_spatial: Sequence[int], kernel: Sequence[int], in_channels: int,
                         out_channels: int) -> int:
    """Useful FLOPs of a transposed convolution: 2 * N * in_pixels * prod(kernel) * Cin * Cout.

    Equals 2 * N * out_pixels * prod(kernel) * Cin * Cout / stride^2 when out = stride * in per axis;
    the zeros an input-dilated implementation multiplies are not counted (see the module docstring).
    """
    return 2 * int(batch) * math.prod(in_spatial) * math.prod(kernel) * int(in_channels) * int(out_channels)


def train_step_flops(forward_flops: int) -> int:
    """Model FLOPs of one training step: 3x the forward FLOPs (fwd + 2x bwd)."""
    return TRAIN_STEP_FORWARD_MULTIPLIER * int(forward_flops)


def mfu(flops_per_step: float, step_seconds: float, peak: float = H100_SXM_BF16_DENSE_PEAK) -> float:
    """Model FLOPs utilisation: achieved model FLOP/s over ``peak``."""
    return float(flops_per_step) / float(step_seconds) / float(peak)


@dataclasses.dataclass(frozen=True)
class Layer:
    kind: str  # "dense" | "conv" | "conv_transpose"
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    flops: int


def _layer_flops(module, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[str, int] | None:
    """(kind, FLOPs) of one Flax Dense / Conv / ConvTranspose call from its shapes; None otherwise."""
    import flax.linen as nn

    if isinstance(module, nn.Dense):
        return "dense", dense_flops(math.prod(in_shape[:-1]), in_shape[-1], out_shape[-1])
    if isinstance(module, nn.ConvTranspose):
        kernel = tuple(module.kernel_size)
        nd = len(kernel)
        batch = math.prod(in_shape[: len(in_shape) - nd - 1])
        return "conv_transpose", conv_transpose_flops(batch, in_shape[-nd - 1:-1], kernel, in_shape[-1],
                                                      out_shape[-1])
    if isinstance(module, nn.Conv):
        kernel = tuple(module.kernel_size)
        nd = len(kernel)
        batch = math.prod(out_shape[: len(out_shape) - nd - 1])
        return "conv", conv_flops(batch, out_shape[-nd - 1:-1], kernel, in_shape[-1], out_shape[-1],
                                  int(module.feature_group_count))
    return None


def count_flax_flops(fn: Callable, *args: Any, **kwargs: Any) -> tuple[int, list[Layer]]:
    """Forward FLOPs of every Flax ``Dense``/``Conv``/``ConvTranspose`` call ``fn(*args)`` makes.

    ``fn`` is traced abstractly (``jax.eval_shape``: no compute, no memory); each layer call is seen
    through ``flax.linen.intercept_methods`` and counted from its input and output shapes. Returns
    (total FLOPs, the layers in call order).
    """
    import flax.linen as nn
    import jax

    layers: list[Layer] = []
    active: set[int] = set()  # modules whose __call__ is running: a subclass calling super().__call__ counts once

    def interceptor(next_fun, call_args, call_kwargs, context):
        key = id(context.module)
        if context.method_name == "__call__" and key in active:
            return next_fun(*call_args, **call_kwargs)
        active.add(key)
        try:
            out = next_fun(*call_args, **call_kwargs)
        finally:
            active.discard(key)
        if (context.method_name == "__call__" and isinstance(context.module, (nn.Dense, nn.Conv, nn.ConvTranspose))
                and call_args and hasattr(call_args[0], "shape")):
            in_shape = tuple(call_args[0].shape)
            out_shape = tuple(out.shape)
            counted = _layer_flops(context.module, in_shape, out_shape)
            if counted is not None:
                kind, flops = counted
                name = "/".join(str(p) for p in (context.module.path or ()))
                layers.append(Layer(kind, name or type(context.module).__name__, in_shape, out_shape, flops))
        return out

    with nn.intercept_methods(interceptor):
        jax.eval_shape(fn, *args, **kwargs)
    return sum(layer.flops for layer in layers), layers


def method_forward_flops(method, params, batch_stats, x) -> tuple[int, list[Layer]]:
    """Forward FLOPs of one call of ``method.losses`` on the batch ``x`` (float32 [B, ...]).

    That is every network evaluation a training step of the method needs (all players' losses),
    counted once each.
    """
    import jax

    def losses(params, batch_stats, x):
        return method.losses(params, batch_stats, {"x": x}, jax.random.key(0), 0)

    return count_flax_flops(losses, params, batch_stats, x)
