"""Soak test: thousands of steps of the smoke model with frequent checkpoints.

Checks that keep-N holds (the checkpoint count never exceeds ``keep``) and that host memory stays
flat (RSS sampled every 0.2 s from /proc/self/statm in a background thread).

    python -m benchmarks.soak [--steps 5000] [--checkpoint_every 25] [--keep 2] [--log_every N]

Prints one JSON line: steps, checkpoints saved, the most checkpoints seen at once, RSS after
warm-up, at the end and its maximum (MiB), and the RSS growth per 1000 steps after warm-up.

Saves only (no training, so that any growth is the checkpointer's): the smoke model's state saved
``--saves`` times through ``mi_vae.train.checkpoint.Checkpointer`` (asynchronous, keep-N), host RSS
read after every save:

    python -m benchmarks.soak --saves 2000 [--keep 2] [--keep_tensorstore_leak] [--no_malloc_trim]
        [--dynamic_mmap_threshold] [--out RAW.jsonl]
    python -m benchmarks.soak --plot RAW.jsonl [RAW2.jsonl ...] --figure FIGURE.png

``--out`` gets one JSON line per save (save, rss_mib, wall_s; every 100 saves also the live Python
objects and glibc's malloc in-use and free bytes) and a last summary line (name "soak_saves"): RSS
after the warm-up saves and at the end, and the growth per save (least squares) over all saves after
warm-up and over each half of them. ``--keep_tensorstore_leak``, ``--no_malloc_trim`` and
``--dynamic_mmap_threshold`` turn off the remedies in mi_vae.train.checkpoint (TensorStore's JSON
reference leak plugged; glibc's free pages handed back after each save; its mmap threshold fixed), to
measure what each one removes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import threading
import time


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def slope_kib_per_save(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of (save, RSS MiB) points, in KiB per save."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx * 1024


def malloc_mib() -> dict[str, float]:
    """glibc's mallinfo2: bytes in use and free in the malloc arenas (MiB); {} elsewhere."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                         "fsmblks", "uordblks", "fordblks", "keepcost")]
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return {}
    mallinfo2.restype = MallInfo2
    info = mallinfo2()
    return {"malloc_in_use_mib": round((info.uordblks + info.hblkhd) / 2**20, 2),
            "malloc_free_mib": round(info.fordblks / 2**20, 2)}


def soak_saves(args) -> dict:
    """``args.saves`` saves of the smoke state through Checkpointer; RSS after each (see the module docstring)."""
    import gc

    import jax
    import orbax.checkpoint as ocp
    import tensorstore as ts

    from configs import infomax_vae
    from mi_vae.train import checkpoint, loop, run_record
    from mi_vae.train.step import make_mesh

    checkpoint.PLUG_TENSORSTORE_JSON_LEAK = not args.keep_tensorstore_leak
    checkpoint.TRIM_AFTER_SAVE = not args.no_malloc_trim
    if args.dynamic_mmap_threshold:
        checkpoint.MMAP_THRESHOLD = 0
    config = infomax_vae.get_config("smoke=True")
    dataset = run_record.load_run_data(config, None)
    _, _, state, _ = loop.build(config, dataset, make_mesh())
    state_bytes = sum(leaf.nbytes for leaf in jax.tree.leaves(state))
    workdir = tempfile.mkdtemp(prefix="mi_vae_soak_saves_")
    ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), keep=args.keep)
    out = open(args.out, "w") if args.out else None
    points, most_on_disk = [], 0
    start = time.time()
    for i in range(1, args.saves + 1):
        ckpt.save(i, state)
        rss = rss_mib()
        points.append((i, rss))
        line = {"save": i, "rss_mib": round(rss, 3), "wall_s": round(time.time() - start, 2)}
        if i % 100 == 0:
            gc.collect()
            line["python_objects"] = len(gc.get_objects())
            line.update(malloc_mib())
            most_on_disk = max(most_on_disk, len([d for d in os.listdir(ckpt.directory) if d.isdigit()]))
        if out:
            out.write(json.dumps(line) + "\n")
    ckpt.close()
    after = [p for p in points if p[0] > args.warmup_saves]
    half = len(after) // 2
    summary = {
        "name": "soak_saves", "saves": args.saves, "warmup_saves": args.warmup_saves, "keep": args.keep,
        "state_mib": round(state_bytes / 2**20, 2),
        "tensorstore_json_leak": "left" if args.keep_tensorstore_leak else checkpoint.plug_tensorstore_json_leak(),
        "malloc_trim_after_save": not args.no_malloc_trim,
        "mmap_threshold_bytes": checkpoint.MMAP_THRESHOLD if checkpoint._MMAP_THRESHOLD_SET else "dynamic",
        "orbax": ocp.__version__, "tensorstore": getattr(ts, "__version__", None) or _version("tensorstore"),
        "jax": jax.__version__, "max_checkpoints_on_disk_at_samples": most_on_disk,
        "final_checkpoints": ckpt.steps(),
        "rss_after_warmup_mib": round(after[0][1], 1), "rss_end_mib": round(points[-1][1], 1),
        "rss_max_mib": round(max(p[1] for p in points), 1),
        "growth_kib_per_save": round(slope_kib_per_save(after), 2),
        "growth_kib_per_save_first_half": round(slope_kib_per_save(after[:half]), 2),
        "growth_kib_per_save_second_half": round(slope_kib_per_save(after[half:]), 2),
        "wall_s": round(time.time() - start, 1),
    }
    if out:
        out.write(json.dumps(summary) + "\n")
        out.close()
    return summary


