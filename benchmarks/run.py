"""Performance harness: one JSON line per measurement on stdout (and appended to ``--out``).

    python -m benchmarks.run [--smoke] [--suite NAME ...] [--out FILE] [--budget-s S]

Suites (all of them when no ``--suite`` is given, in this order):

* ``torch_ref``          the plain PyTorch InfoMax-VAE step (benchmarks/torch_reference.py), batch 64,
                         fed from a device-resident tensor and from a DataLoader (two lines);
* ``infomax_b64``        mi_vae's infomax_vae (configs/infomax_vae.py: conv28, z=10, alpha=20, critic
                         1000-400-100), data on the device, one epoch (937 steps) per ``lax.scan`` call;
* ``infomax_b1024``      the same at batch 1024 (58 steps = one epoch per call);
* ``vim_celeba_mfu``     configs/vim_celeba.py (dcgan64 nets with BatchNorm, 64x64x3) at batch 256 in
                         bfloat16 on random 64x64 images: step time, analytic model FLOPs, MFU;
* ``infomax_100_epochs`` the paper's Fashion-MNIST run, 100 epochs at batch 64, timed from the start
                         of the measurement (data loading and compile included) through
                         ``mi_vae.train.train`` (``/train``) and through the raw ``train_chunk`` loop
                         (``/raw_chunks``).

Every line has: name, framework (jax|torch), images_per_sec, step_ms, batch, steps, wall_s, compile_s,
mfu, peak_memory_bytes, device (device kind), commit, data (fashion_mnist|synthetic), plus extras
(smoke, model_flops_per_step, model_tflops_per_sec, loss, ...). Fields that do not apply are null; a
suite that cannot run prints {"name", "skipped": reason} or {"name", "error": message}.

Timing: steady-state numbers exclude compilation and one warm-up call (warm-up steps for torch); each
timed call ends with a host sync (``float(loss)`` / ``torch.cuda.synchronize``). Fashion-MNIST comes
from the offline IDX files; where they are missing, random uint8 images of the same shape are used
(``"data": "synthetic"``), which times the same. Model FLOPs are analytic (benchmarks/flops.py); MFU
is against the H100 SXM dense bf16 peak (989.4e12 FLOP/s) on a GPU and null on a CPU.

``commit`` is ``git rev-parse HEAD`` (``$MI_VAE_COMMIT`` if set; "unknown" without git). ``--smoke`` runs
everything small on the CPU; for XLA:CPU's slow compiles it defaults to the ``unsafe_rbg`` PRNG and a
persistent compilation cache in the temp directory (see ``smoke_environment``; reported as ``prng`` and
``compilation_cache``).

With more than one suite and no ``--smoke``, each suite runs in its own child process (``--isolate``;
JAX's and PyTorch's allocators never share a process and ``peak_memory_bytes`` is per suite); a child
that crashes or runs past the budget is reported as an error line and the next suite runs.
``--budget-s`` bounds the whole run: the 100-epoch measurements stop early when it runs out and then
report the completed epochs and a 100-epoch extrapolation.
"""

from __future__ import annotations

import time

PROCESS_START = time.time()

import argparse
import collections
import functools
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import traceback

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

SUITES = ("torch_ref", "infomax_b64", "infomax_b1024", "vim_celeba_mfu", "infomax_100_epochs")
FIELDS = ("name", "framework", "images_per_sec", "step_ms", "batch", "steps", "wall_s", "compile_s", "mfu",
          "peak_memory_bytes", "device", "commit", "data")
FASHION_MNIST_TRAIN = 60_000
DEFAULT_BUDGET_S = {False: 540.0, True: 120.0}  # full, smoke
# Smoke: Fashion-MNIST subset and batch, shared by infomax_b64, infomax_100_epochs and torch_ref (one
# epoch = 8 steps, one scan call), so the JAX suites compile the same program (cache hits).
SMOKE_EXAMPLES = 256
SMOKE_BATCH = 32


# ----------------------------------------------------------------------------- output


