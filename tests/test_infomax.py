"""InfoMax-VAE (mi_vae.methods.infomax_vae): every MI bound of the menu trains and its estimate rises."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import smoke_config

from mi_vae.io import read_metrics
from mi_vae.methods.infomax_vae import MI_BOUNDS
from mi_vae.train import train


@pytest.mark.parametrize("mi_bound", MI_BOUNDS)
def test_each_mi_bound_trains_and_its_estimate_rises(tmp_path, mi_bound):
    config = smoke_config("infomax_vae", num_train_steps=160, log_every_steps=20, checkpoint_every_steps=160)
    config.method.mi_bound = mi_bound
    train(config, str(tmp_path))
    rows = read_metrics(os.path.join(tmp_path, "metrics.jsonl"))
    estimates = [row["mi_estimate"] for row in rows]  # the VAE's reading of I_hat, in nats
    assert all(np.isfinite(estimates)) and all(np.isfinite(row["critic/loss"]) for row in rows)
    assert np.mean(estimates[-2:]) > estimates[0] + 0.3, estimates
    assert rows[-1]["loss"] < rows[0]["loss"]
