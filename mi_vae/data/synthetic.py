"""Seeded synthetic datasets generated in numpy.

Each split is drawn from its own stream ``np.random.default_rng([seed, k, split])`` (k names the
dataset), and the full split is drawn before truncation, so the first N examples do not depend
on ``max_*_examples``.
"""

from __future__ import annotations

import numpy as np

from mi_vae.data.core import ArrayDataset

_TRAIN, _TEST = 0, 1


def _rng(seed: int, dataset_id: int, split: int) -> np.random.Generator:
    return np.random.default_rng([seed, dataset_id, split])


def splitting_normal(
    seed: int = 0, num_train: int = 50_000, num_test: int = 10_000
) -> ArrayDataset:
    """1-D standard normal data, x ~ N(0, 1), ``float32 [N, 1]``, no labels.

    Mutual Autoencoder (ICLR 2018 submission), section 7.1 "Splitting the normal".
    """
    train = _rng(seed, 1, _TRAIN).standard_normal((num_train, 1)).astype(np.float32)
    test = _rng(seed, 1, _TEST).standard_normal((num_test, 1)).astype(np.float32)
    return ArrayDataset("splitting_normal", train, None, test, None, None, "gaussian")


def categorical10(seed: int = 0, num_train: int = 50_000, num_test: int = 10_000) -> ArrayDataset:
    """Uniform 10-way categorical data, x ~ Unif[10], one-hot ``float32 [N, 10]``, label = category.

    Mutual Autoencoder (ICLR 2018 submission), section 7.2 "Categorical example".
    """

    def split(n: int, which: int) -> tuple[np.ndarray, np.ndarray]:
        labels = _rng(seed, 2, which).integers(0, 10, size=n).astype(np.int32)
        return np.eye(10, dtype=np.float32)[labels], labels

    train_x, train_y = split(num_train, _TRAIN)
    test_x, test_y = split(num_test, _TEST)
    return ArrayDataset("categorical10", train_x, train_y, test_x, test_y, 10, "categorical")


def correlated_gaussians_mi(rho: float, dim: int) -> float:
    """I(x; y) = -dim/2 * log(1 - rho^2) nats for ``dim`` independent pairs with correlation rho."""
    return float(-0.5 * dim * np.log1p(-(rho**2)))


def sample_correlated_gaussians(
    rng: np.random.Generator, num: int, dim: int, rho: float
) -> tuple[np.ndarray, np.ndarray]:
    """x ~ N(0, I), y = rho * x + sqrt(1 - rho^2) * eps: both ``float32 [num, dim]``, unit variance."""
    x = rng.standard_normal((num, dim))
    y = rho * x + np.sqrt(1.0 - rho**2) * rng.standard_normal((num, dim))
    return x.astype(np.float32), y.astype(np.float32)


CORRELATED_GAUSSIANS_DIM = 10
CORRELATED_GAUSSIANS_RHO = 0.8


def correlated_gaussians(
    seed: int = 0, num_train: int = 50_000, num_test: int = 10_000
) -> ArrayDataset:
    """Pairs (x, y) of 10-D Gaussians with per-dimension correlation 0.8 and known MI.

    ``train_x`` holds x and ``train_y`` holds y (``float32 [N, 10]``, not labels);
    I(x; y) = ``correlated_gaussians_mi(0.8, 10)`` = 5.11 nats.  For testing MI estimators.
    """
    dim, rho = CORRELATED_GAUSSIANS_DIM, CORRELATED_GAUSSIANS_RHO
    train_x, train_y = sample_correlated_gaussians(_rng(seed, 3, _TRAIN), num_train, dim, rho)
    test_x, test_y = sample_correlated_gaussians(_rng(seed, 3, _TEST), num_test, dim, rho)
    return ArrayDataset("correlated_gaussians", train_x, train_y, test_x, test_y, None, "gaussian")


def _smooth_images(
    rng: np.random.Generator, num: int, size: int = 64, coarse: int = 4
) -> np.ndarray:
    """Random smooth RGB images: a uniform ``coarse x coarse`` grid upsampled bilinearly."""
    grid = rng.random((num, coarse, coarse, 3))
    # Bilinear interpolation matrix [size, coarse] (align corners).
    pos = np.linspace(0.0, coarse - 1.0, size)
    lo = np.minimum(np.floor(pos).astype(int), coarse - 2)
    frac = pos - lo
    interp = np.zeros((size, coarse))
    interp[np.arange(size), lo] = 1.0 - frac
    interp[np.arange(size), lo + 1] = frac
    images = np.einsum("hi,nijc->nhjc", interp, grid)  # [N, size, coarse, 3]
    images = np.einsum("wj,nhjc->nhwc", interp, images)  # [N, size, size, 3]
    return np.rint(255.0 * images).astype(np.uint8)


def synthetic64(seed: int = 0, num_train: int = 512, num_test: int = 128) -> ArrayDataset:
    """Random smooth 64x64x3 ``uint8`` images, a CelebA stand-in for smoke tests (no labels)."""
    train = _smooth_images(_rng(seed, 4, _TRAIN), num_train)
    test = _smooth_images(_rng(seed, 4, _TEST), num_test)
    return ArrayDataset("synthetic64", train, None, test, None, None, "bernoulli")
