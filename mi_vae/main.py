"""Entry point: flags -> config -> train and/or evaluate.

python -m mi_vae.main --config=configs/default.py[:args] --workdir=DIR [--config.key=value ...] [--mode=train|eval]

Errors a user can cause (bad config key or value, unknown method or dataset, missing data,
unwritable workdir, incompatible checkpoint) are ``mi_vae.errors.MiVaeError``s and end with one line
on stderr and exit status 1. Any other exception is a bug (in the library or in a user's method) and
keeps its traceback. ``--debug`` (or ``MI_VAE_DEBUG=1``) re-raises the one-line errors too.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import signal
import sys
import tempfile

from absl import app, flags
from ml_collections import config_flags

from mi_vae.errors import STORAGE_FULL, MiVaeError

config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py[:args]).", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and evaluation.")
flags.DEFINE_enum("mode", "train", ["train", "eval"],
                  "train: train (resuming from WORKDIR if it has checkpoints), then evaluate if config.run_eval; "
                  "eval: evaluate the latest checkpoint of WORKDIR.")
flags.DEFINE_list("evals", None, "Run only these evaluators of config.evals (comma-separated names, e.g. "
                  "elbo,mi); default: all of config.evals.")
flags.DEFINE_bool("distributed", os.environ.get("MI_VAE_DISTRIBUTED", "") == "1",
                  "Multi-process run (several hosts/GPU nodes or a TPU pod): call jax.distributed.initialize(). "
                  "Also set by MI_VAE_DISTRIBUTED=1. Without the three flags below JAX detects SLURM, TPU pods "
                  "and Open MPI itself.")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (with --distributed).")
flags.DEFINE_integer("num_processes", None, "Number of processes (with --distributed).")
flags.DEFINE_integer("process_id", None, "This process's index (with --distributed).")
flags.DEFINE_bool("debug", os.environ.get("MI_VAE_DEBUG", "") == "1",
                  "Show the traceback of user-input errors too (also set by MI_VAE_DEBUG=1).")
FLAGS = flags.FLAGS
log = logging.getLogger("mi_vae")


class UsageError(MiVaeError):
    """A problem with the command line or the work directory, reported as one line."""


def check_workdir(workdir: str) -> None:
    """Create ``workdir`` if needed and check it is writable, before any work is done."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise UsageError(f"workdir {workdir} exists and is not a directory")
    if os.path.islink(workdir) and not os.path.exists(workdir):
        try:
            os.stat(workdir)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise UsageError(f"workdir {workdir} is a symbolic link that loops (points back to itself)") from None
        raise UsageError(f"workdir {workdir} is a symbolic link to {os.readlink(workdir)}, which does not exist")
    try:
        os.makedirs(workdir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write-test-"):
            pass
    except OSError as err:
        raise UsageError(f"workdir {workdir} is not writable: {err.strerror or err}") from None


def run(config, workdir: str, mode: str, evals: list[str] | None = None) -> None:
    """Train (then evaluate if ``config.run_eval``) or, with mode "eval", evaluate the run in ``workdir``
    with its recorded config, taking only the evaluation sections from ``config`` (may be None)."""
    import jax

    from mi_vae import evaluation
    from mi_vae import train as train_lib
    from mi_vae.config import eval_config, select_evals
    from mi_vae.train import run_record

    if mode == "train":
        if config is None:
            raise UsageError("--config is required to train")
        config = select_evals(config, evals) if evals else config
        check_workdir(workdir)
        method, state, dataset, stopped_by = train_lib.train(config, workdir)
        if stopped_by == signal.SIGINT:
            sys.exit(130)  # Ctrl-C: saved, then the shell's usual status
        if stopped_by is not None or not config.run_eval or jax.process_index() != 0:  # process 0 evaluates
            return
        state = jax.device_get(state)  # evaluation is host-local
    else:
        config, ignored = eval_config(run_record.read_config(workdir), config)
        if ignored:
            log.warning("--mode=eval uses the run's recorded config; ignored from --config: %s", ", ".join(ignored))
        config = select_evals(config, evals) if evals else config
        check_workdir(workdir)
        if jax.process_index() != 0:
            return
        method = state = dataset = None
    with _sigterm_raises():
        evaluation.evaluate(config, workdir, method=method, state=state, dataset=dataset)


class EvaluationInterrupted(MiVaeError):
    """SIGTERM arrived during evaluation (nothing to save: eval/ keeps the previous evaluation)."""


@contextlib.contextmanager
def _sigterm_raises():
    """During evaluation SIGTERM ends the run with one line (the evaluation's temporary directory is removed,
    eval/ stays as it was) and exit status 143, instead of dying silently."""
    def handle(signum, frame):
        raise EvaluationInterrupted("SIGTERM during evaluation: stopped; eval/ is unchanged (rerun with --mode=eval)")

    try:
        previous = signal.signal(signal.SIGTERM, handle)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.getLogger().setLevel(logging.ERROR)  # quiet libraries (Orbax logs every save, tfds warns on missing data)
    logging.getLogger("mi_vae").setLevel(logging.INFO)
    if FLAGS.workdir is None or (FLAGS.config is None and FLAGS.mode == "train"):
        _fail("--workdir is required, and --config to train")
    if FLAGS.distributed:
        import jax

        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes; GPUs/TPUs use their own
        jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                                   num_processes=FLAGS.num_processes, process_id=FLAGS.process_id)
    try:
        run(FLAGS.config, FLAGS.workdir, FLAGS.mode, FLAGS.evals)
    except MiVaeError as err:
        if FLAGS.debug:
            raise
        message = str(err).strip()
        _fail(message.splitlines()[0] if message else type(err).__name__,
              status=143 if isinstance(err, EvaluationInterrupted) else 1)
    except OSError as err:
        if FLAGS.debug or err.errno not in STORAGE_FULL:
            raise
        _fail(f"writing {err.filename or 'a file'} failed: {err.strerror}; files are written whole or not at all "
              "(the last complete checkpoint and evaluation are kept)")


