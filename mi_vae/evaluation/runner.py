"""``evaluate(config, workdir, ...)``: run the evaluators of ``config.evals`` on a trained run.

Outputs (the work-directory contract of docs/design.md):
    WORKDIR/eval/metrics.json   {metric: value}, written atomically (temporary file + os.replace)
    WORKDIR/eval/*.png          figures
    WORKDIR/eval/report.md      table of metrics with definitions and how each was computed, figures,
                                what was not computed and why, time per evaluator, config, commit, device
    WORKDIR/metrics.jsonl       one appended row {"step": int, "split": "eval", <metric>: value, ...}
Only process 0 writes; every process computes (on its first local device, with a local copy of
the replicated parameters), so multi-host runs evaluate identically.

``config.eval`` sets the evaluation data all evaluators share (``DATA_DEFAULTS``: seed, num_examples,
batch_size, train_examples); ``config.evals`` = {name: settings} chooses the evaluators
(``mi_vae.evaluation.evaluators``) and their settings, e.g. ``--config.evals.iwae.k=5000``. An evaluator
whose required capabilities the method does not declare, or that raises ``Skip``, is recorded under
"Not computed" with the reason.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from mi_vae.config import eval_config
from mi_vae.evaluation.evaluators import common
from mi_vae.evaluation.report import write_report
from mi_vae.io import MetricWriter, _umask, import_wandb, read_metrics, training_warning, write_json_atomic
from mi_vae.train import run_record
from mi_vae.train.checkpoint import Checkpointer, NoUsableCheckpointError
from mi_vae.train.loop import build
from mi_vae.train.step import make_mesh, replicated

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- restore


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(workdir, "checkpoints")


def require_checkpoint(workdir: str) -> str:
    """WORKDIR/checkpoints if it holds a saved step, else NoUsableCheckpointError("no checkpoint in ...")."""
    directory = checkpoint_dir(workdir)
    if not os.path.isdir(directory) or not any(name.isdigit() for name in os.listdir(directory)):
        raise NoUsableCheckpointError(f"no checkpoint in {directory}: train first")
    return directory


def restore(config, workdir: str, dataset):
    """(method, state) built from ``config`` with the newest checkpoint of WORKDIR/checkpoints."""
    directory = require_checkpoint(workdir)
    mesh = make_mesh()
    built = {}

    def build_state():  # traced only: the restore target needs shapes, not a freshly initialised state
        built["method"], _, state, _ = build(config, dataset, mesh)
        return state

    state = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=replicated(mesh)),
                         jax.eval_shape(build_state))
    method = built["method"]
    checkpointer = Checkpointer(directory, keep=int(config.keep_checkpoints), async_save=False)
    try:
        restored, step = checkpointer.restore_latest(state)
    finally:
        checkpointer.close()
    if restored is None:
        raise NoUsableCheckpointError(f"no checkpoint in {directory}: train first")
    log.info("evaluating checkpoint step %d of %s", step, directory)
    return method, restored


def _local(tree):
    """A host copy of a (replicated) state tree, so evaluation runs on one local device."""
    def leaf(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            a = a.addressable_data(0)  # replicated over hosts: the local copy is the whole array
        return np.asarray(a)
    return jax.tree.map(leaf, tree)


# ----------------------------------------------------------------------------- evaluate


def evaluate(config, workdir: str, method=None, state=None, dataset=None) -> dict:
    """Evaluate the trained model of ``workdir``; write metrics.json, figures, report.md; return metrics.

    Args:
      config: the run's ConfigDict (None: read WORKDIR/config.json).
      workdir: the run's work directory.
      method: the trained method; when it or ``state`` is None both are built from ``config`` and the
        newest checkpoint of WORKDIR/checkpoints is restored (NoUsableCheckpointError "no checkpoint in ...:
        train first" if there is none).
      state: its train state (see ``method``).
      dataset: the run's ``ArrayDataset`` (None: the one config.dataset names, or the arrays stored with the run).

    Returns:
      {metric key: float | int | None} (None for a non-finite value); the keys that apply to the
      run, see ``mi_vae.evaluation.metrics.DEFINITIONS``.
    """
    start = time.time()
    if config is None:
        config, _ = eval_config(run_record.read_config(workdir), None)
    settings = common.data_settings(config)
    if config.get("wandb_project"):
        import_wandb(config.wandb_project)
    if method is None or state is None:
        require_checkpoint(workdir)  # before loading any data
    if dataset is None:
        dataset = run_record.load_run_data(config, workdir)
    if method is None or state is None:
        method, state = restore(config, workdir, dataset)
    step = int(np.asarray(_local(state["step"])))
    local_state = {"params": jax.tree.map(jnp.asarray, _local(state["params"])),
                   "batch_stats": jax.tree.map(jnp.asarray, _local(state.get("batch_stats", {}))), "step": step}
    out_dir = _fresh_output_dir(workdir)
    try:
        return _evaluate(config, workdir, method, dataset, settings, out_dir, start, step, local_state)
    finally:
        if os.path.isdir(out_dir):  # evaluation failed: the previous eval/ stays as it was
            shutil.rmtree(out_dir, ignore_errors=True)


EVAL_DIR = "eval"


def _fresh_output_dir(workdir: str) -> str:
    """A new temporary output directory beside WORKDIR/eval (evaluation writes there and swaps it in at the
    end, so a killed evaluation never leaves eval/ mixing new figures with an old report); leftovers of
    killed evaluations are removed, and an eval/ caught mid-swap is put back."""
    final, previous = os.path.join(workdir, EVAL_DIR), os.path.join(workdir, EVAL_DIR + ".previous")
    if os.path.isdir(previous):
        if os.path.isdir(final):
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.replace(previous, final)
    for name in os.listdir(workdir):
        if name.startswith(".eval-tmp-"):
            shutil.rmtree(os.path.join(workdir, name), ignore_errors=True)
    return tempfile.mkdtemp(prefix=".eval-tmp-", dir=workdir)


def _swap_in(workdir: str, out_dir: str) -> None:
    """Make ``out_dir`` WORKDIR/eval (the old one is removed once the new one is in place)."""
    os.chmod(out_dir, 0o777 & ~_umask())
    final, previous = os.path.join(workdir, EVAL_DIR), os.path.join(workdir, EVAL_DIR + ".previous")
    if os.path.isdir(final):
        os.replace(final, previous)
    os.replace(out_dir, final)
    shutil.rmtree(previous, ignore_errors=True)


def _evaluate(config, workdir: str, method, dataset, settings: dict, out_dir: str, start: float, step: int,
              local_state: dict) -> dict:
    """The evaluators over ``local_state``, their outputs written to ``out_dir``, then swapped in as eval/."""
    metrics_path = os.path.join(workdir, "metrics.jsonl")
    train_rows, valid_rows = ((read_metrics(metrics_path, split) if os.path.exists(metrics_path) else [])
                              for split in ("train", "valid"))
    data = common.EvalData(method, dataset, binarize=bool(config.binarize), out_dir=out_dir, train_rows=train_rows,
                           valid_rows=valid_rows, **settings)
    evaluators = common.from_config(config, method, data)

    metrics: dict = {}
    skipped: dict[str, str] = {}
    notes: dict[str, str] = {"test examples evaluated": str(data.n)}
    warning = training_warning(train_rows)
    if warning:
        notes["WARNING"] = warning
        log.warning("%s", warning)
    figures: list[str] = []
    sections: dict[str, list[str]] = {}
    timings: dict[str, float] = {}
    for name, evaluator in evaluators:
        t = time.time()
        try:
            common.require(method, evaluator.requires)
            for key, value in evaluator.run(local_state):
                if isinstance(value, common.Skipped):
                    skipped[key] = value.reason
                elif isinstance(value, common.Note):
                    notes[key] = value.text
                elif isinstance(value, common.Figure):
                    figures.append(value.path)
                elif isinstance(value, common.Section):
                    sections[key] = list(value.lines)
                else:
                    metrics[key] = value
        except common.Skip as why:
            skipped[name] = str(why)
            log.info("skipped %s: %s", name, why)
            continue
        timings[name] = time.time() - t
        log.info("evaluated %s in %.1fs", name, timings[name])
    timings["total"] = time.time() - start

    metrics = {k: _json_value(v) for k, v in metrics.items()}
    if jax.process_index() == 0:
        write_json_atomic(os.path.join(out_dir, "metrics.json"), metrics)
        eval_writer = MetricWriter(metrics_path, wandb_project=config.get("wandb_project", ""),
                                   run_config=config.to_dict())
        eval_writer.write({"step": step, "split": "eval", **{k: v for k, v in metrics.items() if v is not None}})
        eval_writer.close()
        write_report(os.path.join(out_dir, "report.md"), metrics=metrics, skipped=skipped, figures=figures,
                     config=config, step=step, timings=timings, extra=notes,
                     settings={"eval": settings, "evals": _evals_dict(config)}, sections=sections)
        _swap_in(workdir, out_dir)
    log.info("evaluation at step %d in %.1fs: %s", step, timings["total"],
             " ".join(f"{k} {_short(v)}" for k, v in metrics.items()))
    return metrics


def _evals_dict(config) -> dict:
    evals = config.get("evals", None)
    return common.evals_section().to_dict() if evals is None else evals.to_dict()


def _short(v) -> str:
    return "n/a" if v is None else (str(v) if isinstance(v, int) else f"{v:.4g}")


def _json_value(v):
    if isinstance(v, (bool, np.bool_, int, np.integer)):
        return int(v)
    v = float(v)
    return v if math.isfinite(v) else None


__all__ = ["evaluate", "require_checkpoint", "restore"]
