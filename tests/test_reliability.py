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
import types

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


def test_ctrl_c_saves_like_sigterm_and_exits_130_without_a_traceback(tmp_path):
    workdir = str(tmp_path / "run")
    proc = start_cli(*BASE, "--config.num_train_steps=100000", "--config.checkpoint_every_steps=100000",
                     "--config.steps_per_call=5", f"--workdir={workdir}")
    wait_for(lambda: os.path.exists(os.path.join(workdir, "metrics.jsonl")))
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "SIGINT: saved checkpoint at step" in stderr
    step = Checkpointer(os.path.join(workdir, "checkpoints"), keep=2).latest_step()
    assert step is not None and step > 0
    assert not [d for d in os.listdir(os.path.join(workdir, "checkpoints")) if "tmp" in d]


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
    """mtime of every file, but the training lock's (each trainer that takes it writes its pid there)."""
    return {os.path.relpath(os.path.join(root, f), directory): os.stat(os.path.join(root, f)).st_mtime_ns
            for root, _, files in os.walk(directory) for f in files if f != ".lock"}


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
    with pytest.raises(NonFiniteError, match=r"15 consecutive non-finite steps .* up to step 55.*step 40\) holds"):
        loop.train(config, workdir, dataset=poisoned)
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert rows[-1]["step"] == 55 and rows[-1]["nonfinite"] == 15 and rows[-1]["skipped"] == 15  # exactly
    assert max(Checkpointer(os.path.join(workdir, "checkpoints"), keep=3).steps()) == 40
    # Skipped steps changed nothing: parameters and optimizer state equal the last good state.
    restored = saved_state(workdir, 40)
    assert_trees_equal(restored["params"], jax.device_get(good_state["params"]))


def test_a_non_finite_update_is_caught_never_saved_and_a_sane_restart_trains(tmp_path, monkeypatch):
    """Finite loss and gradients but a NaN update (the optimizer scales by NaN): the updated state is
    guarded, the run stops after exactly max_consecutive_nonfinite steps and saves nothing non-finite."""
    import optax

    from mi_vae.data import load_dataset
    from mi_vae.train import loop

    config = smoke_config("vae", num_train_steps=100, checkpoint_every_steps=20, log_every_steps=10,
                          max_consecutive_nonfinite=15)
    clean = load_dataset("fashion_mnist", max_train_examples=1024, max_test_examples=64)
    workdir = str(tmp_path / "run")
    make_optimizers = loop.make_optimizers

    def nan_update(*args, **kwargs):
        return {p: optax.chain(opt, optax.scale(float("nan"))) for p, opt in make_optimizers(*args, **kwargs).items()}

    with monkeypatch.context() as patch:
        patch.setattr(loop, "make_optimizers", nan_update)
        with pytest.raises(NonFiniteError, match=r"15 consecutive .* up to step 15;.*No checkpoint was saved"):
            loop.train(config, workdir, dataset=clean)
    assert Checkpointer(os.path.join(workdir, "checkpoints"), keep=3).steps() == []
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert rows[-1]["nonfinite"] == 15 and rows[-1]["skipped"] == 15
    config.num_train_steps = 20
    _, state, _, _ = loop.train(config, workdir, dataset=clean)  # the real optimizer: trains from scratch
    assert int(state["step"]) == 20
    assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(state["params"]))


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


# ----------------------------------------------------------------------------- round 2: integrity, lock, resume


