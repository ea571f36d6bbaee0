"""The training loop: data, state, compiled chunks of steps, logging, checkpoints, preemption.

``train(config, workdir)`` resumes automatically from the newest checkpoint in WORKDIR/checkpoints
and otherwise starts fresh. Everything a resumed run draws (data order, per-step keys) is a
function of the step, so a resumed run reproduces an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mi_vae import data as data_lib
from mi_vae.config import check_resume, check_run_config
from mi_vae.errors import ConfigError, MiVaeError
from mi_vae.io import MetricWriter, import_wandb, read_metrics, training_warning
from mi_vae.methods import DataSpec, get_method
from mi_vae.train import run_record
from mi_vae.train.checkpoint import Checkpointer, check_writable
from mi_vae.train.state import init_state, make_optimizers
from mi_vae.train.step import batch_sharded, make_mesh, make_train_chunk, make_validation, replicated

log = logging.getLogger(__name__)

#: datasets up to this size (bytes) are kept on the device and batches are gathered there
DEVICE_DATA_BYTES = 2 << 30
#: folded into the run's seed for the validation key (fixed for the whole run)
VALIDATION_KEY = 0x7A11D


class NonFiniteError(MiVaeError, RuntimeError):
    """Too many consecutive non-finite steps."""


def data_spec(dataset: data_lib.ArrayDataset) -> DataSpec:
    return DataSpec(tuple(dataset.example_shape), dataset.likelihood, dataset.num_classes)


def num_train_steps(config, num_examples: int) -> int:
    if config.num_epochs > 0:
        return int(config.num_epochs) * (num_examples // config.batch_size)
    return int(config.num_train_steps)


class Preemption:
    """SIGTERM or SIGINT (Ctrl-C) sets a flag; the loop saves a checkpoint at the current step and returns.

    ``signal`` is the number of the signal received (None: none). A second Ctrl-C while saving
    interrupts as Python does by default."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.requested = False
        self.signal: int | None = None
        self._previous: dict = {}

    def __enter__(self):
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested, self.signal = True, signum

    def __exit__(self, *exc):
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def build(config, dataset, mesh):
    """Method, optimizers, state shardings and a fresh (sharded) state."""
    method = get_method(config, data_spec(dataset))
    optimizers = make_optimizers(method, config.optim, num_train_steps(config, dataset.train_x.shape[0]),
                                 flatten=bool(config.flatten_optimizer))
    x_example = jnp.asarray(data_lib.to_float(dataset.train_x[: max(1, config.batch_size // mesh.size)]))

    def create():
        return init_state(method, optimizers, config.seed, x_example)

    abstract = jax.eval_shape(create)
    check_fits(abstract, mesh)
    state_shardings = jax.tree.map(lambda _: replicated(mesh), abstract)
    state = jax.jit(create, out_shardings=state_shardings)()
    return method, optimizers, state, state_shardings


def device_memory_bytes(device) -> int | None:
    """Memory one device can hold: the accelerator's limit, or the host's available RAM for a CPU device."""
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:  # not every backend reports
        stats = None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    if device.platform == "cpu":
        try:
            return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError):
            return None
    return None


def check_fits(abstract_state, mesh) -> None:
    """``ConfigError`` when the train state alone (parameters, optimizer state; replicated on every device)
    plus one gradient per parameter exceeds a device's memory: refused in one line before allocating,
    where allocating would hang or be killed."""
    state_bytes = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(abstract_state))
    param_bytes = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(abstract_state["params"]))
    need = state_bytes + param_bytes
    device = mesh.devices.flat[0]
    have = device_memory_bytes(device)
    if have is not None and need > have:
        n = sum(leaf.size for leaf in jax.tree.leaves(abstract_state["params"]))
        raise ConfigError(f"the model has {n:,} parameters: its train state and gradients need {need / 2**30:.1f} GiB, "
                          f"more than the {have / 2**30:.1f} GiB a {device.platform} device has; make config.model "
                          "smaller")


def train(config: ml_collections.ConfigDict, workdir: str, dataset: data_lib.ArrayDataset | None = None):
    """Train ``config`` in ``workdir`` (resuming from its newest checkpoint); returns (method, state, dataset,
    stopped_by): the signal number (SIGTERM, SIGINT) that stopped the run after saving, or None.

    ``dataset`` (None: the one ``config.dataset`` names) may be any ``ArrayDataset``, e.g.
    ``mi_vae.data.from_arrays(x, y)``; one that ``config.dataset`` does not name is stored in the workdir
    (``mi_vae.train.run_record``) so the run can be evaluated and resumed from the command line.
    config.json (the config and a description of the data) is written once the state is built and any
    checkpoint restored, before step 0, so a rejected restart leaves the old one in place.

    Before anything is loaded the config is checked (``mi_vae.config.check_run_config``) and the workdir's
    training lock taken (``run_record.single_writer``: a second trainer is refused); a resume that changes
    a key of ``mi_vae.config.RESUME_FIXED`` is refused, other changed keys go to config_history.jsonl.
    """
    check_run_config(config)
    if config.get("wandb_project"):
        import_wandb(config.wandb_project)  # installed? (before anything is written)
    lock = run_record.single_writer(workdir) if jax.process_index() == 0 else contextlib.nullcontext()
    with lock:
        return _train(config, workdir, dataset)


def _train(config, workdir: str, dataset):
    check_writable(os.path.join(workdir, "checkpoints"))
    for name in (run_record.CONFIG_FILE, "metrics.jsonl"):
        if os.path.exists(os.path.join(workdir, name)) and not os.path.isfile(os.path.join(workdir, name)):
            raise run_record.RunRecordError(f"{os.path.join(workdir, name)} exists and is not a file")
    if dataset is None:
        dataset = run_record.load_run_data(config, workdir)
        description = run_record.describe_dataset(dataset)
        if config.dataset.startswith(run_record.ARRAYS_PREFIX):  # resuming a run trained on arrays
            description = run_record.read_description(workdir) or description
    else:
        config, description = run_record.record_data(config, workdir, dataset)
    mesh = make_mesh()
    if config.batch_size % mesh.size:
        raise ConfigError(f"batch_size {config.batch_size} is not divisible by the device count {mesh.size}")
    num_examples = dataset.train_x.shape[0]
    if config.batch_size > num_examples:
        raise ConfigError(f"batch_size {config.batch_size} exceeds the {num_examples} training examples")
    total_steps = num_train_steps(config, num_examples)
    method, optimizers, state, state_shardings = build(config, dataset, mesh)

    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), keep=config.keep_checkpoints)
    restored, restored_step = checkpointer.restore_latest(state)
    changes = []
    if restored is not None:
        if os.path.isfile(os.path.join(workdir, run_record.CONFIG_FILE)):
            changes = check_resume(run_record.read_config(workdir), config)
        state = restored
        log.info("resumed from checkpoint step %d", restored_step)
    step = int(jax.device_get(state["step"]))
    if jax.process_index() == 0:  # only process 0 writes config.json and stored arrays
        run_record.record_changes(workdir, step, changes)
        run_record.write_record(workdir, config, description, dataset)

    data_on_device = dataset.train_x.nbytes <= DEVICE_DATA_BYTES
    # never longer than the run: masked steps past the end would still be computed
    chunk = max(1, min(int(config.steps_per_call or config.log_every_steps), total_steps))
    train_chunk = make_train_chunk(method, optimizers, mesh, state_shardings, data_on_device=data_on_device,
                                   dynamic_binarization=config.binarize, unroll=int(config.scan_unroll),
                                   max_nonfinite=int(config.max_consecutive_nonfinite))
    device_data = (jax.device_put(dataset.train_x, replicated(mesh)) if data_on_device
                   else jax.device_put(np.zeros((), np.float32), replicated(mesh)))
    xs_sharding = batch_sharded(mesh, batch_axis=1)
    local_rows = process_local_rows(xs_sharding, (chunk, config.batch_size))
    writer = MetricWriter(os.path.join(workdir, "metrics.jsonl"), wandb_project=config.get("wandb_project", ""),
                          run_config=config.to_dict())
    batch = config.batch_size

    def call_inputs(first_step: int) -> jax.Array:
        """The batches of the call starting at ``first_step``: indices, or (large data) the rows from host memory.
        Every process computes the global order; each gathers only the rows it owns."""
        idx = data_lib.batch_indices(config.seed, first_step, chunk, num_examples, batch)[:, local_rows]
        xs = idx if data_on_device else dataset.train_x[idx]
        return jax.make_array_from_process_local_data(xs_sharding, xs, (chunk, batch, *xs.shape[2:]))

    next_xs = call_inputs(step) if step < total_steps else None
    valid_xs = validation_inputs(config, dataset, mesh) if step < total_steps else None
    log_startup(config, mesh, method, state, dataset, step, total_steps)
    if next_xs is not None:  # compile before the clock starts: the rate and ETA exclude compilation
        compile_start = time.time()
        train_chunk = train_chunk.lower(state, device_data, next_xs,
                                        jax.device_put(np.ones(chunk, bool), replicated(mesh))).compile()
        log.info("compiled the train step (%d steps per call) in %.1fs", chunk, time.time() - compile_start)
    if valid_xs is not None:
        compile_start = time.time()
        valid_rng = jax.device_put(jax.random.fold_in(jax.random.PRNGKey(config.seed), VALIDATION_KEY),
                                   replicated(mesh))
        validate = make_validation(method, mesh, state_shardings, bool(config.binarize))
        validate = validate.lower(state, valid_xs, valid_rng).compile()
        log.info("compiled the validation pass (%d held-out examples every %d steps) in %.1fs",
                 valid_xs.shape[0] * valid_xs.shape[1], config.eval_every_steps, time.time() - compile_start)
    start_time, start_step, valid_seconds = time.time(), step, 0.0
    last_log_time, last_log_step = start_time, step
    with Preemption() as preemption, released_on_error(checkpointer, writer):
        while step < total_steps and not preemption.requested:
            boundaries = [total_steps, _next_multiple(step, config.log_every_steps),
                          _next_multiple(step, config.checkpoint_every_steps)]
            if valid_xs is not None:
                boundaries.append(_next_multiple(step, config.eval_every_steps))
            n = min(chunk, *(b - step for b in boundaries))
            active = np.arange(chunk) < n
            state, metrics = train_chunk(state, device_data, next_xs, jax.device_put(active, replicated(mesh)))
            step += n
            # gathered while the device runs this call (dispatch is asynchronous), before anything waits on it
            next_xs = call_inputs(step) if step < total_steps else None
            stopping = int(jax.device_get(metrics["nonfinite"])) >= config.max_consecutive_nonfinite
            if step % config.log_every_steps == 0 or step == total_steps or stopping:
                metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
                now = time.time()
                rate = (step - last_log_step) * batch / max(now - last_log_time, 1e-9)
                last_log_time, last_log_step = now, step
                logged_step = int(jax.device_get(state["step"])) if stopping else step
                writer.write({"step": logged_step, "split": "train", **metrics, "examples_per_sec": rate})
                eta = (total_steps - step) * batch / max(rate, 1e-9)
                log.info("step %d/%d loss %.4f %s | %.1f steps/s, %.0f ex/s | ETA %.0fs", logged_step, total_steps,
                         metrics["loss"], " ".join(f"{k} {v:.4g}" for k, v in metrics.items() if "/" in k),
                         rate / batch, rate, eta)
            if valid_xs is not None and not stopping and (step % config.eval_every_steps == 0
                                                          or step == total_steps):
                valid_start = time.time()
                held_out = {k: float(v) for k, v in jax.device_get(validate(state, valid_xs, valid_rng)).items()}
                valid_seconds += time.time() - valid_start
                writer.write({"step": step, "split": "valid", **held_out})
                log.info("valid step %d: loss %.4f %s (%.2fs)", step, held_out["loss"],
                         " ".join(f"{k} {held_out[k]:.4g}" for k in VALID_LOGGED if k in held_out),
                         time.time() - valid_start)
            if stopping:
                checkpointer.close()  # the state stopped at the last of those steps and is not saved
                writer.close()
                good = checkpointer.latest_step()
                raise NonFiniteError(
                    f"{config.max_consecutive_nonfinite} consecutive non-finite steps (loss, gradients or update) "
                    f"up to step {int(jax.device_get(state['step']))}; stopping. "
                    + (f"The last checkpoint (step {good}) holds finite values." if good is not None
                       else "No checkpoint was saved."))
            if step % config.checkpoint_every_steps == 0 or step == total_steps:
                checkpointer.save(step, state)
        if preemption.requested:
            checkpointer.save(step, state)
            log.info("%s: saved checkpoint at step %d; exiting", signal.Signals(preemption.signal).name, step)
    checkpointer.close()
    writer.close()
    elapsed = time.time() - start_time
    log.info("trained steps %d..%d in %.1fs%s", start_step, step, elapsed,
             f" ({valid_seconds:.1f}s of it validation)" if valid_seconds else "")
    warning = training_warning(read_metrics(writer.path)) if os.path.isfile(writer.path) else None
    if warning:
        log.warning("WARNING: %s", warning)
    return method, state, dataset, preemption.signal