def _version(package: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def plot(paths: list[str], figure: str) -> None:
    """RSS against save number for each raw file written by ``--saves --out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for path in paths:
        with open(path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        rows = [r for r in lines if "save" in r and "rss_mib" in r]
        summary = next((r for r in lines if r.get("name") == "soak_saves"), {})
        threshold = summary.get("mmap_threshold_bytes", "dynamic")
        label = (f"TensorStore leak {summary.get('tensorstore_json_leak', '?')}, malloc_trim "
                 f"{'on' if summary.get('malloc_trim_after_save') else 'off'}, mmap threshold "
                 f"{threshold if threshold == 'dynamic' else f'{threshold // 1024} KiB'}: "
                 f"{summary.get('growth_kib_per_save', float('nan')):.1f} KiB/save after save "
                 f"{summary.get('warmup_saves', '?')}")
        ax.plot([r["save"] for r in rows], [r["rss_mib"] for r in rows], lw=0.8, label=label)
    ax.set_xlabel("checkpoint saves")
    ax.set_ylabel("host RSS (MiB)")
    ax.set_title("Checkpointer saves of the smoke InfoMax-VAE state (no training), RSS after each save")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figure, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--saves", type=int, default=0, help="> 0: the saves-only soak (no training)")
    parser.add_argument("--warmup_saves", type=int, default=100, help="saves before the growth is measured")
    parser.add_argument("--keep_tensorstore_leak", action="store_true",
                        help="saves only: do not plug TensorStore's JSON reference leak (the behaviour before the fix)")
    parser.add_argument("--no_malloc_trim", action="store_true",
                        help="saves only: do not hand free malloc pages back after each save")
    parser.add_argument("--dynamic_mmap_threshold", action="store_true",
                        help="saves only: leave glibc's mmap threshold dynamic")
    parser.add_argument("--out", default="", help="saves only: raw lines (JSON) file")
    parser.add_argument("--plot", nargs="+", default=[], help="raw files of --saves --out runs to plot")
    parser.add_argument("--figure", default="", help="with --plot: the PNG to write")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--checkpoint_every", type=int, default=25)
    parser.add_argument("--keep", type=int, default=2)
    parser.add_argument("--warmup_steps", type=int, default=500)
    parser.add_argument("--log_every", type=int, default=0, help="0: as --checkpoint_every")
    args = parser.parse_args()
    if args.plot:
        plot(args.plot, args.figure or "soak_saves.png")
        return
    if args.saves > 0:
        print(json.dumps(soak_saves(args)))
        return

    from configs import infomax_vae
    from mi_vae.train import loop, run_record

    workdir = tempfile.mkdtemp(prefix="mi_vae_soak_")
    ckpt_dir = os.path.join(workdir, "checkpoints")
    samples: list[tuple[float, float, int]] = []  # (time, rss MiB, checkpoints on disk)
    done = threading.Event()

    def sample():
        while not done.is_set():
            n = len([d for d in os.listdir(ckpt_dir) if d.isdigit()]) if os.path.isdir(ckpt_dir) else 0
            samples.append((time.time(), rss_mib(), n))
            time.sleep(0.2)

    config = infomax_vae.get_config("smoke=True")
    config.run_eval = False
    config.checkpoint_every_steps = args.checkpoint_every
    config.log_every_steps = args.log_every or args.checkpoint_every
    config.keep_checkpoints = args.keep
    dataset = run_record.load_run_data(config, None)

    # Warm-up run (compilation, allocator pools), then the soak proper resumes from it.
    config.num_train_steps = args.warmup_steps
    loop.train(config, workdir, dataset=dataset)
    thread = threading.Thread(target=sample, daemon=True)
    start = time.time()
    thread.start()
    config.num_train_steps = args.steps
    loop.train(config, workdir, dataset=dataset)
    done.set()
    thread.join()
    elapsed = time.time() - start

    rss = [s[1] for s in samples]
    head = rss[: max(1, len(rss) // 10)]
    tail = rss[-max(1, len(rss) // 10):]
    growth = (sum(tail) / len(tail) - sum(head) / len(head)) / max(1, (args.steps - args.warmup_steps)) * 1000
    final = sorted(int(d) for d in os.listdir(ckpt_dir) if d.isdigit())
    print(json.dumps({
        "name": "soak", "steps": args.steps, "checkpoint_every": args.checkpoint_every,
        "log_every": config.log_every_steps, "keep": args.keep,
        "checkpoints_saved": (args.steps - args.warmup_steps) // args.checkpoint_every,
        "max_checkpoints_on_disk": max(s[2] for s in samples),
        "final_checkpoints": final, "rss_start_mib": round(rss[0], 1), "rss_end_mib": round(rss[-1], 1),
        "rss_max_mib": round(max(rss), 1), "rss_growth_mib_per_1000_steps": round(growth, 2),
        "wall_s": round(elapsed, 1),
    }))


if __name__ == "__main__":
    main()
