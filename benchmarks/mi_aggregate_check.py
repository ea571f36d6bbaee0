"""Check a trained run's ``mi_aggregate`` against an independent numpy computation of the same definition.

    python -m benchmarks.mi_aggregate_check --workdir=runs/default [--queries=5000]

Restores the run's newest checkpoint, encodes the whole training split, and prints one JSON line with
``mi.aggregate_posterior`` (JAX, float32, its own seeded queries) and a float64 numpy computation of
mean_i [log q(z_i|x_i) - log (1/N) sum_j q(z_i|x_j)] over other random queries i with independently drawn
codes z_i ~ q(z|x_i), each against all N posteriors, with both standard errors and their difference in
units of the combined standard error.
"""

from __future__ import annotations

import argparse
import json
import math
import os

import jax
import ml_collections
import numpy as np


def numpy_aggregate(mean: np.ndarray, log_var: np.ndarray, queries: np.ndarray, rng) -> tuple[float, float]:
    """(estimate, stderr) in float64 numpy, 64 queries at a time against all N posteriors."""
    mean, log_var = mean.astype(np.float64), log_var.astype(np.float64)
    inv_var = np.exp(-log_var)
    const = log_var.sum(1) + mean.shape[1] * math.log(2 * math.pi)  # [N]
    terms = []
    for s in range(0, len(queries), 64):
        q = queries[s:s + 64]
        z = mean[q] + np.exp(0.5 * log_var[q]) * rng.standard_normal((len(q), mean.shape[1]))
        log_q = np.empty((len(q), mean.shape[0]))
        for c in range(0, mean.shape[0], 8192):
            diff = z[:, None, :] - mean[None, c:c + 8192]
            log_q[:, c:c + 8192] = -0.5 * ((diff ** 2 * inv_var[None, c:c + 8192]).sum(-1) + const[None, c:c + 8192])
        m = log_q.max(1, keepdims=True)
        log_sum = (m + np.log(np.exp(log_q - m).sum(1, keepdims=True)))[:, 0]
        terms.append(log_q[np.arange(len(q)), q] - log_sum + math.log(mean.shape[0]))
    terms = np.concatenate(terms)
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(len(terms)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--queries", type=int, default=5000, help="queries of the numpy computation")
    args = parser.parse_args()

    from mi_vae.config import evals_section
    from mi_vae.data import to_float
    from mi_vae.evaluation import mi
    from mi_vae.evaluation.runner import restore
    from mi_vae.train.run_record import load_run_data

    with open(os.path.join(args.workdir, "config.json")) as f:
        config = ml_collections.ConfigDict(json.load(f))
    dataset = load_run_data(config, None)
    method, state = restore(config, args.workdir, dataset)
    params, batch_stats = jax.device_get(state["params"]), jax.device_get(state["batch_stats"])
    encode = jax.jit(lambda x: method.model.encode(params, batch_stats, x))

    means, log_vars = [], []
    for s in range(0, dataset.num_train, 1000):
        m, lv = encode(np.asarray(to_float(dataset.train_x[s:s + 1000]), np.float32))
        means.append(np.asarray(m))
        log_vars.append(np.asarray(lv))
    mean, log_var = np.concatenate(means), np.concatenate(log_vars)
    library = mi.aggregate_posterior(mean, log_var, num_queries=evals_section("mi").mi.queries, seed=0)
    rng = np.random.default_rng(12345)
    queries = rng.choice(len(mean), min(args.queries, len(mean)), replace=False)
    value, stderr = numpy_aggregate(mean, log_var, queries, rng)
    combined = math.hypot(library["stderr"], stderr)
    print(json.dumps({"workdir": args.workdir, "n": len(mean), "library": library["estimate"],
                      "library_stderr": library["stderr"], "library_queries": library["num_queries"],
                      "numpy": value, "numpy_stderr": stderr, "numpy_queries": len(queries),
                      "ceiling": library["ceiling"], "difference_in_stderr": (library["estimate"] - value) / combined}))


if __name__ == "__main__":
    main()
