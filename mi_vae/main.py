"""Entry point: flags -> config -> train and/or evaluate.

python -m mi_vae.main --config=configs/default.py[:args] --workdir=DIR [--config.key=value ...] [--mode=train|eval]

Errors a user can cause (bad config key or value, unknown method or dataset, missing data,
unwritable workdir, incompatible checkpoint) are ``mi_vae.errors.MiVaeError``s and end with one line
on stderr and exit status 1. Any other exception is a bug (in the library or in a user's method) and
keeps its traceback. ``--debug`` (or ``MI_VAE_DEBUG=1``) re-raises the one-line errors too.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile

from absl import app, flags
from ml_collections import config_flags

from mi_vae.errors import MiVaeError
from mi_vae.io import write_json_atomic

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


class UsageError(MiVaeError):
    """A problem with the command line or the work directory, reported as one line."""


def check_workdir(workdir: str) -> None:
    """Create ``workdir`` if needed and check it is writable, before any work is done."""
    try:
        os.makedirs(workdir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write-test-"):
            pass
    except OSError as err:
        raise UsageError(f"workdir {workdir} is not writable: {err.strerror or err}") from None


def run(config, workdir: str, mode: str) -> None:
    import jax

    from mi_vae import evaluation
    from mi_vae import train as train_lib

    check_workdir(workdir)
    writer = jax.process_index() == 0  # only process 0 writes config, metrics, figures and the report
    if mode == "train":
        def on_ready():
            if writer:
                write_json_atomic(os.path.join(workdir, "config.json"), config.to_dict())

        method, state, dataset, preempted = train_lib.train(config, workdir, on_ready=on_ready)
        if preempted or not config.run_eval or not writer:
            return
        state = jax.device_get(state)  # evaluation is host-local
    else:
        if not os.path.isfile(os.path.join(workdir, "config.json")):
            raise UsageError(f"{workdir} has no config.json: not a mi_vae work directory")
        if not writer:
            return
        method = state = dataset = None
    evaluation.evaluate(config, workdir, method=method, state=state, dataset=dataset)


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.getLogger().setLevel(logging.ERROR)  # quiet libraries (Orbax logs every save, tfds warns on missing data)
    logging.getLogger("mi_vae").setLevel(logging.INFO)
    if FLAGS.config is None or FLAGS.workdir is None:
        _fail("both --config and --workdir are required")
    if FLAGS.distributed:
        import jax

        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes; GPUs/TPUs use their own
        jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                                   num_processes=FLAGS.num_processes, process_id=FLAGS.process_id)
    try:
        config = FLAGS.config
        if FLAGS.evals:
            from mi_vae.config import select_evals

            config = select_evals(config, FLAGS.evals)
        run(config, FLAGS.workdir, FLAGS.mode)
    except MiVaeError as err:
        if FLAGS.debug:
            raise
        message = str(err).strip()
        _fail(message.splitlines()[0] if message else type(err).__name__)


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


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
