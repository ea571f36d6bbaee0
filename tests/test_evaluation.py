"""Evaluation: each metric against an independent reference with a known answer, and the CLI end to end."""

from __future__ import annotations

import json
import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import run_cli
from scipy import stats

from mi_vae import losses as L
from mi_vae.config import EVAL_DEFAULTS, evals_section
from mi_vae.errors import ConfigError
from mi_vae.evaluation import evaluate
from mi_vae.evaluation import metrics as M
from mi_vae.evaluation.evaluators import EVALUATORS, data_settings, from_config
from mi_vae.train.checkpoint import NoUsableCheckpointError

# ----------------------------------------------------------------------------- latent statistics


def test_active_units_three_informative_of_ten():
    rng = np.random.default_rng(0)
    means = np.zeros((500, 10))
    means[:, [1, 4, 7]] = rng.normal(0.0, 1.0, (500, 3))  # informative: variance ~1
    means[:, [0, 2, 3, 5, 6, 8, 9]] = 0.3 + 1e-3 * rng.normal(size=(500, 7))  # ~constant
    assert M.active_units(means) == 3
    assert M.active_units(means, eps=0.01) == 3
    np.testing.assert_allclose(M.latent_variances(means), np.var(means, axis=0, ddof=1))


def test_logdet_cov_per_dim_and_mmd_prior_on_known_gaussians():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(20000, 4)) * np.array([2.0, 2.0, 0.5, 0.5])  # log-variances +-log 4
    np.testing.assert_allclose(M.logdet_cov_per_dim(z), 0.0, atol=0.03)
    np.testing.assert_allclose(M.logdet_cov_per_dim(z[:, :2]), math.log(4.0), atol=0.03)
    assert M.logdet_cov_per_dim(np.zeros((10, 3))) == float("-inf")
    same = M.mmd_prior(rng.normal(size=(500, 4)), rng.normal(size=(500, 4)))
    shifted = M.mmd_prior(rng.normal(size=(500, 4)) + 1.0, rng.normal(size=(500, 4)))
    assert abs(same) < 0.05 * shifted
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(60, 4))
    np.testing.assert_allclose(M.mmd_prior(x, y), float(L.mmd(x, y, kernel="rbf", unbiased=True)), rtol=1e-4, atol=1e-6)


def test_elbo_terms_and_recon_l2_by_hand():
    log_px, kl = np.array([-3.0, -5.0]), np.array([1.0, 2.0])
    assert M.elbo(log_px, kl) == pytest.approx(-5.5)
    assert M.recon_nll(log_px) == pytest.approx(4.0)
    assert M.kl(kl) == pytest.approx(1.5)
    x = np.zeros((2, 2, 2, 1))
    x_hat = np.ones((2, 2, 2, 1)) * np.array([0.5, 1.0]).reshape(2, 1, 1, 1)
    assert M.recon_l2(x, x_hat) == pytest.approx((4 * 0.25 + 4 * 1.0) / 2)  # summed over pixels


# ----------------------------------------------------------------------------- IWAE

S = 0.5  # observation noise of the linear-Gaussian model p(z) = N(0, 1), p(x|z) = N(z, S^2)


def _linear_gaussian(x):
    """(log p(x|z) callable, exact posterior mean and log-variance, exact log p(x)) for x [B, 1]."""
    def log_px_given_z(z):
        return L.gaussian_log_prob(z, jnp.log(S), x)

    post_mean = x / (1.0 + S**2)
    post_log_var = jnp.full_like(x, math.log(S**2 / (1.0 + S**2)))
    log_px = stats.norm(0.0, math.sqrt(1.0 + S**2)).logpdf(np.asarray(x)[:, 0])
    return log_px_given_z, post_mean, post_log_var, log_px


def test_iwae_with_the_exact_posterior_is_the_true_log_likelihood():
    x = jnp.array([[-2.0], [-0.3], [0.0], [1.1], [3.0]])
    log_px_given_z, mean, log_var, log_px = _linear_gaussian(x)
    for k, chunk in ((1, None), (7, 3), (100, 32)):  # chunking with a masked remainder
        got = M.iwae_log_likelihood(jax.random.key(0), mean, log_var, log_px_given_z, k, chunk)
        np.testing.assert_allclose(np.asarray(got), log_px, atol=1e-3, err_msg=f"K={k}")


