"""Tests of mi_vae.losses against closed forms, scipy/numpy references and Monte Carlo."""

from __future__ import annotations

import math
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
from absl.testing import parameterized

from mi_vae import losses

jax.config.update("jax_enable_x64", False)

KEY = jax.random.PRNGKey(0)


def _all_finite(tree) -> bool:
    return all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree_util.tree_leaves(tree))


# ----------------------------------------------------------------------------- likelihoods


def test_bernoulli_log_prob_values():
    logits = jnp.array([1, -1, 0, 1, -1, 0, 0], jnp.float32)[:, None]  # [7, 1]
    x = jnp.array([0, 0, 0, 1, 1, 1, 0.5], jnp.float32)[:, None]
    expected = -np.array(
        [1.3132617, 0.3132617, 0.6931472, 0.3132617, 1.3132617, 0.6931472, 0.6931472]
    )
    out = losses.bernoulli_log_prob(logits, x)
    assert out.shape == (7,)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_bernoulli_log_prob_sums_event_axes_and_is_finite_at_extreme_logits():
    logits = jnp.array([[[100.0, -100.0], [100.0, -100.0]]])  # [1, 2, 2]
    x = jnp.array([[[0.0, 1.0], [1.0, 0.0]]])
    out = losses.bernoulli_log_prob(logits, x)
    assert out.shape == (1,)
    np.testing.assert_allclose(out, [-200.0], rtol=1e-6)
    grad = jax.grad(lambda lg: losses.bernoulli_log_prob(lg, x).sum())(logits)
    assert _all_finite((out, grad))


def test_gaussian_log_prob_matches_scipy_with_scalar_log_scale():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(5, 3, 4)).astype(np.float32)
    x = rng.normal(size=(5, 3, 4)).astype(np.float32)
    log_scale = np.float32(-0.3)
    expected = scipy.stats.norm.logpdf(x, mean, np.exp(log_scale)).sum(axis=(1, 2))
    out = losses.gaussian_log_prob(mean, log_scale, x)
    assert out.shape == (5,)
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    per_dim = rng.normal(size=(1, 3, 4)).astype(np.float32)  # broadcast over the batch
    expected = scipy.stats.norm.logpdf(x, mean, np.exp(per_dim)).sum(axis=(1, 2))
    np.testing.assert_allclose(losses.gaussian_log_prob(mean, per_dim, x), expected, rtol=1e-5)


# ----------------------------------------------------------------------------- KLs


def test_gaussian_kl_closed_form_and_monte_carlo():
    rng = np.random.default_rng(1)
    mean = rng.normal(size=(3, 4)).astype(np.float32)
    log_var = rng.normal(scale=0.5, size=(3, 4)).astype(np.float32)
    out = np.asarray(losses.gaussian_kl(mean, log_var))
    assert out.shape == (3,)
    # Closed form for multivariate Gaussians: 0.5 (tr S + mu'mu - d - log det S).
    var = np.exp(log_var.astype(np.float64))
    closed = 0.5 * (var.sum(1) + (mean.astype(np.float64) ** 2).sum(1) - 4 - np.log(var).sum(1))
    np.testing.assert_allclose(out, closed, rtol=1e-5)
    # Monte Carlo: E_q[log q(z) - log p(z)] with 1e5 samples, within 3 standard errors.
    n = 100_000
    for b in range(3):
        z = mean[b] + np.sqrt(var[b]) * rng.normal(size=(n, 4))
        log_q = scipy.stats.norm.logpdf(z, mean[b], np.sqrt(var[b])).sum(1)
        log_p = scipy.stats.norm.logpdf(z).sum(1)
        diff = log_q - log_p
        assert abs(diff.mean() - out[b]) < 3 * diff.std() / math.sqrt(n)


