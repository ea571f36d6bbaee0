"""Reliability: exact resume after SIGKILL, SIGTERM preemption, damaged checkpoints, non-finite steps,
bad input. Each test injects the fault and checks that nothing is lost."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from conftest import REPO, run_cli, smoke_config

from mi_vae.io import read_metrics
from mi_vae.train import Checkpointer, NonFiniteError

BASE = ["--config=configs/infomax_vae.py:smoke=True", "--config.run_eval=False", "--config.log_every_steps=10",
        "--config.checkpoint_every_steps=20", "--config.keep_checkpoints=2"]


def saved_state(workdir, step):
    return ocp.StandardCheckpointer().restore(os.path.join(workdir, "checkpoints", str(step), "default"))


def assert_trees_equal(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def train_rows(workdir):
    return {r["step"]: r for r in read_metrics(os.path.join(workdir, "metrics.jsonl"))}


def start_cli(*args):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    return subprocess.Popen([sys.executable, "-m", "mi_vae.main", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def has_step(workdir, step):
    return lambda: os.path.isdir(os.path.join(workdir, "checkpoints", str(step)))


def test_sigkill_then_restart_is_bitwise_equal_to_an_uninterrupted_run(tmp_path):
    reference, killed = str(tmp_path / "reference"), str(tmp_path / "killed")
    args = [*BASE, "--config.num_train_steps=120"]
    run_cli(*args, f"--workdir={reference}")
    proc = start_cli(*args, f"--workdir={killed}")
    wait_for(has_step(killed, 40))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert Checkpointer(os.path.join(killed, "checkpoints"), keep=2).latest_step() < 120
    run_cli(*args, f"--workdir={killed}")
    assert_trees_equal(saved_state(killed, 120), saved_state(reference, 120))
    ref_rows, killed_rows = train_rows(reference), train_rows(killed)
    assert ref_rows.keys() == killed_rows.keys()
    for step in ref_rows:
        for key in ("loss", "critic/loss", "kl", "recon_nll"):
            assert killed_rows[step][key] == ref_rows[step][key], (step, key)


def test_sigterm_saves_the_current_step_and_exits_cleanly(tmp_path):
    workdir = str(tmp_path / "run")
    proc = start_cli(*BASE, "--config.num_train_steps=100000", "--config.checkpoint_every_steps=100000",
                     "--config.steps_per_call=5", f"--workdir={workdir}")
    wait_for(lambda: os.path.exists(os.path.join(workdir, "metrics.jsonl")))
    sent = time.time()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-2000:]
    assert time.time() - sent < 20
    step = Checkpointer(os.path.join(workdir, "checkpoints"), keep=2).latest_step()
    assert step is not None and step > 0 and step % 5 == 0
    proc = run_cli(*BASE, "--config.num_train_steps=" + str(step + 10), f"--workdir={workdir}")
    assert f"resumed from checkpoint step {step}" in proc.stderr
    assert max(train_rows(workdir)) == step + 10


def test_unfinished_and_unreadable_steps_fall_back_to_the_last_good_one(tmp_path):
    workdir = str(tmp_path / "run")
    run_cli(*BASE, "--config.num_train_steps=60", f"--workdir={workdir}")
    ckpt_dir = os.path.join(workdir, "checkpoints")
    # An unfinished save (Orbax's temporary directory) is not a step.
    os.makedirs(os.path.join(ckpt_dir, "80.orbax-checkpoint-tmp-1234", "default"))
    assert Checkpointer(ckpt_dir, keep=2).steps() == [40, 60]
    # Damage the newest step: every data file truncated.
    for root, _, files in os.walk(os.path.join(ckpt_dir, "60")):
        for name in files:
            if "_METADATA" not in name and "_CHECKPOINT_METADATA" not in name:
                with open(os.path.join(root, name), "r+b") as f:
                    f.truncate(3)
    proc = run_cli(*BASE, "--config.num_train_steps=80", f"--workdir={workdir}")
    assert "checkpoint step 60" in proc.stderr and "unreadable" in proc.stderr
    assert "resumed from checkpoint step 40" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert max(train_rows(workdir)) == 80


def test_keep_n_holds(tmp_path):
    checkpointer = Checkpointer(str(tmp_path / "ckpt"), keep=2)
    state = {"w": jnp.arange(3.0), "step": jnp.int32(0)}
    for step in range(1, 11):
        checkpointer.save(step, {**state, "step": jnp.int32(step)})
    checkpointer.close()
    assert Checkpointer(str(tmp_path / "ckpt"), keep=2).steps() == [9, 10]


def snapshot(directory):
    return {os.path.relpath(os.path.join(root, f), directory): os.stat(os.path.join(root, f)).st_mtime_ns
            for root, _, files in os.walk(directory) for f in files}


@pytest.mark.parametrize("override, name", [("--config.model.latent_dim=7", "latent_dim"),
                                            ("--config.model.decoder.widths=(32,32)", "decoder"),
                                            ("--config.flatten_optimizer=True", "optimizer")])
def test_restart_with_a_changed_model_stops_and_leaves_the_run_untouched(tmp_path, override, name):
    workdir = str(tmp_path / "run")
    run_cli(*BASE, "--config.num_train_steps=20", f"--workdir={workdir}")
    before = snapshot(workdir)
    proc = run_cli(*BASE, "--config.num_train_steps=40", override, f"--workdir={workdir}", check=False)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: checkpoint step 20") and "does not match" in last
    assert "Traceback" not in proc.stderr
    assert snapshot(workdir) == before


def test_non_finite_steps_are_skipped_and_too_many_stop_the_run(tmp_path):
    from mi_vae.data import load_dataset
    from mi_vae.train import loop

    config = smoke_config("infomax_vae", num_train_steps=40, checkpoint_every_steps=20, log_every_steps=10,
                          max_consecutive_nonfinite=15)
    clean = load_dataset("fashion_mnist", max_train_examples=1024, max_test_examples=64)
    workdir = str(tmp_path / "run")
    _, good_state, _, _ = loop.train(config, workdir, dataset=clean)

    # Continue on data that is entirely NaN: every step is skipped, the run stops after 15 in a row.
    poisoned = type(clean)(**{**clean.__dict__, "train_x": np.full(clean.train_x.shape, np.nan, np.float32)})
    config.num_train_steps = 100
    with pytest.raises(NonFiniteError, match="consecutive non-finite steps"):
        loop.train(config, workdir, dataset=poisoned)
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert rows[-1]["nonfinite"] >= 15 and rows[-1]["skipped"] >= 15
    assert max(Checkpointer(os.path.join(workdir, "checkpoints"), keep=3).steps()) == 40
    # Skipped steps changed nothing: parameters and optimizer state equal the last good state.
    restored = saved_state(workdir, 40)
    assert_trees_equal(restored["params"], jax.device_get(good_state["params"]))


def truncated_fashion_mnist(tmp_path):
    data_dir = tmp_path / "fmnist"
    shutil.copytree("/usr/share/datasets/fashion-mnist", data_dir)
    path = data_dir / "train-images-idx3-ubyte.gz"
    raw = gzip.open(path).read()
    with gzip.open(path, "wb") as f:
        f.write(raw[: len(raw) // 2])
    return str(data_dir)


@pytest.mark.parametrize("case", ["unknown_key", "wrong_type", "unknown_method", "unknown_coefficient",
                                  "unknown_net_setting", "section_as_value", "unknown_optim_setting",
                                  "unknown_dataset", "missing_config", "indivisible_batch", "unwritable_workdir",
                                  "missing_data", "truncated_data"])
def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path, case):
    smoke, workdir = "--config=configs/vae.py:smoke=True", f"--workdir={tmp_path / 'run'}"
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    args, devices, expect = {
        "unknown_key": ([smoke, workdir, "--config.model.latnt_dim=3"], 1, "did you mean 'latent_dim'"),
        "wrong_type": ([smoke, workdir, "--config.model.latent_dim=abc"], 1, "latent_dim"),
        "unknown_method": ([smoke, workdir, "--config.method.name=vea"], 1, "unknown method 'vea'; valid: infomax_vae"),
        # infomax_vae's alpha is no coefficient of the vae method
        "unknown_coefficient": (["--config=configs/infomax_vae.py:smoke=True", workdir, "--config.method.name=vae"],
                                1, "unknown coefficient 'alpha' of method 'vae'; valid: beta"),
        # the MLP config's encoder section sets widths, which the conv28 encoder does not have
        "unknown_net_setting": ([smoke, workdir, "--config.model.encoder.name=conv28"], 1,
                                "unknown encoder 'conv28' setting 'widths'; valid: channels"),
        "section_as_value": ([smoke, workdir, "--config.method=infomax_vae"], 1, "config.method is a section"),
        "unknown_optim_setting": ([smoke, workdir, "--config.optim.vae.lr=0.1"], 1, "unknown config key 'lr'"),
        "unknown_dataset": ([smoke, workdir, "--config.dataset=fmnist"], 1, "fashion_mnist"),
        "missing_config": (["--config=configs/nope.py", workdir], 1, "configs/nope.py"),
        "indivisible_batch": ([smoke, workdir, "--config.batch_size=30"], 8, "not divisible by the device count 8"),
        "unwritable_workdir": ([smoke, f"--workdir={blocker}/run"], 1, "not writable"),
        "missing_data": ([smoke, workdir, f"--config.data_dir={tmp_path}/nothing"], 1, "apt-get"),
        "truncated_data": ([smoke, workdir, f"--config.data_dir={truncated_fashion_mnist(tmp_path)}"], 1,
                           "train-images-idx3-ubyte"),
    }[case]
    proc = run_cli(*args, "--config.run_eval=False", devices=devices, check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expect in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "run" / "checkpoints")
