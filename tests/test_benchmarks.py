"""The benchmark harness: analytic FLOPs against hand counts, and the smoke run's JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest
from conftest import REPO

from benchmarks import flops

REQUIRED = ("name", "framework", "images_per_sec", "step_ms", "batch", "steps", "wall_s", "compile_s", "mfu",
            "peak_memory_bytes", "device", "commit", "data")


def test_dense_flops_match_hand_count():
    # [64, 794] @ [794, 1000]: 64 * 794 * 1000 multiply-adds, 2 FLOPs each.
    assert flops.dense_flops(64, 794, 1000) == 2 * 64 * 794 * 1000 == 101_632_000
    total, layers = flops.count_flax_flops(
        lambda x: nn.Dense(1000).init_with_output(jax.random.key(0), x)[0], jnp.zeros((64, 794)))
    assert total == 101_632_000
    assert [layer.kind for layer in layers] == ["dense"]


def test_conv_flops_match_hand_count():
    # 4x4 stride-2 pad-1 conv 1 -> 28 channels on 28x28: 14x14 outputs, each 4*4*1 MACs per output channel.
    hand = 2 * 8 * (14 * 14) * (4 * 4 * 1) * 28
    assert flops.conv_flops(8, (14, 14), (4, 4), 1, 28) == hand == 1_404_928
    conv = nn.Conv(28, (4, 4), strides=2, padding=1)
    total, layers = flops.count_flax_flops(
        lambda x: conv.init_with_output(jax.random.key(0), x)[0], jnp.zeros((8, 28, 28, 1)))
    assert total == hand
    assert layers[0].out_shape == (8, 14, 14, 28)


def test_conv_transpose_counts_only_useful_multiply_adds():
    # 7x7 -> 14x14, k=4, s=2: each of the 49 input pixels meets all 16 taps; equals out_pixels*k^2/s^2.
    hand = 2 * 8 * 49 * 16 * 28 * 28
    assert flops.conv_transpose_flops(8, (7, 7), (4, 4), 28, 28) == hand
    assert hand == 2 * 8 * (14 * 14) * 16 * 28 * 28 // 4
    deconv = nn.ConvTranspose(28, (4, 4), strides=(2, 2), padding=[(2, 2), (2, 2)])  # PyTorch (4, 2, 1)
    total, layers = flops.count_flax_flops(
        lambda x: deconv.init_with_output(jax.random.key(0), x)[0], jnp.zeros((8, 7, 7, 28)))
    assert layers[0].out_shape == (8, 14, 14, 28)
    assert total == hand


def test_train_step_flops_and_mfu():
    assert flops.train_step_flops(10) == 30
    assert flops.mfu(989.4e12, 1.0) == pytest.approx(1.0)


def test_infomax_model_flops_match_the_layer_list():
    """mi_vae's conv28 InfoMax-VAE: encoder + decoder once, the critic on 2B pairs twice (both players)."""
    from configs import infomax_vae
    from mi_vae.methods import DataSpec, get_method

    b = 4
    method = get_method(infomax_vae.get_config(), DataSpec((28, 28, 1), "bernoulli"))
    variables = jax.eval_shape(method.init, jax.random.key(0), jnp.zeros((b, 28, 28, 1)))
    total, _ = flops.method_forward_flops(method, variables["params"], variables["batch_stats"],
                                          jax.ShapeDtypeStruct((b, 28, 28, 1), jnp.float32))
    enc = (flops.conv_flops(b, (14, 14), (4, 4), 1, 28) + flops.conv_flops(b, (7, 7), (4, 4), 28, 28)
           + flops.conv_flops(b, (3, 3), (4, 4), 28, 56) + flops.conv_flops(b, (1, 1), (4, 4), 56, 118)
           + flops.dense_flops(b, 118, 20))
    dec = (flops.dense_flops(b, 10, 118) + flops.conv_transpose_flops(b, (1, 1), (4, 4), 118, 118)
           + flops.conv_transpose_flops(b, (2, 2), (4, 4), 118, 56)
           + flops.conv_transpose_flops(b, (4, 4), (4, 4), 56, 28)
           + flops.conv_transpose_flops(b, (7, 7), (4, 4), 28, 28)
           + flops.conv_transpose_flops(b, (14, 14), (4, 4), 28, 1))
    critic = sum(flops.dense_flops(2 * b, i, o) for i, o in ((794, 1000), (1000, 400), (400, 100), (100, 1)))
    assert total == enc + dec + 2 * critic