def test_categorical_kl_to_uniform_matches_scipy_entropy():
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=3.0, size=(6, 10)).astype(np.float32)
    p = scipy.special.softmax(logits.astype(np.float64), axis=-1)
    expected = np.log(10) - scipy.stats.entropy(p, axis=-1)
    out = losses.categorical_kl_to_uniform(logits)
    assert out.shape == (6,)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    extreme = losses.categorical_kl_to_uniform(jnp.array([[1e4, -1e4, 0.0]]))
    np.testing.assert_allclose(extreme, [np.log(3)], rtol=1e-6)


# ----------------------------------------------------------------------------- MI bounds

MI_DIM, MI_BATCH, MI_TRUE = 20, 64, 2.0
MI_RHO = math.sqrt(1.0 - math.exp(-2.0 * MI_TRUE / MI_DIM))


def _log_ratio(x, z):
    """Exact log p(x, z) / (p(x) p(z)) of unit-variance pairs with per-dimension correlation rho."""
    r2 = MI_RHO**2
    per_dim = -0.5 * math.log1p(-r2) - (r2 * (x**2 + z**2) - 2 * MI_RHO * x * z) / (2 * (1 - r2))
    return jnp.sum(per_dim, axis=-1)


def _correlated_batch(key):
    k_z, k_noise, k_shuffle = jax.random.split(key, 3)
    z = jax.random.normal(k_z, (MI_BATCH, MI_DIM))
    x = MI_RHO * z + math.sqrt(1 - MI_RHO**2) * jax.random.normal(k_noise, (MI_BATCH, MI_DIM))
    return x, z, losses.shuffle_marginal(k_shuffle, z)


@pytest.fixture(scope="module")
def optimal_critic_trials():
    def trial(key):
        x, z, z_marginal = _correlated_batch(key)
        t_joint, t_marginal = _log_ratio(x, z), _log_ratio(x, z_marginal)
        return (
            losses.nwj_bound(1.0 + t_joint, 1.0 + t_marginal),
            losses.donsker_varadhan_bound(t_joint, t_marginal),
            losses.smile_bound(t_joint, t_marginal),
            losses.infonce_bound(_log_ratio(x[:, None, :], z[None, :, :])),
        )

    keys = jax.random.split(jax.random.PRNGKey(42), 2000)
    return [np.asarray(v) for v in jax.jit(jax.vmap(trial))(keys)]


def test_nwj_with_optimal_critic_is_unbiased(optimal_critic_trials):
    nwj = optimal_critic_trials[0]
    se = nwj.std() / math.sqrt(len(nwj))
    assert abs(nwj.mean() - MI_TRUE) < 3 * se


# DV's mini-batch log-mean-exp is biased upwards by Jensen (about Var(mean ratio) / 2); with
# batch 64, d = 20, I = 2 nats it measures ~ +0.17 nats, hence the documented tolerance.
DV_BIAS_TOLERANCE = 0.25


def test_donsker_varadhan_with_optimal_critic_is_close(optimal_critic_trials):
    dv = optimal_critic_trials[1]
    se = dv.std() / math.sqrt(len(dv))
    assert abs(dv.mean() - MI_TRUE) < DV_BIAS_TOLERANCE
    assert dv.mean() > MI_TRUE - 3 * se  # the bias is upward, never downward


def test_smile_without_clip_equals_donsker_varadhan(optimal_critic_trials):
    np.testing.assert_array_equal(optimal_critic_trials[2], optimal_critic_trials[1])
    t_joint = jax.random.normal(KEY, (32,))
    t_marginal = 5.0 * jax.random.normal(jax.random.PRNGKey(1), (32,))
    # a clip larger than every score changes nothing; a small clip changes the value.
    np.testing.assert_allclose(
        losses.smile_bound(t_joint, t_marginal, clip=100.0),
        losses.donsker_varadhan_bound(t_joint, t_marginal),
    )
    assert losses.smile_bound(t_joint, t_marginal, clip=1.0) != losses.donsker_varadhan_bound(
        t_joint, t_marginal
    )


