"""Host memory of checkpoint saves (BENCHMARKS.md, "Soak").

TensorStore's JSON -> Python conversion leaves one extra reference on every key and value of every dict it returns,
and Orbax calls it on every save. These tests check the reference counts directly (deterministic, under a second)
rather than RSS over hundreds of saves (a minute or more here, and allocator noise of several MiB): the soak
(``python -m benchmarks.soak --saves 2000``) measures the RSS.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np
import tensorstore as ts

from mi_vae.train import checkpoint
from mi_vae.train.checkpoint import Checkpointer


def fresh(text: str) -> str:
    return "".join(list(text))  # a new string object, as TensorStore's conversion makes (literals are shared)


def test_the_reference_probe_sees_no_leak_in_a_dict_python_built():
    built = {fresh("driver"): fresh("file"), fresh("path"): [fresh("a")], fresh("nested"): {fresh("key"): 1}}
    assert checkpoint._extra_references(built) == {0}


def test_tensorstore_json_results_hold_no_extra_references_once_a_checkpointer_exists(tmp_path):
    Checkpointer(str(tmp_path / "checkpoints"), keep=2).close()
    assert checkpoint.plug_tensorstore_json_leak() in ("plugged", "absent")
    # (each result checked alone: any other reference to one of its values would count as extra)
    assert checkpoint._extra_references(ts.KvStore.Spec({"driver": "file", "path": f"{tmp_path}/"}).to_json()) == {0}
    spec = ts.Spec({"driver": "zarr", "dtype": "float32", "kvstore": {"driver": "file", "path": f"{tmp_path}/a/"}})
    assert checkpoint._extra_references(spec.to_json()) == {0}
    assert checkpoint._extra_references(spec.to_json()["kvstore"]) == {0}
    metrics = ts.experimental_collect_matching_metrics("/tensorstore/", include_zero_metrics=True)
    assert checkpoint._extra_references(metrics[0]) == {0}


def test_every_save_hands_free_memory_back(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(checkpoint, "release_free_memory", lambda: calls.append(1))
    ckpt = Checkpointer(str(tmp_path / "checkpoints"), keep=2)
    state = {"w": jnp.arange(6, dtype=jnp.float32), "step": jnp.int32(0)}
    for step in (1, 2, 3):
        ckpt.save(step, state)
    ckpt.save(3, state)  # already saved: nothing written
    ckpt.close()
    assert len(calls) == 3
    assert sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()) == [2, 3]
    restored, step = Checkpointer(str(tmp_path / "checkpoints"), keep=2).restore_latest(state)
    assert step == 3 and np.array_equal(restored["w"], state["w"])


def test_glibc_mmap_threshold_is_fixed_once_a_checkpointer_exists(tmp_path):
    Checkpointer(str(tmp_path / "checkpoints"), keep=2).close()
    if checkpoint._MALLOPT is None or "MALLOC_MMAP_THRESHOLD_" in os.environ or "GLIBC_TUNABLES" in os.environ:
        assert not checkpoint._MMAP_THRESHOLD_SET
    else:
        assert checkpoint._MMAP_THRESHOLD_SET == [checkpoint.MMAP_THRESHOLD]