def test_iwae_k1_is_the_single_sample_elbo_and_its_expectation():
    rng = jax.random.key(3)
    x = jnp.array([[0.7], [-1.5]])
    log_px_given_z, _, _, log_px = _linear_gaussian(x)
    mean, log_var = jnp.array([[0.2], [-0.4]]), jnp.array([[-1.0], [0.3]])  # not the posterior
    # exactly, with the same sample: log p(x|z) + log p(z) - log q(z|x) at z = mean + std * eps
    eps = jax.random.normal(jax.random.fold_in(rng, 0), (1, 2, 1))[0]
    z = mean + jnp.exp(0.5 * log_var) * eps
    by_hand = (log_px_given_z(z) + L.normal_log_prob(z)
               - L.gaussian_log_prob(mean, 0.5 * log_var, z))
    got = M.iwae_log_likelihood(rng, mean, log_var, log_px_given_z, k=1)
    np.testing.assert_allclose(np.asarray(got), np.asarray(by_hand), rtol=1e-5, atol=1e-5)
    # in expectation: the analytic ELBO E_q log p(x|z) - KL(q || p)
    n = 20000
    xs, ms, lvs = (jnp.repeat(a, n, axis=0) for a in (x, mean, log_var))

    def lp(z):
        return L.gaussian_log_prob(z, jnp.log(S), xs)

    samples = np.asarray(M.iwae_log_likelihood(rng, ms, lvs, lp, k=1)).reshape(2, n)
    k1, standard_error = samples.mean(axis=1), samples.std(axis=1) / math.sqrt(n)
    v = np.exp(np.asarray(log_var))[:, 0]
    m, xv = np.asarray(mean)[:, 0], np.asarray(x)[:, 0]
    elbo = (-0.5 * math.log(2 * math.pi * S**2) - ((xv - m) ** 2 + v) / (2 * S**2)
            - np.asarray(L.gaussian_kl(mean, log_var)))
    assert np.all(np.abs(k1 - elbo) < 4 * standard_error), (k1, elbo, standard_error)
    k100 = np.asarray(M.iwae_log_likelihood(rng, mean, log_var, log_px_given_z, k=100, chunk=30))
    assert np.all(elbo < k100) and np.all(k100 <= log_px + 0.05)  # tighter with K, still a bound


# ----------------------------------------------------------------------------- probes and clusters


def test_probe_accuracy_equals_scikit_learn_by_hand():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(6)
    centres = rng.normal(size=(4, 5)) * 2
    y_train, y_test = rng.integers(0, 4, 300), rng.integers(0, 4, 200)
    train = centres[y_train] + rng.normal(size=(300, 5))
    test = centres[y_test] + rng.normal(size=(200, 5))
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0)).fit(train, y_train)
    expected = float(np.mean(clf.predict(test) == y_test))
    assert M.probe_accuracy(train, y_train, test, y_test, seed=0) == expected
    subset = M.probe_subset(y_train, 100, seed=0)
    assert len(subset) == len(set(subset)) == 100 and M.probe_subset(y_train, 0).size == 300


def test_cluster_accuracy_of_a_relabelled_clustering():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 10, 1000)
    codes = rng.permutation(10)[labels]
    assert M.cluster_accuracy(codes, labels) == 1.0
    # 2 codes, 2 classes: the best map matches 3 + 4 of 10
    codes, labels = np.array([0, 0, 0, 1, 0, 1, 1, 1, 1, 0]), np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    assert M.cluster_accuracy(codes, labels) == pytest.approx(0.7)
    np.testing.assert_array_equal(M.code_class_histogram(codes, labels), [[3, 2], [1, 4]])
    assert M.cluster_accuracy(np.zeros(10, int), labels) == pytest.approx(0.6)  # one code for all


def test_categorical_code_information_tells_the_two_empty_codes_apart():
    k, log_k = 10, np.log(10)
    one_category = M.categorical_code_information(np.tile([1e6] + [0.0] * (k - 1), (40, 1)))
    prior = M.categorical_code_information(np.zeros((40, k)))
    by_class = M.categorical_code_information(1e6 * np.tile(np.eye(k), (4, 1)))
    assert one_category == pytest.approx({"code_mi": 0.0, "code_kl_uniform": log_k}, abs=1e-9)
    assert prior == pytest.approx({"code_mi": 0.0, "code_kl_uniform": 0.0}, abs=1e-9)
    assert by_class == pytest.approx({"code_mi": log_k, "code_kl_uniform": log_k}, abs=1e-9)
    masked = M.categorical_code_information(np.array([[0.0, -np.inf], [-np.inf, 0.0]]))  # -inf logits: finite
    assert masked == pytest.approx({"code_mi": np.log(2), "code_kl_uniform": np.log(2)})
    # two examples, two categories, q(c|x) = (0.9, 0.1) and (0.1, 0.9): I = log 2 - H(0.9)
    logits = np.log([[0.9, 0.1], [0.1, 0.9]])
    h = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))
    assert M.categorical_code_information(logits) == pytest.approx(
        {"code_mi": np.log(2) - h, "code_kl_uniform": np.log(2) - h})


