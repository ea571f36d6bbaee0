"""The host input path alone: images/s that ``mi_vae.train.loop`` can gather from host memory and hand to JAX.

    python -m benchmarks.input_path [--examples 202599] [--size 64] [--batch 256] [--steps-per-call 100]
                                    [--calls 5] [--memmap FILE]

A dataset larger than ``loop.DEVICE_DATA_BYTES`` (CelebA: 202,599 x 64 x 64 x 3 uint8 = 2.5 GB) stays in host
memory; for each call of ``steps_per_call`` steps the loop gathers ``train_x[idx]`` (idx from
``data.batch_indices``, the step-determined order) and makes it a JAX array. This times exactly that on random
uint8 images of CelebA's preprocessed shape (``--memmap FILE``: read from a memory-mapped .npy, as the CelebA
cache is), one JSON line per call and a summary line with the median images/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=202_599)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps-per-call", type=int, default=100)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--memmap", default="", help="a .npy file to create (once) and read memory-mapped")
    args = parser.parse_args(argv)

    import jax

    from mi_vae.data import batch_indices

    shape = (args.examples, args.size, args.size, 3)
    if args.memmap:
        try:
            train_x = np.load(args.memmap, mmap_mode="r")
        except FileNotFoundError:
            out = np.lib.format.open_memmap(args.memmap, "w+", np.uint8, shape)
            for s in range(0, shape[0], 8192):
                out[s:s + 8192] = np.random.default_rng(s).integers(0, 256, (min(8192, shape[0] - s), *shape[1:]),
                                                                    np.uint8)
            out.flush()
            del out
            train_x = np.load(args.memmap, mmap_mode="r")
    else:
        train_x = np.random.default_rng(0).integers(0, 256, shape, np.uint8)
    rates = []
    for call in range(args.calls + 1):  # the first call warms up
        start = time.perf_counter()
        idx = batch_indices(0, call * args.steps_per_call, args.steps_per_call, args.examples, args.batch)
        xs = jax.device_put(train_x[idx])
        xs.block_until_ready()
        seconds = time.perf_counter() - start
        if call:
            rates.append(idx.size / seconds)
            print(json.dumps({"name": "input_path/call", "call": call, "images": int(idx.size), "seconds": seconds,
                              "images_per_sec": idx.size / seconds}), flush=True)
    print(json.dumps({"name": "input_path", "examples": args.examples, "image_shape": list(shape[1:]),
                      "batch": args.batch, "steps_per_call": args.steps_per_call, "memmap": bool(args.memmap),
                      "device": jax.devices()[0].device_kind, "median_images_per_sec": statistics.median(rates)}))


if __name__ == "__main__":
    main()
