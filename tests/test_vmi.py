"""VMI (mi_vae.methods.vmi): configs, latent layout, temperature annealing, clustering on digits."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from configs import vmi_categorical, vmi_subvector
from mi_vae.data import load_dataset, to_float
from mi_vae.io import read_metrics
from mi_vae.methods import DataSpec, get_method
from mi_vae.train import train

FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def cluster_accuracy(pred: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Accuracy of the best one-to-one map from codes to classes (Hungarian algorithm)."""
    counts = np.zeros((k, k))
    np.add.at(counts, (pred, labels), 1)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(labels))


def test_cluster_accuracy_helper():
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert cluster_accuracy(np.array([2, 2, 0, 0, 1, 1]), labels, 3) == 1.0
    assert cluster_accuracy(np.array([0, 0, 0, 0, 0, 0]), labels, 3) == pytest.approx(1 / 3)


@pytest.mark.parametrize("module", [vmi_subvector, vmi_categorical], ids=["subvector", "categorical"])
def test_smoke_config_trains_and_losses_fall(tmp_path, module):
    config = module.get_config("smoke=True")
    if not os.path.exists(FASHION):  # the offline default; fall back to scikit-learn's digits
        config.dataset = "digits"
    config.run_eval = False
    train(config, str(tmp_path))
    rows = read_metrics(os.path.join(tmp_path, "metrics.jsonl"))
    assert rows[-1]["step"] == config.num_train_steps
    for key in ("loss", "q/loss", "vae/loss", "elbo", "kl", "recon_nll", "mi_estimate", "q/mi_estimate"):
        assert np.isfinite(rows[-1][key]), key
    assert rows[-1]["loss"] == rows[-1]["vae/loss"]  # the headline loss is the model's
    # Q's loss (-MI) and the VAE's loss both fall
    assert rows[-1]["q/loss"] < rows[0]["q/loss"] - 0.3, (rows[0]["q/loss"], rows[-1]["q/loss"])
    assert rows[-1]["vae/loss"] < 0.8 * rows[0]["vae/loss"], (rows[0]["vae/loss"], rows[-1]["vae/loss"])


def test_categorical_layout_and_temperature():
    config = vmi_categorical.get_config("smoke=True,dataset=digits")
    config.method.update(temperature_start=1.0, temperature_end=0.25, temperature_anneal_steps=100)
    method = get_method(config, DataSpec((8, 8, 1), "bernoulli", 10))
    assert method.players == ("q", "vae")  # Algorithm 1: Q first, then the VAE
    x = jnp.zeros((3, 8, 8, 1))
    params = jax.jit(method.init)(jax.random.key(0), x)["params"]
    mean, log_var = method.model.encode(params, {}, x)
    assert mean.shape == log_var.shape == (3, 16)
    assert method.model.categorical_code(params, {}, x).shape == (3, 10)
    codes = method.model.sample_prior(jax.random.key(1), 5)
    assert codes.shape == (5, 26)
    np.testing.assert_allclose(codes[:, 16:].sum(-1), 1.0)  # [z (16), one-hot c (10)]
    assert set(np.unique(np.asarray(codes[:, 16:]))) <= {0.0, 1.0}
    assert method.model.decode(params, {}, codes).shape == (5, 8, 8, 1)
    taus = [float(method.temperature(jnp.int32(s))) for s in (0, 50, 100, 1000)]
    np.testing.assert_allclose(taus, [1.0, 0.5, 0.25, 0.25], rtol=1e-5)


@pytest.mark.parametrize("estimate", ["prior", "aggregate"])
def test_code_entropy_of_a_collapsed_and_a_balanced_code(estimate):
    """H(c) in the MI bound: the prior's log K whatever the encoder does, or the batch aggregate's
    entropy, which is 0 when every x goes to one category (the collapse a large lambda_ finds with the
    prior's constant: Q then predicts c perfectly and the "prior" bound reads log K)."""
    config = vmi_categorical.get_config("smoke=True,dataset=digits")
    config.method.code_entropy = estimate
    method = get_method(config, DataSpec((8, 8, 1), "bernoulli", 10))
    one_category = {"logits": jnp.tile(jnp.array([30.0] + [0.0] * 9), (20, 1))}
    balanced = {"logits": 30.0 * jnp.tile(jnp.eye(10), (2, 1))}
    h_collapsed, h_balanced = float(method.entropy(one_category)), float(method.entropy(balanced))
    np.testing.assert_allclose(h_balanced, np.log(10), rtol=1e-5)
    np.testing.assert_allclose(h_collapsed, np.log(10) if estimate == "prior" else 0.0, atol=1e-5)
    for logits in (balanced["logits"], one_category["logits"]):  # the collapsed point is where log(p) is clipped
        assert np.isfinite(jax.grad(lambda lg: method.entropy({"logits": lg}))(logits)).all()