def test_infonce_never_exceeds_log_batch(optimal_critic_trials):
    infonce = optimal_critic_trials[3]
    assert np.all(infonce <= math.log(MI_BATCH) + 1e-5)
    assert 0.5 < infonce.mean() < MI_TRUE  # a loose lower bound of the true MI
    for scale in (1.0, 1e2, 1e4):
        scores = scale * jax.random.normal(jax.random.PRNGKey(int(scale)), (16, 16))
        scores = scores + jnp.diag(jnp.full((16,), 3.0 * scale))  # very confident positives
        assert losses.infonce_bound(scores) <= math.log(16) + 1e-5


def test_shuffle_marginal_is_a_derangement():
    z = jnp.arange(10.0)[:, None] * jnp.ones((1, 3))  # [10, 3]
    for seed in range(20):
        out = losses.shuffle_marginal(jax.random.PRNGKey(seed), z)
        np.testing.assert_array_equal(np.sort(out[:, 0]), np.arange(10.0))  # a permutation
        assert not np.any(np.asarray(out[:, 0]) == np.arange(10.0))  # no fixed point
    one = jnp.ones((1, 3))
    np.testing.assert_array_equal(losses.shuffle_marginal(KEY, one), one)


BOUNDS = {
    "nwj": losses.nwj_bound,
    "dv": losses.donsker_varadhan_bound,
    "js": losses.js_bound,
    "smile": lambda tj, tm: losses.smile_bound(tj, tm, clip=5.0),
    "smile_none": losses.smile_bound,
}


@pytest.mark.parametrize("name", sorted(BOUNDS))
@pytest.mark.parametrize("sign_joint", [1.0, -1.0])
@pytest.mark.parametrize("sign_marginal", [1.0, -1.0])
def test_bounds_finite_for_huge_scores(name, sign_joint, sign_marginal):
    t_joint = jnp.full((8,), sign_joint * 1e4, jnp.float32)
    t_marginal = jnp.full((8,), sign_marginal * 1e4, jnp.float32).at[0].set(0.0)
    value, grads = jax.value_and_grad(BOUNDS[name], argnums=(0, 1))(t_joint, t_marginal)
    assert _all_finite((value, grads))


def test_infonce_and_barber_agakov_finite_for_huge_scores():
    scores = 1e4 * jnp.sign(jax.random.normal(KEY, (8, 8)))
    value, grad = jax.value_and_grad(losses.infonce_bound)(scores)
    assert _all_finite((value, grad))
    log_r = jnp.full((8,), -1e4)
    value, grad = jax.value_and_grad(losses.barber_agakov_bound)(log_r, 1.0)
    assert _all_finite((value, grad))


def test_js_bound_and_gan_losses_agree():
    real = jax.random.normal(KEY, (16,))
    fake = jax.random.normal(jax.random.PRNGKey(3), (16,)) - 1.0
    np.testing.assert_allclose(
        losses.js_bound(real, fake), -losses.gan_discriminator_loss(real, fake), rtol=1e-6
    )
    sig = scipy.special.expit
    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    bce = -np.mean(np.log(sig(r))) - np.mean(np.log(1 - sig(f)))
    np.testing.assert_allclose(losses.gan_discriminator_loss(real, fake), bce, rtol=1e-5)
    np.testing.assert_allclose(losses.gan_generator_loss(fake), -np.mean(np.log(sig(f))), rtol=1e-5)
    assert losses.js_bound(real, fake) <= 0.0


