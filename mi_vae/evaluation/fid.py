"""Distances between two sets of feature vectors: the Frechet distance of their Gaussians (FID's formula)
and the kernel inception distance (KID), with statistics accumulated in chunks.

    FD(1, 2)  = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))
                (Dowson & Landau 1982; FID: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update
                Rule Converge to a Local Nash Equilibrium", arXiv:1706.08500)
    KID(1, 2) = unbiased MMD^2 with the cubic polynomial kernel k(a, b) = (a . b / d + 1)^3, averaged over
                random subsets (Binkowski et al. 2018, "Demystifying MMD GANs", arXiv:1801.01401)

``frechet_distance`` follows pytorch-fid's numerics: ``scipy.linalg.sqrtm`` of S_1 S_2, and where that is
not finite (near-singular covariances) the product of the covariances each offset by ``eps`` I; a
negligible imaginary part (round-off) is dropped, a large one is an error. These are the formulas only:
what the features are (InceptionV3 pool features for FID proper; a small classifier's for
``mi_vae.evaluation.evaluators.generation``) decides what the number means.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import scipy.linalg


def gaussian_statistics(features: np.ndarray | Iterable[np.ndarray], chunk: int = 10_000) -> tuple[np.ndarray,
                                                                                                    np.ndarray]:
    """(mean, covariance) of feature rows, accumulated in float64 over chunks (an array is read ``chunk`` rows at
    a time; an iterable of [n_i, d] arrays one array at a time), so 50,000 x 2048 features need ~2 d^2 floats,
    not a second copy of the features. The covariance is the unbiased one (N - 1), as ``np.cov``."""
    if isinstance(features, np.ndarray):
        rows = features
        features = (rows[i:i + chunk] for i in range(0, len(rows), chunk))
    n, total, outer = 0, None, None
    for block in features:
        block = np.asarray(block, np.float64).reshape(len(block), -1)
        if total is None:
            total, outer = np.zeros(block.shape[1]), np.zeros((block.shape[1], block.shape[1]))
        n += len(block)
        total += block.sum(0)
        outer += block.T @ block
    if n < 2:
        raise ValueError(f"need at least 2 feature rows, got {n}")
    mean = total / n
    return mean, (outer - n * np.outer(mean, mean)) / (n - 1)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """FD between N(mu1, sigma1) and N(mu2, sigma2); see the module docstring for the numerics."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shapes do not match: mu {mu1.shape} {mu2.shape}, sigma {sigma1.shape} {sigma2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is handled below, not warned about
        warnings.simplefilter("ignore")
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm has an imaginary component of {np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def _polynomial_mmd(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 of a and b (same size m) with k(x, y) = (x . y / d + 1)^3."""
    d, m = a.shape[1], a.shape[0]
    k_aa, k_bb, k_ab = ((a @ a.T) / d + 1) ** 3, ((b @ b.T) / d + 1) ** 3, ((a @ b.T) / d + 1) ** 3
    within = (k_aa.sum() - np.trace(k_aa) + k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
    return float(within - 2.0 * k_ab.mean())


def kid(features1: np.ndarray, features2: np.ndarray, num_subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """(mean, standard deviation) of the unbiased polynomial-kernel MMD^2 over ``num_subsets`` pairs of random
    subsets of ``subset_size`` rows (fewer if either set is smaller), as Binkowski et al. and clean-fid."""
    f1, f2 = (np.asarray(f, np.float64).reshape(len(f), -1) for f in (features1, features2))
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature sizes differ: {f1.shape[1]} and {f2.shape[1]}")
    m = min(subset_size, len(f1), len(f2))
    if m < 2:
        raise ValueError(f"need at least 2 rows in each set, got {len(f1)} and {len(f2)}")
    rng = np.random.default_rng(seed)
    values = [_polynomial_mmd(f1[rng.choice(len(f1), m, replace=False)], f2[rng.choice(len(f2), m, replace=False)])
              for _ in range(int(num_subsets))]
    return float(np.mean(values)), float(np.std(values))


__all__ = ["frechet_distance", "gaussian_statistics", "kid"]
