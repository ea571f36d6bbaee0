"""The Mutual Autoencoder (mi_vae.methods.mae): configs, REINFORCE gradient, IW encoder, MI control."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from configs import mae_categorical, mae_splitting_normal
from mi_vae.io import read_metrics
from mi_vae.methods import DataSpec, get_method
from mi_vae.train import train


def _rows(workdir):
    return read_metrics(os.path.join(workdir, "metrics.jsonl"))


@pytest.mark.parametrize("module", [mae_splitting_normal, mae_categorical], ids=["splitting_normal", "categorical"])
def test_smoke_config_trains_and_loss_falls(tmp_path, module):
    config = module.get_config("smoke=True")
    config.run_eval = False
    train(config, str(tmp_path))
    rows = _rows(tmp_path)
    assert rows[-1]["step"] == config.num_train_steps
    for key in ("loss", "vae/loss", "r/loss", "elbo", "kl", "recon_nll", "mi_estimate", "mi_penalty",
                "r/mi_estimate"):
        assert np.isfinite(rows[-1][key]), key
    assert rows[-1]["loss"] < rows[0]["loss"] - 0.1, (rows[0]["loss"], rows[-1]["loss"])
    # the target is above the initial MI: the estimate must have risen towards it
    assert rows[-1]["r/mi_estimate"] > rows[0]["r/mi_estimate"] + 0.05


def test_players_follow_algorithm_1():
    config = mae_splitting_normal.get_config("smoke=True")
    method = get_method(config, DataSpec((1,), "gaussian"))
    assert method.players == ("vae", "r")  # UPDATEMODEL, then UPDATEMIESTIMATE


def test_reinforce_gradient_matches_exact_expectation():
    """For categorical x the REINFORCE surrogate's gradient is E_z sum_x grad p(x|z) log r(z|x)."""
    config = mae_categorical.get_config("smoke=True")
    config.method.mi_batch_size = 4096
    config.method.reinforce_samples = 8
    method = get_method(config, DataSpec((10,), "categorical", 10))
    x0 = jnp.eye(10, dtype=jnp.float32)[:4]
    params = method.init(jax.random.key(0), x0)["params"]
    rng = jax.random.key(1)

    def surrogate(vae):
        return method.mi_bound({**params, "vae": vae}, {}, rng, config.method.mi_batch_size)[0]

    def exact(vae):  # same z draws (sample_joint splits rng the same way), expectation over x by enumeration
        z = method.model.sample_prior(jax.random.split(rng)[0], config.method.mi_batch_size)
        logits = method.model.decode({**params, "vae": vae}, {}, z)
        p = jax.nn.softmax(logits, axis=-1)  # [n, 10]
        eye = jnp.broadcast_to(jnp.eye(10), (z.shape[0], 10, 10)).transpose(1, 0, 2)  # [10, n, 10]
        log_r = method.log_r(params["r"], eye, jnp.broadcast_to(z, (10, *z.shape)))  # [10, n]
        return method.prior_entropy + jnp.mean(jnp.sum(p * log_r.T, axis=-1))

    g_est = ravel_pytree(jax.jit(jax.grad(surrogate))(params["vae"]))[0]
    g_true = ravel_pytree(jax.jit(jax.grad(exact))(params["vae"]))[0]
    cosine = jnp.dot(g_est, g_true) / (jnp.linalg.norm(g_est) * jnp.linalg.norm(g_true))
    assert float(cosine) > 0.9, float(cosine)
    np.testing.assert_allclose(float(jnp.linalg.norm(g_est)), float(jnp.linalg.norm(g_true)), rtol=0.25)


def test_importance_weighted_encoder_bound_and_resampling():
    config = mae_categorical.get_config("smoke=True,iw=5")
    method = get_method(config, DataSpec((10,), "categorical", 10))
    x = jnp.eye(10, dtype=jnp.float32)
    variables = method.init(jax.random.key(0), x)
    params = variables["params"]
    rng = jax.random.key(3)
    # log (1/k) sum w_j grows with k towards log p(x) (Burda et al.); k = 1 is the ELBO
    bounds = [float(jnp.mean(jax.jit(jax.vmap(lambda key, k=k: method.iwae_bound(params, {}, x, key, k=k)))(
        jax.random.split(rng, 64)))) for k in (1, 5, 50)]
    assert bounds[0] < bounds[1] < bounds[2], bounds
    z = jax.jit(method.sample_posterior)(params, {}, x, rng)
    assert z.shape == (10, 1) and bool(jnp.all(jnp.isfinite(z)))
    losses, _ = jax.jit(method.losses)(params, {}, {"x": x}, rng, jnp.int32(0))
    assert np.isfinite(float(losses["vae"][1]["iwae_bound"]))


@pytest.mark.parametrize("target", [0.0, 0.5, 1.0, 1.5])
def test_splitting_the_normal_achieved_mi_tracks_target(tmp_path, target):
    """Section 7.1: the decoder's MI (Barber-Agakov, freshly trained r) lands on M; M = 0 ignores z."""
    config = mae_splitting_normal.get_config(f"M={target},steps=1000")  # the paper-size nets, 1000 steps
    config.run_eval = False
    config.log_every_steps = 250
    config.checkpoint_every_steps = 1000
    method, state, _, _ = train(config, str(tmp_path))
    achieved = method.achieved_mi(state["params"], state["batch_stats"], jax.random.key(7), num_steps=800,
                                  num_samples=4096)
    assert abs(achieved - target) < 0.25, (target, achieved)
    means = method.model.decode(state["params"], state["batch_stats"], jnp.linspace(-2.0, 2.0, 21)[:, None])[:, 0]
    spread = float(jnp.std(means))
    if target == 0.0:
        # the decoder ignores z: a slope of the mean of 0.25 would already be only ~0.03 nats
        assert achieved < 0.1 and spread < 0.3, (achieved, spread)
    else:
        assert spread > 0.5, spread  # p(x|z) moves with z