def test_barber_agakov_equals_linear_gaussian_mi():
    noise_std, n = 0.5, 200_000
    k_z, k_noise = jax.random.split(jax.random.PRNGKey(7))
    z = jax.random.normal(k_z, (n, 1))
    x = z + noise_std * jax.random.normal(k_noise, (n, 1))
    post_mean = x / (1 + noise_std**2)
    post_log_scale = 0.5 * math.log(noise_std**2 / (1 + noise_std**2))
    log_r = losses.gaussian_log_prob(post_mean, post_log_scale, z)  # [n]
    entropy = 0.5 * math.log(2 * math.pi * math.e)  # H(N(0, 1))
    bound = float(losses.barber_agakov_bound(log_r, entropy))
    true_mi = 0.5 * math.log(1 + 1 / noise_std**2)
    se = float(jnp.std(log_r)) / math.sqrt(n)
    assert abs(bound - true_mi) < 3 * se + 1e-5
    # A worse (wider) r gives a smaller bound.
    log_r_wide = losses.gaussian_log_prob(post_mean, post_log_scale + 0.5, z)
    assert losses.barber_agakov_bound(log_r_wide, entropy) < bound


def test_mi_target_penalty():
    np.testing.assert_allclose(losses.mi_target_penalty(1.5, 4.0, 2.0), 5.0)
    np.testing.assert_allclose(
        losses.mi_target_penalty(jnp.array([5.0, 3.0]), 4.0, 0.5), [0.5, 0.5]
    )
    grad = jax.grad(losses.mi_target_penalty)(1.5, 4.0, 2.0)
    np.testing.assert_allclose(grad, -2.0)


# ----------------------------------------------------------------------------- MMD


def _np_kernel(name, a, b, scales=losses.DEFAULT_SCALES):
    d = a.shape[0]
    sq = float(np.sum((a - b) ** 2))
    if name == "rbf":
        return sum(math.exp(-sq / (s * 2 * d)) for s in scales)
    return sum((2 * d * s) / (2 * d * s + sq) for s in scales)


def _np_mmd(name, x, y, unbiased):
    x, y = x.astype(np.float64), y.astype(np.float64)
    n, m = len(x), len(y)
    kxx = kyy = kxy = 0.0
    for i in range(n):
        for j in range(n):
            if not (unbiased and i == j):
                kxx += _np_kernel(name, x[i], x[j])
    for i in range(m):
        for j in range(m):
            if not (unbiased and i == j):
                kyy += _np_kernel(name, y[i], y[j])
    for i in range(n):
        for j in range(m):
            kxy += _np_kernel(name, x[i], y[j])
    if unbiased:
        return kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2 * kxy / (n * m)
    return kxx / n**2 + kyy / m**2 - 2 * kxy / (n * m)


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
@pytest.mark.parametrize("unbiased", [False, True])
def test_mmd_matches_numpy_double_loop(kernel, unbiased):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 3)).astype(np.float32)
    y = (rng.normal(size=(9, 3)) + 0.3).astype(np.float32)
    expected = _np_mmd(kernel, x, y, unbiased)
    out = losses.mmd(x, y, kernel=kernel, unbiased=unbiased)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_mmd_kernel_options():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(10, 2)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    # Gram matrices against the numpy reference, and k(x, x) = number of scales.
    gram = np.array([[_np_kernel("imq", a, b) for b in y] for a in x])
    np.testing.assert_allclose(losses.imq_kernel(x, y), gram, rtol=1e-5)
    np.testing.assert_allclose(jnp.diagonal(losses.rbf_kernel(x, x)), 7.0, rtol=1e-6)
    # A callable kernel is used as is.
    np.testing.assert_allclose(
        losses.mmd(x, y, kernel=lambda a, b: losses.rbf_kernel(a, b, scales=(1.0,))),
        losses.mmd(x, y, kernel="rbf", scales=(1.0,)),
        rtol=1e-6,
    )
    # The median bandwidth is the median off-diagonal squared distance of the pooled sample.
    pooled = np.concatenate([x, y]).astype(np.float64)
    sq = ((pooled[:, None] - pooled[None]) ** 2).sum(-1)
    h = np.median(sq[np.triu_indices(len(pooled), k=1)])
    np.testing.assert_allclose(
        losses.mmd(x, y, bandwidth="median", scales=(1.0,)),
        losses.mmd(x, y, bandwidth=h, scales=(1.0,)),
        rtol=1e-5,
    )
    assert _all_finite(jax.jit(jax.grad(lambda a: losses.mmd(a, y, bandwidth="median")))(x))


