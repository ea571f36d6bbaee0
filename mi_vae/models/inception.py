"""InceptionV3 pool features (2048-d, "pool3"), the feature space of FID, in Flax Linen (NHWC).

InceptionV3: Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision", arXiv:1512.00567.
FID: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium",
arXiv:1706.08500, computes

    FID = FD(Gaussian of pool3(generated), Gaussian of pool3(real))          (``mi_vae.evaluation.fid``)

with the network of the 2015-12-05 TensorFlow graph. This module is that network as pytorch-fid ports it
(``pytorch_fid/inception.py``: ``fid_inception_v3`` = torchvision's Inception3 with the blocks replaced by
``FIDInceptionA``, ``FIDInceptionC``, ``FIDInceptionE_1``, ``FIDInceptionE_2``), layer for layer:

    input      images in [0, 1], [N, H, W, C] with C = 1 (repeated to 3 channels, as PIL's convert("RGB")) or 3
    resize     bilinear to 299 x 299, half-pixel centres, no antialiasing: ``jax.image.resize(x, ..., "bilinear",
               antialias=False)``, the same interpolation as pytorch-fid's ``F.interpolate(x, (299, 299),
               mode="bilinear", align_corners=False)`` (source coordinate (i + 0.5) H / 299 - 0.5, clamped at the
               border; equal up to float rounding, upsampling or downsampling). Antialiasing is off on purpose:
               jax's default (on) would average over the footprint when downsampling, which pytorch-fid does not.
               (The original TensorFlow code resized with TF1's ``resize_bilinear`` without half-pixel centres, so
               pytorch-fid itself differs slightly from it; see clean-fid, Parmar et al. 2022, arXiv:2104.11222.)
    scale      2 x - 1, to [-1, 1]
    BasicConv2d  conv (no bias) -> BatchNorm (eps 0.001, the stored statistics) -> ReLU
    stem       Conv2d_1a_3x3 (32, stride 2), Conv2d_2a_3x3 (32), Conv2d_2b_3x3 (64, pad 1), max-pool 3/2,
               Conv2d_3b_1x1 (80), Conv2d_4a_3x3 (192), max-pool 3/2                       -> 35 x 35 x 192
    Mixed_5b-d InceptionA (pool features 32, 64, 64)                                        -> 35 x 35 x 288
    Mixed_6a   InceptionB (stride 2)                                                        -> 17 x 17 x 768
    Mixed_6b-e InceptionC (7x7 channels 128, 160, 160, 192)                                 -> 17 x 17 x 768
    Mixed_7a   InceptionD (stride 2)                                                        ->  8 x  8 x 1280
    Mixed_7b   InceptionE, average pool                                                     ->  8 x  8 x 2048
    Mixed_7c   InceptionE, **max** pool in branch_pool (FIDInceptionE_2; the TF graph's, not the paper's)
    pool3      mean over the 8 x 8 positions                                                -> 2048

The FID variants' 3 x 3 stride-1 average pools (FIDInceptionA/C/E_1) leave the zero padding out of the mean
(``count_include_pad=False``, TensorFlow's SAME average pool); FIDInceptionE_2's pool is a max pool (padding
-inf). Parameters are named after pytorch-fid's state_dict, so conversion is a mechanical mapping:
``Mixed_5b.branch1x1.conv.weight`` (O, I, H, W) -> ``params/Mixed_5b/branch1x1/conv/kernel`` (H, W, I, O),
``.bn.weight|bias`` -> ``params/.../bn/scale|bias``, ``.bn.running_mean|var`` -> ``batch_stats/.../bn/mean|var``.

Weights are not shipped and nothing is downloaded: the user supplies pytorch-fid's checkpoint
``pt_inception-2015-12-05-6726825d.pth`` (from https://github.com/mseitzer/pytorch-fid/releases, tag
``fid_weights``) and converts it once, on a machine with torch::

    python -m mi_vae.tools.convert_inception_weights pt_inception-2015-12-05-6726825d.pth inception_fid.npz

then evaluates with ``--config.evals.fid.weights=inception_fid.npz``. The converter checks the checkpoint's
sha256 against the ``6726825d`` prefix in its published name and records the hash in the npz
(``SOURCE_SHA256_KEY``); ``load_inception_params`` refuses an npz without it. Without those exact weights
(pytorch-fid's port of the TF graph) the numbers are not FIDs comparable with published ones; and even with them,
FID depends on the number of images and on the reference set, so compare only like with like.

Convolutions run at ``Precision.HIGHEST`` (float32 on GPU, not TF32), so features do not depend on the backend's
default matmul precision.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from mi_vae.errors import MiVaeError

#: The input size of the network.
INPUT_SIZE = 299
#: The pool3 feature size.
FEATURE_DIM = 2048
#: pytorch-fid's published checkpoint; the hex digits in its name begin its sha256.
PT_INCEPTION_NAME = "pt_inception-2015-12-05-6726825d.pth"
PT_INCEPTION_SHA256_PREFIX = "6726825d"
#: The npz key holding the sha256 of the checkpoint the npz was converted from (a 0-d string array).
SOURCE_SHA256_KEY = "__source_sha256__"

_HIGHEST = jax.lax.Precision.HIGHEST
#: He-normal, so that random weights (tests) give features of order 1; real use loads the converted weights.
_KERNEL_INIT = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")


class InceptionWeightsError(MiVaeError, ValueError):
    """An InceptionV3 weights file that is missing, of other origin, or does not fit the network."""


# --- preprocessing --------------------------------------------------------------------------------------------


def preprocess(images: jax.Array, size: int = INPUT_SIZE) -> jax.Array:
    """[N, H, W, 1 or 3] images in [0, 1] -> [N, size, size, 3] in [-1, 1] (see the module docstring)."""
    x = jnp.asarray(images, jnp.float32)
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"InceptionV3 takes [N, H, W, 1 or 3] images, got shape {x.shape}")
    x = jax.image.resize(x, (x.shape[0], size, size, x.shape[-1]), "bilinear", antialias=False)
    if x.shape[-1] == 1:  # gray: the same value in R, G and B (resizing commutes with the repeat)
        x = jnp.repeat(x, 3, axis=-1)
    return 2.0 * x - 1.0


def avg_pool_3x3_exclude_pad(x: jax.Array) -> jax.Array:
    """3 x 3 stride-1 average pool with padding 1, the mean over the window's in-image pixels only
    (``F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)``; FIDInceptionA/C/E_1's ``branch_pool``)."""
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def max_pool_3x3_same(x: jax.Array) -> jax.Array:
    """3 x 3 stride-1 max pool with padding 1 (``F.max_pool2d(x, 3, 1, 1)``; FIDInceptionE_2's ``branch_pool``)."""
    return nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))