def test_a_flipped_byte_in_the_newest_step_falls_back_to_the_good_one(tmp_path):
    """Checksums saved with each step: data changed on disk never restores silently, and the fallback reaches
    the earlier good step (every restart picks it, not the damaged one)."""
    workdir = str(tmp_path / "run")
    run_cli(*BASE, "--config.num_train_steps=40", f"--workdir={workdir}")
    saved = Checkpointer(os.path.join(workdir, "checkpoints"), keep=2).manager.metadata(40).custom_metadata
    assert len(saved["fingerprints"]) > 10  # one per leaf of the state
    files = [os.path.join(root, f) for root, _, names in os.walk(os.path.join(workdir, "checkpoints", "40"))
             for f in names]
    largest = max(files, key=os.path.getsize)
    with open(largest, "r+b") as f:
        f.seek(os.path.getsize(largest) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x10]))
    config = smoke_config("infomax_vae")
    from mi_vae.data import load_dataset
    from mi_vae.train import loop

    dataset = load_dataset("fashion_mnist", max_train_examples=1024, max_test_examples=64)
    from mi_vae.train.step import make_mesh

    _, _, state, _ = loop.build(config, dataset, make_mesh())
    for _ in range(2):  # the same answer on every restart
        restored, step = Checkpointer(os.path.join(workdir, "checkpoints"), keep=2).restore_latest(state)
        assert step == 20
        assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(restored["params"]))


def test_checksums_catch_any_changed_element():
    from mi_vae.train.checkpoint import fingerprints

    state = {"w": jnp.arange(1000, dtype=jnp.float32).reshape(10, 100), "n": jnp.int32(3),
             "rng": jax.random.key_data(jax.random.key(0)), "h": jnp.ones(7, jnp.bfloat16), "b": jnp.array([True])}
    base = fingerprints(state)
    assert set(base) == {"w", "n", "rng", "h", "b"}
    for name, changed in (("w", state["w"].at[3, 7].set(1e25)), ("w", state["w"].at[9, 99].multiply(-1.0)),
                          ("n", jnp.int32(4)), ("h", state["h"].at[6].set(2.0)), ("b", jnp.array([False])),
                          ("w", state["w"].at[0, 0].set(state["w"][0, 1]).at[0, 1].set(state["w"][0, 0]))):
        now = fingerprints({**state, name: changed})
        assert now[name] != base[name], name  # a swap of two elements too (position-weighted)
        assert {k: v for k, v in now.items() if k != name} == {k: v for k, v in base.items() if k != name}


def test_keep_checkpoints_zero_and_other_unusable_values_are_refused_before_anything(tmp_path):
    for override, key in (("--config.keep_checkpoints=0", "keep_checkpoints"),
                          ("--config.optim.vae.learning_rate=-0.001", "optim.vae.learning_rate"),
                          ("--config.num_train_steps=-5", "num_train_steps"),
                          ("--config.eval.num_examples=-5", "eval.num_examples"),
                          ("--config.model.latent_dim=0", "model.latent_dim"),
                          ("--config.log_every_steps=0", "log_every_steps"),
                          ("--config.seed=-1", "seed")):
        workdir = tmp_path / key
        proc = run_cli("--config=configs/vae.py:smoke=True", override, f"--workdir={workdir}", check=False)
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 1 and last.startswith(f"error: config.{key} must be"), (override, last)
        assert "Traceback" not in proc.stderr
        assert not os.path.exists(workdir / "checkpoints") and not os.path.exists(workdir / "config.json")


def test_a_second_trainer_on_the_same_workdir_is_refused_and_a_killed_one_leaves_no_lock(tmp_path):
    workdir = str(tmp_path / "run")
    first = start_cli(*BASE, "--config.num_train_steps=100000", "--config.checkpoint_every_steps=50",
                      f"--workdir={workdir}")
    try:
        wait_for(lambda: os.path.isfile(os.path.join(workdir, "config.json")), timeout=180)
        second = run_cli(*BASE, "--config.num_train_steps=20", f"--workdir={workdir}", check=False)
        last = second.stderr.strip().splitlines()[-1]
        assert second.returncode == 1 and "is in use by another training process" in last
        assert f"pid {first.pid}" in last
    finally:
        first.kill()
        first.wait()
    # SIGKILL left the lock file, not the lock: the next trainer proceeds
    proc = run_cli(*BASE, "--config.num_train_steps=10", f"--workdir={workdir}", check=False)
    assert "in use" not in proc.stderr and os.path.isfile(os.path.join(workdir, ".lock"))


