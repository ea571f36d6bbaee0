"""The engine: CLI training, device-count invariance, determinism, exact resume, compile-once."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_cli, smoke_config

from mi_vae.config import base_config
from mi_vae.io import read_metrics

SMOKE = ["--config.run_eval=False"]


def losses_of(workdir, key="loss"):
    return {row["step"]: row[key] for row in read_metrics(os.path.join(workdir, "metrics.jsonl"))}


@pytest.mark.parametrize("config", ["vae", "beta_vae", "infomax_vae", "default"])
def test_smoke_config_trains_through_cli_and_loss_falls(tmp_path, config):
    workdir = str(tmp_path / config)
    run_cli(f"--config=configs/{config}.py:smoke=True", f"--workdir={workdir}", *SMOKE)
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert rows[-1]["step"] == 200
    assert rows[-1]["loss"] < 0.8 * rows[0]["loss"]
    for key in ("loss", "vae/loss", "recon_nll", "kl", "elbo", "examples_per_sec"):
        assert np.isfinite(rows[-1][key]), key
    saved = json.load(open(os.path.join(workdir, "config.json")))
    assert saved["batch_size"] == 32
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["100", "200"]


def test_infomax_logs_each_players_loss_and_critic_estimate_rises(tmp_path):
    workdir = str(tmp_path / "infomax")
    run_cli("--config=configs/infomax_vae.py:smoke=True", f"--workdir={workdir}", "--config.num_train_steps=300",
            *SMOKE)
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert {"vae/loss", "critic/loss", "mi_estimate", "critic/mi_estimate"} <= set(rows[-1])
    first, last = rows[0]["critic/mi_estimate"], np.mean([r["critic/mi_estimate"] for r in rows[-3:]])
    assert last > first + 0.5, (first, last)


def test_one_and_eight_devices_log_the_same_losses(tmp_path):
    args = ["--config=configs/infomax_vae.py:smoke=True", "--config.num_train_steps=60", *SMOKE]
    run_cli(*args, f"--workdir={tmp_path / 'one'}", devices=1)
    run_cli(*args, f"--workdir={tmp_path / 'eight'}", devices=8)
    for key in ("loss", "critic/loss", "kl"):
        one, eight = losses_of(tmp_path / "one", key), losses_of(tmp_path / "eight", key)
        assert one.keys() == eight.keys()
        np.testing.assert_allclose([eight[s] for s in one], [one[s] for s in one], rtol=1e-5, atol=1e-6,
                                   err_msg=key)


def test_same_seed_same_losses_and_resume_continues_identically(tmp_path):
    args = ["--config=configs/infomax_vae.py:smoke=True", "--config.checkpoint_every_steps=60",
            "--config.log_every_steps=20", *SMOKE]
    run_cli(*args, "--config.num_train_steps=120", f"--workdir={tmp_path / 'a'}")
    # A second process with the same seed, stopped at step 60 and restarted with the full length: it continues
    # from the checkpoint and logs exactly the first run's losses (same seed, same losses; resume is seamless).
    run_cli(*args, "--config.num_train_steps=60", f"--workdir={tmp_path / 'c'}")
    run_cli(*args, "--config.num_train_steps=120", f"--workdir={tmp_path / 'c'}")
    assert losses_of(tmp_path / "c") == losses_of(tmp_path / "a")
    assert losses_of(tmp_path / "c", "critic/loss") == losses_of(tmp_path / "a", "critic/loss")


def test_step_compiles_once(tmp_path, monkeypatch):
    from mi_vae.train import loop

    """The loop compiles the chunk ahead of time, once; every call (chunks of 20 and 5 active steps) runs that
    one executable, which cannot recompile (a call of another shape would raise)."""
    lowered = []
    original = loop.make_train_chunk

    class Recording:
        def __init__(self, fn):
            self.fn = fn

        def lower(self, *args):
            lowered.append(args)
            return self.fn.lower(*args)

    monkeypatch.setattr(loop, "make_train_chunk", lambda *a, **k: Recording(original(*a, **k)))
    # 55 steps in chunks of 20 with checkpoints every 25: chunks of 20, 5, 20, 5, 5 steps.
    config = smoke_config("infomax_vae", num_train_steps=55, log_every_steps=20, checkpoint_every_steps=25)
    _, state, _, _ = loop.train(config, str(tmp_path))
    assert int(state["step"]) == 55
    assert len(lowered) == 1


def test_critic_loss_reaches_only_critic_parameters():
    from mi_vae.data import load_dataset, to_float
    from mi_vae.methods import get_method
    from mi_vae.train.loop import data_spec

    config = smoke_config("infomax_vae")
    dataset = load_dataset("fashion_mnist", max_train_examples=64, max_test_examples=8)
    method = get_method(config, data_spec(dataset))
    x = jnp.asarray(to_float(dataset.train_x[:32]))
    params = method.init(jax.random.key(0), x)["params"]

    def player_loss(p, player):
        return method.losses(p, {}, {"x": x}, jax.random.key(1), jnp.int32(0))[0][player][0]

    grads = jax.grad(player_loss)(params, "critic")
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads["vae"]))
    assert any(float(jnp.abs(g).max()) > 0.0 for g in jax.tree.leaves(grads["critic"]))
    vae_grads = jax.grad(player_loss)(params, "vae")
    assert any(float(jnp.abs(g).max()) > 0.0 for g in jax.tree.leaves(vae_grads["vae"]))
    # Updated simultaneously, the VAE's bound holds the critic fixed: its loss reaches no critic parameter.
    assert method.update == "simultaneous"
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(vae_grads["critic"]))


def test_conv28_matches_the_reference_shapes():
    from mi_vae.models import VAE, build_decoder, build_encoder

    model = VAE(build_encoder({"name": "conv28"}, 10), build_decoder({"name": "conv28"}, (28, 28, 1)))
    x = jnp.zeros((3, 28, 28, 1))
    variables = model.init(jax.random.key(0), x, jax.random.key(1), train=False)
    terms = model.apply(variables, x, jax.random.key(1), train=False)
    assert terms["mean"].shape == terms["log_var"].shape == terms["z"].shape == (3, 10)
    assert terms["out"].shape == (3, 28, 28, 1)
    params = variables["params"]
    encoder = [params["encoder"][f"Conv_{i}"]["kernel"].shape for i in range(4)]
    decoder = [params["decoder"]["Conv_0"]["kernel"].shape] + [  # the transposed convs, in call order
        layer["kernel"].shape for name, layer in params["decoder"].items() if "ConvTranspose" in name]
    # encoder 4x4 convs 1->28->28->56->118; decoder 1x1 conv z->118 then 118-118-56-28-28-1
    assert [k[:2] for k in encoder] == [(4, 4)] * 4 and [k[-1] for k in encoder] == [28, 28, 56, 118]
    assert decoder[0] == (1, 1, 10, 118)
    assert [k[-1] for k in decoder[1:]] == [118, 56, 28, 28, 1] and all(k[:2] == (4, 4) for k in decoder[1:])


def test_base_config_keys():
    config = base_config()
    for key in ("method", "model", "optim", "dataset", "batch_size", "num_train_steps", "checkpoint_every_steps",
                "log_every_steps", "seed", "compute_dtype"):
        assert key in config
    assert config.method.name == "vae" and set(config.model) == {"latent_dim", "encoder", "decoder", "conv_impl"}


def test_masked_tail_and_unrolled_scan_train_the_same_parameters(tmp_path):
    """40 steps in one call == calls of 15 (the last one masked to 10 steps) == unrolled by 4 == Adam on
    the flattened parameters."""
    from mi_vae.train import loop

    def final_params(name, **overrides):
        config = smoke_config("infomax_vae", num_train_steps=40, log_every_steps=40, checkpoint_every_steps=40,
                              run_eval=False, **overrides)
        _, state, _, _ = loop.train(config, str(tmp_path / name))
        assert int(state["step"]) == 40
        moments = [leaf for leaf in jax.tree.leaves(state["opt_state"]) if leaf.ndim > 0]
        assert (len(moments) == 2 * len(state["opt_state"])) == config.flatten_optimizer  # mu, nu per player
        return jax.tree.leaves(jax.device_get(state["params"]))

    reference = final_params("one_call", steps_per_call=40)
    for name, overrides in (("masked_tail", {"steps_per_call": 15}), ("unrolled", {"scan_unroll": 4}),
                              ("flat_optimizer", {"flatten_optimizer": True})):
        for got, want in zip(final_params(name, **overrides), reference, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_validation_curve_is_logged_and_leaves_training_unchanged(tmp_path):
    """Every eval_every_steps and at the end: the method's terms on held-out batches (split "valid", the training
    rows' names), in metrics.jsonl, TensorBoard and training_curves.png; training is bitwise the same without it."""
    from mi_vae.evaluation.figures import training_curves
    from mi_vae.train import loop

    def run(name, **overrides):
        config = smoke_config("infomax_vae", num_train_steps=70, log_every_steps=20, checkpoint_every_steps=100,
                              **overrides)
        _, state, _, _ = loop.train(config, str(tmp_path / name))
        return jax.tree.leaves(jax.device_get(state["params"])), os.path.join(tmp_path, name, "metrics.jsonl")

    with_valid, path = run("valid", eval_every_steps=30, valid_examples=100)  # 3 batches of 32
    without, plain_path = run("plain", eval_every_steps=0)
    for a, b in zip(with_valid, without, strict=True):
        np.testing.assert_array_equal(a, b)
    valid = read_metrics(path, "valid")
    assert [r["step"] for r in valid] == [30, 60, 70]
    train_keys = set(read_metrics(path, "train")[-1]) - {"examples_per_sec", "nonfinite", "skipped"}
    assert train_keys - {"step", "split"} <= set(valid[-1]) and np.isfinite(valid[-1]["elbo"])
    assert valid[-1]["elbo"] > valid[0]["elbo"]  # it learns
    assert read_metrics(plain_path, "valid") == []
    events = "".join(os.listdir(os.path.join(tmp_path, "valid", "tensorboard")))
    assert events.startswith("events.out.tfevents")
    figure = training_curves(read_metrics(path), str(tmp_path / "curves.png"), valid_rows=valid)
    assert os.path.getsize(figure) > 5000
