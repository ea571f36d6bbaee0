"""Tables for RESULTS.md from a directory of finished runs (each with eval/metrics.json).

    python -m mi_vae.evaluation.results RUNS_DIR

Run names follow launch/reproduce.sh: ``<experiment>_<setting>_s<seed>``. Runs that differ only in
their seed are grouped; each cell is the mean +- sample standard deviation over seeds (n given).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import defaultdict

import numpy as np

#: experiment prefix -> (title, setting label, metric keys)
TABLES = {
    "mae_normal": ("Mutual Autoencoder, splitting the normal (figure 2)", "M", ("mi_target", "mi_achieved", "kl")),
    "mae_categorical": ("Mutual Autoencoder, uniform 10-way categorical (figure 2)", "M",
                        ("mi_target", "mi_achieved", "kl")),
    "vmi_digits": ("VMI, categorical code on scikit-learn digits (thesis 4.4)", "lambda",
                   ("cluster_accuracy", "elbo", "recon_l2")),
}


def collect(runs_dir: str) -> dict[str, dict[str, list[dict]]]:
    """{experiment: {setting: [metrics of each seed]}} for every finished run under ``runs_dir``."""
    out: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for name in sorted(os.listdir(runs_dir)):
        path = os.path.join(runs_dir, name, "eval", "metrics.json")
        match = re.fullmatch(r"(.+)_([A-Za-z]+[0-9.]+)_s(\d+)", name)
        if not (match and os.path.isfile(path)):
            continue
        with open(path) as f:
            out[match.group(1)][match.group(2)].append(json.load(f))
    return out


def cell(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} +- {np.std(values, ddof=1):.3f}"


def markdown(runs_dir: str) -> str:
    results = collect(runs_dir)
    parts = []
    for prefix, (title, label, keys) in TABLES.items():
        if prefix not in results:
            continue
        rows = results[prefix]
        settings = sorted(rows, key=lambda s: float(re.sub(r"^[A-Za-z]+", "", s)))
        lines = [f"### {title}", "", f"| {label} | n | " + " | ".join(f"`{k}`" for k in keys) + " |",
                 "|---|---:|" + "---:|" * len(keys)]
        for setting in settings:
            runs = rows[setting]
            values = " | ".join(cell([r.get(k) for r in runs]) for k in keys)
            lines.append(f"| {re.sub(r'^[A-Za-z]+', '', setting)} | {len(runs)} | {values} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print("usage: python -m mi_vae.evaluation.results RUNS_DIR", file=sys.stderr)
        sys.exit(2)
    print(markdown(sys.argv[1]), end="")