def test_resume_refuses_changed_seed_or_batch_and_records_other_changes(tmp_path):
    workdir = str(tmp_path / "run")
    run_cli(*BASE, "--config.num_train_steps=20", f"--workdir={workdir}")
    config_before = open(os.path.join(workdir, "config.json")).read()
    for override, key in (("--config.seed=5", "seed"), ("--config.batch_size=16", "batch_size"),
                          ("--config.method.alpha=3.0", "method.alpha")):
        proc = run_cli(*BASE, "--config.num_train_steps=40", override, f"--workdir={workdir}", check=False)
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 1 and f"cannot resume with a changed {key}" in last, last
        assert open(os.path.join(workdir, "config.json")).read() == config_before
    run_cli(*BASE, "--config.num_train_steps=40", "--config.optim.vae.learning_rate=0.0001", f"--workdir={workdir}")
    import json

    history = [json.loads(line) for line in open(os.path.join(workdir, "config_history.jsonl"))]
    assert {"step": 20, "key": "num_train_steps", "old": 20, "new": 40} in history
    assert {"step": 20, "key": "optim.vae.learning_rate", "old": 0.001, "new": 0.0001} in history
    assert json.load(open(os.path.join(workdir, "config.json")))["optim"]["vae"]["learning_rate"] == 0.0001


def test_a_torn_last_metrics_line_is_skipped_and_the_next_row_starts_a_new_line(tmp_path, caplog):
    from mi_vae.io import MetricWriter

    path = str(tmp_path / "metrics.jsonl")
    writer = MetricWriter(path)
    writer.write({"step": 10, "split": "train", "loss": 1.0})
    with open(path, "a") as f:
        f.write('{"step": 20, "split": "tr')  # a crash mid-write
    assert [r["step"] for r in read_metrics(path)] == [10]
    assert "not a whole JSON row" in caplog.text and "line 2" in caplog.text
    writer.write({"step": 30, "split": "train", "loss": 0.5})
    assert [r["step"] for r in read_metrics(path)] == [10, 30]


def test_atomic_writes_get_the_umask_mode_not_0600(tmp_path):
    from mi_vae.io import write_json_atomic

    old = os.umask(0o022)
    try:
        write_json_atomic(str(tmp_path / "config.json"), {"a": 1})
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "config.json").st_mode & 0o777 == 0o644


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_checkpoint_directory_stops_at_the_start(tmp_path):
    workdir = tmp_path / "run"
    (workdir / "checkpoints").mkdir(parents=True)
    (workdir / "checkpoints").chmod(0o500)
    proc = run_cli(*BASE, "--config.num_train_steps=20", f"--workdir={workdir}", check=False)
    assert proc.returncode == 1 and "is not writable" in proc.stderr.strip().splitlines()[-1]


def test_a_checkpoint_path_that_is_a_file_stops_at_the_start_with_one_line(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "checkpoints").write_text("not a directory")
    proc = run_cli(*BASE, "--config.num_train_steps=20", f"--workdir={workdir}", check=False, timeout=120)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and last.startswith("error:") and "is not a directory" in last
    assert "Traceback" not in proc.stderr and not (workdir / "metrics.jsonl").exists()


def test_a_model_too_large_for_memory_is_refused_before_allocating(tmp_path):
    workdir = tmp_path / "run"
    proc = run_cli(*BASE, "--config.model.latent_dim=200000000", f"--workdir={workdir}", check=False, timeout=120)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "parameters: its train state and gradients need" in last, last
    assert "Traceback" not in proc.stderr and not (workdir / "config.json").exists()


def test_a_diverged_run_is_warned_about_in_the_log_and_the_report(tmp_path):
    from mi_vae.io import training_warning

    assert training_warning([{"step": 10, "loss": 500.0}, {"step": 20, "loss": 300.0}]) is None
    assert "diverged" in training_warning([{"step": 10, "loss": 3e33}, {"step": 20, "loss": 2e32}])
    assert "worse" in training_warning([{"step": 10, "loss": 300.0}, {"step": 20, "loss": 600.0}])
    workdir = tmp_path / "run"
    proc = run_cli("--config=configs/vae.py:smoke=True", "--config.optim.vae.learning_rate=1e4",
                   "--config.num_train_steps=60", "--evals=elbo", f"--workdir={workdir}")
    assert "WARNING: training" in proc.stderr
    assert "| WARNING | training" in (workdir / "eval" / "report.md").read_text()


