"""Files a run writes: atomic writes, the JSONL metric log and its reader, the git commit.

Shared by the trainer, evaluation and benchmarks (none of them reaches into another for I/O).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import subprocess
import tempfile

import jax

from mi_vae.errors import ConfigError

log = logging.getLogger(__name__)


def _umask() -> int:
    """The process's umask, read without changing it (Linux's /proc; elsewhere set and restored)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``.

    A reader never sees a half-written file, and a crash leaves the previous version intact. The file gets
    the mode any new file gets (0666 less the umask; ``mkstemp`` alone would make it 0600).
    """
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json_atomic(path: str, obj) -> None:
    """``write_text_atomic`` of ``obj`` as indented JSON."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str))


class MetricWriter:
    """Appends one JSON object per logged step to WORKDIR/metrics.jsonl (process 0 only), and the same scalars
    as TensorBoard event files under WORKDIR/tensorboard (tag ``<split>/<name>``; written by tensorboardX,
    no TensorFlow), so ``tensorboard --logdir WORKDIR`` shows a run while it trains.

    With ``wandb_project`` (``config.wandb_project``) the scalars also go to Weights & Biases, when the user
    has ``wandb`` installed (it is not a dependency): one wandb run per workdir (its id a hash of the
    workdir's path, resumed by a resumed run), ``run_config`` as its config.

    After a resume, steps logged past the restored checkpoint appear again; readers keep the last
    row of each (step, split): see ``read_metrics``.
    """

    def __init__(self, path: str, tensorboard: bool = True, wandb_project: str = "", run_config: dict | None = None):
        self.path = path
        self.enabled = jax.process_index() == 0
        self.tensorboard_dir = os.path.join(os.path.dirname(os.path.abspath(path)), "tensorboard")
        self._events = None
        self._wandb = None
        if wandb_project and self.enabled:
            self._wandb = start_wandb(wandb_project, os.path.dirname(os.path.abspath(path)), run_config)
        if tensorboard and self.enabled:
            from tensorboardX import SummaryWriter  # here, not at import: the CLI's flag errors stay fast

            self._events = SummaryWriter(self.tensorboard_dir, flush_secs=30)

    def write(self, row: dict) -> None:
        """Append ``row`` as one line; after a torn last line (a crash mid-write) it starts a new line."""
        if not self.enabled:
            return
        with open(self.path, "a+b") as f:
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            f.write((json.dumps(row) + "\n").encode())
        scalars = {f"{row.get('split', 'train')}/{key}": value for key, value in row.items()
                   if key not in ("step", "split") and isinstance(value, (int, float))
                   and not isinstance(value, bool) and math.isfinite(value)}
        if self._events is not None:
            for tag, value in scalars.items():
                self._events.add_scalar(tag, value, int(row["step"]))
            self._events.flush()
        if self._wandb is not None:
            self._wandb.log(scalars, step=int(row["step"]))

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


def import_wandb(project: str):
    """The ``wandb`` module for ``config.wandb_project`` = ``project``; ``ConfigError`` in one line when it is
    not installed (checked before training or evaluation starts)."""
    try:
        import wandb
    except ImportError:
        raise ConfigError(f"config.wandb_project is {project!r} but wandb is not installed: `pip install wandb`, "
                          "or leave config.wandb_project empty") from None
    return wandb


def start_wandb(project: str, workdir: str, run_config: dict | None):
    """``wandb.init`` for the run in ``workdir`` (id: a hash of its absolute path, so a resume continues it)."""
    wandb = import_wandb(project)
    run_id = "mi-vae-" + hashlib.sha256(os.path.abspath(workdir).encode()).hexdigest()[:16]
    return wandb.init(project=project, dir=workdir, id=run_id, resume="allow", name=os.path.basename(workdir),
                      config=run_config)


def read_metrics(path: str, split: str = "train") -> list[dict]:
    """Rows of metrics.jsonl for ``split``, one per step (the last written), in step order.

    A line that is not JSON (a torn write after a crash or a full disk) is skipped with a warning naming
    the file and line; the other rows are kept.
    """
    rows: dict[int, dict] = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                log.warning("%s: skipping line %d, which is not a whole JSON row (a write cut short)", path, number)
                continue
            if isinstance(row, dict) and row.get("split") == split and "step" in row:
                rows[row["step"]] = row
    return [rows[s] for s in sorted(rows)]


#: |loss| above this at the end of training reads as divergence
DIVERGED_LOSS = 1e10


def training_warning(rows: list[dict]) -> str | None:
    """A warning when the training rows of metrics.jsonl show a diverged run, else None: the last logged loss
    is not finite or above ``DIVERGED_LOSS`` in size, or it rose by more than half the first one's size."""
    losses = [(r["step"], r["loss"]) for r in rows if isinstance(r.get("loss"), (int, float))]
    if not losses:
        return None
    (first_step, first), (last_step, last) = losses[0], losses[-1]
    if not math.isfinite(last) or abs(last) > DIVERGED_LOSS:
        return f"training diverged: the loss is {last:.3g} at step {last_step} (check the learning rate)"
    if len(losses) > 1 and last > first + 0.5 * abs(first):
        return (f"training made the loss worse: {first:.4g} at step {first_step}, {last:.4g} at step {last_step} "
                "(check the learning rate)")
    return None


def git_commit(path: str | None = None) -> str:
    """``git rev-parse HEAD`` of the repository holding ``path`` (default: this package), + "-dirty"
    when tracked files differ from HEAD; ``$MI_VAE_COMMIT`` for copies of the tree without .git;
    "unknown" outside a git checkout or without git."""
    if os.environ.get("MI_VAE_COMMIT"):
        return os.environ["MI_VAE_COMMIT"]
    cwd = path or os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              timeout=10, check=False)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=cwd, capture_output=True,
                               timeout=10, check=False).returncode == 1
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


__all__ = ["MetricWriter", "git_commit", "read_metrics", "write_json_atomic", "write_text_atomic"]
