"""Convert pytorch-fid's InceptionV3 checkpoint to the npz that ``mi_vae.models.inception`` loads.

    python -m mi_vae.tools.convert_inception_weights pt_inception-2015-12-05-6726825d.pth inception_fid.npz

The checkpoint is pytorch-fid's port of the 2015-12-05 TensorFlow graph that FID is defined with, published as
https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
(fetch it yourself; nothing here downloads). Its name carries the first 8 hex digits of its sha256, which is
checked (``--any-source`` converts another torchvision-layout Inception3 state_dict, whose features are then not
FID's); the full sha256 is stored in the npz under ``__source_sha256__``, which the loader checks. Only reading the
.pth needs torch (imported here, in ``main``); the mapping ``convert_state_dict`` is numpy:

    <module>.conv.weight        (O, I, H, W) -> params/<module>/conv/kernel   (H, W, I, O)
    <module>.bn.weight | bias                -> params/<module>/bn/scale | bias
    <module>.bn.running_mean | running_var   -> batch_stats/<module>/bn/mean | var
    <module>.bn.num_batches_tracked, fc.*, AuxLogits.*   dropped (not part of the pool3 features)

with <module> the dotted torch path written with slashes (``Mixed_5b.branch1x1`` -> ``Mixed_5b/branch1x1``).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from mi_vae.models import inception

#: state_dict keys that carry nothing the pool3 features use
DROPPED_PREFIXES = ("fc.", "AuxLogits.")
DROPPED_SUFFIXES = (".num_batches_tracked",)
#: torch suffix -> (flax collection, flax leaf)
_BN = {"bn.weight": ("params", "bn/scale"), "bn.bias": ("params", "bn/bias"),
       "bn.running_mean": ("batch_stats", "bn/mean"), "bn.running_var": ("batch_stats", "bn/var")}


def convert_state_dict(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """pytorch-fid / torchvision Inception3 ``state_dict`` (numpy arrays) -> flat ``{"params/.../kernel": ...}``
    of ``mi_vae.models.inception.InceptionV3``; see the module docstring for the mapping. A key that is neither
    mapped nor dropped is a ``ValueError`` naming it."""
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if key.startswith(DROPPED_PREFIXES) or key.endswith(DROPPED_SUFFIXES):
            continue
        value = np.asarray(value)
        module, _, leaf = key.rpartition(".")
        module, _, layer = module.rpartition(".")
        path = module.replace(".", "/")
        if f"{layer}.{leaf}" == "conv.weight":
            if value.ndim != 4:
                raise ValueError(f"{key}: a conv weight must be 4-d (O, I, H, W), got shape {value.shape}")
            out[f"params/{path}/conv/kernel"] = np.ascontiguousarray(value.transpose(2, 3, 1, 0), np.float32)
        elif f"{layer}.{leaf}" in _BN:
            collection, name = _BN[f"{layer}.{leaf}"]
            out[f"{collection}/{path}/{name}"] = np.asarray(value, np.float32)
        else:
            raise ValueError(f"unexpected state_dict key {key!r} (not a BasicConv2d conv/bn parameter)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pth", help=f"pytorch-fid's checkpoint, {inception.PT_INCEPTION_NAME}")
    parser.add_argument("out", help="the npz to write (pass it as --config.evals.fid.weights)")
    parser.add_argument("--any-source", action="store_true",
                        help=f"convert a checkpoint whose sha256 does not begin with "
                             f"{inception.PT_INCEPTION_SHA256_PREFIX} (its features are not FID's)")
    args = parser.parse_args(argv)

    source = inception.file_sha256(args.pth)
    if not source.startswith(inception.PT_INCEPTION_SHA256_PREFIX) and not args.any_source:
        print(f"error: {args.pth} has sha256 {source[:16]}..., not pytorch-fid's {inception.PT_INCEPTION_NAME} "
              f"({inception.PT_INCEPTION_SHA256_PREFIX}...); pass --any-source to convert it anyway", file=sys.stderr)
        return 1
    try:
        import torch
    except ImportError:
        print("error: reading a .pth needs torch (pip install torch; the CPU wheel is enough)", file=sys.stderr)
        return 1
    state = torch.load(args.pth, map_location="cpu", weights_only=True)
    flat = convert_state_dict({k: v.detach().cpu().numpy() for k, v in state.items()})
    try:
        digest = inception.save_inception_params(args.out, flat, source)
    except inception.InceptionWeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({len(flat)} arrays, sha256 {digest}) from {args.pth} (sha256 {source})")
    print(f"use it with --config.evals.fid.weights={args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
