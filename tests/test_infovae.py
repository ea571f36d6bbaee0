"""InfoVAE (mi_vae.methods.infovae): smoke configs, the objectives, and each variant's defining behaviour.

Behaviour tests train tiny MLP models on scikit-learn's 8x8 digits (1500 images) in-process, with a
fixed seed; one plain autoencoder ("ae") run is shared by the tests that compare against it.
"""

from __future__ import annotations

import os
import shutil
from importlib import import_module

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_cli, smoke_config

from mi_vae import losses as L
from mi_vae.data import to_float
from mi_vae.errors import ConfigError
from mi_vae.io import read_metrics
from mi_vae.methods import DataSpec, get_method
from mi_vae.train import train

FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
needs_fashion = pytest.mark.skipif(not os.path.exists(FASHION), reason="dataset-fashion-mnist not installed")
LATENT = 4
STEPS = 600


def digits_config(regularizer, steps=STEPS, **coefficients):
    """The smoke config of ``regularizer`` on all 1500 digits: MLP 64, latent 4, batch 64."""
    config = import_module(f"configs.infovae_{regularizer}").get_config("smoke=True,net=mlp")
    config.update({"dataset": "digits", "max_train_examples": 0, "max_test_examples": 0, "batch_size": 64,
                   "num_train_steps": steps, "log_every_steps": 100, "checkpoint_every_steps": 10_000,
                   "run_eval": False})
    config.model.latent_dim = LATENT
    config.method.update(coefficients)
    return config


def codes(method, state, x, seed=1):
    """z ~ q(z|x) for every row of x (running BatchNorm averages)."""
    mean, log_var = method.model.encode(state["params"], state["batch_stats"], x)
    return mean + jnp.exp(0.5 * log_var) * jax.random.normal(jax.random.key(seed), mean.shape)


def full_data_mmd(method, state, dataset):
    """MMD^2 between q(z) over the whole training set and as many N(0, I) draws (WAE multi-scale RBF)."""
    z = codes(method, state, jnp.asarray(to_float(dataset.train_x)))
    z_prior = jax.random.normal(jax.random.key(2), z.shape)
    return float(L.mmd(z, z_prior, kernel="rbf"))


def cov_distance(z):
    """Frobenius norm ||Cov(z) - I||."""
    z = np.asarray(z)
    return float(np.linalg.norm(np.cov(z.T) - np.eye(z.shape[1])))


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    """The plain autoencoder (eq. 2) trained on digits: (method, state, dataset, workdir)."""
    workdir = str(tmp_path_factory.mktemp("ae"))
    method, state, dataset, _ = train(digits_config("ae"), workdir)
    return method, state, dataset, workdir


# ----------------------------------------------------------------------------- configs


@needs_fashion
@pytest.mark.parametrize("name", ["infovae_ae", "infovae_mmd", "infovae_stein"])
def test_smoke_config_trains_and_loss_falls(tmp_path, name):
    config = smoke_config(name)
    method, _, _, _ = train(config, str(tmp_path))
    rows = read_metrics(str(tmp_path / "metrics.jsonl"))
    assert rows[-1]["step"] == 200
    assert rows[-1]["loss"] < 0.8 * rows[0]["loss"], (rows[0]["loss"], rows[-1]["loss"])
    expected = {"recon_nll", "kl", "elbo", "regularizer", "mmd"} | ({"stein", "stein_phi_norm"} if "stein" in name
                                                                    else set())
    assert expected <= set(rows[-1])
    assert all(np.isfinite(rows[-1][k]) for k in expected)
    assert method.players == ("vae",)


@needs_fashion
def test_adversarial_smoke_config_trains_through_cli(tmp_path):
    workdir = str(tmp_path / "adv")
    run_cli("--config=configs/infovae_adversarial.py:smoke=True", f"--workdir={workdir}", "--config.run_eval=False")
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert rows[-1]["step"] == 200
    # The total carries lambda * the generator's loss, the value of a game, which need not fall: the
    # reconstruction term must.
    assert rows[-1]["recon_nll"] < 0.8 * rows[0]["recon_nll"]
    expected = {"vae/loss", "discriminator/loss", "disc_accuracy", "discriminator/disc_accuracy", "gen_loss"}
    assert expected <= set(rows[-1])
    assert 0.0 <= rows[-1]["discriminator/disc_accuracy"] <= 1.0