class Emitter:
    """Writes JSON lines to the saved real stdout (flushed) and appends them to ``out``."""

    def __init__(self, stream, out: str | None):
        self.stream = stream
        self.out = out
        if out:
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)

    def emit_line(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()
        if self.out:
            with open(self.out, "a") as f:
                f.write(line + "\n")

    def emit(self, record: dict) -> None:
        record = {k: _clean(v) for k, v in record.items()}
        self.emit_line(json.dumps(record, default=_json_default, allow_nan=False))


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)


@functools.cache
def git_commit() -> str:
    from mi_vae.io import git_commit as commit_of

    return commit_of(REPO)


def record(name: str, framework: str, args, **values) -> dict:
    rec = {field: None for field in FIELDS}
    rec.update(name=name, framework=framework, commit=git_commit())
    if framework == "jax":
        rec.update(xla_flags=os.environ.get("XLA_FLAGS") or None, scan_unroll=getattr(args, "scan_unroll", 1),
                   conv_impl=getattr(args, "conv_impl", "auto"),
                   flatten_optimizer=bool(getattr(args, "flatten_optimizer", False)))
    rec.update(values)
    rec["smoke"] = bool(args.smoke)
    if args.smoke and framework == "jax":
        rec["prng"] = os.environ.get("JAX_DEFAULT_PRNG_IMPL") or "threefry2x32"
        rec["compilation_cache"] = os.environ.get("JAX_COMPILATION_CACHE_DIR") or None
    return rec


def _clean(value):
    """NaN/inf -> None so the line stays strict JSON."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


# ----------------------------------------------------------------------------- data


def fashion_mnist(args, max_examples: int | None = None) -> tuple[np.ndarray, str]:
    """Fashion-MNIST train images uint8 [N, 28, 28, 1] and "fashion_mnist", or random ones and "synthetic"."""
    n = min(max_examples or FASHION_MNIST_TRAIN, FASHION_MNIST_TRAIN)
    if not args.synthetic:
        try:
            from mi_vae.data import load_dataset

            ds = load_dataset("fashion_mnist", data_dir=args.data_dir or None, max_train_examples=n,
                              max_test_examples=1)
            return ds.train_x, "fashion_mnist"
        except Exception as err:  # noqa: BLE001 -- missing or damaged files: time on synthetic data
            print(f"benchmarks: Fashion-MNIST unavailable ({str(err).splitlines()[0] if str(err) else err!r}); "
                  "using random uint8 images of the same shape", file=sys.stderr)
    return np.random.default_rng(0).integers(0, 256, (n, 28, 28, 1), dtype=np.uint8), "synthetic"


def array_dataset(name: str, train_x: np.ndarray, num_classes=None):
    from mi_vae.data import ArrayDataset

    return ArrayDataset(name=name, train_x=train_x, train_y=None, test_x=train_x[:1], test_y=None,
                        num_classes=num_classes, likelihood="bernoulli")


# ----------------------------------------------------------------------------- jax helpers


def jax_device_info() -> dict:
    import jax

    dev = jax.devices()[0]
    return {"device": dev.device_kind, "platform": dev.platform, "device_count": jax.device_count(),
            "jax_version": jax.__version__}


def jax_peak_memory() -> int | None:
    import jax

    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 -- not every backend has it
        return None
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def is_accelerator() -> bool:
    import jax

    return jax.devices()[0].platform in ("gpu", "cuda", "rocm", "tpu")


def model_flops_per_step(method, state, batch: int, example_shape) -> int:
    import jax
    import jax.numpy as jnp

    from benchmarks import flops as flops_lib

    x = jax.ShapeDtypeStruct((batch, *example_shape), jnp.float32)
    forward, _ = flops_lib.method_forward_flops(method, state["params"], state["batch_stats"], x)
    return flops_lib.train_step_flops(forward)


class Engine:
    """mi_vae's compiled ``train_chunk`` on a device-resident dataset, ``steps_per_call`` steps a call."""

    def __init__(self, config, dataset, steps_per_call: int):
        import jax

        from mi_vae.train.loop import build
        from mi_vae.train.step import batch_sharded, make_mesh, make_train_chunk, replicated

        self.jax = jax
        self.config, self.dataset, self.k = config, dataset, int(steps_per_call)
        self.batch = int(config.batch_size)
        self.n = int(dataset.train_x.shape[0])
        mesh = make_mesh()
        self.method, optimizers, self.state, shardings = build(config, dataset, mesh)
        self.flops = model_flops_per_step(self.method, self.state, self.batch, dataset.example_shape)
        chunk = make_train_chunk(self.method, optimizers, mesh, shardings, data_on_device=True,
                                 dynamic_binarization=config.binarize, unroll=int(config.scan_unroll))
        self.data = jax.device_put(dataset.train_x, replicated(mesh))
        self.xs_sharding = batch_sharded(mesh, batch_axis=1)
        self.active = jax.device_put(np.ones(self.k, bool), replicated(mesh))
        self.calls = 0
        start = time.perf_counter()
        self.compiled = chunk.lower(self.state, self.data, self._indices(), self.active).compile()
        self.compile_s = time.perf_counter() - start

    def _indices(self):
        from mi_vae.data import batch_indices

        idx = batch_indices(int(self.config.seed), self.calls * self.k, self.k, self.n, self.batch)
        return self.jax.device_put(idx, self.xs_sharding)

    def call(self) -> dict:
        """One call of K steps, synchronised; returns its metrics as floats."""
        self.state, metrics = self.compiled(self.state, self.data, self._indices(), self.active)
        self.calls += 1
        return {k: float(v) for k, v in self.jax.device_get(metrics).items()}


