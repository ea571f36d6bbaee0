"""Checkpoints: Orbax ``CheckpointManager`` behind one small class.

What a checkpoint holds: the whole train state (parameters, optimizer states, BatchNorm
statistics, step, RNG, non-finite counters). The data position is a function of the step, and the
resolved config lives in WORKDIR/config.json, so the state is all a resume needs.

Guarantees:
* Saves are asynchronous and atomic (Orbax writes to a temporary directory and renames it);
  an unfinished save is never listed as a step.
* keep-N: only the newest ``keep`` steps remain; nothing else in the workdir is deleted.
* Restore checks every leaf's shape and dtype against the state the config builds (Orbax alone
  does not) and raises ``CheckpointMismatchError`` naming the first mismatch, touching nothing.
* Checksummed: each save records a fingerprint of every leaf (``fingerprints``: the sum of the leaf's
  bit patterns times odd position weights, mod 2^32, computed on the device) in the step's Orbax
  metadata; a restore recomputes them and a step whose data changed on disk (one flipped byte is
  always caught) counts as unreadable.
* An unreadable newest step (damaged files, failed checksum) is skipped with one warning line and the
  previous step is used, down to the oldest.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import shutil
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from mi_vae.errors import MiVaeError

log = logging.getLogger(__name__)


class CheckpointMismatchError(MiVaeError, ValueError):
    """The checkpoint does not fit the model the config builds."""


class NoUsableCheckpointError(MiVaeError, RuntimeError):
    """Checkpoints exist but none can be read."""


class CheckpointSaveError(MiVaeError, OSError):
    """The checkpoint directory cannot be written (not a directory, read-only, disk full)."""


def check_writable(directory: str) -> None:
    """``CheckpointSaveError`` unless ``directory`` is a writable directory or can be created: checked before
    training starts (creating nothing), so a run never computes steps it cannot save."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise CheckpointSaveError(f"{directory} exists and is not a directory: checkpoints cannot be saved")
    try:
        with tempfile.NamedTemporaryFile(dir=directory if os.path.isdir(directory) else os.path.dirname(directory),
                                         prefix=".write-test-"):
            pass
    except OSError as err:
        raise CheckpointSaveError(f"{directory} is not writable ({err.strerror or err}): checkpoints cannot be "
                                  "saved") from None