def test_unknown_regularizer_is_a_config_error():
    config = digits_config("mmd")
    config.method.regularizer = "kl"
    with pytest.raises(ConfigError, match="regularizer must be one of"):
        get_method(config, DataSpec((8, 8, 1), "bernoulli"))


def test_a_missing_coefficient_takes_the_build_default():
    config = digits_config("mmd")
    del config.method["lambda_"]
    assert get_method(config, DataSpec((8, 8, 1), "bernoulli")).lambda_ == 1000.0  # build's default


# ----------------------------------------------------------------------------- the objectives


@pytest.mark.parametrize("regularizer,alpha,lambda_", [
    ("ae", 1.0, 0.0), ("elbo", 1.0, 0.0), ("mmd", 1.0, 1000.0), ("mmd", 0.5, 10.0), ("stein", 0.0, 3.0),
    ("adversarial", 0.2, 5.0)])
def test_loss_is_recon_plus_weighted_kl_and_divergence(regularizer, alpha, lambda_):
    """loss = recon + (1 - alpha) KL + (alpha + lambda - 1) D for the InfoVAE variants; recon (+ KL) otherwise."""
    config = digits_config(regularizer, alpha=alpha, lambda_=lambda_)
    method = get_method(config, DataSpec((8, 8, 1), "bernoulli"))
    x = jax.random.uniform(jax.random.key(0), (16, 8, 8, 1))
    variables = method.init(jax.random.key(1), x)
    out, _ = method.losses(variables["params"], variables["batch_stats"], {"x": x}, jax.random.key(2), 0)
    loss, m = out["vae"]
    kl_w, d_w = {"ae": (0.0, 0.0), "elbo": (1.0, 0.0)}.get(regularizer, (1 - alpha, alpha + lambda_ - 1))
    np.testing.assert_allclose(loss, m["recon_nll"] + kl_w * m["kl"] + d_w * m["regularizer"], rtol=1e-6)
    assert float(m["kl"]) > 0 and float(m["recon_nll"]) > 0
    if regularizer in ("ae", "elbo"):
        assert float(m["regularizer"]) == 0.0
    else:
        assert float(m["regularizer"]) != 0.0
    assert set(out) == ({"vae", "discriminator"} if regularizer == "adversarial" else {"vae"})
    # figure 1's logged I_q(x; z) against the batch's aggregate posterior: finite, at most log B
    assert np.isfinite(float(m["mi_batch"])) and float(m["mi_batch"]) <= np.log(16) + 1e-5


# ----------------------------------------------------------------------------- MMD-VAE


def test_mmd_vae_matches_the_prior_better_than_the_autoencoder(ae_run, tmp_path):
    ae_method, ae_state, dataset, _ = ae_run
    method, state, _, _ = train(digits_config("mmd"), str(tmp_path))
    mmd_ae, mmd_vae = full_data_mmd(ae_method, ae_state, dataset), full_data_mmd(method, state, dataset)
    assert mmd_vae < 0.1 * mmd_ae, (mmd_vae, mmd_ae)
    z = codes(method, state, jnp.asarray(to_float(dataset.train_x)))
    assert cov_distance(z) < 0.5


# ----------------------------------------------------------------------------- Stein-VAE


def _svgd_direction(z):
    """phi*(z_i) = 1/n sum_j [k(z_j, z_i) (-z_j) + grad_{z_j} k(z_j, z_i)], RBF k, median / log(n + 1) bandwidth."""
    z = np.asarray(z, np.float64)
    n = z.shape[0]
    sq = np.sum((z[:, None] - z[None]) ** 2, axis=-1)
    h = np.median(sq[np.triu_indices(n, 1)]) / np.log(n + 1)
    k = np.exp(-sq / h)
    return (k @ -z + (2 / h) * (z * k.sum(1, keepdims=True) - k @ z)) / n


