"""InfoMax-VAE's MI bounds compared: which yields the most informative code, and at what cost per step.

    python -m benchmarks.mi_bounds time [--steps-per-call 100] [--rounds 3] [--out FILE]
    python -m benchmarks.mi_bounds table RUNS_DIR [--step-times FILE]

``time``: the training step of configs/default.py (InfoMax-VAE, conv28, z = 10, alpha = 20, batch 64, the
offline Fashion-MNIST on the device) with each ``mi_bound`` (nwj, dv, js, infonce, smile), the bounds
timed in turn over ``rounds`` rounds so that a busy machine slows them alike; one JSON line per bound and
round (``step_ms`` of ``steps_per_call`` steps after a warm-up call).

``table``: a Markdown table over the runs ``RUNS_DIR/bound_<bound>_s<seed>`` (``launch/reproduce.sh RUNS
bounds``: 1000 steps of configs/default.py:mi_bound=<bound>, seeds 0-2, evaluated with ``--evals=elbo,mi``):
per bound the mean and the spread over seeds of ``mi_aggregate`` (the aggregate-posterior bound over the
60,000 training codes, ceiling log 60000 = 11.0), ``mi_critic`` (InfoNCE on held-out pairs, ceiling log K),
``kl`` and ``elbo``, with the median step time from ``--step-times`` and the training seconds that makes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

BOUNDS = ("nwj", "dv", "js", "infonce", "smile")


def time_bounds(args) -> None:
    from benchmarks.run import Engine, array_dataset, fashion_mnist, jax_device_info, measure_engine
    from configs import default

    train_x, data = fashion_mnist(argparse.Namespace(synthetic=False, data_dir=None))
    dataset = array_dataset("fashion_mnist", train_x, 10)
    engines = {b: Engine(default.get_config(f"mi_bound={b}"), dataset, args.steps_per_call) for b in BOUNDS}
    out = open(args.out, "a") if args.out else None
    for r in range(args.rounds):
        for bound, engine in engines.items():
            result = measure_engine(engine, min_time=args.min_time, deadline=float("inf"))
            line = json.dumps({"name": f"mi_bounds/{bound}", "bound": bound, "round": r, "data": data,
                               **jax_device_info(), **{k: result[k] for k in ("step_ms", "steps", "wall_s",
                                                                              "compile_s", "loss")}})
            print(line, flush=True)
            if out:
                out.write(line + "\n")
                out.flush()


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def table(args) -> None:
    step_ms: dict[str, list[float]] = {}
    if args.step_times:
        with open(args.step_times) as f:
            for line in f:
                row = json.loads(line)
                step_ms.setdefault(row["bound"], []).append(row["step_ms"])
    lines = ["| mi_bound | seeds | mi_aggregate (nats) | mi_critic, InfoNCE (nats) | kl | elbo | step (ms) | "
             "1000 steps (s) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for bound in BOUNDS:
        rows = []
        for name in sorted(os.listdir(args.runs)):
            if name.startswith(f"bound_{bound}_s"):
                path = os.path.join(args.runs, name, "eval", "metrics.json")
                if os.path.exists(path):
                    with open(path) as f:
                        rows.append(json.load(f))
        if not rows:
            continue

        def col(key, rows=rows):
            return [r[key] for r in rows if r.get(key) is not None]

        ms = statistics.median(step_ms[bound]) if bound in step_ms else None
        lines.append(f"| {bound} | {len(rows)} | {_mean_sd(col('mi_aggregate'))} | {_mean_sd(col('mi_critic'))} | "
                     f"{_mean_sd(col('kl'))} | {_mean_sd(col('elbo'))} | "
                     f"{'n/a' if ms is None else f'{ms:.1f}'} | {'n/a' if ms is None else f'{ms:.0f}'} |")
    print("\n".join(lines))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("time", help="time the training step of each bound")
    t.add_argument("--steps-per-call", type=int, default=100)
    t.add_argument("--rounds", type=int, default=3)
    t.add_argument("--min-time", type=float, default=5.0)
    t.add_argument("--out", default=None)
    s = sub.add_parser("table", help="the Markdown table of the bound runs")
    s.add_argument("runs")
    s.add_argument("--step-times", default=None, help="JSON lines of `time`")
    args = parser.parse_args(argv)
    if args.command == "time":
        time_bounds(args)
    else:
        table(args)


if __name__ == "__main__":
    sys.exit(main())