def test_mmd_estimators_on_equal_and_shifted_distributions():
    def stats(key):
        kx, ky = jax.random.split(key)
        x = jax.random.normal(kx, (32, 4))
        y = jax.random.normal(ky, (32, 4))
        return (
            losses.mmd(x, y, unbiased=True),
            losses.mmd(x, y),
            losses.mmd(x, y + 1.0),
            losses.mmd(x, y, kernel="imq", unbiased=True),
        )

    unbiased, biased, shifted, unbiased_imq = (
        np.asarray(v) for v in jax.jit(jax.vmap(stats))(jax.random.split(KEY, 200))
    )
    for u in (unbiased, unbiased_imq):
        assert abs(u.mean()) < 3 * u.std() / math.sqrt(len(u))
        assert np.any(u < 0)
    assert np.all(biased >= 0)
    assert np.all(shifted > biased)
    assert shifted.mean() > 5 * biased.mean()


# ----------------------------------------------------------------------------- Stein


def _np_svgd_direction(z, score):
    z, score = z.astype(np.float64), score.astype(np.float64)
    n = len(z)
    sq = ((z[:, None] - z[None]) ** 2).sum(-1)
    h = np.median(sq[np.triu_indices(n, k=1)]) / np.log(n + 1)
    phi = np.zeros_like(z)
    for i in range(n):
        for j in range(n):
            k = np.exp(-np.sum((z[j] - z[i]) ** 2) / h)
            grad_k = -2.0 / h * (z[j] - z[i]) * k  # d k(z_j, z_i) / d z_j
            phi[i] += k * score[j] + grad_k
    return phi / n


def test_stein_surrogate_gradient_is_minus_svgd_direction():
    z = np.random.default_rng(5).normal(size=(16, 3)).astype(np.float32) + 1.0
    grad = jax.grad(losses.stein_surrogate)(jnp.asarray(z), lambda u: -u)
    np.testing.assert_allclose(grad, -_np_svgd_direction(z, -z), rtol=1e-4, atol=1e-6)


def test_stein_descent_moves_particles_to_the_prior():
    z0 = 3.0 + jax.random.normal(KEY, (200, 2))

    @jax.jit
    def descend(z):
        def step(_, z):
            return z - 0.2 * jax.grad(losses.stein_surrogate)(z, lambda u: -u)

        return jax.lax.fori_loop(0, 600, step, z)

    z = np.asarray(descend(z0))
    assert np.all(np.abs(z.mean(0)) < 0.2)
    assert np.all(np.abs(z.std(0) - 1.0) < 0.15)


# ----------------------------------------------------------------------------- priors


def test_gumbel_softmax_simplex_and_straight_through():
    logits = jax.random.normal(KEY, (5, 4))
    key = jax.random.PRNGKey(9)
    soft = losses.gumbel_softmax(key, logits, 0.5)
    assert np.all(soft >= 0)
    np.testing.assert_allclose(soft.sum(-1), 1.0, rtol=1e-6)
    hard = losses.gumbel_softmax(key, logits, 0.5, hard=True)
    np.testing.assert_array_equal(hard.sum(-1), 1.0)
    assert set(np.unique(np.asarray(hard))) <= {0.0, 1.0}
    np.testing.assert_array_equal(jnp.argmax(hard, -1), jnp.argmax(soft, -1))
    w = jax.random.normal(jax.random.PRNGKey(2), (5, 4))

    def project(lg, hard_):
        return jnp.sum(w * losses.gumbel_softmax(key, lg, 0.5, hard=hard_))

    grad = jax.jit(jax.grad(project), static_argnums=1)
    np.testing.assert_allclose(grad(logits, True), grad(logits, False), rtol=1e-6)