@contextlib.contextmanager
def released_on_error(checkpointer: Checkpointer, writer: MetricWriter):
    """On any exception out of the loop (a full disk writing metrics, a bug), saves in flight are waited for
    and Orbax's threads released before it propagates, so the process can exit instead of hanging."""
    try:
        yield
    except BaseException:
        checkpointer.abandon()
        writer.close()
        raise


def log_startup(config, mesh, method, state, dataset, step: int, total_steps: int) -> None:
    """The start-up block: devices and mesh, data sizes, parameters per player, where the run starts."""
    device = jax.devices()[0]
    log.info("devices: %d x %s (%s), mesh %s, %d process(es)", mesh.size, device.device_kind, device.platform,
             dict(mesh.shape), jax.process_count())
    log.info("data: %s, %d training / %d test examples of shape %s", dataset.name, dataset.num_train, dataset.num_test,
             tuple(dataset.example_shape))
    from clu import parameter_overview

    for player in method.players:
        leaves = jax.tree.leaves(state["params"][player])
        log.info("player %s: %s parameters in %d arrays\n%s", player, f"{sum(leaf.size for leaf in leaves):,}",
                 len(leaves), parameter_overview.get_parameter_overview(state["params"][player], include_stats=False))
    log.info("method %s, batch %d, steps %d -> %d", config.method.name, config.batch_size, step, total_steps)


