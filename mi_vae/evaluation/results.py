"""Tables for RESULTS.md from a directory of finished runs (each with eval/metrics.json).

    python -m mi_vae.evaluation.results RUNS_DIR [--figures DIR]
    python -m mi_vae.evaluation.results RUNS_DIR --compare [--metrics a,b,...]

``--compare`` makes one table of any set of runs (named or not): runs are grouped by the values of the
config keys that differ between them (the seed excluded), one row per group, mean +- sample standard
deviation over the group's runs for each metric. Without it, runs that no named table below covers are
shown in such a table after the named ones.

``--figures DIR`` also draws the figures made across runs from their training logs (metrics.jsonl),
e.g. ``pixelcnn_mi_over_training.png`` (InfoVAE figure 1); a run needs only its log for these.

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

#: ``experiment[:table]`` -> (title, setting label, metric keys[, setting order]); the part before ``:`` is
#: the run-name prefix, so one experiment can have several tables.
#: Settings sort by their number (``M1.5`` -> 1.5, ``vae-d10`` -> 10), then by the order's position of the
#: part before it (``vae-d``), then by name.
CORRUPTIONS = ("gaussian_0.2", "gaussian_0.4", "mask_0.2", "mask_0.5")
#: values computed per run from its metrics (then averaged over seeds like the others)
DERIVED = {f"probe_drop_{c}": (lambda m, c=c: m["probe_accuracy"] - m[f"probe_accuracy_{c}"]) for c in CORRUPTIONS}

TABLES = {
    "infomax": ("InfoMax-VAE tables II-III: Fashion-MNIST, MLP decoder of depth d, latent 20", "model-depth",
                ("iwae_nll", "mi_critic", "kl", "active_units"), ("vae-d", "betavae-d", "infovae-d", "infomax-d")),
    "infomax:mi": ("InfoMax-VAE tables II-III by the validated estimators: the aggregate-posterior bound over the "
                   "training split (ceiling log N) and a fresh InfoNCE critic (ceiling log n_test), each with its "
                   "standard error; both active-unit counts", "model-depth",
                   ("mi_aggregate", "mi_aggregate_stderr", "mi_critic", "mi_critic_stderr", "active_units",
                    "active_units_sampled"), ("vae-d", "betavae-d", "infovae-d", "infomax-d")),
    "infovae": ("InfoVAE figure 3 / table 1: Fashion-MNIST, conv28 nets, latent z", "objective-z",
                ("mmd_prior", "logdet_cov_per_dim", "probe_accuracy", "iwae_nll"),
                ("elbo-z", "mmd-z", "stein-z", "adversarial-z", "ae-z")),
    "vimae": ("VIMAE tables II-V: Fashion-MNIST, conv28 nets, latent 8", "model",
              ("recon_l2", "probe_accuracy", *(f"probe_accuracy_{c}" for c in CORRUPTIONS)),
              ("vae", "betaH", "betaA", "vimaeN", "vimaeL")),
    "vimae:robustness": ("VIMAE robustness: probe accuracy lost to each corruption (clean minus corrupted)",
                         "model", tuple(f"probe_drop_{c}" for c in CORRUPTIONS),
                         ("vae", "betaH", "betaA", "vimaeN", "vimaeL")),
    "vimae:generation": ("VIMAE table I on offline data: prior samples against the test set, in a classifier's "
                         "feature space (not FID)", "model",
                         ("fd_classifier", "kid_classifier", "fd_classifier_real"),
                         ("vae", "betaH", "betaA", "vimaeN", "vimaeL")),
    "mae_normal": ("Mutual Autoencoder, splitting the normal (figure 2)", "M", ("mi_target", "mi_achieved", "kl")),
    "mae_categorical": ("Mutual Autoencoder, uniform 10-way categorical (figure 2)", "M",
                        ("mi_target", "mi_achieved", "kl")),
    "maetext": ("Mutual Autoencoder figure 3: fortunes sentences, greedy reconstructions of 1000 test sentences",
                "M", ("mi_achieved", "kl", "text_exact_reconstruction", "text_word_match")),
    "maetextpaper": ("Mutual Autoencoder figure 3 as the paper ran it: flexible encoder (k = 5), fortunes sentences "
                     "of <= 8 words, greedy reconstructions of 1000 training sentences", "M",
                     ("mi_achieved", "mi_aggregate", "mi_aggregate_stderr", "kl", "text_exact_reconstruction",
                      "text_word_match")),
    "vmi_digits": ("VMI, categorical code on scikit-learn digits (thesis 4.4)", "lambda",
                   ("cluster_accuracy", "elbo", "recon_l2")),
    "vmi_fmnist": ("VMI, categorical code on Fashion-MNIST (thesis 4.4)", "lambda or H(c)-lambda",
                   ("cluster_accuracy", "elbo", "recon_l2")),
    "vmi_fmnistmlp": ("VMI, categorical code on Fashion-MNIST, MLP nets: lambda and the H(c) estimate", "H(c)-lambda",
                      ("cluster_accuracy", "code_mi", "code_kl_uniform", "elbo"), ("prior-l", "aggregate-l")),
    "vmi_subvector": ("VMI, MI on a 2-dim latent sub-vector, Fashion-MNIST (thesis 4.4)", "lambda",
                      ("elbo", "recon_l2", "kl", "active_units")),
    "pixelcnn": ("InfoVAE figure 1: PixelCNN decoder, dynamically binarized Fashion-MNIST, latent 10", "objective",
                 ("kl", "mi_aggregate", "iwae_nll", "active_units"), ("elbo", "mmd", "ae")),
}

#: table -> a metric a run must report to be shown there: runs evaluated before the validated MI estimators
#: (whose mi_aggregate was capped at log 1000 and whose mi_critic was another estimator) report no ceilings
REQUIRES = {"infomax:mi": "mi_aggregate_ceiling"}


def collect(runs_dir: str) -> dict[str, dict[str, list[dict]]]:
    """{experiment: {setting: [metrics of each seed]}} for every finished run under ``runs_dir``.

    A run named ``<experiment>_<setting>_s<seed>``: the setting is the last ``_``-separated part.
    """
    out: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for name in sorted(os.listdir(runs_dir)):
        path = os.path.join(runs_dir, name, "eval", "metrics.json")
        parts = run_name_parts(name)
        if not (parts and os.path.isfile(path)):
            continue
        with open(path) as f:
            out[parts[0]][parts[1]].append(json.load(f))
    return out


def run_name_parts(name: str) -> tuple[str, str] | None:
    """``<experiment>_<setting>_s<seed>`` -> (experiment, setting); None for a name not of that form."""
    match = re.fullmatch(r"(.+)_([^_]+)_s(\d+)", name)
    return (match.group(1), match.group(2)) if match else None


#: figure file -> (run-name prefix, logged keys, title): one line per run whose name starts with the prefix
CURVES = {
    "pixelcnn_mi_over_training.png": ("pixelcnn_", ("mi_batch", "kl"),
                                      "InfoVAE fig. 1: PixelCNN decoder, I_q(x;z) (batch estimate, <= log B) and KL"),
    "maetext_mi_over_training.png": ("maetext_", ("mi_estimate", "kl"),
                                     "MAE text: I_BA(x;z) and KL over training, per target M"),
    "maetextpaper_mi_over_training.png": ("maetextpaper_", ("mi_estimate", "kl"),
                                          "MAE text, flexible encoder (k = 5), <= 8 words: I_BA(x;z) and KL over "
                                          "training, per target M and seed"),
}


def curve_figures(runs_dir: str, out_dir: str) -> list[str]:
    """Draw every ``CURVES`` figure that has runs under ``runs_dir`` into ``out_dir``; the paths written."""
    from mi_vae.evaluation import figures
    from mi_vae.io import read_metrics

    os.makedirs(out_dir, exist_ok=True)
    written = []
    for filename, (prefix, keys, title) in CURVES.items():
        runs = {}
        for name in sorted(os.listdir(runs_dir)):
            log = os.path.join(runs_dir, name, "metrics.jsonl")
            if name.startswith(prefix) and os.path.isfile(log):
                runs[name[len(prefix):]] = read_metrics(log, "train")
        if runs:
            written.append(figures.compared_curves(runs, keys, os.path.join(out_dir, filename), title))
    return written


def value(metrics: dict, key: str) -> float | None:
    """A run's metric, or a ``DERIVED`` one computed from it; None where an input is missing or null."""
    if key in DERIVED:
        try:
            return DERIVED[key](metrics)
        except (KeyError, TypeError):
            return None
    return metrics.get(key)


