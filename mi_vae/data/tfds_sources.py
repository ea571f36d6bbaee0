"""Named datasets read through tensorflow-datasets from an already prepared ``data_dir``.

Nothing is ever downloaded (``download=False``).  ``tensorflow_datasets`` is imported lazily
inside ``load_tfds`` so that ``import mi_vae.data`` stays free of TensorFlow.  With TensorFlow
installed the prepared TFRecords are read through ``tfds.load(..., batch_size=...)``; without it
only data prepared in the ``array_record`` format can be read (through ``tfds.data_source``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable

import numpy as np

from mi_vae.data.core import ArrayDataset, DatasetError
from mi_vae.data.preprocessing import center_crop_and_resize, resize_uint8

_CHUNK = 2048  # examples per batch while reading (bounds memory for CelebA preprocessing)


def _binary_to_uint8(images: np.ndarray) -> np.ndarray:
    """binarized_mnist stores {0, 1}; scale to {0, 255} so ``to_float`` gives {0, 1}."""
    return (images * 255).astype(np.uint8)


def _omniglot(images: np.ndarray) -> np.ndarray:
    """Omniglot 105x105 RGB, black strokes on white -> white strokes on black, 28x28x1."""
    return resize_uint8(255 - images[..., :1], 28)


@dataclasses.dataclass(frozen=True)
class TfdsSpec:
    """How to turn one tfds dataset into an ``ArrayDataset``."""

    train_split: str
    test_split: str
    label_key: str | None
    num_classes: int | None
    transform: Callable[[np.ndarray], np.ndarray] | None = None


TFDS_SPECS: dict[str, TfdsSpec] = {
    "mnist": TfdsSpec("train", "test", "label", 10),
    "binarized_mnist": TfdsSpec("train", "test", None, None, _binary_to_uint8),
    "cifar10": TfdsSpec("train", "test", "label", 10),
    "cifar100": TfdsSpec("train", "test", "label", 100),
    "celeb_a": TfdsSpec("train", "test", None, None, center_crop_and_resize),
    "omniglot": TfdsSpec("train", "test", "label", 1623, _omniglot),
}


def _default_data_dir() -> str:
    return os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")


def _not_prepared(name: str, data_dir: str | None, why: str = "") -> DatasetError:
    where = data_dir or _default_data_dir()
    why = f" ({' '.join(why.split())})" if why else ""  # keep the message on one line
    return DatasetError(
        f"{name} is not prepared in {where}{why}: prepare it on a machine with network access "
        f"with `tfds build {name} --data_dir=DIR` (needs `pip install tensorflow`) "
        f"and pass --config.data_dir=DIR"
        + (" (or put CelebA's own img_align_celeba/ or img_align_celeba.zip in DIR)" if name == "celeb_a" else "")
    )


def _split(split: str, limit: int | None) -> str:
    return split if limit is None else f"{split}[:{limit}]"


def _read_split(tfds, name, split, data_dir, spec: TfdsSpec):
    """Read one split as (images uint8, labels int32 | None), chunk by chunk."""
    images, labels = [], []

    def add(batch_images, batch_labels):
        batch_images = np.asarray(batch_images, np.uint8)
        images.append(spec.transform(batch_images) if spec.transform else batch_images)
        if spec.label_key is not None:
            labels.append(np.asarray(batch_labels, np.int32))

    if importlib.util.find_spec("tensorflow") is not None:
        ds = tfds.load(name, split=split, data_dir=data_dir, download=False, batch_size=_CHUNK)
        for batch in tfds.as_numpy(ds):
            add(batch["image"], batch.get(spec.label_key) if spec.label_key else None)
    else:
        try:
            source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
        except NotImplementedError:
            raise DatasetError(
                f"{name} in {data_dir or _default_data_dir()} is stored as TFRecord, which needs "
                f"TensorFlow to read: `pip install tensorflow`, or rebuild it with "
                f"`tfds build {name} --file_format=array_record --data_dir=DIR`"
            ) from None
        for start in range(0, len(source), _CHUNK):
            rows = [source[i] for i in range(start, min(start + _CHUNK, len(source)))]
            add(
                np.stack([row["image"] for row in rows]),
                [row[spec.label_key] for row in rows] if spec.label_key else None,
            )
    if not images:
        raise DatasetError(f"{name} split {split} in {data_dir or _default_data_dir()} is empty")
    return np.concatenate(images), (np.concatenate(labels) if labels else None)


def load_tfds(
    name: str,
    data_dir: str | None = None,
    max_train_examples: int | None = None,
    max_test_examples: int | None = None,
) -> ArrayDataset:
    """Load a prepared tfds dataset into memory (never downloads).

    Truncation reads only the first N examples of each split (tfds split slicing ``train[:N]``).
    Raises ``DatasetError`` with the ``tfds build`` command when the data is not prepared.
    """
    spec = TFDS_SPECS[name]
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DatasetError(f"{name} is read through tensorflow-datasets, an optional extra: "
                           f"pip install 'mi_vae[tfds]' (or pass your own files: --config.dataset=folder:/path or "
                           f"npz:/path/file.npz)") from None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        prepared = builder.is_prepared()
    except Exception as err:  # noqa: BLE001 -- any tfds failure becomes the one-line hint
        raise _not_prepared(name, data_dir, f"{type(err).__name__}: {err}") from None
    if not prepared:
        raise _not_prepared(name, data_dir)
    try:
        train_x, train_y = _read_split(
            tfds, name, _split(spec.train_split, max_train_examples), data_dir, spec
        )
        test_x, test_y = _read_split(
            tfds, name, _split(spec.test_split, max_test_examples), data_dir, spec
        )
    except DatasetError:
        raise
    except (ImportError, AssertionError, FileNotFoundError) as err:
        raise _not_prepared(name, data_dir, f"{type(err).__name__}: {err}") from None
    return ArrayDataset(
        name=name,
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        num_classes=spec.num_classes,
        likelihood="bernoulli",
    )
