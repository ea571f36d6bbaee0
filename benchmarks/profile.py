"""Where a benchmark's step time goes: a ``jax.profiler`` trace of steady calls, summarised per op.

    python -m benchmarks.profile [--smoke] [--target infomax_b64|infomax_b1024|vim_celeba] [--calls N]
                                 [--trace-dir DIR] [--top K] [--out FILE] [--flatten-optimizer 0|1]

Builds the same compiled ``train_chunk`` as ``benchmarks.run`` (data on the device, one epoch per call for
InfoMax-VAE, 10 steps per call for VIM CelebA), runs one warm-up call, then traces ``--calls`` calls with
``jax.profiler.trace`` and reads the trace back with ``jax.profiler.ProfileData`` (no TensorBoard needed).

Prints one JSON line (also appended to ``--out``): ``name`` (``profile/<target>``), ``wall_s`` of the traced
calls, ``steps``, ``device``, ``commit`` and ``timelines``, one entry per timeline that ran XLA work:

* on a GPU, each line of each ``/device:GPU:N`` plane (CUDA streams, "XLA Ops", "XLA Modules"): the time
  the timeline was busy (union of its events), ``busy_fraction`` = busy / wall (below 1 on the module
  line: the device waited for the host), the number of events per step (kernel launches per step on a
  stream line), and the ``--top`` events by total time (name, total ms, count, share of busy time, and
  ``source``: the JAX op it came from, read off the compiled HLO's metadata, where the name matches);
* on a CPU, the host threads' events that carry an ``hlo_op`` stat, pooled into one ``host:XLA ops``
  timeline (busy is then summed over threads and can exceed the wall time).

The raw trace stays in ``--trace-dir`` (default: a temporary directory) for xprof or Perfetto. A
``--smoke`` run profiles the CPU-sized InfoMax-VAE step in seconds and checks the script.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import sys
import tempfile
import time

from benchmarks import run as bench

TARGETS = ("infomax_b64", "infomax_b1024", "vim_celeba")


def make_engine(target: str, args) -> bench.Engine:
    if target == "infomax_b64":
        return bench.infomax_engine(args, 64, bench.SMOKE_BATCH, bench.SMOKE_EXAMPLES // bench.SMOKE_BATCH)[0]
    if target == "infomax_b1024":
        return bench.infomax_engine(args, 1024, 64, 2)[0]
    return bench.vim_celeba_engine(args)[0]


_HLO_OP = re.compile(r'^\s*(?:ROOT )?%?([\w.\-]+) = .*?metadata=\{[^}]*op_name="([^"]+)"', re.MULTILINE)
_SCAN_PREFIX = re.compile(r"^jit\([^)]*\)/(?:while/body/)?(?:closed_call/)?")


def hlo_sources(hlo_text: str) -> dict[str, str]:
    """HLO instruction name -> the JAX source op it came from (``metadata op_name``, jit/scan prefix cut),
    also under the name with '.' as '_' (GPU kernels are named after their fusion that way)."""
    sources = {}
    for name, op_name in _HLO_OP.findall(hlo_text):
        source = _SCAN_PREFIX.sub("", op_name)
        sources[name] = source
        sources.setdefault(name.replace(".", "_"), source)
    return sources


def _busy_ns(intervals: list[tuple[int, int]]) -> int:
    """Length of the union of [start, end) intervals (ns)."""
    total, end = 0, None
    for lo, hi in sorted(intervals):
        if end is None or lo >= end:
            total += hi - lo
            end = hi
        elif hi > end:
            total += hi - end
            end = hi
    return total


def _timeline(name: str, events: list[tuple[str, int, int]], wall_ns: int, steps: int, top: int,
              sources: dict[str, str], pooled: bool = False) -> dict:
    """Summary of one timeline's (op name, start ns, duration ns) events."""
    per_op: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for op, _, dur in events:
        per_op[op][0] += dur
        per_op[op][1] += 1
    busy = sum(d for _, _, d in events) if pooled else _busy_ns([(s, s + d) for _, s, d in events])
    ranked = sorted(per_op.items(), key=lambda kv: -kv[1][0])[:top]
    return {
        "timeline": name,
        "busy_ms": busy / 1e6,
        "busy_fraction": busy / wall_ns if wall_ns else None,
        "events_per_step": len(events) / steps,
        "top": [{"op": op, "total_ms": t / 1e6, "count": c, "share": t / busy if busy else None,
                 "source": sources.get(op)} for op, (t, c) in ranked],
    }