def cell(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} +- {np.std(values, ddof=1):.3f}"


def _split(setting: str) -> tuple[str, float | None]:
    """``"vae-d10"`` -> ("vae-d", 10.0); ``"M1.5"`` -> ("M", 1.5); ``"vimaeN"`` -> ("vimaeN", None)."""
    match = re.fullmatch(r"(.*?)(-?[0-9]+(?:\.[0-9]+)?)", setting)
    return (match.group(1), float(match.group(2))) if match else (setting, None)


def _sort_key(setting: str, order: tuple[str, ...]):
    prefix, number = _split(setting)
    rank = order.index(prefix) if prefix in order else len(order)
    return (number if number is not None else float("-inf"), rank, setting)


def _label(setting: str, order: tuple[str, ...]) -> str:
    """Numeric settings of a letter-only prefix (``M1.5``, ``l0``) show the number alone."""
    prefix, number = _split(setting)
    return f"{number:g}" if number is not None and prefix.isalpha() and not order else setting


def markdown(runs_dir: str) -> str:
    results = collect(runs_dir)
    parts = []
    for table, (title, label, keys, *rest) in TABLES.items():
        prefix = table.split(":")[0]
        if prefix not in results:
            continue
        order = tuple(rest[0]) if rest else ()
        rows = results[prefix]
        if table in REQUIRES:
            rows = {setting: kept for setting, runs in rows.items()
                    if (kept := [r for r in runs if value(r, REQUIRES[table]) is not None])}
        lines = [f"### {title}", "", f"| {label} | n | " + " | ".join(f"`{k}`" for k in keys) + " |",
                 "|---|---:|" + "---:|" * len(keys)]
        for setting in sorted(rows, key=lambda s: _sort_key(s, order)):
            runs = rows[setting]
            if all(value(r, k) is None for r in runs for k in keys):
                continue  # runs made before this table's metrics existed (or without its evaluator)
            values = " | ".join(cell([value(r, k) for r in runs]) for k in keys)
            lines.append(f"| {_label(setting, order)} | {len(runs)} | {values} |")
        if len(lines) > 4:
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n" if parts else ""


