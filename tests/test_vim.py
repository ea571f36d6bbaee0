"""VIMAE (mi_vae.methods.vim): configs, the objective, the Logistic prior, and q(z) matching p(z).

Behaviour tests train tiny MLP models on scikit-learn's 8x8 digits (1500 images) in-process with a
fixed seed; one plain autoencoder run (the same nets and schedule, no regulariser) is shared.
"""

from __future__ import annotations

import math
import os
from importlib import import_module

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_cli, smoke_config
from scipy import stats

from mi_vae import losses as L
from mi_vae.config import method_section
from mi_vae.data import to_float
from mi_vae.errors import ConfigError
from mi_vae.io import read_metrics
from mi_vae.methods import DataSpec, get_method
from mi_vae.train import train

FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
needs_fashion = pytest.mark.skipif(not os.path.exists(FASHION), reason="dataset-fashion-mnist not installed")
SPEC = DataSpec((8, 8, 1), "bernoulli")


def digits_config(prior="normal", **coefficients):
    """VIMAE's smoke config on all 1500 digits: MLP 64, latent 4, batch 64, 600 steps, lambda 10."""
    config = import_module(f"configs.vim_{prior}").get_config("smoke=True,dataset=digits")
    config.update({"max_train_examples": 0, "max_test_examples": 0, "batch_size": 64, "num_train_steps": 600,
                   "log_every_steps": 100, "checkpoint_every_steps": 10_000, "run_eval": False})
    config.model.latent_dim = 4
    config.model.encoder.widths = (64,)
    config.model.decoder.widths = (64,)
    config.method.update(coefficients)
    return config


def codes(method, state, dataset, seed=1):
    x = jnp.asarray(to_float(dataset.train_x))
    mean, log_var = method.model.encode(state["params"], state["batch_stats"], x)
    return mean + jnp.exp(0.5 * log_var) * jax.random.normal(jax.random.key(seed), mean.shape)


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    """The unregularised autoencoder (InfoVAE "ae") with VIMAE's digits nets and schedule."""
    config = digits_config()
    config.method = method_section("infovae", regularizer="ae")
    method, state, dataset, _ = train(config, str(tmp_path_factory.mktemp("ae")))
    return method, state, dataset


# ----------------------------------------------------------------------------- configs


@needs_fashion
@pytest.mark.parametrize("name", ["vim_normal", "vim_logistic", "vim_beta_h", "vim_beta_a"])
def test_smoke_config_trains_and_loss_falls(tmp_path, name):
    train(smoke_config(name), str(tmp_path))
    rows = read_metrics(str(tmp_path / "metrics.jsonl"))
    assert rows[-1]["step"] == 200
    assert rows[-1]["loss"] < 0.8 * rows[0]["loss"], (rows[0]["loss"], rows[-1]["loss"])
    keys = {"recon_nll", "kl", "elbo"} | ({"mmd", "prior_nll"} if name.startswith("vim_") and "beta" not in name
                                          else set())
    assert keys <= set(rows[-1]) and all(np.isfinite(rows[-1][k]) for k in keys)


def test_config_values_follow_the_paper():
    from configs import vim_beta_a, vim_beta_h, vim_celeba, vim_logistic, vim_normal

    c = vim_celeba.get_config()
    assert (c.method.name, c.dataset, c.method.prior, c.method.lambda_, c.model.latent_dim, c.batch_size) == \
        ("vim", "celeb_a", "normal", 100.0, 64, 100)
    assert c.model.encoder.name == c.model.decoder.name == "dcgan64" and c.num_epochs == 55
    assert (c.method.mmd_kernel, c.method.mmd_unbiased) == ("imq", True)
    assert vim_celeba.get_config("prior=logistic,dtype=bfloat16").compute_dtype == "bfloat16"
    assert vim_celeba.get_config("prior=logistic").method.prior == "logistic"
    smoke = vim_celeba.get_config("smoke=True")
    assert smoke.dataset == "synthetic64" and smoke.model.encoder.name == "dcgan64"
    assert vim_normal.get_config("dataset=mnist").method.lambda_ == 10.0
    assert vim_normal.get_config("dataset=cifar10").method.lambda_ == 100.0
    assert vim_logistic.get_config().method.prior == "logistic"
    for module, small, large in ((vim_beta_h, 10.0, 100.0), (vim_beta_a, 0.2, 0.4)):
        assert (module.get_config().method.beta, module.get_config("dataset=celeb_a").method.beta) == (small, large)
    assert vim_beta_a.get_config("beta=0.4").method.beta == 0.4
    assert vim_beta_a.get_config().method.name == "vae"


def test_celeba_smoke_trains_dcgan64_with_batchnorm_through_cli(tmp_path):
    workdir = str(tmp_path / "celeba")
    run_cli("--config=configs/vim_celeba.py:smoke=True", f"--workdir={workdir}", "--config.run_eval=False")
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert rows[-1]["step"] == 40
    assert rows[-1]["loss"] < rows[0]["loss"] - 100, (rows[0]["loss"], rows[-1]["loss"])
    assert all(np.isfinite(rows[-1][k]) for k in ("mmd", "recon_nll"))


def test_celeba_without_data_stops_with_one_line(tmp_path):
    proc = run_cli("--config=configs/vim_celeba.py", f"--workdir={tmp_path / 'w'}",
                   f"--config.data_dir={tmp_path / 'no_data'}", check=False, timeout=120)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "celeb_a" in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- the objective and the prior