def test_stein_gradient_reaches_the_encoder_only_through_z():
    method = get_method(digits_config("stein"), DataSpec((8, 8, 1), "bernoulli"))
    x = jax.random.uniform(jax.random.key(0), (32, 8, 8, 1))
    params = method.init(jax.random.key(1), x)["params"]
    rng = jax.random.key(3)

    def z_of(vae_params):
        terms, _ = method.model.forward({"vae": vae_params}, {}, x, rng)
        return terms["z"]

    def stein_of(vae_params):
        z = z_of(vae_params)
        return method.divergence({"vae": vae_params}, z, method.model.sample_prior(rng, z.shape[0]))[0]

    grads = jax.grad(stein_of)(params["vae"])
    # The decoder gets exactly nothing.
    assert all(np.all(np.asarray(g) == 0) for g in jax.tree.leaves(grads["decoder"]))
    # The encoder gets the chain rule through z with the constant direction -phi*(z) / n.
    z, vjp = jax.vjp(z_of, params["vae"])
    phi = _svgd_direction(z)
    (expected,) = vjp(jnp.asarray(-phi / z.shape[0], jnp.float32))
    for got, want in zip(jax.tree.leaves(grads["encoder"]), jax.tree.leaves(expected["encoder"])):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-7)
    assert any(np.abs(np.asarray(g)).max() > 1e-4 for g in jax.tree.leaves(grads["encoder"]))


def test_stein_moves_the_code_covariance_toward_identity(ae_run, tmp_path):
    """Continue the trained autoencoder with the Stein regulariser: ||Cov(q(z)) - I|| falls."""
    ae_method, ae_state, dataset, ae_workdir = ae_run
    x = jnp.asarray(to_float(dataset.train_x))
    before = cov_distance(codes(ae_method, ae_state, x))
    workdir = str(tmp_path / "stein")  # a warm start: the checkpoints without the run's record (a resume
    shutil.copytree(os.path.join(ae_workdir, "checkpoints"), os.path.join(workdir, "checkpoints"))  # refuses it)
    method, state, _, _ = train(digits_config("stein", steps=STEPS + 400), workdir)
    assert int(state["step"]) == STEPS + 400
    after = cov_distance(codes(method, state, x))
    assert after < 0.3 * before, (before, after)


# ----------------------------------------------------------------------------- adversarial


def test_adversarial_codes_match_the_prior_and_fool_the_discriminator(tmp_path):
    method, state, dataset, _ = train(digits_config("adversarial", steps=400), str(tmp_path))
    assert method.players == ("vae", "discriminator")
    z = codes(method, state, jnp.asarray(to_float(dataset.train_x)))
    z_prior = method.model.sample_prior(jax.random.key(5), z.shape[0])
    disc = state["params"]["discriminator"]
    accuracy = 0.5 * (float(jnp.mean(method.discriminate(disc, z_prior) > 0))
                      + float(jnp.mean(method.discriminate(disc, z) < 0)))
    assert accuracy < 0.9, accuracy
    logged = read_metrics(str(tmp_path / "metrics.jsonl"))[-1]["discriminator/disc_accuracy"]
    assert logged < 0.9, logged
    z = np.asarray(z)
    np.testing.assert_array_less(np.abs(z.mean(0)), 0.3)
    np.testing.assert_array_less(np.abs(z.std(0) - 1.0), 0.3)


# ----------------------------------------------------------------------------- the Markov chain (Prop. 1)


