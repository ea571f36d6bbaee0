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
* Host memory stays flat over thousands of saves (BENCHMARKS.md, "Soak"): TensorStore's JSON reference leak,
  which Orbax hits on every save, is plugged (``plug_tensorstore_json_leak``); glibc's mmap threshold is fixed
  (``fix_mmap_threshold``) and its free pages are handed back after each save (``release_free_memory``).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import traceback

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import tensorstore as ts

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
    """Drops Orbax's own ERROR records (each with a traceback, one per thread involved) and asyncio's records of
    its unretrieved write tasks for a failed write: the failure reaches the caller as one ``CheckpointSaveError``
    line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += str(record.exc_info[1])
        return not WRITE_FAILURE.search(text)


_QUIET = _QuietWriteFailures()


def _is_closed_loop_callback(unraisable) -> bool:
    """TensorStore's done-callback of a future whose asyncio loop is already closed: Orbax runs each save's (and
    restore's) coroutines in a loop of their own (``asyncio.run``) and closes it when the first write fails, while
    TensorStore still completes the other writes on its own threads and calls ``loop.call_soon_threadsafe`` on the
    closed loop. Python reports each as an unraisable ``RuntimeError('Event loop is closed')`` with a traceback;
    the failure itself reaches the caller once, as ``CheckpointSaveError`` or a fallback warning."""
    if unraisable.exc_type is not RuntimeError or str(unraisable.exc_value) != "Event loop is closed":
        return False
    frames = [frame.f_code.co_name for frame, _ in traceback.walk_tb(unraisable.exc_traceback)]
    return frames[:1] == ["call_soon_threadsafe"]


def _drop_closed_loop_callbacks(previous):
    @functools.wraps(previous)
    def hook(unraisable):
        if not _is_closed_loop_callback(unraisable):
            previous(unraisable)

    hook.drops_closed_loop_callbacks = True
    return hook


def quiet_closed_loop_callbacks() -> None:
    """Install (once) a ``sys.unraisablehook`` that drops only ``_is_closed_loop_callback`` reports and passes
    every other unraisable exception to the hook that was there before."""
    if not getattr(sys.unraisablehook, "drops_closed_loop_callbacks", False):
        sys.unraisablehook = _drop_closed_loop_callbacks(sys.unraisablehook)


# TensorStore's JSON -> Python conversion (``JsonToPyObject`` in python/tensorstore/json_type_caster.cc, every
# version tried: 0.1.65, 0.1.78, 0.1.85, 0.1.86) fills each dict with ``PyDict_SetItem(d, key.release(),
# value.release())``; PyDict_SetItem takes references of its own, so every key and value of every dict it returns
# keeps one reference too many and is never freed. Orbax calls such functions on every save: ``ts.KvStore.Spec(
# ...).to_json()`` once per array (building the OCDBT spec) and ``ts.experimental_collect_matching_metrics`` twice
# (its raw-bytes-written counter). With the smoke model that held ~50 KB of host memory per save for the life of the
# process (BENCHMARKS.md, "Soak"). ``_drop_extra_references`` hands back exactly the leaked references, and only
# where a probe at the first Checkpointer shows the leak: if TensorStore fixes it, nothing is patched.

#: False: leave TensorStore as it is (``benchmarks.soak --keep_tensorstore_leak`` measures the leak)
PLUG_TENSORSTORE_JSON_LEAK = True
_JSON_LEAK_STATE: list[str] = []  # "plugged", "absent" or "unknown" once probed

_py_decref = ctypes.pythonapi.Py_DecRef
_py_decref.argtypes = [ctypes.py_object]
_py_decref.restype = None


def _drop_extra_references(value):
    """Release the one extra reference TensorStore's conversion left on each key and value of each dict in
    ``value`` (list items are not affected: PyList_SET_ITEM steals its reference). Returns ``value``."""
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) is dict:
            for key, entry in item.items():
                _py_decref(key)  # the dict still holds both
                _py_decref(entry)
                pending.append(entry)
        elif type(item) is list:
            pending.extend(item)
    return value


def _extra_references(converted: dict) -> set[int]:
    """{references to each key and value of ``converted`` minus those to an equal dict built by Python}: {1} when
    TensorStore's conversion leaks, {0} when it does not. Only objects the conversion creates afresh are compared
    (strings of 2+ characters, lists, dicts; small ints, 1-character strings, True and None are shared objects whose
    counts move with other threads)."""
    def fresh(v) -> bool:
        return isinstance(v, (list, dict)) or (isinstance(v, str) and len(v) > 1)

    built = {"".join(list(k)): ("".join(list(v)) if isinstance(v, str) else type(v)(v))
             for k, v in converted.items() if fresh(k) and fresh(v)}
    mine = list(built)
    theirs = [k for k in converted if k in built]
    extra = set()
    for k_mine, k_theirs in zip(mine, theirs):  # both held by a dict, a list, the loop and getrefcount's argument
        extra.add(sys.getrefcount(k_theirs) - sys.getrefcount(k_mine))
        extra.add(sys.getrefcount(converted[k_theirs]) - sys.getrefcount(built[k_mine]))
    return extra


def _unleaked(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return _drop_extra_references(function(*args, **kwargs))

    wrapper.mi_vae_unleaked = True
    return wrapper


def plug_tensorstore_json_leak() -> str:
    """Probe TensorStore's JSON conversion once per process; if it leaks (one extra reference per dict key and
    value), wrap the functions Orbax calls during saves and restores (``KvStore.Spec.to_json``, ``Spec.to_json``,
    ``experimental_collect_matching_metrics``) so that their results free normally. Returns "plugged", "absent"
    (nothing to do) or "unknown" (an unexpected reference pattern: nothing patched)."""
    if _JSON_LEAK_STATE:
        return _JSON_LEAK_STATE[0]
    probes = {  # name: (call, the dict of its result to compare)
        "KvStore.Spec.to_json": (lambda: ts.KvStore.Spec({"driver": "memory", "path": "mi_vae_probe/"}).to_json(),
                                 lambda result: result),
        "Spec.to_json": (lambda: ts.Spec({"driver": "zarr", "dtype": "float32",
                                          "kvstore": {"driver": "memory", "path": "mi_vae_probe/"}}).to_json(),
                         lambda result: result),
        "experimental_collect_matching_metrics": (
            lambda: ts.experimental_collect_matching_metrics("/tensorstore/", include_zero_metrics=True),
            lambda result: next((m for m in result if isinstance(m, dict)), {})),
    }
    found = {}
    for name, (call, pick) in probes.items():
        try:
            result = call()
            found[name] = _extra_references(pick(result))
        except Exception:  # pylint: disable=broad-except  # an API that changed: leave it alone
            found[name] = set()
            continue
        if found[name] == {1}:
            _drop_extra_references(result)
        del result
    if all(extra == {1} for extra in found.values()):
        ts.KvStore.Spec.to_json = _unleaked(ts.KvStore.Spec.to_json)
        ts.Spec.to_json = _unleaked(ts.Spec.to_json)
        ts.experimental_collect_matching_metrics = _unleaked(ts.experimental_collect_matching_metrics)
        state = "plugged"
    elif all(extra == {0} for extra in found.values()):
        state = "absent"
    else:
        state = "unknown"
    log.debug("TensorStore JSON reference leak: %s (extra references per probe: %s)", state, found)
    _JSON_LEAK_STATE.append(state)
    return state


# glibc's allocator. It raises its mmap threshold (up to 32 MiB) each time a larger mmapped block is freed, so after
# start-up a save's large short-lived buffers come from its per-thread arenas instead of mmap; Orbax runs each save on
# new threads (a finalize thread, a new asyncio loop with executor threads per ``run_sync``) that take whichever of
# the arenas (8 per core, all created by the time JAX has compiled) is free, and the space freed there fragments and
# stays resident. With the TensorStore leak plugged, RSS still crept 25 KiB per save of the smoke model (12 KiB with
# the trim alone) while malloc's bytes in use stayed flat (BENCHMARKS.md, "Soak"). Two remedies, once per process
# and once per save:
# the threshold fixed at glibc's initial 128 KiB (big buffers are mmapped and unmapped when freed, as before the
# first adjustment; not done when MALLOC_MMAP_THRESHOLD_ or GLIBC_TUNABLES is set), and ``malloc_trim(0)`` after
# each save. Elsewhere than glibc both are skipped.

#: bytes; 0 leaves glibc's dynamic mmap threshold (``benchmarks.soak --dynamic_mmap_threshold``)
MMAP_THRESHOLD = 128 * 1024
#: False: no ``release_free_memory`` after each save (``benchmarks.soak --no_malloc_trim``)
TRIM_AFTER_SAVE = True
_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
_MMAP_THRESHOLD_SET: list[int] = []


def _glibc(name: str, argtypes: list, restype=ctypes.c_int):
    try:
        function = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = restype
    return function


_MALLOC_TRIM = _glibc("malloc_trim", [ctypes.c_size_t])
_MALLOPT = _glibc("mallopt", [ctypes.c_int, ctypes.c_int])


def fix_mmap_threshold() -> None:
    """Fix glibc's mmap threshold at ``MMAP_THRESHOLD`` bytes, once per process (see above)."""
    if _MMAP_THRESHOLD_SET or not MMAP_THRESHOLD or _MALLOPT is None:
        return
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "GLIBC_TUNABLES" in os.environ:  # the user's choice stands
        return
    _MMAP_THRESHOLD_SET.append(MMAP_THRESHOLD if _MALLOPT(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 else 0)


def release_free_memory() -> None:
    """Hand the C allocator's free pages back to the OS (glibc ``malloc_trim(0)``, ~5 ms here; called after each
    save)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class Checkpointer:
    def __init__(self, directory: str, keep: int, async_save: bool = True):
        # Orbax logs through absl; either may be the record's logger. asyncio's own "Task exception was never
        # retrieved" records the other writes of a failed save when their tasks are collected at exit.
        for name in ("absl", "orbax", "asyncio"):
            if _QUIET not in logging.getLogger(name).filters:
                logging.getLogger(name).addFilter(_QUIET)
        if PLUG_TENSORSTORE_JSON_LEAK:
            plug_tensorstore_json_leak()
        fix_mmap_threshold()
        quiet_closed_loop_callbacks()
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
            if TRIM_AFTER_SAVE:  # the previous save has finished (Orbax waits for it before starting this one)
                release_free_memory()
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

    def restore_latest(self, target, rounds: int = 3):
        """Restore the newest readable step onto ``target``'s shapes and shardings.

        ``target`` is a state pytree (arrays or ShapeDtypeStructs with shardings). Returns
        (state, step) or (None, None) when there is no checkpoint. A step that disappears while it is read
        (a trainer on the same workdir keeping its newest N removed it) is not unreadable: the listing is read
        again and the newest step then on disk is tried, up to ``rounds`` times.
        """
        steps = self.steps()
        if not steps:
            return None, None
        abstract = jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=getattr(a, "sharding", None)), target)
        unreadable, tried = [], set()
        try:
            with _quiet_stderr():
                for _ in range(rounds):
                    vanished = False
                    for step in reversed(steps):
                        if step in tried:
                            continue
                        try:
                            self.check_compatible(step, abstract)
                            state = self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
                            self.verify(step, state)
                            return state, step
                        except CheckpointMismatchError:
                            if not os.path.isdir(os.path.join(self.directory, str(step))):
                                vanished = True
                                continue
                            raise
                        except Exception as err:  # unreadable step: fall back to the previous one
                            if not os.path.isdir(os.path.join(self.directory, str(step))):
                                vanished = True  # removed under us, not damaged
                                continue
                            tried.add(step)
                            unreadable.append(
                                (step, (str(err).strip().splitlines() or [type(err).__name__])[0][:200]))
                    if not vanished:
                        break
                    self.manager.reload()
                    steps = self.steps()
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