def _fail(message: str, status: int = 1) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def _flag_error_line(err: BaseException) -> str:
    """One line for a flag-parsing error (bad config file, argument, key or value)."""
    text = str(err)
    section = re.search(r"flag --config\.([\w.]+)=.*Failed to parse .* as a ConfigDict", text)
    if section:
        key = section.group(1)
        return f"config.{key} is a section, not a value: set its keys, e.g. --config.{key}.name=..."
    suggestion = re.search(r'Did you mean "([^"]+)" instead of "([^"]+)"', text)
    if suggestion:
        return f"unknown config key {suggestion.group(2)!r}; did you mean {suggestion.group(1)!r}?"
    if isinstance(err, AttributeError) or isinstance(getattr(err, "__cause__", None), AttributeError):
        key = re.search(r"'([^'\\]+)'", text)
        return f"unknown config key {key.group(1)!r}" if key else f"unknown config key: {text}"
    if "No such file or directory" in text or "Failed to import" in text or "Attempted" in text:
        path = re.search(r"No such file or directory: '([^']+)'", text)
        return f"config file not found: {path.group(1)}" if path else "config file could not be loaded"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "Traceback" in text and lines:  # an error raised inside get_config: its last line says what
        return f"{lines[0].split(':')[0]}: {lines[-1]}"
    return " ".join(lines)[:500] or type(err).__name__


def parse_flags(argv: list[str]) -> list[str]:
    """absl flag parsing that reports any error as one line and exits 1 (no usage dump, no traceback)."""
    try:
        rest = FLAGS(argv)
        if FLAGS.config is not None:
            FLAGS.config.to_dict()  # the config file loads lazily: surface its errors here
        return rest
    except Exception as err:  # flags.Error, or errors raised while loading/overriding the config
        _fail(_flag_error_line(err))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