def _path(key_path) -> str:
    parts = []
    for k in key_path:
        for attr in ("key", "idx", "name"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def _leaf_fingerprint(a: jax.Array) -> jax.Array:
    """sum_i bits_i * (2 i + 1) mod 2^32 over the leaf's elements' bit patterns (uint32): any change to one
    element changes it (odd weights are invertible mod 2^32); several changes go unseen with probability 2^-32."""
    if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
        a = jax.random.key_data(a)
    if a.dtype == jnp.bool_:
        a = a.astype(jnp.uint8)
    size = a.dtype.itemsize
    if size == 8:
        bits = jax.lax.bitcast_convert_type(a, jnp.uint32).reshape(-1)
    else:
        bits = jax.lax.bitcast_convert_type(a, {4: jnp.uint32, 2: jnp.uint16, 1: jnp.uint8}[size]).astype(jnp.uint32)
    bits = bits.reshape(-1)
    weights = jnp.arange(bits.shape[0], dtype=jnp.uint32) * jnp.uint32(2) + jnp.uint32(1)
    return jnp.sum(bits * weights, dtype=jnp.uint32)


@jax.jit
def _fingerprints(state):
    return jax.tree.map(_leaf_fingerprint, state)


def fingerprints(state) -> dict[str, int]:
    """{leaf path: fingerprint} of a state pytree (see the module docstring)."""
    values = jax.device_get(_fingerprints(state))
    return {_path(p): int(v) for p, v in jax.tree_util.tree_flatten_with_path(values)[0]}


class ChecksumError(RuntimeError):
    """A restored step's values differ from those saved."""


#: what a write that the storage refused looks like in Orbax's errors (TensorStore's carry the OS error's text)
WRITE_FAILURE = re.compile(r"os_error_code|No space left on device|File too large|Disk quota exceeded|"
                           r"Read-only file system")


def is_write_failure(err: BaseException) -> bool:
    """An OSError, or an Orbax/TensorStore error caused by the storage refusing a write (disk full, quota,
    file size limit, read-only): the environment's doing, reported in one line; anything else is a bug."""
    return isinstance(err, OSError) or bool(WRITE_FAILURE.search(str(err)))


def write_failure_reason(err: BaseException) -> str:
    """``"No space left on device"`` from an OSError or a TensorStore message ``...: <reason> [os_error_code=...]``."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    match = re.search(r":\s*([^:\[]+?)\s*\[os_error_code", str(err))
    return match.group(1) if match else str(err).strip().splitlines()[0][:300]


class _QuietWriteFailures(logging.Filter):
    """Drops Orbax's own ERROR records (each with a traceback, one per thread involved) for a failed write:
    the failure reaches the caller as one ``CheckpointSaveError`` line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += str(record.exc_info[1])
        return not WRITE_FAILURE.search(text)


_QUIET = _QuietWriteFailures()


class Checkpointer:
    def __init__(self, directory: str, keep: int, async_save: bool = True):
        for name in ("absl", "orbax"):  # Orbax logs through absl; either may be the record's logger
            if _QUIET not in logging.getLogger(name).filters:
                logging.getLogger(name).addFilter(_QUIET)
        self.directory = os.path.abspath(directory)
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                                 enable_async_checkpointing=async_save),
            item_handlers=ocp.StandardCheckpointHandler(),
        )

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def latest_step(self) -> int | None:
        steps = self.steps()
        return steps[-1] if steps else None

    def save(self, step: int, state) -> None:
        """Save ``state`` as ``step`` (asynchronously); a step already saved is left as it is."""
        if step in self.manager.all_steps():
            return
        need = sum(np.asarray(leaf).nbytes if not hasattr(leaf, "nbytes") else leaf.nbytes
                   for leaf in jax.tree.leaves(state)) * 1.05 + (1 << 20)
        free = shutil.disk_usage(self.directory).free
        if free < need:  # refused here in one line, not by Orbax's writer threads mid-save
            self.abandon()
            raise CheckpointSaveError(f"saving checkpoint step {step}: {free / 2**20:.1f} MiB free in "
                                      f"{self.directory}, a step needs ~{need / 2**20:.1f} MiB; {self._kept()}")
        try:
            self.manager.save(step, args=ocp.args.StandardSave(state), force=True,
                              custom_metadata={"fingerprints": fingerprints(state)})
        except Exception as err:  # e.g. a previous asynchronous save failed on a full disk
            if not is_write_failure(err):
                raise
            self.abandon()
            raise CheckpointSaveError(f"saving checkpoint step {step} in {self.directory} failed: "
                                      f"{write_failure_reason(err)}; {self._kept()}") from None

    def _kept(self) -> str:
        """Which complete step a failed save leaves (read from the directory: the manager may be closed)."""
        try:
            steps = sorted(int(name) for name in os.listdir(self.directory) if name.isdigit())
        except OSError:
            steps = []
        return f"step {steps[-1]} is the last complete checkpoint" if steps else "no complete checkpoint was saved"

    def abandon(self) -> None:
        """Stop after a failure: wait for saves in flight, ignoring their errors, and release Orbax's threads."""
        with contextlib.suppress(Exception):
            self.manager.close()

    def verify(self, step: int, state) -> None:
        """``ChecksumError`` naming the first leaf of ``state`` (restored from ``step``) whose fingerprint differs
        from the one saved with it; steps saved without fingerprints pass."""
        saved = (self.manager.metadata(step).custom_metadata or {}).get("fingerprints")
        if not saved:
            return
        for name, value in fingerprints(state).items():
            if saved.get(name) != value:
                raise ChecksumError(f"{name} does not match its checksum")

    def close(self) -> None:
        try:
            self.manager.wait_until_finished()
        except Exception as err:
            if not is_write_failure(err):
                raise
            self.abandon()
            raise CheckpointSaveError(f"saving a checkpoint in {self.directory} failed: "
                                      f"{write_failure_reason(err)}; {self._kept()}") from None
        self.manager.close()

    def check_compatible(self, step: int, target) -> None:
        """Raise CheckpointMismatchError if step's tree, shapes or dtypes differ from ``target``'s."""
        saved = self.manager.item_metadata(step)
        saved = getattr(saved, "tree", saved)
        saved_leaves = dict((_path(p), leaf) for p, leaf in jax.tree_util.tree_flatten_with_path(saved)[0])
        if not saved_leaves:  # metadata missing or unreadable: a damaged step, not another model
            raise ChecksumError(f"checkpoint step {step} has no readable array metadata")
        target_leaves = dict((_path(p), leaf) for p, leaf in jax.tree_util.tree_flatten_with_path(target)[0])
        missing = sorted(set(target_leaves) - set(saved_leaves))
        extra = sorted(set(saved_leaves) - set(target_leaves))
        if missing or extra:
            what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
            raise CheckpointMismatchError(
                f"checkpoint step {step} in {self.directory} does not match the model the config builds: {what} "
                f"({len(missing)} missing, {len(extra)} unexpected entries); "
                "use a new --workdir for a changed model or optimizer (config.flatten_optimizer)")
        for name, want in target_leaves.items():
            have = saved_leaves[name]
            if tuple(have.shape) != tuple(want.shape) or np.dtype(have.dtype) != np.dtype(want.dtype):
                raise CheckpointMismatchError(
                    f"checkpoint step {step} in {self.directory} does not match the model the config builds: "
                    f"{name} is {np.dtype(have.dtype).name}{list(have.shape)} in the checkpoint but "
                    f"{np.dtype(want.dtype).name}{list(want.shape)} in the model; "
                    "use a new --workdir for a changed model or optimizer (config.flatten_optimizer)")

    def restore_latest(self, target):
        """Restore the newest readable step onto ``target``'s shapes and shardings.

        ``target`` is a state pytree (arrays or ShapeDtypeStructs with shardings). Returns
        (state, step) or (None, None) when there is no checkpoint.
        """
        steps = self.steps()
        if not steps:
            return None, None
        abstract = jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=getattr(a, "sharding", None)), target)
        unreadable = []
        try:
            with _quiet_stderr():
                for step in reversed(steps):
                    try:
                        self.check_compatible(step, abstract)
                        state = self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
                        self.verify(step, state)
                        return state, step
                    except CheckpointMismatchError:
                        raise
                    except Exception as err:  # unreadable step: fall back to the previous one
                        unreadable.append((step, (str(err).strip().splitlines() or [type(err).__name__])[0][:200]))
        finally:
            for step, reason in unreadable:
                log.warning("checkpoint step %d in %s is unreadable (%s); falling back to an earlier step",
                            step, self.directory, reason)
        raise NoUsableCheckpointError(f"no readable checkpoint in {self.directory} (steps {steps})")


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 while restoring.

    When a step is damaged, TensorStore's background callbacks print raw Python tracebacks
    ("Event loop is closed") straight to fd 2 as the failed read winds down. The restore's outcome
    is reported instead by one warning line per unreadable step (logged after this block).
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        gc.collect()  # finish the failed read's pending callbacks while fd 2 is still silenced
        time.sleep(0.05)
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