#: the validation terms shown in its log line (all of them go to metrics.jsonl)
VALID_LOGGED = ("elbo", "recon_nll", "kl")


def validation_inputs(config, dataset, mesh) -> jax.Array | None:
    """The fixed held-out batches of the validation curve, ``[N, batch_size, ...]`` sharded like the training
    batches: the first ``config.valid_examples`` test examples, whole batches only. None when validation is
    off (``eval_every_steps`` or ``valid_examples`` 0) or the test split holds less than one batch."""
    batch = int(config.batch_size)
    n = min(int(config.get("valid_examples", 0)), dataset.num_test) // batch * batch
    if not config.get("eval_every_steps", 0) or n == 0:
        return None
    xs = np.asarray(dataset.test_x[:n]).reshape(n // batch, batch, *dataset.test_x.shape[1:])
    sharding = batch_sharded(mesh, batch_axis=1)
    return jax.make_array_from_process_local_data(sharding, xs[:, process_local_rows(sharding, xs.shape[:2])],
                                                  xs.shape)


def process_local_rows(sharding, shape: tuple[int, int]) -> slice:
    """The contiguous slice of the global batch (axis 1 of ``shape``) held by this process's devices."""
    spans = [index[1] for index in sharding.addressable_devices_indices_map(shape).values()]
    return slice(min(s.start or 0 for s in spans), max(shape[1] if s.stop is None else s.stop for s in spans))


def _next_multiple(step: int, every: int) -> int:
    return (step // every + 1) * every