@pytest.mark.parametrize("prior", ["normal", "logistic"])
def test_loss_is_reconstruction_plus_lambda_mmd_of_sampled_codes(prior):
    method = get_method(digits_config(prior, lambda_=7.0), SPEC)
    x = jax.random.uniform(jax.random.key(0), (16, 8, 8, 1))
    variables = method.init(jax.random.key(1), x)
    rng = jax.random.key(2)
    out, _ = method.losses(variables["params"], variables["batch_stats"], {"x": x}, rng, 0)
    loss, metrics = out["vae"]
    np.testing.assert_allclose(loss, metrics["recon_nll"] + 7.0 * metrics["mmd"], rtol=1e-6)
    # The MMD is between the codes z ~ q(z|x) (stochastic encoder) and prior draws, IMQ kernel, WAE scales
    # times the prior's variance, U-statistic.
    rng_z, rng_prior = jax.random.split(rng)
    terms, _ = method.model.forward(variables["params"], variables["batch_stats"], x, rng_z)
    assert not np.allclose(terms["z"], terms["mean"])
    var = math.pi ** 2 / 3 if prior == "logistic" else 1.0
    want = L.mmd(terms["z"], method.model.sample_prior(rng_prior, 16), kernel="imq", unbiased=True,
                 scales=tuple(s * var for s in L.DEFAULT_SCALES))
    np.testing.assert_allclose(metrics["mmd"], want, rtol=1e-5)
    assert set(out) == {"vae"}


def test_wae_cost_and_equal_kernels():
    """reconstruction="wae_l2": loss = 0.05 ||x - x_hat||^2 + lambda MMD (x_hat the decoder's mean at the sampled
    z); kernel_scale="unit": VIMAE-l's kernel scales are the normal prior's, not pi^2/3 times them."""
    x = jax.random.uniform(jax.random.key(0), (16, 8, 8, 1))
    rng = jax.random.key(2)
    scales = {}
    for prior in ("normal", "logistic"):
        method = get_method(digits_config(prior, lambda_=7.0, reconstruction="wae_l2", kernel_scale="unit"), SPEC)
        scales[prior] = method.mmd_scales
        variables = method.init(jax.random.key(1), x)
        out, _ = method.losses(variables["params"], variables["batch_stats"], {"x": x}, rng, 0)
        loss, metrics = out["vae"]
        terms, _ = method.model.forward(variables["params"], variables["batch_stats"], x, jax.random.split(rng)[0])
        x_hat = jax.nn.sigmoid(terms["out"])
        want = 0.05 * np.mean(np.sum(np.square(np.asarray(x - x_hat)).reshape(16, -1), axis=1))
        np.testing.assert_allclose(metrics["wae_cost"], want, rtol=1e-5)
        np.testing.assert_allclose(loss, want + 7.0 * metrics["mmd"], rtol=1e-5)
        assert metrics["wae_cost"] < 0.05 * metrics["recon_nll"]  # orders of magnitude below the cross-entropy
    assert scales["normal"] == scales["logistic"] == tuple(L.DEFAULT_SCALES)
    with pytest.raises(ConfigError, match="reconstruction must be one of"):
        get_method(digits_config("normal", reconstruction="l1"), SPEC)


def test_logistic_prior_samples_are_logistic_and_not_normal():
    method = get_method(digits_config("logistic"), SPEC)
    z = np.asarray(method.model.sample_prior(jax.random.key(0), 5000))
    assert z.shape == (5000, 4) and z.dtype == np.float32
    flat = z.ravel()
    assert stats.kstest(flat, stats.logistic.cdf).pvalue > 0.01
    assert stats.kstest(flat, stats.norm(scale=math.pi / math.sqrt(3)).cdf).pvalue < 1e-4
    assert stats.kurtosis(flat) > 0.8  # excess kurtosis: 1.2 for the Logistic, 0 for a Normal
    assert abs(flat.var() - math.pi ** 2 / 3) < 0.15
    # The normal prior is normal.
    normal = np.asarray(get_method(digits_config("normal"), SPEC).model.sample_prior(jax.random.key(0), 5000)).ravel()
    assert stats.kstest(normal, stats.norm.cdf).pvalue > 0.01 and abs(stats.kurtosis(normal)) < 0.2
    # prior_scale rescales the Logistic.
    scaled = get_method(digits_config("logistic", prior_scale=math.sqrt(3) / math.pi), SPEC)
    assert abs(float(np.var(np.asarray(scaled.model.sample_prior(jax.random.key(1), 20000)))) - 1.0) < 0.05


# ----------------------------------------------------------------------------- q(z) matches p(z)


@pytest.mark.parametrize("prior", ["normal", "logistic"])
def test_vimae_codes_match_the_prior_better_than_the_autoencoder(ae_run, tmp_path, prior):
    ae_method, ae_state, dataset = ae_run
    method, state, _, _ = train(digits_config(prior), str(tmp_path))
    z, z_ae = codes(method, state, dataset), codes(ae_method, ae_state, dataset)
    z_prior = method.model.sample_prior(jax.random.key(3), z.shape[0])
    mmd_vim, mmd_ae = float(L.mmd(z, z_prior)), float(L.mmd(z_ae, z_prior))  # full data, multi-scale RBF
    assert mmd_vim < 0.1 * mmd_ae, (mmd_vim, mmd_ae)
    # ... and it is this prior that q(z) matches: the other prior is farther away.
    other = get_method(digits_config("normal" if prior == "logistic" else "logistic"), SPEC)
    mmd_other = float(L.mmd(z, other.model.sample_prior(jax.random.key(4), z.shape[0])))
    assert mmd_vim < 0.5 * mmd_other, (mmd_vim, mmd_other)
    # Generation decodes prior draws.
    samples = method.model.reconstruction(method.model.decode(state["params"], state["batch_stats"], z_prior[:8]))
    assert samples.shape == (8, 8, 8, 1) and bool(jnp.all(jnp.isfinite(samples)))