def test_torch_reference_has_the_same_model_flops():
    pytest.importorskip("torch")
    from benchmarks import torch_reference
    from configs import infomax_vae
    from mi_vae.methods import DataSpec, get_method

    b = 6
    method = get_method(infomax_vae.get_config(), DataSpec((28, 28, 1), "bernoulli"))
    variables = jax.eval_shape(method.init, jax.random.key(0), jnp.zeros((b, 28, 28, 1)))
    jax_total, _ = flops.method_forward_flops(method, variables["params"], variables["batch_stats"],
                                              jax.ShapeDtypeStruct((b, 28, 28, 1), jnp.float32))
    assert torch_reference.forward_flops(b) == jax_total


def _run_smoke(*suites: str) -> list[dict]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--smoke", "--suite", *suites], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, proc.stderr[-3000:]
    return [json.loads(line) for line in lines]  # stdout holds JSON lines only


def test_smoke_infomax_b64_prints_valid_json_lines():
    records = _run_smoke("infomax_b64")
    assert [r["name"] for r in records] == ["infomax_b64"], records
    rec = records[0]
    for key in REQUIRED:
        assert key in rec, key
    assert "error" not in rec
    assert rec["framework"] == "jax"
    assert rec["images_per_sec"] > 0 and rec["step_ms"] > 0 and rec["steps"] > 0
    assert rec["compile_s"] >= 0
    assert rec["mfu"] is None  # CPU
    assert rec["data"] in ("fashion_mnist", "synthetic")
    assert rec["model_flops_per_step"] > 0
    assert rec["smoke"] is True


def test_engine_variants_smoke_times_a_patched_variant_and_exports_the_fastest(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    export = tmp_path / "best.env"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.engine_variants", "--smoke", "--min-time", "0.2",
                           "--only", "dilated/b64", "flat_adam/b64", "--export", str(export)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    names = [r["name"] for r in records]
    assert names == ["variant/dilated/b64", "variant/flat_adam/b64"], proc.stdout + proc.stderr[-2000:]
    for r in records:
        assert "error" not in r and r["images_per_sec"] > 0 and r["smoke"] is True
    assert [r["flatten_optimizer"] for r in records] == [False, True]
    fastest = max(records, key=lambda r: r["images_per_sec"])
    flat = int(fastest["name"] == "variant/flat_adam/b64")
    assert f"SCAN_UNROLL=1 FLATTEN_OPTIMIZER={flat}" in export.read_text()


def test_busy_time_is_the_union_of_overlapping_events():
    from benchmarks.profile import _busy_ns

    assert _busy_ns([(0, 10), (5, 15), (20, 30), (21, 22)]) == 25
    assert _busy_ns([]) == 0


def test_hlo_sources_cut_the_scan_prefix_and_match_kernel_spellings():
    from benchmarks.profile import hlo_sources

    text = ('  %conv.7 = f32[2]{0} convolution(%a, %b), metadata={op_name="jit(train_chunk)/while/body/'
            'closed_call/jvp(VAE.decode)/decoder/Conv_0/conv_general_dilated" stack_frame_id=3}\n'
            '  ROOT %loop_add_fusion.2 = f32[2]{0} fusion(%c), kind=kLoop, metadata={op_name="jit(f)/add"}\n'
            '  %p = f32[2]{0} parameter(0)\n')
    sources = hlo_sources(text)
    assert sources["conv.7"] == "jvp(VAE.decode)/decoder/Conv_0/conv_general_dilated"
    assert sources["loop_add_fusion_2"] == sources["loop_add_fusion.2"] == "add"
    assert "p" not in sources


def test_profile_smoke_names_the_ops_that_take_the_time(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.profile", "--smoke", "--calls", "1", "--top", "5",
                           "--trace-dir", str(tmp_path / "trace")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads(proc.stdout)
    assert rec["name"] == "profile/infomax_b64" and rec["steps"] > 0 and rec["images_per_sec"] > 0
    assert os.path.isfile(rec["trace"]) and rec["trace"].startswith(str(tmp_path))
    (host,) = [t for t in rec["timelines"] if t["timeline"] == "host:XLA ops"]
    assert 0 < host["busy_ms"] and host["events_per_step"] > 1 and len(host["top"]) == 5
    totals = [row["total_ms"] for row in host["top"]]
    assert totals == sorted(totals, reverse=True) and sum(row["share"] for row in host["top"]) <= 1 + 1e-9
    # the step's heaviest ops are its convolutions, traced back to the encoder/decoder layers
    assert any(row["source"] and ("decoder/" in row["source"] or "encoder/" in row["source"]) for row in host["top"])