def test_gumbel_softmax_frequencies_match_softmax():
    logits = jnp.log(jnp.array([0.5, 0.3, 0.15, 0.05]))
    n = 40_000
    batch = jnp.broadcast_to(logits, (n, 4))
    samples = losses.gumbel_softmax(jax.random.PRNGKey(11), batch, 0.05, hard=True)
    freq = np.asarray(samples.mean(0))
    p = np.array([0.5, 0.3, 0.15, 0.05])
    assert np.all(np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / n))
    soft = losses.gumbel_softmax(jax.random.PRNGKey(11), batch, 0.05)
    np.testing.assert_allclose(np.asarray(soft.mean(0)), p, atol=0.02)  # near one-hot at low tau


def test_logistic_log_prob_matches_scipy():
    z = np.array([[-60.0, -3.0, 0.0, 0.5, 4.0, 60.0]], np.float32)
    np.testing.assert_allclose(
        losses.logistic_log_prob(z), scipy.stats.logistic.logpdf(z).sum(-1), rtol=1e-6
    )
    loc, scale = np.float32(0.7), np.float32(2.5)
    np.testing.assert_allclose(
        losses.logistic_log_prob(z, loc, scale),
        scipy.stats.logistic.logpdf(z, loc, scale).sum(-1),
        rtol=1e-6,
    )
    assert _all_finite(jax.grad(lambda u: losses.logistic_log_prob(u).sum())(jnp.asarray(z)))


def test_sample_logistic_distribution():
    samples = np.asarray(losses.sample_logistic(KEY, (20_000, 2), loc=1.0, scale=2.0))
    assert samples.shape == (20_000, 2) and np.all(np.isfinite(samples))
    result = scipy.stats.kstest(samples[:, 0], scipy.stats.logistic(1.0, 2.0).cdf)
    assert result.pvalue > 1e-3


def test_normal_log_prob_and_entropies_match_scipy():
    z = np.random.default_rng(6).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(
        losses.normal_log_prob(z), scipy.stats.norm.logpdf(z).sum(-1), rtol=1e-6
    )
    np.testing.assert_allclose(losses.logistic_entropy(jnp.zeros((2, 5))), [10.0, 10.0])
    log_scale = np.array([[-1.0, 0.0, 1.5]], np.float32)
    np.testing.assert_allclose(
        losses.logistic_entropy(log_scale),
        scipy.stats.logistic(scale=np.exp(log_scale)).entropy().sum(-1),
        rtol=1e-6,
    )
    log_var = np.array([[-2.0, 0.0, 1.0]], np.float32)
    np.testing.assert_allclose(
        losses.normal_entropy(log_var),
        scipy.stats.norm(scale=np.exp(0.5 * log_var)).entropy().sum(-1),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        losses.normal_entropy(jnp.zeros((1, 1))), 0.5 * np.log(2 * np.pi * np.e), rtol=1e-6
    )


# ----------------------------------------------------------------------------- aggregate MI


def test_aggregate_posterior_mi_matches_scipy_reference():
    rng = np.random.default_rng(8)
    mean = rng.normal(size=(20, 3)).astype(np.float32)
    log_var = rng.normal(scale=0.3, size=(20, 3)).astype(np.float32) - 1.0
    z = (mean + np.exp(0.5 * log_var) * rng.normal(size=(20, 3))).astype(np.float32)
    std = np.exp(0.5 * log_var.astype(np.float64))
    log_q = scipy.stats.norm.logpdf(z[:, None, :], mean[None], std[None]).sum(-1)  # [i, j]
    expected = np.mean(np.diag(log_q) - (scipy.special.logsumexp(log_q, axis=1) - np.log(20)))
    np.testing.assert_allclose(losses.aggregate_posterior_mi(z, mean, log_var), expected, rtol=1e-5)