def measure_engine(engine: Engine, min_time: float, deadline: float, warmup_calls: int = 1,
                   min_calls: int = 2) -> dict:
    """Steady-state throughput: ``warmup_calls`` excluded, then calls until ``min_time`` (and ``min_calls``)."""
    for _ in range(warmup_calls):
        metrics = engine.call()
    calls, start = 0, time.perf_counter()
    while True:
        metrics = engine.call()
        calls += 1
        elapsed = time.perf_counter() - start
        if (elapsed >= min_time and calls >= min_calls) or time.time() >= deadline:
            break
    steps = calls * engine.k
    step_s = elapsed / steps
    return {
        "images_per_sec": steps * engine.batch / elapsed,
        "step_ms": 1e3 * step_s,
        "batch": engine.batch,
        "steps": steps,
        "wall_s": elapsed,
        "compile_s": engine.compile_s,
        "steps_per_call": engine.k,
        "calls": calls,
        "model_flops_per_step": engine.flops,
        "model_tflops_per_sec": engine.flops / step_s / 1e12,
        "loss": _clean(metrics["loss"]),
        "skipped_steps": int(metrics["skipped"]),
    }


def infomax_config(batch: int, scan_unroll: int = 1, flatten_optimizer: bool = False, conv_impl: str = "auto"):
    from configs import infomax_vae

    config = infomax_vae.get_config()  # conv28, z=10, alpha=20, beta=1, critic 1000-400-100, lr 1e-3 / 1e-5
    config.model.conv_impl = conv_impl
    config.batch_size = batch
    config.scan_unroll = scan_unroll
    config.flatten_optimizer = bool(flatten_optimizer)
    return config


# ----------------------------------------------------------------------------- suites


def suite_torch_ref(args, emit, deadline):
    try:
        import torch
    except ImportError:
        for mode in ("device", "dataloader"):
            emit(record(f"torch_ref/{mode}", "torch", args, skipped="torch not installed"))
        return
    from benchmarks import torch_reference

    threads = args.torch_threads or (1 if args.smoke else 0)
    if threads:  # on a small shared CPU, OpenMP's spinning threads can slow torch down many times over
        torch.set_num_threads(threads)
    if args.smoke:
        train_x, data = fashion_mnist(args, max_examples=SMOKE_EXAMPLES)
        batch, warmup, min_time, block = SMOKE_BATCH, 2, args.min_time or 1.0, 4
    else:
        train_x, data = fashion_mnist(args)
        batch, warmup, min_time, block = 64, 50, args.min_time or 15.0, 50
    for mode in ("device", "dataloader"):
        result = torch_reference.benchmark(train_x, mode, batch=batch, device="cpu" if args.smoke else None,
                                           warmup_steps=warmup, min_time=min_time, block=block, deadline=deadline)
        result["loss"] = _clean(result["loss"])
        emit(record(f"torch_ref/{mode}", "torch", args, data=data, **result))


