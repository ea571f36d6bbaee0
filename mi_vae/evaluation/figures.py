"""Evaluation figures: small PNGs from numpy arrays, drawn with matplotlib's Agg canvas.

Each function takes arrays (already decoded by the runner) and a path, writes one PNG and
returns the path. Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot), so
nothing touches the global backend of the process that imports the library.

Images are NHWC floats in [0, 1] (clipped), one channel drawn in grey, three in colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

DPI = 100


def _save(fig: Figure, path: str) -> str:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _mosaic(images: np.ndarray, pad: int = 1) -> np.ndarray:
    """``[R, C, H, W, ch]`` -> one ``[R*(H+pad)-pad, C*(W+pad)-pad, ch]`` image with white gutters."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    r, c, h, w, ch = images.shape
    out = np.ones((r * (h + pad) - pad, c * (w + pad) - pad, ch), np.float32)
    for i in range(r):
        for j in range(c):
            out[i * (h + pad): i * (h + pad) + h, j * (w + pad): j * (w + pad) + w] = images[i, j]
    return out


def _show(ax, mosaic: np.ndarray) -> None:
    if mosaic.shape[-1] == 1:
        ax.imshow(mosaic[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(mosaic[..., :3], interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _grid_figure(images: np.ndarray, title: str, cell: float = 0.6) -> tuple[Figure, object]:
    r, c = images.shape[:2]
    fig = Figure(figsize=(max(2.0, c * cell), max(1.5, r * cell) + 0.4))
    ax = fig.add_subplot(1, 1, 1)
    _show(ax, _mosaic(images))
    ax.set_title(title, fontsize=9)
    return fig, ax


def reconstructions(x: np.ndarray, x_hat: np.ndarray, path: str, columns: int = 8) -> str:
    """Test reconstructions: odd rows (1st, 3rd, ...) originals, even rows their reconstructions.

    As VIMAE figures 1-4. ``x``, ``x_hat``: ``[N, H, W, ch]`` with N a multiple of ``columns``.
    """
    n = (len(x) // columns) * columns
    pairs = n // columns
    x = x[:n].reshape(pairs, columns, *x.shape[1:])
    x_hat = x_hat[:n].reshape(pairs, columns, *x_hat.shape[1:])
    rows = np.stack([x, x_hat], axis=1).reshape(2 * pairs, columns, *x.shape[2:])
    fig, _ = _grid_figure(rows, "test reconstructions (odd rows: originals, even rows: reconstructions)")
    return _save(fig, path)


def samples(images: np.ndarray, path: str, title: str = "samples x ~ p(x|z), z ~ p(z) (decoder mean)",
            columns: int = 8) -> str:
    """A grid of generated images ``[N, H, W, ch]``."""
    n = (len(images) // columns) * columns
    fig, _ = _grid_figure(images[:n].reshape(n // columns, columns, *images.shape[1:]), title)
    return _save(fig, path)


def traversals(images: np.ndarray, dims: Sequence[int], values: Sequence[float], path: str,
               title: str = "latent traversals") -> str:
    """One row per latent dimension d: decode(z) with z_d swept over ``values``, the rest fixed.

    ``images``: ``[len(dims), len(values), H, W, ch]`` (thesis figure 4.3/4.4 style).
    """
    fig, ax = _grid_figure(images, title)
    _label_grid(ax, images, [f"z{d}" for d in dims], [f"{v:+.1f}" for v in values])
    return _save(fig, path)


def traversal_grid(images: np.ndarray, dims: tuple[int, int], values: Sequence[float], path: str) -> str:
    """Thesis figure 4.3: rows sweep z_a, columns sweep z_b over ``values``, the rest of z fixed.

    ``images``: ``[len(values), len(values), H, W, ch]``.
    """
    a, b = dims
    fig, ax = _grid_figure(images, f"joint traversal: rows z{a}, columns z{b}")
    labels = [f"{v:+.1f}" for v in values]
    _label_grid(ax, images, labels, labels)
    return _save(fig, path)


def _label_grid(ax, images: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str]) -> None:
    """Tick labels at the centre of each tile of a ``[rows, cols, H, W, ch]`` grid (1-pixel gaps)."""
    h, w = images.shape[2] + 1, images.shape[3] + 1
    ax.set_yticks([i * h + h / 2 - 1 for i in range(len(row_labels))])
    ax.set_yticklabels(row_labels, fontsize=7)
    ax.set_xticks([j * w + w / 2 - 1 for j in range(len(col_labels))])
    ax.set_xticklabels(col_labels, fontsize=7)


def categorical_traversals(originals: np.ndarray, images: np.ndarray, path: str) -> str:
    """Thesis figures 4.5-4.6: first (separated) column the originals, then one column per category.

    ``originals``: ``[N, H, W, ch]``; ``images``: ``[N, K, H, W, ch]``, row n decoded with the
    continuous code of original n and category k.
    """
    n, k = images.shape[:2]
    fig = Figure(figsize=(max(3.0, (k + 1.5) * 0.6), max(1.5, n * 0.6) + 0.4))
    grid = fig.add_gridspec(1, 2, width_ratios=[1, k], wspace=0.08)
    ax0 = fig.add_subplot(grid[0])
    _show(ax0, _mosaic(originals[:, None]))
    ax0.set_title("x", fontsize=8)
    ax1 = fig.add_subplot(grid[1])
    _show(ax1, _mosaic(images))
    ax1.set_title(f"category 0 .. {k - 1} (continuous code fixed)", fontsize=8)
    return _save(fig, path)


def latent_scatter(codes: np.ndarray, labels: np.ndarray | None, path: str) -> str:
    """Latent means in 2-D coloured by class: the codes themselves when d = 2, else PCA to 2 components."""
    codes = np.asarray(codes, np.float64)
    if codes.shape[1] == 2:
        xy, axes = codes, ("z0", "z1")
    elif codes.shape[1] == 1:
        xy, axes = np.concatenate([codes, np.zeros_like(codes)], axis=1), ("z0", "")
    else:
        centred = codes - codes.mean(axis=0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T
        explained = s[:2] ** 2 / max(np.sum(s**2), 1e-12)
        axes = (f"PC1 ({explained[0]:.0%})", f"PC2 ({explained[1]:.0%})")
    fig = Figure(figsize=(4.2, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=3, alpha=0.6)
    else:
        points = ax.scatter(xy[:, 0], xy[:, 1], c=np.asarray(labels), cmap="tab10", s=3, alpha=0.7)
        fig.colorbar(points, ax=ax, label="class")
    ax.set_xlabel(axes[0], fontsize=8)
    ax.set_ylabel(axes[1], fontsize=8)
    ax.set_title("latent means E_q[z|x] of test examples", fontsize=9)
    ax.tick_params(labelsize=7)
    return _save(fig, path)


def latent_activity(variances: np.ndarray, eps: float, path: str) -> str:
    """Bar chart of Var_x(E_q[z_d|x]) per dimension with the active-unit threshold eps."""
    variances = np.asarray(variances, np.float64)
    fig = Figure(figsize=(max(3.0, 0.25 * len(variances) + 1.5), 2.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(np.arange(len(variances)), np.maximum(variances, 1e-8),
           color=["tab:blue" if v >= eps else "tab:gray" for v in variances])
    ax.axhline(eps, color="tab:red", linestyle="--", linewidth=1, label=f"eps = {eps:g}")
    ax.set_yscale("log")
    ax.set_xlabel("latent dimension d", fontsize=8)
    ax.set_ylabel("Var_x E_q[z_d|x]", fontsize=8)
    ax.set_title(f"active units: {int(np.sum(variances >= eps))} of {len(variances)}", fontsize=9)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    return _save(fig, path)


#: keys of metrics.jsonl rows that are not curves worth plotting
_NOT_CURVES = ("step", "split", "examples_per_sec", "nonfinite", "skipped")


def _curve_order(key: str) -> tuple[int, str]:
    name = key.split("/")[-1]
    if name in ("loss", "recon_nll", "kl", "elbo") or key.endswith("/loss"):
        return 0, key
    if "mi" in key.replace("/", "_").split("_"):  # mi_estimate, critic/mi_estimate, mi_penalty, ...
        return 1, key
    return 2, key


def training_curves(rows: list[dict], path: str, columns: int = 4, valid_rows: Sequence[dict] = ()) -> str:
    """One small panel per logged quantity against the step: loss terms first, then MI estimates.

    Thesis figures 4.8-4.9 (MI lower bound and KL during training). ``rows`` are
    ``read_metrics(WORKDIR/metrics.jsonl, "train")``; ``valid_rows`` (the "valid" split: the same terms on
    held-out examples during training) are drawn over them as dashed orange lines with markers.
    """
    keys = sorted({k for r in rows for k, v in r.items()
                   if k not in _NOT_CURVES and isinstance(v, (int, float))}, key=_curve_order)
    n = max(len(keys), 1)
    cols = min(columns, n)
    nrows = math.ceil(n / cols)
    fig = Figure(figsize=(2.6 * cols, 2.0 * nrows))
    for i, key in enumerate(keys):
        ax = fig.add_subplot(nrows, cols, i + 1)
        points = [(r["step"], r[key]) for r in rows if key in r and np.isfinite(r[key])]
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, linewidth=1.2, color="tab:purple" if _curve_order(key)[0] == 1 else "tab:blue",
                    label="train")
        held_out = [(r["step"], r[key]) for r in valid_rows if key in r and np.isfinite(r[key])]
        if held_out:
            ax.plot(*zip(*held_out), linewidth=1.0, linestyle="--", marker=".", color="tab:orange", label="valid")
            if i == 0:
                ax.legend(fontsize=6)
        ax.set_title(key, fontsize=8)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def compared_curves(runs: dict[str, list[dict]], keys: Sequence[str], path: str, title: str = "") -> str:
    """One panel per quantity in ``keys``, one line per run (label -> its ``metrics.jsonl`` train rows).

    InfoVAE figure 1: the MI estimate over training for ELBO vs MMD vs the autoencoder.
    """
    fig = Figure(figsize=(3.4 * len(keys), 2.6))
    for i, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        for label, rows in runs.items():
            points = [(r["step"], r[key]) for r in rows if key in r and np.isfinite(r[key])]
            if points:
                ax.plot(*zip(*points), linewidth=1.2, label=label)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def categorical_histogram(probs: np.ndarray, path: str) -> str:
    """Thesis figure 4.7: histogram of the categorical code's probabilities softmax(logits) (all entries)."""
    probs = np.asarray(probs, np.float64)
    fig = Figure(figsize=(4.0, 2.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.hist(probs.ravel(), bins=50, range=(0.0, 1.0), color="tab:blue")
    ax.axvline(1.0 / probs.shape[-1], color="tab:red", linestyle="--", linewidth=1, label="uniform 1/K")
    ax.set_xlabel("q(c = k | x)", fontsize=8)
    ax.set_ylabel("count", fontsize=8)
    ax.set_title("categorical code probabilities (test set)", fontsize=9)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    return _save(fig, path)


def code_class_heatmap(counts: np.ndarray, path: str) -> str:
    """The code-by-class histogram ``counts[k, c]`` as a heat map with counts written in."""
    counts = np.asarray(counts)
    fig = Figure(figsize=(0.35 * counts.shape[1] + 1.8, 0.35 * counts.shape[0] + 1.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(counts, cmap="Blues", aspect="auto")
    for (k, c), v in np.ndenumerate(counts):
        if v:
            ax.text(c, k, str(v), ha="center", va="center", fontsize=5)
    ax.set_xlabel("class", fontsize=8)
    ax.set_ylabel("code argmax_k q(c=k|x)", fontsize=8)
    ax.set_xticks(range(counts.shape[1]))
    ax.set_yticks(range(counts.shape[0]))
    ax.tick_params(labelsize=6)
    ax.set_title("code-by-class histogram", fontsize=9)
    return _save(fig, path)


def conditional_densities(x_grid: np.ndarray, z_values: Sequence[float], densities: np.ndarray,
                          data: np.ndarray | None, path: str) -> str:
    """Mutual Autoencoder figure 2a: p(x|z) p(z) against x for a few fixed z, over the data density.

    ``densities``: ``[len(z_values), len(x_grid)]`` values of p(x|z) p(z).
    """
    fig = Figure(figsize=(4.5, 2.8))
    ax = fig.add_subplot(1, 1, 1)
    if data is not None:
        ax.hist(np.ravel(data), bins=60, density=True, color="0.85", label="data")
    for z, d in zip(z_values, densities):
        ax.plot(x_grid, d, linewidth=1.2, label=f"z = {z:+.1f}")
    ax.set_xlabel("x", fontsize=8)
    ax.set_ylabel("p(x|z) p(z)", fontsize=8)
    ax.set_title("decoder conditionals scaled by the prior", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    ax.tick_params(labelsize=7)
    return _save(fig, path)


def categorical_conditionals(z_grid: np.ndarray, probs: np.ndarray, path: str) -> str:
    """Mutual Autoencoder figure 2b: stacked p(x = k | z) against a 1-D z (first latent dimension)."""
    probs = np.asarray(probs, np.float64)
    fig = Figure(figsize=(4.5, 2.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.stackplot(z_grid, probs.T, labels=[str(k) for k in range(probs.shape[1])],
                 colors=[f"C{k % 10}" for k in range(probs.shape[1])])
    ax.set_xlim(z_grid[0], z_grid[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel("z (first latent dimension; others 0)", fontsize=8)
    ax.set_ylabel("p(x = k | z)", fontsize=8)
    ax.set_title("decoder categorical p(x|z)", fontsize=9)
    ax.tick_params(labelsize=7)
    return _save(fig, path)


__all__ = [
    "categorical_conditionals", "categorical_histogram", "categorical_traversals", "code_class_heatmap",
    "conditional_densities", "latent_activity", "latent_scatter", "reconstructions", "samples",
    "training_curves", "traversal_grid", "traversals",
]
