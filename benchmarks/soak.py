"""Soak test: thousands of steps of the smoke model with frequent checkpoints.

Checks that keep-N holds (the checkpoint count never exceeds ``keep``) and that host memory stays
flat (RSS sampled every 0.2 s from /proc/self/statm in a background thread).

    python -m benchmarks.soak [--steps 5000] [--checkpoint_every 25] [--keep 2] [--log_every N]

Prints one JSON line: steps, checkpoints saved, the most checkpoints seen at once, RSS after
warm-up, at the end and its maximum (MiB), and the RSS growth per 1000 steps after warm-up.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--checkpoint_every", type=int, default=25)
    parser.add_argument("--keep", type=int, default=2)
    parser.add_argument("--warmup_steps", type=int, default=500)
    parser.add_argument("--log_every", type=int, default=0, help="0: as --checkpoint_every")
    args = parser.parse_args()

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
