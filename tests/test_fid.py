"""Frechet distance and KID (mi_vae.evaluation.fid) against closed forms and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage

from mi_vae.evaluation.fid import frechet_distance, gaussian_statistics, kid


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    a, b = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    want = np.sum((m1 - m2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    np.testing.assert_allclose(frechet_distance(m1, np.diag(a), m2, np.diag(b)), want, rtol=1e-9)
    assert frechet_distance(m1, np.diag(a), m1, np.diag(a)) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_matches_scipy_on_random_covariances_and_is_symmetric():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    s1, s2 = x @ x.T + 0.1 * np.eye(8), y @ y.T + 0.1 * np.eye(8)
    m1, m2 = rng.normal(size=8), rng.normal(size=8)
    # the same quantity through the symmetric form Tr((S1^1/2 S2 S1^1/2)^1/2)
    r1 = scipy.linalg.sqrtm(s1).real
    want = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(r1 @ s2 @ r1).real)
    np.testing.assert_allclose(frechet_distance(m1, s1, m2, s2), want, rtol=1e-6)
    np.testing.assert_allclose(frechet_distance(m2, s2, m1, s1), want, rtol=1e-6)


def test_frechet_distance_is_finite_for_singular_covariances():
    rng = np.random.default_rng(2)
    low = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 30))  # rank 3 in 30 dimensions
    mu, sigma = gaussian_statistics(low)
    other = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 30))
    mu2, sigma2 = gaussian_statistics(other)
    value = frechet_distance(mu, sigma, mu2, sigma2)
    assert np.isfinite(value) and value > 0
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-3 * np.trace(sigma)


def test_statistics_in_chunks_equal_numpy_and_accept_an_iterable():
    x = np.random.default_rng(3).normal(size=(1003, 5)) * [1, 2, 3, 4, 5] + 7
    mu, sigma = gaussian_statistics(x, chunk=100)
    np.testing.assert_allclose(mu, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-9)
    mu2, sigma2 = gaussian_statistics(iter([x[:500], x[500:]]))
    np.testing.assert_allclose(sigma2, sigma, rtol=1e-9)


def test_kid_is_the_unbiased_polynomial_mmd_and_near_zero_for_one_distribution():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(50, 4)), rng.normal(loc=0.5, size=(50, 4))
    k = lambda x, y: (x @ y.T / 4 + 1) ** 3  # noqa: E731
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    want = ((kaa.sum() - np.trace(kaa)) + (kbb.sum() - np.trace(kbb))) / (50 * 49) - 2 * kab.mean()
    mean, std = kid(a, b, num_subsets=1, subset_size=50)
    np.testing.assert_allclose(mean, want, rtol=1e-9)
    assert std == 0.0
    same = kid(rng.normal(size=(2000, 4)), rng.normal(size=(2000, 4)), num_subsets=20, subset_size=500)
    shifted = kid(rng.normal(size=(2000, 4)), rng.normal(loc=0.5, size=(2000, 4)), num_subsets=20, subset_size=500)
    assert abs(same[0]) < 3 * same[1] + 1e-3 and shifted[0] > 10 * abs(same[0])


# ----------------------------------------------------------------------------- the classifier feature space


@pytest.fixture(scope="module")
def fashion_features(tmp_path_factory):
    from mi_vae.data import load_dataset
    from mi_vae.evaluation import feature_classifier as fc

    ds = load_dataset("fashion_mnist", max_train_examples=12_000, max_test_examples=2000)
    module, params, accuracy = fc.train_classifier(ds.train_x[:10_000], ds.train_y[:10_000], 10, epochs=2,
                                                   cache_dir=str(tmp_path_factory.mktemp("cache")))
    return ds, (lambda x: fc.features(module, params, x)), accuracy


def _fd(f1, f2):
    return frechet_distance(*gaussian_statistics(f1), *gaussian_statistics(f2))


def test_classifier_fd_is_near_zero_for_real_images_and_grows_with_corruption(fashion_features):
    ds, features, accuracy = fashion_features
    assert accuracy > 0.75
    test = ds.test_x.astype(np.float32) / 255.0
    reference = features(ds.train_x[10_000:12_000])
    real = _fd(features(test), reference)
    rng = np.random.default_rng(0)
    noisy = [_fd(features(np.clip(test + rng.normal(0, s, test.shape), 0, 1).astype(np.float32)), reference)
             for s in (0.1, 0.2, 0.4)]
    blurred = scipy.ndimage.uniform_filter(test, size=(1, 5, 5, 1))
    shuffled = test.reshape(len(test), -1)[:, rng.permutation(784)].reshape(test.shape)
    fd_blur, fd_shuffle = _fd(features(blurred), reference), _fd(features(shuffled), reference)
    assert noisy[0] < noisy[1] < noisy[2], noisy  # monotone in the corruption
    assert real < 0.2 * min(fd_blur, fd_shuffle, noisy[-1]), (real, fd_blur, fd_shuffle, noisy)  # 0.69 vs 8.8
    mean_real, _ = kid(features(test), reference, num_subsets=10, subset_size=1000)
    mean_shuffled, _ = kid(features(shuffled), reference, num_subsets=10, subset_size=1000)
    assert mean_shuffled > 20 * abs(mean_real)


def test_the_classifier_is_cached_by_data_and_settings(tmp_path):
    from mi_vae.evaluation import feature_classifier as fc

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (300, 8, 8, 1), np.uint8), rng.integers(0, 3, 300)
    _, p1, _ = fc.train_classifier(x, y, 3, epochs=1, cache_dir=str(tmp_path))
    _, p2, _ = fc.train_classifier(x, y, 3, epochs=1, cache_dir=str(tmp_path))  # read back
    assert len(list((tmp_path / "classifiers").glob("*.npz"))) == 1
    for a, b in zip(jax_leaves(p1), jax_leaves(p2), strict=True):
        np.testing.assert_array_equal(a, b)
    fc.train_classifier(x, y, 3, epochs=2, cache_dir=str(tmp_path))  # other settings: another entry
    assert len(list((tmp_path / "classifiers").glob("*.npz"))) == 2


def jax_leaves(tree):
    import jax

    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def test_frechet_distance_equals_pytorch_fids_sqrtm_form_on_a_near_singular_pair():
    """Tr(sqrtm(S1 S2)) (pytorch-fid's form, scipy) on rank-deficient 64-d covariances from 40 samples."""
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(40, 64)), rng.normal(size=(40, 64)) + 0.3
    (m1, s1), (m2, s2) = gaussian_statistics(a), gaussian_statistics(b)
    offset = np.eye(64) * 1e-6
    covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset)).real
    want = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    np.testing.assert_allclose(frechet_distance(m1, s1, m2, s2), want, rtol=1e-4)