def test_subvector_mi_targets_the_first_coordinates():
    config = vmi_subvector.get_config("smoke=True,dataset=digits,mi_dims=2")
    method = get_method(config, DataSpec((8, 8, 1), "bernoulli", 10))
    assert method.model.latent_dim == 32 and method.model.code_dim == 32
    x = jnp.asarray(to_float(load_dataset("digits").train_x[:64]))
    params = jax.jit(method.init)(jax.random.key(0), x)["params"]
    # Q's MI estimate depends on z[:, :2] only: perturbing z[:, 2:] in the target changes nothing
    terms, _ = method.model.forward(params, {}, x, jax.random.key(1))
    pairs, _ = method.mi_pairs(params, {}, terms, jax.random.key(2))
    np.testing.assert_array_equal(pairs["code"], terms["z"])  # the thesis's posterior pairs by default
    mi = method.mi_lower_bound(params["q"], pairs)
    moved = dict(pairs, code=pairs["code"].at[:, 2:].add(5.0))
    np.testing.assert_allclose(float(method.mi_lower_bound(params["q"], moved)), float(mi), rtol=1e-6)
    moved = dict(pairs, code=pairs["code"].at[:, :2].add(5.0))
    assert float(method.mi_lower_bound(params["q"], moved)) < float(mi) - 1.0


def test_prior_pairs_cannot_be_gamed_by_a_collapsed_code():
    """The thesis's bound on the encoder's c reads log K for a code collapsed to one category that Q always
    names; eq. 4.5's pairs (c ~ p(c), decoded) score that Q far below zero, as a lower bound must."""
    dataset = load_dataset("digits")
    x = jnp.asarray(to_float(dataset.train_x[:256]))
    bounds = {}
    for samples in ("posterior", "prior"):
        config = vmi_categorical.get_config(f"smoke=True,dataset=digits,mi_samples={samples}")
        method = get_method(config, DataSpec((8, 8, 1), "bernoulli", 10))
        assert method.mi_samples == samples
        params = jax.jit(method.init)(jax.random.key(0), x)["params"]
        q = jax.tree.map(jnp.zeros_like, params["q"])  # Q: "category 0", whatever it sees
        params = dict(params, q=jax.tree.map(lambda a: a.at[0].set(50.0) if a.shape == (10,) else a, q))
        terms, _ = method.forward(params, {}, x, jax.random.key(1), 0)
        terms = dict(terms, c=jax.nn.one_hot(jnp.zeros(256, int), 10))  # the encoder sends every x to category 0
        pairs, _ = method.mi_pairs(params, {}, terms, jax.random.key(2))
        bounds[samples] = float(method.mi_lower_bound(params["q"], pairs))
        losses, _ = jax.jit(method.losses)(params, {}, {"x": x}, jax.random.key(3), 0)
        assert all(np.isfinite(float(loss)) for loss, _ in losses.values())
    np.testing.assert_allclose(bounds["posterior"], np.log(10), atol=1e-4)
    assert bounds["prior"] < -30.0, bounds


def test_prior_pairs_need_the_prior_entropy():
    from mi_vae.errors import ConfigError

    config = vmi_categorical.get_config("smoke=True,dataset=digits,mi_samples=prior")
    config.method.code_entropy = "aggregate"
    with pytest.raises(ConfigError, match="code_entropy must be 'prior'"):
        get_method(config, DataSpec((8, 8, 1), "bernoulli", 10))


def test_mi_regulariser_makes_the_categorical_code_cluster_digits(tmp_path):
    """Thesis 4.4.2: with lambda > 0 the encoder's categorical code classifies digits much better."""
    dataset = load_dataset("digits")
    x = jnp.asarray(to_float(dataset.train_x))
    accuracy = {}
    for lam in (0.0, 1.0):
        config = vmi_categorical.get_config(f"dataset=digits,lambda_={lam},steps=3000")
        config.model.encoder.widths = config.model.decoder.widths = (128, 128)
        config.model.q.widths = (64,)
        config.run_eval = False
        config.log_every_steps = 1000
        config.checkpoint_every_steps = 3000
        method, state, _, _ = train(config, str(tmp_path / f"lambda_{lam}"), dataset=dataset)
        logits = method.model.categorical_code(state["params"], state["batch_stats"], x)
        accuracy[lam] = cluster_accuracy(np.asarray(jnp.argmax(logits, axis=-1)), dataset.train_y)
    assert accuracy[1.0] >= accuracy[0.0] + 0.1, accuracy