def test_markov_chain_from_noise_approaches_the_training_images(ae_run):
    method, state, dataset, _ = ae_run
    train_x = np.asarray(to_float(dataset.train_x)).reshape(dataset.num_train, -1)
    x0 = jax.random.uniform(jax.random.key(7), (16, 8, 8, 1))
    chain = method.model.markov_chain(state["params"], state["batch_stats"], x0, jax.random.key(8), num_steps=10,
                                      decoder_mean=True)
    assert chain.shape == (11, 16, 8, 8, 1)
    np.testing.assert_array_equal(chain[0], x0)
    flat = np.asarray(chain).reshape(11, 16, -1)
    nearest = np.sqrt(((flat[:, :, None, :] - train_x[None, None]) ** 2).sum(-1)).min(-1).mean(-1)  # [11]
    assert nearest[-1] < 0.5 * nearest[0], nearest
    assert np.all(nearest[1:] < nearest[0]), nearest
    assert nearest[-3:].mean() < nearest[1], nearest  # it keeps moving after the first step
    # ... and ends about as close to the training set as held-out digits are.
    test_x = np.asarray(to_float(dataset.test_x[:100])).reshape(100, -1)
    reference = np.sqrt(((test_x[:, None] - train_x[None]) ** 2).sum(-1)).min(-1).mean()
    assert nearest[-1] < 1.5 * reference, (nearest, reference)
    # The chain is stochastic (z ~ q(z|x)) and stays in the data range.
    assert 0.0 <= float(chain.min()) and float(chain.max()) <= 1.0
    other = method.model.markov_chain(state["params"], state["batch_stats"], x0, jax.random.key(9), num_steps=10,
                                      decoder_mean=True)
    assert not np.allclose(other[-1], chain[-1])


def test_markov_chain_samples_x_from_the_decoder_as_in_proposition_1(ae_run):
    """x^(t+1) ~ p(x | z^(t)): binary draws whose average over many chains from one x0 is the decoder's mean."""
    method, state, dataset, _ = ae_run
    model, params, stats = method.model, state["params"], state["batch_stats"]
    x0 = jnp.asarray(np.repeat(np.asarray(to_float(dataset.test_x[:1])), 4000, axis=0))
    chain = model.markov_chain(params, stats, x0, jax.random.key(3), num_steps=1)
    assert set(np.unique(np.asarray(chain[1]))) <= {0.0, 1.0}
    # E[x^(1) | x^(0)] = E_{z ~ q(z|x0)} sigmoid(decoder(z)), estimated with the same 4000 draws of z
    mean, log_var = model.encode(params, stats, x0)
    key_z = jax.random.split(jax.random.split(jax.random.key(3), 1)[0])[0]
    z = L.reparameterize(key_z, mean, log_var)
    expected = np.asarray(model.reconstruction(model.decode(params, stats, z))).mean(0)
    np.testing.assert_allclose(np.asarray(chain[1]).mean(0), expected, atol=0.05)
    # and far from feeding back the mean: draws are binary, the mean is not
    assert np.mean((np.asarray(chain[1]) - expected) ** 2) > 0.01

def test_the_authors_mmd_bandwidth_is_d_squared():
    """mmd_bandwidth="d2": k(z, z') = exp(-||z - z'||^2 / d^2), the InfoVAE authors' kernel; "2d" is losses.mmd's."""
    z = jax.random.normal(jax.random.key(0), (32, 10))
    z_prior = jax.random.normal(jax.random.key(1), (32, 10))
    config = digits_config("mmd", mmd_bandwidth="d2")
    config.model.latent_dim = 10
    method = get_method(config, DataSpec((8, 8, 1), "bernoulli", 10))

    def kernel_mean(a, b, h):
        return np.exp(-((np.asarray(a)[:, None] - np.asarray(b)[None]) ** 2).sum(-1) / h).mean()

    want = kernel_mean(z, z, 100.0) + kernel_mean(z_prior, z_prior, 100.0) - 2 * kernel_mean(z, z_prior, 100.0)
    np.testing.assert_allclose(float(method.batch_mmd(z, z_prior)), want, rtol=1e-4)
    assert method.mmd_scales == (5.0,)  # losses.mmd's h = s * 2d = d^2 at s = d / 2
    with pytest.raises(ConfigError, match="mmd_bandwidth must be one of"):
        get_method(digits_config("mmd", mmd_bandwidth="d"), DataSpec((8, 8, 1), "bernoulli", 10))