def test_a_failed_evaluation_leaves_the_previous_eval_directory_whole(tmp_path, monkeypatch):
    from mi_vae.config import evals_section
    from mi_vae.evaluation import evaluate
    from mi_vae.evaluation.evaluators import figures
    from mi_vae.train import train

    config = smoke_config("vae", num_train_steps=20, checkpoint_every_steps=20)
    config.evals = evals_section("elbo", "figures")
    workdir = tmp_path / "run"
    train(config, str(workdir))
    evaluate(config, str(workdir))
    before = snapshot(workdir / "eval")
    assert "report.md" in before and "reconstructions.png" in before

    def broken(self, state):
        with open(os.path.join(self.data.out_dir, "half_written.png"), "wb") as f:
            f.write(b"\x89PNG")
        yield "samples", None
        raise RuntimeError("killed mid-figure")

    monkeypatch.setattr(figures.Evaluator, "run", broken)
    with pytest.raises(RuntimeError, match="killed mid-figure"):
        evaluate(config, str(workdir))
    assert snapshot(workdir / "eval") == before
    assert not [d for d in os.listdir(workdir) if d.startswith(".eval-tmp-") or d == "eval.previous"]


def test_a_step_without_its_metadata_falls_back_and_odd_paths_are_one_line(tmp_path):
    workdir = tmp_path / "run"
    run_cli(*BASE, "--config.num_train_steps=40", f"--workdir={workdir}")
    for root, _, names in os.walk(workdir / "checkpoints" / "40"):
        for name in names:
            if name == "_METADATA":
                os.remove(os.path.join(root, name))
    proc = run_cli(*BASE, "--config.num_train_steps=60", f"--workdir={workdir}")
    assert "resumed from checkpoint step 20" in proc.stderr  # not "does not match the model"
    (tmp_path / "afile").write_text("x")
    proc = run_cli(*BASE, f"--workdir={tmp_path / 'afile'}", check=False)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].endswith("exists and is not a directory")
    other = tmp_path / "other"
    (other / "metrics.jsonl").mkdir(parents=True)
    proc = run_cli(*BASE, f"--workdir={other}", check=False)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "metrics.jsonl exists and is not a file" in last and "Traceback" not in proc.stderr


def test_metrics_are_also_tensorboard_event_files(tmp_path):
    """The event files parse as TFRecords of Event protos with the logged scalars (what TensorBoard reads)."""
    import struct

    from tensorboardX.proto import event_pb2

    from mi_vae.io import MetricWriter

    writer = MetricWriter(str(tmp_path / "metrics.jsonl"))
    writer.write({"step": 10, "split": "train", "loss": 2.5, "kl": 1.0})
    writer.write({"step": 20, "split": "train", "loss": 1.5, "kl": float("nan")})
    writer.write({"step": 20, "split": "eval", "elbo": -3.0})
    writer.close()
    (events_file,) = (tmp_path / "tensorboard").glob("events.out.tfevents.*")
    raw, scalars = events_file.read_bytes(), {}
    offset = 0
    while offset < len(raw):
        (length,) = struct.unpack("<Q", raw[offset:offset + 8])
        event = event_pb2.Event.FromString(raw[offset + 12:offset + 12 + length])
        offset += 12 + length + 4
        for value in event.summary.value:
            scalars[(value.tag, event.step)] = value.simple_value
    assert scalars == {("train/loss", 10): 2.5, ("train/kl", 10): 1.0, ("train/loss", 20): 1.5,
                       ("eval/elbo", 20): -3.0}


def test_sigterm_during_evaluation_is_one_line_and_leaves_eval_alone(tmp_path):
    workdir = str(tmp_path / "run")
    run_cli(*BASE, "--config.num_train_steps=20", f"--workdir={workdir}")
    proc = start_cli(f"--workdir={workdir}", "--mode=eval")
    wait_for(lambda: any(d.startswith(".eval-tmp-") for d in os.listdir(workdir)), timeout=180)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith("error: SIGTERM during evaluation") and "Traceback" not in stderr
    assert not [d for d in os.listdir(workdir) if d.startswith(".eval-tmp-")] and not os.path.exists(
        os.path.join(workdir, "eval"))


