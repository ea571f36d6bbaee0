"""What a work directory records about its run: config.json (the resolved config and a description of
its data) and, for data passed from Python, the arrays themselves.

config.json is ``config.to_dict()`` plus ``"data"``: the dataset's name, split sizes, example shape,
dtype, likelihood and number of classes. A dataset given to ``train(config, workdir, dataset=...)``
that ``config.dataset`` does not name (e.g. ``mi_vae.data.from_arrays(...)``) is stored in the
workdir as ``dataset.npz`` (written once, atomically), ``config.dataset`` is recorded as
``arrays:NAME`` and the description carries the arrays' sha256; evaluating the run later
(``--mode=eval --workdir=W``) reads them from there, and resuming it with other arrays is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os

import ml_collections
import numpy as np

from mi_vae import data as data_lib
from mi_vae.data.core import digest_array
from mi_vae.data.files import load_npz
from mi_vae.errors import MiVaeError
from mi_vae.io import write_json_atomic

CONFIG_FILE = "config.json"
HISTORY_FILE = "config_history.jsonl"
LOCK_FILE = ".lock"
STORED_DATASET = "dataset.npz"
ARRAYS_PREFIX = "arrays:"


log = logging.getLogger(__name__)


class RunRecordError(MiVaeError):
    """The work directory's record does not fit the request (missing, or other data than the run's)."""


def arrays_sha256(dataset: data_lib.ArrayDataset) -> str:
    """sha256 over the dataset's arrays (train x, train y, test x, test y; shapes and dtypes included)."""
    digest = hashlib.sha256()
    for array, labels in ((dataset.train_x, False), (dataset.train_y, True), (dataset.test_x, False),
                          (dataset.test_y, True)):
        if array is None:
            digest.update(b"none")
            continue
        # in the dtypes the stored copy reads back as (labels int32, float data float32)
        dtype = np.int32 if labels else (np.float32 if np.issubdtype(array.dtype, np.floating) else array.dtype)
        digest_array(digest, np.asarray(array, dtype=dtype))
    return digest.hexdigest()


def describe_dataset(dataset: data_lib.ArrayDataset) -> dict:
    """The description config.json records under ``"data"``."""
    return {"name": dataset.name, "train_examples": dataset.num_train, "test_examples": dataset.num_test,
            "example_shape": list(dataset.example_shape), "dtype": str(dataset.train_x.dtype),
            "likelihood": dataset.likelihood, "num_classes": dataset.num_classes}


def read_description(workdir: str) -> dict | None:
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f).get("data")


def record_data(config: ml_collections.ConfigDict, workdir: str,
                dataset: data_lib.ArrayDataset) -> tuple[ml_collections.ConfigDict, dict]:
    """(config recording the data, its description) for ``train(config, workdir, dataset)``; writes nothing.

    A dataset that ``config.dataset`` names is recorded as it is. Any other is recorded as ``arrays:NAME``
    with its sha256 (``write_record`` then stores it); other arrays than those a run in ``workdir`` was
    trained on raise ``RunRecordError``.
    """
    description = describe_dataset(dataset)
    if dataset.name == config.dataset:
        return config, description
    if dataset.likelihood not in ("bernoulli", "gaussian"):
        raise RunRecordError(f"a {dataset.likelihood} dataset passed from Python cannot be stored with its run; "
                             "name it in config.dataset instead")
    description["sha256"] = arrays_sha256(dataset)
    recorded = read_description(workdir)
    if recorded and recorded.get("sha256") and recorded["sha256"] != description["sha256"]:
        raise RunRecordError(f"{workdir} was trained on other arrays (sha256 {recorded['sha256'][:12]}, these "
                             f"{description['sha256'][:12]}); use a new workdir")
    config = ml_collections.ConfigDict(config.to_dict())
    config.dataset = ARRAYS_PREFIX + dataset.name
    return config, description