def test_aggregate_posterior_mi_limits():
    n = 32
    z = jax.random.normal(KEY, (n, 4))
    ignores_x = losses.aggregate_posterior_mi(z, jnp.zeros((n, 4)), jnp.zeros((n, 4)))
    np.testing.assert_allclose(ignores_x, 0.0, atol=1e-5)
    # Far-apart, narrow posteriors: the estimate saturates at, and never exceeds, log N.
    mean = 100.0 * jax.random.normal(jax.random.PRNGKey(1), (n, 4))
    log_var = jnp.full((n, 4), -6.0)
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(jax.random.PRNGKey(2), (n, 4))
    saturated = losses.aggregate_posterior_mi(z, mean, log_var)
    assert saturated <= math.log(n) + 1e-5
    np.testing.assert_allclose(saturated, math.log(n), atol=1e-3)


# ----------------------------------------------------------------------------- jit parity

_R = np.random.default_rng(123)
_A = _R.normal(size=(8, 3)).astype(np.float32)
_B = _R.normal(size=(8, 3)).astype(np.float32)
_V = _R.normal(size=(8,)).astype(np.float32)
_W = _R.normal(size=(8,)).astype(np.float32)
_S = _R.normal(size=(8, 8)).astype(np.float32)

JIT_CASES = {
    "bernoulli_log_prob": (losses.bernoulli_log_prob, (_A, np.abs(_B) / 3)),
    "categorical_log_prob": (losses.categorical_log_prob, (_A, np.abs(_B) / 3)),
    "sample_normal": (lambda k: losses.sample_normal(k, (4, 3)), (KEY,)),
    "reparameterize": (lambda k, m, v: losses.reparameterize(k, m, v, 5), (KEY, _A, _B)),
    "diag_gaussian_log_prob": (losses.diag_gaussian_log_prob, (_A + _B, _A, _B)),
    "token_log_prob": (lambda lg: losses.token_log_prob(lg[None], jnp.array([[0, 2, 1, 0, 1, 1, 2, 0]])), (_A,)),
    "draw_flat": (lambda k: losses.draw_flat(jax.random.gumbel, k, (4, 3)), (KEY,)),
    "gaussian_log_prob": (losses.gaussian_log_prob, (_A, _B, _A + _B)),
    "gaussian_kl": (losses.gaussian_kl, (_A, _B)),
    "categorical_kl_to_uniform": (losses.categorical_kl_to_uniform, (_A,)),
    "normal_log_prob": (losses.normal_log_prob, (_A,)),
    "logistic_log_prob": (lambda z, s: losses.logistic_log_prob(z, 0.3, s), (_A, np.exp(_B))),
    "normal_entropy": (losses.normal_entropy, (_A,)),
    "logistic_entropy": (losses.logistic_entropy, (_A,)),
    "sample_logistic": (lambda k: losses.sample_logistic(k, (4, 3)), (KEY,)),
    "gumbel_softmax": (lambda k, lg: losses.gumbel_softmax(k, lg, 0.7, hard=True), (KEY, _A)),
    "nwj_bound": (losses.nwj_bound, (_V, _W)),
    "donsker_varadhan_bound": (losses.donsker_varadhan_bound, (_V, _W)),
    "js_bound": (losses.js_bound, (_V, _W)),
    "infonce_bound": (losses.infonce_bound, (_S,)),
    "smile_bound": (lambda a, b: losses.smile_bound(a, b, clip=0.5), (_V, _W)),
    "barber_agakov_bound": (losses.barber_agakov_bound, (_V, _W)),
    "shuffle_marginal": (losses.shuffle_marginal, (KEY, _A)),
    "mi_target_penalty": (losses.mi_target_penalty, (_V, 1.0, 2.0)),
    "rbf_kernel": (losses.rbf_kernel, (_A, _B)),
    "imq_kernel": (losses.imq_kernel, (_A, _B)),
    "mmd_rbf_median": (lambda a, b: losses.mmd(a, b, bandwidth="median"), (_A, _B)),
    "mmd_imq_unbiased": (lambda a, b: losses.mmd(a, b, kernel="imq", unbiased=True), (_A, _B)),
    "stein_surrogate": (lambda z: losses.stein_surrogate(z, lambda u: -u), (_A,)),
    "gan_discriminator_loss": (losses.gan_discriminator_loss, (_V, _W)),
    "gan_generator_loss": (losses.gan_generator_loss, (_V,)),
    "aggregate_posterior_mi": (losses.aggregate_posterior_mi, (_A + _B, _A, _B)),
}


