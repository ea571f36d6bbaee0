"""Multi-process data parallelism on CPU: 2 processes x 4 devices == 1 process x 8 devices, and the
checkpoint they write restores in a 1-process 1-device run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
from conftest import REPO, run_cli

from mi_vae.io import read_metrics

ARGS = ["--config=configs/infomax_vae.py:smoke=True", "--config.run_eval=False", "--config.num_train_steps=60",
        "--config.checkpoint_every_steps=60"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def rows(workdir):
    return {r["step"]: r for r in read_metrics(os.path.join(workdir, "metrics.jsonl"))}


def test_two_processes_match_one_process_and_restore_on_one_device(tmp_path):
    single, multi = str(tmp_path / "single"), str(tmp_path / "multi")
    run_cli(*ARGS, f"--workdir={single}", devices=8)

    port = free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    procs = [subprocess.Popen([sys.executable, "-m", "mi_vae.main", *ARGS, f"--workdir={multi}", "--distributed",
                               f"--coordinator_address=localhost:{port}", "--num_processes=2", f"--process_id={i}"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]

    one, two = rows(single), rows(multi)
    assert one.keys() == two.keys() and max(one) == 60
    for key in ("loss", "critic/loss", "kl", "recon_nll"):
        np.testing.assert_allclose([two[s][key] for s in one], [one[s][key] for s in one], rtol=1e-5, err_msg=key)
    assert os.path.isdir(os.path.join(multi, "checkpoints", "60"))

    # The 8-device checkpoint continues on 1 process with 1 device.
    proc = run_cli(*ARGS[:-2], "--config.num_train_steps=80", f"--workdir={multi}", devices=1)
    assert "resumed from checkpoint step 60" in proc.stderr
    assert max(rows(multi)) == 80


def test_global_batch_permutation_and_mmd_do_not_depend_on_sharding():
    """Run in a subprocess with 8 CPU devices: sharded values equal unsharded ones."""
    code = """
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from mi_vae import losses
mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
z = jax.random.normal(jax.random.key(0), (64, 5))
y = jax.random.normal(jax.random.key(1), (64, 5)) + 0.3
key = jax.random.key(2)
f = jax.jit(lambda z, y: (losses.shuffle_marginal(key, z), losses.mmd(z, y),
                          losses.mmd(z, y, kernel="imq", unbiased=True)))
plain = f(z, y)
sharding = NamedSharding(mesh, P("data"))
sharded = f(jax.device_put(z, sharding), jax.device_put(y, sharding))
assert len(jax.devices()) == 8
np.testing.assert_array_equal(np.asarray(sharded[0]), np.asarray(plain[0]))
np.testing.assert_allclose(float(sharded[1]), float(plain[1]), rtol=1e-5)
np.testing.assert_allclose(float(sharded[2]), float(plain[2]), rtol=1e-5, atol=1e-7)
print("ok")
"""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]