def write_record(workdir: str, config: ml_collections.ConfigDict, description: dict,
                 dataset: data_lib.ArrayDataset) -> None:
    """Write config.json (the resolved config and ``"data"``, the description) and, for a run on arrays
    passed from Python, ``dataset.npz`` (once, atomically; its sha256 is in the description)."""
    path = os.path.join(workdir, STORED_DATASET)
    if config.dataset.startswith(ARRAYS_PREFIX) and not os.path.isfile(path):
        arrays = {"x_train": dataset.train_x, "x_test": dataset.test_x}
        if dataset.train_y is not None and dataset.test_y is not None:
            arrays.update(y_train=dataset.train_y, y_test=dataset.test_y)
        tmp = path + ".tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    write_json_atomic(os.path.join(workdir, CONFIG_FILE), {**config.to_dict(), "data": description})


def read_config(workdir: str) -> ml_collections.ConfigDict:
    """The run's recorded config (config.json without its data description)."""
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise RunRecordError(f"{workdir} has no {CONFIG_FILE}: not a mi_vae work directory")
    try:
        with open(path) as f:
            recorded = json.load(f)
    except (OSError, ValueError) as err:
        raise RunRecordError(f"{path} is unreadable: {err}") from None
    recorded.pop("data", None)
    return ml_collections.ConfigDict(recorded)


def load_run_data(config: ml_collections.ConfigDict, workdir: str | None) -> data_lib.ArrayDataset:
    """The run's dataset: ``config.dataset`` by ``mi_vae.data.load_dataset``, or the arrays stored in ``workdir``."""
    if not config.dataset.startswith(ARRAYS_PREFIX):
        return data_lib.load_dataset(
            config.dataset, data_dir=config.data_dir or None,
            max_train_examples=config.max_train_examples or None,
            max_test_examples=config.max_test_examples or None, seed=config.seed,
            image_size=int(config.get("image_size", 0)), test_fraction=float(config.get("test_fraction", 0.1)),
            split_seed=int(config.get("split_seed", 0)))
    path = os.path.join(workdir or "", STORED_DATASET)
    if workdir is None or not os.path.isfile(path):
        raise data_lib.DatasetError(f"dataset {config.dataset} was passed to train() from Python and is stored in "
                                    f"its run's workdir as {STORED_DATASET}; {path} is missing")
    stored = load_npz(path)
    recorded = read_description(workdir) or {}
    dataset = data_lib.ArrayDataset(
        name=config.dataset[len(ARRAYS_PREFIX):], train_x=stored.train_x, train_y=stored.train_y,
        test_x=stored.test_x, test_y=stored.test_y, likelihood=stored.likelihood,
        num_classes=recorded.get("num_classes", stored.num_classes))
    if recorded.get("sha256") and recorded["sha256"] != arrays_sha256(dataset):
        raise data_lib.DatasetError(f"{path} does not hold the arrays config.json records (sha256 "
                                    f"{recorded['sha256'][:12]}); it was changed after training")
    return dataset


@contextlib.contextmanager
def single_writer(workdir: str):
    """Hold the workdir's training lock (``flock`` on WORKDIR/.lock) for the block.

    A second process that tries to train in the same workdir gets ``RunRecordError`` naming the holder's
    pid, at once and before it writes anything. The operating system drops the lock when its holder exits
    or is killed, so no crash can leave it stuck."""
    os.makedirs(workdir, exist_ok=True)
    fd = os.open(os.path.join(workdir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise RunRecordError(f"{workdir} is in use by another training process (pid {holder}); wait for it or "
                                 "use another --workdir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def record_changes(workdir: str, step: int, changes: list[tuple]) -> None:
    """Append the keys a resume changed to WORKDIR/config_history.jsonl ({step, key, old, new}) and log them."""
    if not changes:
        return
    with open(os.path.join(workdir, HISTORY_FILE), "a") as f:
        for key, old, new in changes:
            f.write(json.dumps({"step": step, "key": key, "old": old, "new": new}) + "\n")
            log.info("resumed at step %d with config.%s changed: %r -> %r", step, key, old, new)