def test_wandb_is_a_writer_when_installed_and_one_line_when_not(tmp_path, monkeypatch):
    """``config.wandb_project``: the scalars go to wandb.log by split/name and step (a stand-in module records
    them); without wandb installed the run is refused in one line before anything is written."""
    from mi_vae.errors import ConfigError
    from mi_vae.train import loop

    calls = []

    class Run:
        def log(self, scalars, step):
            calls.append(("log", step, scalars))

        def finish(self):
            calls.append(("finish",))

    fake = types.ModuleType("wandb")
    fake.init = lambda **kwargs: calls.append(("init", kwargs)) or Run()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    config = smoke_config("vae", num_train_steps=40, log_every_steps=20, wandb_project="mine")
    loop.train(config, str(tmp_path / "run"))
    init = calls[0][1]
    assert calls[0][0] == "init" and init["project"] == "mine" and init["resume"] == "allow"
    assert init["config"]["num_train_steps"] == 40 and init["dir"] == str(tmp_path / "run")
    logged = {(c[1], k) for c in calls if c[0] == "log" for k in c[2]}
    assert {(20, "train/loss"), (40, "train/elbo"), (40, "valid/elbo")} <= logged
    assert calls[-1] == ("finish",)

    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    with pytest.raises(ConfigError, match="wandb is not installed"):
        loop.train(config, str(tmp_path / "without"))
    assert not os.path.exists(tmp_path / "without")


def test_a_workdir_that_is_a_looping_or_dangling_symlink_is_named_as_such(tmp_path):
    from mi_vae.main import UsageError, check_workdir

    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    with pytest.raises(UsageError, match="is a symbolic link that loops"):
        check_workdir(str(tmp_path / "a"))
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    with pytest.raises(UsageError, match="symbolic link to .*nowhere, which does not exist"):
        check_workdir(str(tmp_path / "dangling"))


def storage_limited_cli(limit_bytes: int, *args: str) -> subprocess.CompletedProcess:
    """The CLI with every file capped at ``limit_bytes`` (RLIMIT_FSIZE; SIGXFSZ ignored, so a write past the
    cap fails with EFBIG, as a full disk fails with ENOSPC), without root or a real full disk."""
    code = ("import resource, runpy, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes})); "
            "sys.argv = ['mi_vae.main'] + sys.argv[1:]; runpy.run_module('mi_vae.main', run_name='__main__')")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def last_line(proc) -> str:
    """The run's one ``error:`` line: exactly one, the last line, and no traceback anywhere (TensorStore's
    "Event loop is closed" callbacks and asyncio's unretrieved write tasks of a failed save included)."""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and proc.stderr.strip().splitlines()[-1] == errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Task exception was never retrieved" not in proc.stderr, \
        proc.stderr[-2000:]
    return errors[0]


def test_a_full_disk_is_one_line_at_start_during_saves_and_during_evaluation(tmp_path):
    base = ["--config=configs/vae.py:smoke=True", "--config.num_train_steps=40", "--config.log_every_steps=20",
            "--config.checkpoint_every_steps=20"]
    # at start: config.json cannot be written
    proc = storage_limited_cli(64, *base, f"--workdir={tmp_path / 'start'}", "--config.run_eval=False")
    assert proc.returncode == 1 and last_line(proc).startswith("error: writing ") and "File too large" in \
        last_line(proc) and "Traceback" not in proc.stderr
    # during saves: the checkpoint's data file exceeds the cap (metrics and config fit)
    proc = storage_limited_cli(200_000, *base, f"--workdir={tmp_path / 'saves'}", "--config.run_eval=False")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert last_line(proc).startswith("error: saving checkpoint step") and "File too large" in last_line(proc)
    assert "no complete checkpoint was saved" in last_line(proc)
    assert [d for d in os.listdir(tmp_path / "saves" / "checkpoints") if d.isdigit()] == []
    # during evaluation: a figure cannot be written; eval/ keeps the previous evaluation, nothing half-written
    workdir = tmp_path / "evaluated"
    run_cli(*base, f"--workdir={workdir}", "--evals=elbo,figures")
    before = snapshot(workdir / "eval")
    proc = storage_limited_cli(4_000, f"--workdir={workdir}", "--mode=eval", "--evals=elbo,figures")
    assert proc.returncode == 1 and last_line(proc).startswith("error: writing ") and "Traceback" not in proc.stderr
    assert snapshot(workdir / "eval") == before
    assert not [d for d in os.listdir(workdir) if d.startswith(".eval-tmp-") or d == "eval.previous"]