#: config keys never used to tell runs apart in ``compare`` (the seed is what the spread is over)
COMPARE_IGNORED = ("seed", "data.")


def finished_runs(runs_dir: str) -> dict[str, tuple[dict, dict]]:
    """{run name: (flattened config.json, eval/metrics.json)} for every finished run directly under ``runs_dir``."""
    from mi_vae.config import flatten

    out = {}
    for name in sorted(os.listdir(runs_dir)):
        paths = [os.path.join(runs_dir, name, f) for f in ("config.json", os.path.join("eval", "metrics.json"))]
        if not all(os.path.isfile(p) for p in paths):
            continue
        loaded = []
        for path in paths:
            try:
                with open(path) as f:
                    loaded.append(json.load(f))
            except (OSError, ValueError) as e:
                print(f"skipping run {name}: {path} unreadable ({e})", file=sys.stderr)
                break
        else:
            out[name] = (flatten(loaded[0]), loaded[1])
    return out


def compare(runs: dict[str, tuple[dict, dict]], metrics: list[str] | None = None) -> str:
    """One markdown table of ``runs`` (``finished_runs``): a row per group of runs whose configs agree on every
    key but the seed, labelled by the keys that differ between groups; mean +- sd over the group per metric.

    ``metrics``: the columns (default: every numeric metric some run reports, in sorted order).
    """
    if not runs:
        return ""
    configs = [config for config, _ in runs.values()]
    keys = sorted({k for c in configs for k in c})
    differing = [k for k in keys if not k.startswith(COMPARE_IGNORED)
                 and len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
    if metrics is None:
        metrics = sorted({k for _, m in runs.values() for k, v in m.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool)})
    groups: dict[tuple, list[str]] = defaultdict(list)
    for name, (config, _) in runs.items():
        groups[tuple(json.dumps(config.get(k)) for k in differing)].append(name)
    label = ", ".join(differing) if differing else "config"
    lines = [f"| {label} | n | runs | " + " | ".join(f"`{m}`" for m in metrics) + " |",
             "|---|---:|---|" + "---:|" * len(metrics)]
    for group, names in sorted(groups.items()):
        setting = ", ".join(group) if differing else "(all equal)"
        values = " | ".join(cell([value(runs[n][1], m) for n in names]) for m in metrics)
        lines.append(f"| {setting} | {len(names)} | {' '.join(names)} | {values} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    usage = "usage: python -m mi_vae.evaluation.results RUNS_DIR [--figures DIR] [--compare [--metrics a,b]]"
    args, out_dir, only_compare, metrics = [], None, False, None
    it = iter(argv)
    for arg in it:
        if arg in ("--figures", "--metrics"):
            follow = next(it, None)
            if follow is None:
                print(usage, file=sys.stderr)
                return 2
            if arg == "--figures":
                out_dir = follow
            else:
                metrics = [m for m in follow.split(",") if m]
        elif arg == "--compare":
            only_compare = True
        else:
            args.append(arg)
    if len(args) != 1:
        print(usage, file=sys.stderr)
        return 2
    if not os.path.isdir(args[0]):
        print(f"error: {args[0]} is not a directory (of runs)", file=sys.stderr)
        return 2
    runs_dir = args[0]
    runs = finished_runs(runs_dir)
    if only_compare:
        text = compare(runs, metrics)
    else:
        text = markdown(runs_dir)
        named = {prefix.split(":")[0] for prefix in TABLES}
        others = {n: r for n, r in runs.items() if (run_name_parts(n) or ("",))[0] not in named}
        if others:
            text += ("\n" if text.strip() else "") + "### Other runs\n\n" + compare(others, metrics)
    if not text.strip():
        print(f"no finished runs (a run directory with config.json and eval/metrics.json) under {runs_dir}",
              file=sys.stderr)
        return 1
    print(text, end="")
    if out_dir:
        for path in curve_figures(runs_dir, out_dir):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