def infomax_engine(args, batch, smoke_batch, smoke_steps) -> tuple[Engine, str]:
    """(Engine, data source) of the InfoMax-VAE step: one epoch per call, or the smoke sizes."""
    if args.smoke:
        train_x, data = fashion_mnist(args, max_examples=SMOKE_EXAMPLES)
        batch, k = smoke_batch, smoke_steps
    else:
        train_x, data = fashion_mnist(args)
        k = train_x.shape[0] // batch  # one epoch per call
    config = infomax_config(batch, args.scan_unroll, args.flatten_optimizer, args.conv_impl)
    return Engine(config, array_dataset("fashion_mnist", train_x, 10), k), data


def _infomax_engine_suite(name, args, emit, deadline, batch, smoke_batch, smoke_steps):
    engine, data = infomax_engine(args, batch, smoke_batch, smoke_steps)
    min_time = args.min_time or (1.0 if args.smoke else 10.0)
    result = measure_engine(engine, min_time, deadline, min_calls=1 if args.smoke else 2)
    emit(record(name, "jax", args, data=data, peak_memory_bytes=jax_peak_memory(), **jax_device_info(), **result))


def suite_infomax_b64(args, emit, deadline):
    _infomax_engine_suite("infomax_b64", args, emit, deadline, 64, smoke_batch=SMOKE_BATCH,
                          smoke_steps=SMOKE_EXAMPLES // SMOKE_BATCH)


def suite_infomax_b1024(args, emit, deadline):
    _infomax_engine_suite("infomax_b1024", args, emit, deadline, 1024, smoke_batch=64, smoke_steps=2)


def vim_celeba_config(args):
    """configs/vim_celeba.py at batch 256 in bfloat16 (smoke: its tiny float32 setting); (config, source)."""
    from configs import vim_celeba

    config = vim_celeba.get_config("smoke=True" if args.smoke else "dtype=bfloat16")
    source = "configs/vim_celeba.py"
    if not args.smoke:
        config.batch_size = 256
        config.compute_dtype = "bfloat16"
    config.flatten_optimizer = bool(getattr(args, "flatten_optimizer", False))
    return config, source


def vim_celeba_engine(args) -> tuple[Engine, object, str]:
    """(Engine, config, config source) of ``vim_celeba_config`` on random 64x64 images, 10 steps a call."""
    config, source = vim_celeba_config(args)
    batch = int(config.batch_size)
    n = max(4 * batch, 64) if args.smoke else 16 * batch
    train_x = np.random.default_rng(0).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    return Engine(config, array_dataset("synthetic64", train_x), 2 if args.smoke else 10), config, source


def suite_vim_celeba_mfu(args, emit, deadline):
    from benchmarks import flops as flops_lib

    engine, config, source = vim_celeba_engine(args)
    result = measure_engine(engine, args.min_time or (1.0 if args.smoke else 10.0), deadline,
                            min_calls=1 if args.smoke else 2)
    on_accelerator = is_accelerator()
    mfu = flops_lib.mfu(engine.flops, result["step_ms"] / 1e3) if on_accelerator else None
    emit(record("vim_celeba_mfu", "jax", args, data="synthetic", mfu=mfu, peak_memory_bytes=jax_peak_memory(),
                compute_dtype=config.compute_dtype, config=source,
                mfu_peak_flops=flops_lib.H100_SXM_BF16_DENSE_PEAK, **jax_device_info(), **result))


def suite_infomax_100_epochs(args, emit, deadline):
    """The paper's run (100 epochs, batch 64) through mi_vae.train.train, then through the raw chunk loop."""
    epochs = 1 if args.smoke else 100
    batch = SMOKE_BATCH if args.smoke else 64
    max_examples = SMOKE_EXAMPLES if args.smoke else None
    remaining = deadline - time.time()
    # Share what is left: ~55% for the train() run, the rest for the raw loop.
    train_deadline = time.time() + 0.55 * remaining
    _hundred_epochs_train(args, emit, train_deadline, epochs, batch, max_examples)
    _hundred_epochs_raw(args, emit, deadline, epochs, batch, max_examples)


def _hundred_epochs_train(args, emit, deadline, epochs, batch, max_examples):
    from mi_vae.io import read_metrics
    from mi_vae.train import train

    start = time.perf_counter()
    train_x, data = fashion_mnist(args, max_examples=max_examples)
    dataset = array_dataset("fashion_mnist", train_x, 10)
    config = infomax_config(batch, args.scan_unroll, args.flatten_optimizer, args.conv_impl)
    steps_per_epoch = train_x.shape[0] // batch
    total_steps = epochs * steps_per_epoch
    config.num_epochs = epochs
    config.steps_per_call = steps_per_epoch
    config.log_every_steps = steps_per_epoch  # one host sync + metrics row per epoch
    config.checkpoint_every_steps = total_steps  # one checkpoint, at the end
    config.keep_checkpoints = 1
    config.run_eval = False

    # At the deadline, SIGTERM ourselves: train() saves a checkpoint and returns preempted=True.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # a late timer must not kill the harness
    timer = threading.Timer(max(deadline - time.time(), 0.0), os.kill, (os.getpid(), signal.SIGTERM))
    timer.daemon = True
    with tempfile.TemporaryDirectory(prefix="mi_vae_bench_") as workdir:
        timer.start()
        try:
            _, state, _, preempted = train(config, workdir, dataset=dataset)
            wall = time.perf_counter() - start
        finally:
            timer.cancel()
            signal.signal(signal.SIGTERM, previous)
        import jax

        steps = int(jax.device_get(state["step"]))
        preempted = bool(preempted) and steps < total_steps  # a deadline hit during the final save is no cut
        rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    rates = [r["examples_per_sec"] for r in rows]
    steady = float(np.median(rates[1:])) if len(rates) > 1 else (rates[0] if rates else None)
    compile_s = None
    if len(rates) > 1:  # the first epoch's time minus a steady epoch's: compile + first-call overheads
        compile_s = max(steps_per_epoch * batch * (1.0 / rates[0] - 1.0 / steady), 0.0)
    extrapolated = None
    if steps < total_steps and steady:
        extrapolated = wall + (total_steps - steps) * batch / steady
    emit(record(
        "infomax_100_epochs/train", "jax", args, data=data, batch=batch, steps=steps, wall_s=wall,
        compile_s=compile_s, images_per_sec=steady, step_ms=1e3 * batch / steady if steady else None,
        images_per_sec_overall=steps * batch / wall, epochs=epochs, completed_epochs=steps / steps_per_epoch,
        preempted=preempted, wall_s_extrapolated=extrapolated, steps_per_call=steps_per_epoch,
        loss=_clean(rows[-1]["loss"]) if rows else None, peak_memory_bytes=jax_peak_memory(),
        process_wall_s=time.time() - PROCESS_START,
        notes="mi_vae.train.train on a temp workdir: data load, build, compile, one metrics sync per epoch, "
              "final checkpoint; compile_s = first epoch minus a steady epoch",
        **jax_device_info()))


def _hundred_epochs_raw(args, emit, deadline, epochs, batch, max_examples):
    start = time.perf_counter()
    train_x, data = fashion_mnist(args, max_examples=max_examples)
    steps_per_epoch = train_x.shape[0] // batch
    config = infomax_config(batch, args.scan_unroll, args.flatten_optimizer, args.conv_impl)
    engine = Engine(config, array_dataset("fashion_mnist", train_x, 10), steps_per_epoch)
    epoch_times, metrics = [], {}
    for _ in range(epochs):
        t = time.perf_counter()
        metrics = engine.call()
        epoch_times.append(time.perf_counter() - t)
        if time.time() >= deadline:
            break
    wall = time.perf_counter() - start
    done = len(epoch_times)
    steady_epoch = float(np.median(epoch_times[1:])) if done > 1 else epoch_times[0]
    extrapolated = wall + (epochs - done) * steady_epoch if done < epochs else None
    emit(record(
        "infomax_100_epochs/raw_chunks", "jax", args, data=data, batch=batch, steps=done * steps_per_epoch,
        wall_s=wall, compile_s=engine.compile_s, images_per_sec=steps_per_epoch * batch / steady_epoch,
        step_ms=1e3 * steady_epoch / steps_per_epoch, images_per_sec_overall=done * steps_per_epoch * batch / wall,
        epochs=epochs, completed_epochs=done, preempted=done < epochs, wall_s_extrapolated=extrapolated,
        steps_per_call=steps_per_epoch, loss=_clean(metrics.get("loss")), model_flops_per_step=engine.flops,
        peak_memory_bytes=jax_peak_memory(),
        notes="build + compile + one train_chunk call per epoch (synced), no logging or checkpoints",
        **jax_device_info()))


SUITE_FUNCS = {
    "torch_ref": suite_torch_ref,
    "infomax_b64": suite_infomax_b64,
    "infomax_b1024": suite_infomax_b1024,
    "vim_celeba_mfu": suite_vim_celeba_mfu,
    "infomax_100_epochs": suite_infomax_100_epochs,
}

#: share of the remaining budget a suite may use when later suites still wait (the last gets all of it)
SUITE_SHARE = {"torch_ref": 0.2, "infomax_b64": 0.12, "infomax_b1024": 0.12, "vim_celeba_mfu": 0.15,
               "infomax_100_epochs": 1.0}


# ----------------------------------------------------------------------------- drivers


def run_in_process(suite: str, args, emitter: Emitter, deadline: float) -> None:
    try:
        SUITE_FUNCS[suite](args, emitter.emit, deadline)
    except Exception as err:  # noqa: BLE001 -- report and go on with the next suite
        traceback.print_exc(file=sys.stderr)
        emitter.emit({"name": suite, "error": f"{type(err).__name__}: {err}"[:2000], "commit": git_commit(),
                      "smoke": bool(args.smoke)})


def run_in_child(suite: str, args, emitter: Emitter, deadline: float, hard_deadline: float) -> None:
    """Run one suite in a child process; forward its JSON lines; kill it at ``hard_deadline``."""
    cmd = [sys.executable, "-m", "benchmarks.run", "--suite", suite, "--child", "--deadline", repr(deadline)]
    for flag in ("smoke", "synthetic"):
        if getattr(args, flag):
            cmd.append(f"--{flag}")
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.min_time:
        cmd += ["--min-time", str(args.min_time)]
    if args.torch_threads:
        cmd += ["--torch-threads", str(args.torch_threads)]
    cmd += ["--conv-impl", args.conv_impl]
    if args.scan_unroll != 1:
        cmd += ["--scan-unroll", str(args.scan_unroll)]
    if args.flatten_optimizer:
        cmd += ["--flatten-optimizer", "1"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    emitted = []
    stderr_tail: collections.deque[str] = collections.deque(maxlen=30)

    def pump_stdout():
        for line in proc.stdout:
            line = line.rstrip("\n")
            try:
                json.loads(line)
            except ValueError:
                print(line, file=sys.stderr)
                continue
            emitter.emit_line(line)
            emitted.append(line)

    def pump_stderr():
        for line in proc.stderr:
            sys.stderr.write(line)
            stderr_tail.append(line.rstrip("\n"))

    threads = [threading.Thread(target=pump_stdout, daemon=True), threading.Thread(target=pump_stderr, daemon=True)]
    for t in threads:
        t.start()
    try:
        rc = proc.wait(timeout=max(hard_deadline - time.time(), 1.0))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = None
    for t in threads:
        t.join(timeout=10)
    if rc is None:
        emitter.emit({"name": suite, "error": f"killed after running past the budget ({args.budget_s:.0f}s run)",
                      "commit": git_commit(), "smoke": bool(args.smoke)})
    elif rc != 0 and not any('"error"' in line for line in emitted):
        tail = " | ".join(list(stderr_tail)[-5:])
        emitter.emit({"name": suite, "error": f"child exited with status {rc}: {tail}"[:2000],
                      "commit": git_commit(), "smoke": bool(args.smoke)})


def smoke_environment() -> None:
    """CPU only; fast-compiling PRNG and a persistent compilation cache (XLA:CPU compiles slowly).

    Set before JAX is imported; an explicit environment variable wins. Threefry's bit generator takes
    seconds per call site to compile on XLA:CPU (model init has one per parameter), ``unsafe_rbg`` a
    fraction of that, at the same run-time cost for the few random numbers a step draws. The cache
    lets the smoke suites that share shapes (and repeated smoke runs) skip recompiling.
    """
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("JAX_DEFAULT_PRNG_IMPL", "unsafe_rbg")
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "mi_vae_bench_xla_cache"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CPU-sized runs (seconds)")
    parser.add_argument("--suite", action="extend", nargs="+", choices=SUITES, help="suites to run (default: all)")
    parser.add_argument("--out", help="also append the JSON lines to this file")
    parser.add_argument("--data-dir", default="", help="Fashion-MNIST IDX directory (default: the Debian path)")
    parser.add_argument("--synthetic", action="store_true", help="use random images even if Fashion-MNIST exists")
    parser.add_argument("--min-time", type=float, default=0.0, help="timed seconds per measurement (0: default)")
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="torch.set_num_threads for torch_ref (0: torch's default; smoke: 1)")
    parser.add_argument("--scan-unroll", type=int, default=1,
                        help="config.scan_unroll for the InfoMax-VAE suites (see benchmarks/engine_variants.py)")
    parser.add_argument("--flatten-optimizer", type=int, choices=(0, 1), default=0,
                        help="config.flatten_optimizer for the mi_vae suites (Adam on one vector per player)")
    parser.add_argument("--conv-impl", default="auto", choices=("auto", "xla", "im2col"),
                        help="config.model.conv_impl for the mi_vae suites (auto: im2col on the CPU)")
    parser.add_argument("--budget-s", type=float, default=0.0,
                        help="wall-clock budget of the whole run (0: 540 s, smoke 120 s)")
    parser.add_argument("--isolate", dest="isolate", action="store_true", default=None,
                        help="one child process per suite (default when several suites and not --smoke)")
    parser.add_argument("--no-isolate", dest="isolate", action="store_false")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.budget_s = args.budget_s or DEFAULT_BUDGET_S[args.smoke]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    # Only JSON lines on stdout: keep the real stdout for them and send everything else to stderr.
    json_stream = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)
    emitter = Emitter(json_stream, None if args.child else args.out)
    if args.smoke:
        smoke_environment()
    suites = list(dict.fromkeys(args.suite or SUITES))
    start = time.time()
    end = args.deadline or start + args.budget_s
    isolate = args.isolate if args.isolate is not None else (len(suites) > 1 and not args.smoke)
    isolate = isolate and not args.child
    for i, suite in enumerate(suites):
        remaining = end - time.time()
        if remaining <= 0:
            emitter.emit({"name": suite, "skipped": "budget exhausted", "commit": git_commit(),
                          "smoke": bool(args.smoke)})
            continue
        if i == len(suites) - 1:  # the last suite may use what is left, less a margin to report in
            soft, hard = end - min(20.0, 0.1 * remaining), end
        else:  # measurements stop at `soft`; a child is killed only well past it
            soft = time.time() + SUITE_SHARE[suite] * remaining
            hard = min(end, soft + 120.0)
        if isolate:
            run_in_child(suite, args, emitter, soft, hard_deadline=hard)
        else:
            run_in_process(suite, args, emitter, soft)
    json_stream.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
