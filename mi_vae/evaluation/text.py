"""Text reconstructions and latent interpolations for sentence VAEs (MAE section 7.3, tables 1-2).

``reconstructions``: encode test sentences (posterior mean), greedy-decode, return (input, output)
pairs. ``interpolations``: decode greedily along the straight line between two posterior means
(the paper's figure 3 style). Both need a ``TextDataset`` (its vocabulary) and a method with an
autoregressive token decoder; ``text_report`` formats both as markdown lines.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mi_vae.data import to_float


def reconstructions(method, params, batch_stats, dataset, n: int = 8) -> list[tuple[str, str]]:
    """(input sentence, greedy decoding of its posterior mean) for the first ``n`` test sentences."""
    x = jnp.asarray(to_float(dataset.test_x[:n]))
    mean, _ = method.encode(params, batch_stats, x)
    ids = jax.jit(lambda z: method.sample_autoregressive(params, batch_stats, z, jax.random.PRNGKey(0),
                                                         greedy=True))(mean)
    return [(dataset.detokenize(a), dataset.detokenize(b)) for a, b in zip(dataset.test_x[:n], np.asarray(ids),
                                                                          strict=True)]


def interpolations(method, params, batch_stats, dataset, i: int = 0, j: int = 1, steps: int = 7) -> list[str]:
    """Greedy decodings of z = (1 - t) mu_i + t mu_j, t = 0..1 in ``steps`` steps (test sentences i, j)."""
    x = jnp.asarray(to_float(dataset.test_x[np.array([i, j])]))
    mean, _ = method.encode(params, batch_stats, x)
    t = jnp.linspace(0.0, 1.0, steps)[:, None]
    z = (1.0 - t) * mean[0] + t * mean[1]
    ids = method.sample_autoregressive(params, batch_stats, z, jax.random.PRNGKey(0), greedy=True)
    return [dataset.detokenize(r) for r in np.asarray(ids)]


def text_report(method, params, batch_stats, dataset, n: int = 8, steps: int = 7) -> list[str]:
    """Markdown lines: a reconstruction table and one interpolation."""
    lines = ["| input | greedy reconstruction |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in reconstructions(method, params, batch_stats, dataset, n)]
    lines += ["", "Interpolation between test sentences 0 and 1:", ""]
    lines += [f"{k}. {s}" for k, s in enumerate(interpolations(method, params, batch_stats, dataset, 0, 1, steps))]
    return lines


__all__ = ["interpolations", "reconstructions", "text_report"]