def max_pool_3x3_stride2(x: jax.Array) -> jax.Array:
    """``nn.MaxPool2d(kernel_size=3, stride=2)``: no padding."""
    return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


# --- blocks ---------------------------------------------------------------------------------------------------


class BasicConv2d(nn.Module):
    """conv (no bias) -> BatchNorm(eps 0.001, stored statistics) -> ReLU; torchvision's ``BasicConv2d``."""
    features: int
    kernel_size: Sequence[int] = (1, 1)
    strides: Sequence[int] = (1, 1)
    padding: Sequence[int] = (0, 0)  # symmetric, per spatial axis (torch's ``padding``)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.Conv(self.features, tuple(self.kernel_size), tuple(self.strides),
                    padding=tuple((p, p) for p in self.padding), use_bias=False, precision=_HIGHEST,
                    kernel_init=_KERNEL_INIT, name="conv")(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return nn.relu(x)


def _conv(features: int, kernel_size=(1, 1), strides=(1, 1), padding=(0, 0), *, name: str) -> BasicConv2d:
    kernel_size, strides, padding = (
        (v, v) if isinstance(v, int) else tuple(v) for v in (kernel_size, strides, padding))
    return BasicConv2d(features, kernel_size, strides, padding, name=name)


class InceptionA(nn.Module):
    """35 x 35 block (FIDInceptionA): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg-pool(exclude pad)-1x1."""
    pool_features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b1 = _conv(64, name="branch1x1")(x)
        b5 = _conv(64, 5, padding=2, name="branch5x5_2")(_conv(48, name="branch5x5_1")(x))
        b3 = _conv(64, name="branch3x3dbl_1")(x)
        b3 = _conv(96, 3, padding=1, name="branch3x3dbl_2")(b3)
        b3 = _conv(96, 3, padding=1, name="branch3x3dbl_3")(b3)
        bp = _conv(self.pool_features, name="branch_pool")(avg_pool_3x3_exclude_pad(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | max-pool 3/2."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b3 = _conv(384, 3, strides=2, name="branch3x3")(x)
        bd = _conv(64, name="branch3x3dbl_1")(x)
        bd = _conv(96, 3, padding=1, name="branch3x3dbl_2")(bd)
        bd = _conv(96, 3, strides=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, max_pool_3x3_stride2(x)], axis=-1)


class InceptionC(nn.Module):
    """17 x 17 block (FIDInceptionC) with factorised 7x7 convolutions (1x7 and 7x1)."""
    channels_7x7: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c7 = self.channels_7x7
        b1 = _conv(192, name="branch1x1")(x)
        b7 = _conv(c7, name="branch7x7_1")(x)
        b7 = _conv(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = _conv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = _conv(c7, name="branch7x7dbl_1")(x)
        bd = _conv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = _conv(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = _conv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = _conv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = _conv(192, name="branch_pool")(avg_pool_3x3_exclude_pad(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (Mixed_7a): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max-pool 3/2."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b3 = _conv(320, 3, strides=2, name="branch3x3_2")(_conv(192, name="branch3x3_1")(x))
        b7 = _conv(192, name="branch7x7x3_1")(x)
        b7 = _conv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = _conv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = _conv(192, 3, strides=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, max_pool_3x3_stride2(x)], axis=-1)


class InceptionE(nn.Module):
    """8 x 8 block with expanded (parallel 1x3 and 3x1) outputs; ``pool`` = "avg" (FIDInceptionE_1, Mixed_7b,
    padding left out of the mean) or "max" (FIDInceptionE_2, Mixed_7c)."""
    pool: str = "avg"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b1 = _conv(320, name="branch1x1")(x)
        b3 = _conv(384, name="branch3x3_1")(x)
        b3 = jnp.concatenate([_conv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                              _conv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], axis=-1)
        bd = _conv(448, name="branch3x3dbl_1")(x)
        bd = _conv(384, 3, padding=1, name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate([_conv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                              _conv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], axis=-1)
        if self.pool == "avg":
            pooled = avg_pool_3x3_exclude_pad(x)
        elif self.pool == "max":
            pooled = max_pool_3x3_same(x)
        else:
            raise ValueError(f"pool must be 'avg' or 'max', got {self.pool!r}")
        bp = _conv(192, name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
    """pytorch-fid's FID InceptionV3 up to pool3: [N, H, W, 1 or 3] images in [0, 1] -> [N, 2048].

    ``resize_input`` = False takes inputs that are already [N, 299, 299, 3] in [-1, 1] (``preprocess``'s output).
    """
    resize_input: bool = True

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = preprocess(images) if self.resize_input else jnp.asarray(images, jnp.float32)
        x = _conv(32, 3, strides=2, name="Conv2d_1a_3x3")(x)
        x = _conv(32, 3, name="Conv2d_2a_3x3")(x)
        x = _conv(64, 3, padding=1, name="Conv2d_2b_3x3")(x)
        x = max_pool_3x3_stride2(x)
        x = _conv(80, name="Conv2d_3b_1x1")(x)
        x = _conv(192, 3, name="Conv2d_4a_3x3")(x)
        x = max_pool_3x3_stride2(x)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionC(c7, name=name)(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE("avg", name="Mixed_7b")(x)
        x = InceptionE("max", name="Mixed_7c")(x)
        return jnp.mean(x, axis=(1, 2))  # AdaptiveAvgPool2d((1, 1))


# --- features -------------------------------------------------------------------------------------------------


@jax.jit
def _pool3(variables: dict, images: jax.Array) -> jax.Array:
    return InceptionV3().apply(variables, images)


def pool_features(variables: dict, images: np.ndarray, batch_size: int = 50) -> np.ndarray:
    """[N, 2048] float32 pool3 features of [N, H, W, 1 or 3] images in [0, 1], ``batch_size`` at a time.

    One jitted function for the module (compiled once per batch and image shape; the weights are an argument,
    not a constant). The last batch is padded by repeating its final image and trimmed, so every batch has
    the same shape."""
    images = np.asarray(images)
    n = len(images)
    batch_size = int(max(1, min(batch_size, n)))
    out = []
    for start in range(0, n, batch_size):
        chunk = images[start:start + batch_size]
        real = len(chunk)
        if real < batch_size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - real, axis=0)])
        out.append(np.asarray(jax.device_get(_pool3(variables, jnp.asarray(chunk, jnp.float32))))[:real])
    return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM), np.float32)


# --- weights --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _variable_shapes() -> tuple[tuple[str, tuple[int, ...]], ...]:
    abstract = jax.eval_shape(InceptionV3().init, jax.random.key(0),
                              jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32))
    return tuple((k, tuple(v.shape)) for k, v in flatten_variables(abstract).items())


def variable_shapes() -> dict[str, tuple[int, ...]]:
    """``{"params/Conv2d_1a_3x3/conv/kernel": (3, 3, 3, 32), ...}``: every variable of the network and its shape,
    from ``jax.eval_shape`` of ``init`` (nothing is computed)."""
    return dict(_variable_shapes())


def init_variables(seed: int = 0) -> dict:
    """Random variables for tests, not for FID: He-normal kernels N(0, 2 / fan_in), BatchNorm scale 1, bias 0,
    mean 0, var 1. Drawn with numpy from ``variable_shapes`` (``InceptionV3().init`` un-jitted runs the whole
    299 x 299 forward op by op, about a minute on one CPU core)."""
    rng = np.random.default_rng(seed)
    fills = {"scale": 1.0, "bias": 0.0, "mean": 0.0, "var": 1.0}
    flat = {}
    for key, shape in variable_shapes().items():
        leaf = key.rsplit("/", 1)[1]
        if leaf == "kernel":
            flat[key] = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape).astype(np.float32)
        else:
            flat[key] = np.full(shape, fills[leaf], np.float32)
    return traverse_util.unflatten_dict({k: jnp.asarray(v) for k, v in flat.items()}, sep="/")


def flatten_variables(variables) -> dict[str, Any]:
    """``{"params": {"A": {"b": x}}, "batch_stats": ...}`` -> ``{"params/A/b": x, ...}`` (the npz layout)."""
    return traverse_util.flatten_dict(dict(variables), sep="/")


def check_variables(flat: dict[str, Any], where: str = "the weights") -> None:
    """``InceptionWeightsError`` naming the first missing, unexpected or wrongly shaped variable of ``flat``
    (``"collection/module/.../name"`` keys) against the network's shapes."""
    want = variable_shapes()
    missing = sorted(set(want) - set(flat))
    if missing:
        raise InceptionWeightsError(f"{where} lack {missing[0]!r} (expected shape {want[missing[0]]}; "
                                    f"{len(missing)} of {len(want)} variables missing)")
    extra = sorted(set(flat) - set(want))
    if extra:
        raise InceptionWeightsError(f"{where} have {extra[0]!r}, which the network does not "
                                    f"({len(extra)} unexpected)")
    for key in sorted(want):
        shape = tuple(np.shape(flat[key]))
        if shape != want[key]:
            raise InceptionWeightsError(f"{where}: {key!r} has shape {shape}, the network expects {want[key]}")


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def save_inception_params(path: str, flat: dict[str, np.ndarray], source_sha256: str) -> str:
    """Write ``flat`` (``"params/.../kernel"`` keys) and ``source_sha256`` to the npz ``path`` atomically (a
    temporary file renamed over it), after ``check_variables``; return the npz's sha256."""
    flat = {k: np.asarray(v, np.float32) for k, v in flat.items()}
    check_variables(flat, "the converted weights")
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    try:
        np.savez(tmp, **flat, **{SOURCE_SHA256_KEY: np.array(str(source_sha256))})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return file_sha256(path)


def load_inception_params(path: str, sha256: str | None = None, *,
                          source_sha256_prefix: str | None = PT_INCEPTION_SHA256_PREFIX) -> dict:
    """``{"params": ..., "batch_stats": ...}`` for ``InceptionV3`` from an npz written by the converter
    (``mi_vae.tools.convert_inception_weights``).

    Checks, each failing with one ``InceptionWeightsError``: the file exists; its sha256 begins with ``sha256``
    when given (a prefix of at least 8 hex digits, or the whole digest); it was converted from a checkpoint whose
    sha256 begins with ``source_sha256_prefix`` (default: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``;
    None accepts any source, e.g. weights converted from elsewhere, whose features are then not FID's); every
    variable of the network is there with its shape (``jax.eval_shape`` of ``init``), and nothing else.
    """
    if not os.path.isfile(path):
        raise InceptionWeightsError(f"no InceptionV3 weights file {path!r}")
    if sha256 is not None:
        want = str(sha256).lower()
        if len(want) < 8:
            raise InceptionWeightsError(f"an expected sha256 needs at least 8 hex digits, got {sha256!r}")
        got = file_sha256(path)
        if not got.startswith(want):
            raise InceptionWeightsError(f"{path} has sha256 {got[:16]}..., expected {want[:16]}...")
    with np.load(path, allow_pickle=False) as f:
        flat = {k: f[k] for k in f.files}
    source = str(flat.pop(SOURCE_SHA256_KEY)) if SOURCE_SHA256_KEY in flat else None
    if source_sha256_prefix is not None and not (source or "").startswith(source_sha256_prefix):
        what = f"a checkpoint with sha256 {source[:16]}..." if source else "an unrecorded source"
        raise InceptionWeightsError(
            f"{path} was converted from {what}, not from pytorch-fid's {PT_INCEPTION_NAME} (sha256 "
            f"{PT_INCEPTION_SHA256_PREFIX}...); convert that file with "
            "python -m mi_vae.tools.convert_inception_weights")
    check_variables(flat, path)
    variables = traverse_util.unflatten_dict({k: jnp.asarray(v, jnp.float32) for k, v in flat.items()}, sep="/")
    return variables


__all__ = ["FEATURE_DIM", "INPUT_SIZE", "PT_INCEPTION_NAME", "PT_INCEPTION_SHA256_PREFIX", "SOURCE_SHA256_KEY",
           "BasicConv2d", "InceptionA", "InceptionB", "InceptionC", "InceptionD", "InceptionE", "InceptionV3",
           "InceptionWeightsError", "avg_pool_3x3_exclude_pad", "check_variables", "file_sha256",
           "flatten_variables", "init_variables", "load_inception_params", "max_pool_3x3_same",
           "max_pool_3x3_stride2", "pool_features", "preprocess", "save_inception_params", "variable_shapes"]
