"""MI estimators on known answers: correlated Gaussians, z 20-d, x the other 20-d variable in 784-d.

    python -m benchmarks.mi_estimators [--smoke] [--out FILE]

For each true MI in {1, 2, 4, 7, 10} nats, each sample size N in {1k, 10k, 60k} (smoke: 2k) and each
estimator of ``mi_vae.evaluation.mi`` (the critic ones with their default settings), one JSON line:
true MI, estimate, standard error, ceiling, seconds, and the critic's steps. The data: y = rho z +
sqrt(1 - rho^2) e with z, e ~ N(0, I_20) and rho^2 = 1 - exp(-2 I / 20), so I(y; z) = I; x = Q y with a
fixed random 784 x 20 orthonormal Q (seed 123), so I(x; z) = I(y; z).
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

TRUE_MI = (1.0, 2.0, 4.0, 7.0, 10.0)
SIZES = (1000, 10_000, 60_000)


def correlated_gaussians(true_mi: float, n: int, seed: int = 0, d: int = 20, dx: int = 784):
    """(x [n, dx], z [n, d]) with I(x; z) = true_mi nats exactly."""
    rng = np.random.default_rng(seed)
    rho = math.sqrt(1.0 - math.exp(-2.0 * true_mi / d))
    z = rng.standard_normal((n, d))
    y = rho * z + math.sqrt(1.0 - rho ** 2) * rng.standard_normal((n, d))
    q, _ = np.linalg.qr(np.random.default_rng(123).standard_normal((dx, d)))
    return (y @ q.T).astype(np.float32), z.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="N = 2000 and the smallest settings (CI size)")
    parser.add_argument("--out", default=None, help="also append the JSON lines to this file")
    parser.add_argument("--estimators", default=None, help="comma-separated subset")
    parser.add_argument("--sizes", default=None, help="comma-separated N (default 1000,10000,60000)")
    args = parser.parse_args()
    from mi_vae.evaluation import mi

    estimators = args.estimators.split(",") if args.estimators else list(mi.ESTIMATORS)
    sizes = [2000] if args.smoke else [int(s) for s in args.sizes.split(",")] if args.sizes else list(SIZES)
    settings = {"steps": 1000} if args.smoke else {}
    for n in sizes:
        for true_mi in TRUE_MI:
            x, z = correlated_gaussians(true_mi, n)
            for name in estimators:
                result = mi.estimate(x, z, estimator=name, **settings)
                row = {"true_mi": true_mi, "n": n, **result, "recommended": name == mi.RECOMMENDED}
                line = json.dumps(row)
                print(line, flush=True)
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(line + "\n")


if __name__ == "__main__":
    main()