# ----------------------------------------------------------------------------- settings and errors


def test_evals_section_defaults_overrides_and_unknown_names():
    section = evals_section()
    assert tuple(section.keys()) == tuple(sorted(EVALUATORS)) and section.iwae.k == 100
    section = evals_section("elbo", "iwae", iwae={"k": 5000})
    assert set(section.keys()) == {"elbo", "iwae"} and section.iwae.k == 5000 and section.iwae.chunk == 10
    with pytest.raises(ConfigError, match="unknown config.evals.iwae setting 'kk'; valid: batch, chunk, examples, k"):
        evals_section(iwae={"kk": 1})
    with pytest.raises(ConfigError, match="unknown evaluator 'iwea' in config.evals; valid: elbo, iwae"):
        evals_section("iwea")
    with pytest.raises(ConfigError, match="settings for evaluator 'mi', which is not selected"):
        evals_section("elbo", mi={"queries": 10})


def test_select_evals_keeps_the_named_evaluators_and_their_settings():
    from configs import default
    from mi_vae.config import select_evals

    config = default.get_config()
    config.evals.mi.critic_steps = 7
    chosen = select_evals(config, ["elbo", "mi"])
    assert set(chosen.evals.keys()) == {"elbo", "mi"} and chosen.evals.mi.critic_steps == 7
    assert set(config.evals.keys()) == set(EVALUATORS)  # the original is unchanged
    with pytest.raises(ConfigError, match="evaluator 'iwea' is not in config.evals"):
        select_evals(config, ["iwea"])


def test_data_settings_name_the_valid_keys_and_where_evaluator_settings_went():
    config = ml_collections.ConfigDict({"eval": {"seed": 3}})
    assert data_settings(config) == {**EVAL_DEFAULTS, "seed": 3}
    config.eval.iwae_k = 5000  # a round-1 key
    with pytest.raises(ConfigError, match=r"unknown config.eval key 'iwae_k'; valid: .*config.evals.<name>"):
        data_settings(config)


def test_bad_estimator_is_a_config_error_naming_the_valid_ones():
    from configs import vae

    config = vae.get_config("smoke=True")
    config.dataset = "digits"
    config.evals = evals_section("mi", mi={"estimator": "mine"})
    with pytest.raises(ConfigError, match="mi.estimator must be one of nwj, dv, js, infonce, smile, critic"):
        from_config(config, _FakeMethod(), None)


class _FakeMethod:
    capabilities = frozenset()


def test_evaluate_without_a_checkpoint_says_train_first(tmp_path):
    from configs import vae

    config = vae.get_config("smoke=True")
    config.dataset = "digits"
    with pytest.raises(NoUsableCheckpointError, match=r"no checkpoint in .*checkpoints: train first"):
        evaluate(config, str(tmp_path))


# ----------------------------------------------------------------------------- end to end

SMALL_EVAL_CONFIG = '''
from configs import infomax_vae
from mi_vae.config import evals_section


def get_config(arg=None):
    c = infomax_vae.get_config("smoke=True")
    c.num_train_steps = 100
    c.evals = evals_section(iwae={"k": 8, "examples": 64}, mi={"queries": 128, "critic_steps": 250},
                            achieved_mi={"steps": 20}, probe={"labels": 200}, prior_match={"examples": 128},
                            figures={"traversal_dims": 4, "traversal_steps": 5})
    return c
'''