def test_only_closed_loop_callbacks_are_dropped_from_unraisable_reports(monkeypatch):
    """The hook Checkpointer installs drops TensorStore's callbacks onto a closed asyncio loop and passes every
    other unraisable exception (another RuntimeError, the same text raised elsewhere) to the previous hook."""
    import asyncio
    import functools

    from mi_vae.train import checkpoint

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: seen.append(unraisable.exc_value))
    checkpoint.quiet_closed_loop_callbacks()
    checkpoint.quiet_closed_loop_callbacks()  # once: not wrapped twice

    def report(function):
        """As Python reports an exception raised in a callback called from C: the traceback starts there."""
        try:
            function()
        except RuntimeError as err:
            sys.unraisablehook(types.SimpleNamespace(exc_type=RuntimeError, exc_value=err, err_msg=None,
                                                     exc_traceback=err.__traceback__.tb_next, object=None))

    loop = asyncio.new_event_loop()
    loop.close()
    report(functools.partial(loop.call_soon_threadsafe, print))

    def elsewhere():
        raise RuntimeError("Event loop is closed")

    report(elsewhere)
    report(lambda: asyncio.get_running_loop())  # "no running event loop"
    assert [str(e) for e in seen] == ["Event loop is closed", "no running event loop"]
    assert sys.unraisablehook.__wrapped__ is not None and not getattr(
        sys.unraisablehook.__wrapped__, "drops_closed_loop_callbacks", False)


def test_a_save_the_disk_cannot_hold_is_refused_before_orbax_starts_it(tmp_path, monkeypatch):
    import collections

    from mi_vae.train.checkpoint import CheckpointSaveError

    state = {"w": jnp.ones((1000,)), "step": jnp.array(3)}
    checkpointer = Checkpointer(str(tmp_path / "ckpt"), keep=2)
    checkpointer.save(1, state)
    checkpointer.close()
    checkpointer = Checkpointer(str(tmp_path / "ckpt"), keep=2)
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(CheckpointSaveError, match=r"step 2: 0.0 MiB free .* step 1 is the last complete checkpoint"):
        checkpointer.save(2, state)
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["1"]


def test_a_step_removed_by_the_trainer_while_evaluation_reads_it_is_retried_on_the_newest(tmp_path, caplog):
    """--mode=eval beside a training run: keep-N may delete the step the reader has just listed. The reader reads
    the listing again and restores the step that replaced it, with no 'unreadable' warning."""
    state = {"w": jnp.arange(1000.0), "step": jnp.array(1)}
    trainer = Checkpointer(str(tmp_path / "ckpt"), keep=1, async_save=False)
    trainer.save(1, state)
    reader = Checkpointer(str(tmp_path / "ckpt"), keep=1, async_save=False)
    assert reader.steps() == [1]
    restore = reader.manager.restore

    def trainer_moves_on(step, **kwargs):
        if step == 1:
            trainer.save(2, {"w": state["w"] + 1, "step": jnp.array(2)})  # keep=1 removes step 1
            assert not os.path.exists(tmp_path / "ckpt" / "1")
        return restore(step, **kwargs)

    reader.manager.restore = trainer_moves_on
    restored, step = reader.restore_latest(state)
    assert step == 2 and np.array_equal(restored["w"], np.arange(1000.0) + 1)
    assert "unreadable" not in caplog.text
    trainer.close()
    reader.close()