def test_reparameterize_draws_mean_plus_scaled_normal_noise():
    mean, log_var = jnp.array([[1.0, -2.0]]), jnp.array([[0.0, 2.0 * np.log(3.0)]])
    z = np.asarray(losses.reparameterize(KEY, mean, log_var, 20000))  # [k, 1, 2]
    assert z.shape == (20000, 1, 2)
    np.testing.assert_allclose(z.mean(axis=(0, 1)), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.std(axis=(0, 1)), [1.0, 3.0], rtol=0.03)
    # one draw is the same flat noise as sample_normal with the same key
    np.testing.assert_allclose(losses.reparameterize(KEY, mean, log_var),
                               mean + jnp.exp(0.5 * log_var) * losses.sample_normal(KEY, (1, 2)))


def test_diag_gaussian_log_prob_matches_scipy():
    rng = np.random.default_rng(0)
    z, mean, log_var = rng.normal(size=(3, 5, 4))
    want = scipy.stats.multivariate_normal.logpdf  # per example, diagonal covariance
    expected = [want(z[i], mean[i], np.diag(np.exp(log_var[i]))) for i in range(5)]
    np.testing.assert_allclose(losses.diag_gaussian_log_prob(z, mean, log_var), expected, rtol=1e-5)


def test_token_log_prob_skips_padding():
    logits = jnp.log(jnp.array([[[0.5, 0.25, 0.25], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]]]))  # [1, T=3, V=3]
    tokens = jnp.array([[1, 2, 0]])  # the last position is padding
    np.testing.assert_allclose(losses.token_log_prob(logits, tokens), [np.log(0.25) + np.log(0.3)], rtol=1e-6)


class JitParityTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in sorted(JIT_CASES)])
    def test_same_value_with_and_without_jit(self, name):
        fn, args = JIT_CASES[name]
        expected = fn(*args)
        out = self.variant(fn)(*args)
        chex.assert_trees_all_close(out, expected, rtol=1e-5, atol=1e-6)
        assert _all_finite(out)


def test_every_public_name_is_exported():
    for name in losses.__all__:
        assert hasattr(losses, name), name
    assert {name.split("_rbf")[0].split("_imq")[0] for name in JIT_CASES} >= {
        name for name in losses.__all__ if name[0].islower() and name != "squared_distances"
    }


def test_import_needs_no_flax_or_tensorflow():
    code = (
        "import mi_vae.losses, sys; "
        "assert 'flax' not in sys.modules and 'tensorflow' not in sys.modules; "
        "assert 'scipy' not in sys.modules and 'chex' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_categorical_log_prob_matches_scipy_and_is_finite():
    import scipy.special

    logits = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0], [1e4, -1e4, 0.0]], np.float32)
    x = np.eye(3, dtype=np.float32)[[0, 2, 1]]
    got = np.asarray(losses.categorical_log_prob(logits, x))
    want = np.sum(x * scipy.special.log_softmax(logits.astype(np.float64), axis=-1), axis=-1)
    np.testing.assert_allclose(got[:2], want[:2], rtol=1e-6)
    assert np.isfinite(got).all() and got[2] == pytest.approx(-2e4, rel=1e-6)
