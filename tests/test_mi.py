"""MI estimators (mi_vae.evaluation.mi) against known answers: the aggregate-posterior bound and the critics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import logsumexp

from mi_vae.evaluation import mi


def _aggregate_reference(z, mean, log_var):
    """numpy float64, the same definition: mean_i [log q(z_i|x_i) - log (1/N) sum_j q(z_i|x_j)], all j."""
    var = np.exp(log_var)
    log_q = -0.5 * (((z[:, None, :] - mean[None]) ** 2 / var[None]) + log_var[None] + math.log(2 * math.pi)).sum(-1)
    return float(np.mean(np.diag(log_q) - logsumexp(log_q, axis=1) + math.log(len(z))))


def test_aggregate_posterior_is_zero_when_the_encoder_ignores_x():
    rng = np.random.default_rng(1)
    mean = np.tile(rng.normal(size=(1, 3)), (500, 1))
    log_var = np.tile(rng.normal(size=(1, 3)) * 0.3, (500, 1))
    result = mi.aggregate_posterior(mean, log_var, num_queries=200)
    assert abs(result["estimate"]) < 1e-4 and result["stderr"] < 1e-4
    assert result["ceiling"] == pytest.approx(math.log(500)) and result["estimator"] == "aggregate_posterior"


def test_aggregate_posterior_reaches_its_ceiling_for_separated_posteriors():
    mean = np.arange(300, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)  # 300 points, far apart
    log_var = np.full((300, 2), -6.0, np.float32)
    result = mi.aggregate_posterior(mean, log_var, num_queries=300, chunk=64)  # several chunks, a padded last one
    assert result["estimate"] == pytest.approx(math.log(300), abs=1e-3)


def test_aggregate_posterior_agrees_with_numpy_within_its_standard_error():
    rng = np.random.default_rng(2)
    n, d = 1200, 4
    mean = rng.normal(size=(n, d)) * 1.5
    log_var = rng.normal(size=(n, d)) * 0.3 - 1.0
    result = mi.aggregate_posterior(mean, log_var, num_queries=n, seed=3, query_batch=100, chunk=500)
    z = mean + np.exp(0.5 * log_var) * rng.normal(size=(n, d))  # an independent draw of every query's code
    reference = _aggregate_reference(z, mean, log_var)
    assert abs(result["estimate"] - reference) < 4 * result["stderr"] * math.sqrt(2), (result, reference)
    assert 0.0 < result["estimate"] < result["ceiling"]


@pytest.mark.parametrize("bad, message", [
    (dict(mean=np.zeros((5, 2)), log_var=np.zeros((4, 2))), "must both be"),
    (dict(mean=np.full((5, 2), np.nan), log_var=np.zeros((5, 2))), "non-finite"),
    (dict(mean=np.zeros((1, 2)), log_var=np.zeros((1, 2))), "at least 2"),
])
def test_aggregate_posterior_bad_input_is_a_clear_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        mi.aggregate_posterior(**bad)


# ----------------------------------------------------------------------------- critic estimators


def _gaussians(true_mi, n, d=20, dx=784, seed=0):
    """x 784-d (a fixed orthonormal embedding of y), z 20-d, I(x; z) = true_mi nats (benchmarks.mi_estimators)."""
    from benchmarks.mi_estimators import correlated_gaussians

    return correlated_gaussians(true_mi, n, seed=seed, d=d, dx=dx)


@pytest.mark.parametrize("name", mi.ESTIMATORS)
def test_every_estimator_is_finite_and_not_far_above_a_known_answer(name):
    x, z = _gaussians(2.0, 3000)
    result = mi.estimate(x, z, estimator=name, steps=600)
    assert np.isfinite(result["estimate"]) and np.isfinite(result["stderr"]) and result["stderr"] > 0
    assert result["estimate"] <= 2.0 + 4 * result["stderr"] + 0.1, result  # bounds: not above the truth
    assert result["estimate"] > 0.5, result  # and they see the dependence
    assert result["estimator"] == name and result["n_train"] + result["n_valid"] + result["n_test"] == 3000


def test_recommended_estimator_reads_independence_near_zero_and_stays_under_its_ceiling():
    x, _ = _gaussians(1.0, 3000)
    z = np.random.default_rng(9).standard_normal((3000, 20)).astype(np.float32)  # independent of x
    result = mi.estimate(x, z, steps=600)
    assert result["estimator"] == mi.RECOMMENDED
    # a bound: at or a little below 0 (the held-out pairs punish what the critic overfitted), never above
    assert -0.25 < result["estimate"] < 3 * result["stderr"], result
    x, z = _gaussians(4.0, 3000)
    result = mi.estimate(x, z, steps=600)
    assert 0.6 * 4.0 < result["estimate"] <= min(4.0 + 4 * result["stderr"], result["ceiling"]), result


@pytest.mark.parametrize("x, z, message", [
    (np.zeros((100, 3)), np.zeros((90, 2)), "same number of pairs"),
    (np.full((100, 3), np.inf), np.zeros((100, 2)), "non-finite"),
    (np.zeros((40, 3)), np.zeros((40, 2)), "at least"),
    (np.zeros((100, 3)), np.zeros((100,)), r"z \[N, d\]"),
])
def test_estimate_bad_input_is_a_clear_value_error(x, z, message):
    with pytest.raises(ValueError, match=message):
        mi.estimate(x, z)


def test_unknown_estimator_is_a_value_error():
    with pytest.raises(ValueError, match="unknown estimator 'mine'; valid: nwj, dv, js, infonce, smile, critic"):
        mi.estimate(np.zeros((100, 3)), np.zeros((100, 2)), estimator="mine")
