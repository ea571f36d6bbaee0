"""Shared test helpers: run the CLI in a subprocess, read a run's metrics."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args: str, devices: int = 1, check: bool = True, timeout: float = 300,
            env: dict | None = None, cwd: str = REPO) -> subprocess.CompletedProcess:
    """``python -m mi_vae.main ARGS`` from ``cwd`` (the repo root) on ``devices`` forced CPU devices."""
    full_env = {**os.environ, "JAX_PLATFORMS": "cpu",
                "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "mi_vae.main", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"CLI failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def smoke_config(name: str, **overrides):
    """``configs/<name>.py:smoke=True`` without the final evaluation, with ``overrides`` applied."""
    from importlib import import_module

    config = import_module(f"configs.{name}").get_config("smoke=True")
    config.run_eval = False
    for key, value in overrides.items():
        config[key] = value
    return config
