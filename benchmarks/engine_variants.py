"""A/B timings of engine settings on one device, each variant in its own process (one JSON line each).

    python -m benchmarks.engine_variants [--smoke] [--min-time S] [--out FILE] [--export FILE] [--only NAME ...]

Variants (``NAME/b<batch>``), all on the InfoMax-VAE step of ``benchmarks.run`` (data on the device,
one epoch per ``lax.scan`` call) unless named ``vim_celeba``:

* ``base``          the library's defaults;
* ``unroll4``       ``config.scan_unroll = 4``;
* ``cmdbuf_while``  XLA:GPU command buffers (CUDA graphs) extended to while loops and conditionals, so a
                    whole scan iteration replays as one graph instead of one launch per kernel;
* ``dilated``        the strided transposed convolutions as Flax's input-dilated ``nn.ConvTranspose``
                    instead of the library's ``SubPixelConvTranspose`` (patched in for the measurement);
* ``flat_adam``      ``config.flatten_optimizer = True``: Adam over each player's parameters as one vector
                    (``optax.flatten``), one optimizer update per player instead of one per tensor;
* ``vim_celeba/separate|fused|dilated``: configs/vim_celeba.py at batch 256 in bfloat16 with the
  sub-pixel transposed convolution as one conv per phase (``separate_phases=True``, the dcgan64 decoder's
  default), as one fused conv (``separate_phases=False``), input-dilated, and with ``flat_adam``.

``--export FILE`` writes ``export XLA_FLAGS=... SCAN_UNROLL=... FLATTEN_OPTIMIZER=...`` for the fastest batch-64
InfoMax variant, for ``benchmarks.run`` to run under
(``. FILE; python -m benchmarks.run --scan-unroll $SCAN_UNROLL --flatten-optimizer $FLATTEN_OPTIMIZER``).
``--smoke``: the same variants at ``benchmarks.run --smoke`` sizes on the CPU (seconds; checks the script).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks import run as bench

CMDBUF_WHILE = "--xla_gpu_enable_command_buffer=FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CUDNN,WHILE,CONDITIONAL"
# name -> (extra XLA flags, scan_unroll, batch)
VARIANTS = {
    "base/b64": ("", 1, 64),
    "unroll4/b64": ("", 4, 64),
    "cmdbuf_while/b64": (CMDBUF_WHILE, 1, 64),
    "dilated/b64": ("", 1, 64),
    "flat_adam/b64": ("", 1, 64),
    "base/b1024": ("", 1, 1024),
    "flat_adam/b1024": ("", 1, 1024),
    "vim_celeba/separate": ("", 1, 256),
    "vim_celeba/fused": ("", 1, 256),
    "vim_celeba/dilated": ("", 1, 256),
    "vim_celeba/flat_adam": ("", 1, 256),
}


def run_variant(name: str, min_time: float, emit, smoke: bool = False) -> None:
    flags, unroll, batch = VARIANTS[name]
    flat = "flat_adam" in name
    args = bench.parse_args((["--smoke"] if smoke else []) + ["--flatten-optimizer", str(int(flat))])
    if smoke:
        bench.smoke_environment()
    deadline = time.time() + 10 * min_time + 120
    if "dilated" in name or "fused" in name:
        import flax.linen as nn

        from mi_vae.models import layers, networks

        def conv_transpose(c, k, s, p, dtype, separate_phases=False, impl="auto"):
            kw = dict(strides=(s, s), padding=[(k - 1 - p, k - 1 - p)] * 2, dtype=dtype)
            if "dilated" in name or s == 1:
                return nn.ConvTranspose(c, (k, k), **kw)
            return layers.SubPixelConvTranspose(c, (k, k), separate_phases=False, impl=impl, **kw)

        networks.conv_transpose = conv_transpose
    if name.startswith("vim_celeba"):
        from benchmarks import flops as flops_lib

        config, _ = bench.vim_celeba_config(args)
        batch = int(config.batch_size)
        n = 16 * batch
        train_x, data = np.random.default_rng(0).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8), "synthetic"
        engine = bench.Engine(config, bench.array_dataset("synthetic64", train_x), 10)
        result = bench.measure_engine(engine, min_time, deadline)
        result["mfu"] = flops_lib.mfu(engine.flops, result["step_ms"] / 1e3) if bench.is_accelerator() else None
    else:
        train_x, data = bench.fashion_mnist(args, max_examples=bench.SMOKE_EXAMPLES if smoke else None)
        batch = bench.SMOKE_BATCH if smoke else batch
        config = bench.infomax_config(batch, unroll, args.flatten_optimizer)
        engine = bench.Engine(config, bench.array_dataset("fashion_mnist", train_x, 10), train_x.shape[0] // batch)
        result = bench.measure_engine(engine, min_time, deadline)
    emit(bench.record(f"variant/{name}", "jax", args, xla_flags=flags, scan_unroll=unroll, data=data,
                      peak_memory_bytes=bench.jax_peak_memory(), **bench.jax_device_info(), **result))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine_variants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU-sized variants (checks the script)")
    parser.add_argument("--min-time", type=float, default=4.0)
    parser.add_argument("--out", default="")
    parser.add_argument("--export", default="")
    parser.add_argument("--only", nargs="+", choices=sorted(VARIANTS))
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_variant(args.child, args.min_time, lambda rec: print(json.dumps(rec, default=str), flush=True),
                    smoke=args.smoke)
        return 0
    results = {}
    for name in args.only or VARIANTS:
        flags = VARIANTS[name][0]
        env = dict(os.environ, XLA_FLAGS=" ".join(f for f in (os.environ.get("XLA_FLAGS", ""), flags) if f))
        cmd = [sys.executable, "-m", "benchmarks.engine_variants", "--child", name, "--min-time", str(args.min_time)]
        proc = subprocess.run(cmd + (["--smoke"] if args.smoke else []), cwd=bench.REPO, env=env,
                              capture_output=True, text=True, timeout=600, check=False)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            line = json.dumps({"name": f"variant/{name}", "error": f"exit {proc.returncode}: {tail}"[:1500]})
        else:
            line = lines[-1]
            results[name] = json.loads(line)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")
    b64 = {n: r for n, r in results.items() if n.endswith("/b64") and r.get("images_per_sec")}
    if args.export and b64:
        best = max(b64, key=lambda n: b64[n]["images_per_sec"])
        flags, unroll, _ = VARIANTS[best]
        with open(args.export, "w") as f:
            f.write(f"# fastest batch-64 variant: {best}\nexport XLA_FLAGS='{flags}' SCAN_UNROLL={unroll} "
                    f"FLATTEN_OPTIMIZER={int('flat_adam' in best)}\n")
        print(f"fastest batch-64 variant: {best}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