@pytest.mark.slow
def test_cli_trains_then_evaluates_and_eval_mode_re_evaluates(tmp_path):
    config_path = tmp_path / "small_eval_config.py"
    config_path.write_text(SMALL_EVAL_CONFIG)
    workdir = tmp_path / "run"
    run_cli(f"--config={config_path}", f"--workdir={workdir}")
    metrics = json.loads((workdir / "eval" / "metrics.json").read_text())
    for key in ("elbo", "recon_nll", "kl", "recon_l2", "iwae_nll", "active_units", "mi_aggregate",
                "mi_aggregate_stderr", "mi_aggregate_ceiling", "active_units_sampled", "mi_critic",
                "mi_critic_stderr", "mi_critic_ceiling", "mmd_prior",
                "logdet_cov_per_dim", "probe_accuracy",
                "probe_accuracy_gaussian_0.2", "probe_accuracy_gaussian_0.3", "probe_accuracy_gaussian_0.4",
                "probe_accuracy_mask_0.2", "probe_accuracy_mask_0.5"):
        assert key in metrics and np.isfinite(metrics[key]), key
    assert metrics["iwae_k"] == 8 and metrics["mi_aggregate"] <= metrics["mi_aggregate_ceiling"] + 1e-6
    assert metrics["mi_aggregate_ceiling"] == pytest.approx(math.log(1024))  # the smoke run's training split
    assert metrics["iwae_nll"] <= -metrics["elbo"] + 5.0  # IWAE(K=8) vs a one-sample ELBO estimate
    pngs = sorted(f for f in os.listdir(workdir / "eval") if f.endswith(".png"))
    assert {"reconstructions.png", "samples.png", "traversals.png", "training_curves.png"} <= set(pngs), pngs
    report = (workdir / "eval" / "report.md").read_text()
    assert "| `mi_critic` |" in report and "![reconstructions](reconstructions.png)" in report
    assert "git commit" in report and "```json" in report

    def eval_rows():
        rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
        return [r for r in rows if r["split"] == "eval"]

    assert len(eval_rows()) == 1 and eval_rows()[0]["step"] == 100
    os.remove(workdir / "eval" / "metrics.json")
    run_cli(f"--config={config_path}", f"--workdir={workdir}", "--mode=eval")
    again = json.loads((workdir / "eval" / "metrics.json").read_text())
    assert len(eval_rows()) == 2
    assert again.keys() == metrics.keys()
    for key in ("elbo", "iwae_nll", "active_units", "probe_accuracy"):  # same checkpoint, same seed
        np.testing.assert_allclose(again[key], metrics[key], rtol=1e-4, err_msg=key)


# ----------------------------------------------------------------------------- evaluators


def _trained(tmp_path, name: str, **overrides):
    from conftest import smoke_config

    from mi_vae.train.loop import train

    config = smoke_config(name, dataset="digits", num_train_steps=20, checkpoint_every_steps=20, **overrides)
    method, state, dataset, _ = train(config, str(tmp_path / name))
    return config, method, state, dataset


def test_evaluators_share_one_test_encoding_and_yield_named_values(tmp_path):
    from mi_vae.evaluation.evaluators import EvalData, Skipped, active_units, elbo, prior_match

    _, method, state, dataset = _trained(tmp_path, "vae")
    data = EvalData(method, dataset, num_examples=100)
    passes = []
    original = data.batched

    def counting(name, *args, **kwargs):
        passes.append(name)
        return original(name, *args, **kwargs)

    data.batched = counting
    state = {"params": state["params"], "batch_stats": state["batch_stats"], "step": 20}
    out = {}
    for evaluator in (elbo.Evaluator(method, data), active_units.Evaluator(method, data, eps=0.01),
                      prior_match.Evaluator(method, data, examples=50)):
        out.update(evaluator.run(state))
    assert passes.count("test_pass") == 1, passes
    assert {"elbo", "recon_nll", "kl", "recon_l2", "active_units", "active_units_sampled", "mmd_prior",
            "logdet_cov_per_dim"} == set(out)
    assert out["elbo"] == pytest.approx(-out["recon_nll"] - out["kl"], rel=1e-5)
    assert not any(isinstance(v, Skipped) for v in out.values())
    # a new state is a new encoding (memoised per state, never stale)
    moved = dict(state, params=jax.tree.map(lambda a: a * 1.0, state["params"]))
    dict(elbo.Evaluator(method, data).run(moved))
    assert passes.count("test_pass") == 2


@pytest.mark.slow
def test_config_evals_selects_and_inapplicable_evaluators_are_skipped_with_reasons(tmp_path):
    """VMI's categorical code: no Gaussian q(z|x) as the decoder code, so iwae and mi are skipped with the
    missing capability named; clusters runs; only the selected evaluators run."""
    config, method, state, dataset = _trained(tmp_path, "vmi_categorical")
    config.evals = evals_section("elbo", "iwae", "mi", "clusters", iwae={"k": 4})
    metrics = evaluate(config, str(tmp_path / "vmi_categorical"), method=method, state=state, dataset=dataset)
    assert {"elbo", "code_mi", "cluster_accuracy"} <= set(metrics)
    assert not {"iwae_nll", "mi_aggregate", "probe_accuracy", "active_units"} & set(metrics)
    report = (tmp_path / "vmi_categorical" / "eval" / "report.md").read_text()
    assert "- `iwae`: needs the method capabilities gaussian_posterior" in report
    assert "- `mi`: needs the method capabilities gaussian_posterior" in report
    assert not list((tmp_path / "vmi_categorical" / "eval").glob("*.png"))  # figures not selected