def summarize(xplane_path: str, wall_ns: int, steps: int, top: int, sources: dict[str, str] | None = None
              ) -> list[dict]:
    """Per-timeline summaries of a trace file (``*.xplane.pb``); see the module docstring. ``sources``
    (``hlo_sources`` of the compiled program) names each op's JAX origin where it is known."""
    sources = sources or {}
    from jax.profiler import ProfileData

    data = ProfileData.from_file(xplane_path)
    timelines, host_ops = [], []
    for plane in data.planes:
        if plane.name.startswith("/device:"):
            for line in plane.lines:
                events = [(e.name, int(e.start_ns), int(e.duration_ns)) for e in line.events]
                if events:
                    timelines.append(_timeline(f"{plane.name} {line.name}", events, wall_ns, steps, top, sources))
        elif plane.name.startswith("/host:CPU"):
            for line in plane.lines:
                for e in line.events:
                    stats = dict(e.stats)
                    if "hlo_op" in stats:
                        host_ops.append((str(stats["hlo_op"]), int(e.start_ns), int(e.duration_ns)))
    if host_ops:
        timelines.append(_timeline("host:XLA ops", host_ops, wall_ns, steps, top, sources, pooled=True))
    return timelines


def profile(target: str, args) -> dict:
    import jax

    engine = make_engine(target, args)
    engine.call()  # warm-up: allocations, autotuning
    trace_dir = args.trace_dir or tempfile.mkdtemp(prefix=f"mi_vae_profile_{target}_")
    with jax.profiler.trace(trace_dir):
        start = time.perf_counter_ns()
        for _ in range(args.calls):
            engine.call()
        wall_ns = time.perf_counter_ns() - start
    files = sorted(glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True), key=os.path.getmtime)
    if not files:
        raise RuntimeError(f"jax.profiler wrote no *.xplane.pb under {trace_dir}")
    steps = args.calls * engine.k
    sources = hlo_sources(engine.compiled.as_text())
    return bench.record(f"profile/{target}", "jax", args, wall_s=wall_ns / 1e9, steps=steps, batch=engine.batch,
                        step_ms=wall_ns / 1e6 / steps, images_per_sec=steps * engine.batch * 1e9 / wall_ns,
                        trace=files[-1], **bench.jax_device_info(),
                        timelines=summarize(files[-1], wall_ns, steps, args.top, sources))



def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU-sized InfoMax-VAE step (seconds)")
    parser.add_argument("--target", choices=TARGETS, default="infomax_b64")
    parser.add_argument("--calls", type=int, default=2, help="traced calls after one warm-up call")
    parser.add_argument("--trace-dir", default="", help="where the raw trace goes (default: a temp directory)")
    parser.add_argument("--top", type=int, default=15, help="ops listed per timeline")
    parser.add_argument("--out", help="also append the JSON line to this file")
    parser.add_argument("--data-dir", default="", help="Fashion-MNIST IDX directory (default: the Debian path)")
    parser.add_argument("--synthetic", action="store_true", help="use random images even if Fashion-MNIST exists")
    parser.add_argument("--conv-impl", default="auto", choices=("auto", "xla", "im2col"),
                        help="config.model.conv_impl (auto: im2col on the CPU)")
    parser.add_argument("--flatten-optimizer", type=int, choices=(0, 1), default=0,
                        help="config.flatten_optimizer (Adam on one vector per player)")
    args = parser.parse_args(argv)
    args.scan_unroll, args.min_time = 1, 0.0  # what benchmarks.run's builders read
    if args.calls < 1 or args.top < 1:
        parser.error("--calls and --top must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.smoke:
        bench.smoke_environment()
    result = profile(args.target, args)
    bench.Emitter(sys.stdout, args.out).emit(result)
    for t in result["timelines"]:
        print(f"# {t['timeline']}: busy {t['busy_ms']:.1f} ms of {1e3 * result['wall_s']:.1f} ms wall, "
              f"{t['events_per_step']:.1f} events/step", file=sys.stderr)
        for row in t["top"]:
            print(f"#   {row['total_ms']:9.2f} ms {row['count']:6d}x {100 * (row['share'] or 0):5.1f}%  {row['op']}"
                  f"  {row['source'] or ''}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
