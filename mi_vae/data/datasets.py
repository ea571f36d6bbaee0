"""The one data entry point: ``load_dataset(name, ...)`` over a registry of named datasets."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable

import numpy as np

from mi_vae.data import synthetic
from mi_vae.data.core import ArrayDataset, DatasetError
from mi_vae.data.files import CELEBA_LAYOUTS, celeba_layout, load_celeba_files, load_image_folder, load_npz
from mi_vae.data.idx import load_fashion_mnist_idx
from mi_vae.data.text import load_fortunes
from mi_vae.data.tfds_sources import TFDS_SPECS, load_tfds

DIGITS_NUM_TEST = 297  # digits split: the first 1500 examples train, the last 297 test


def _digits() -> ArrayDataset:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes), 0..16 scaled to uint8 0..255."""
    from sklearn.datasets import load_digits  # lazy: scikit-learn is slow to import

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # [N, 8, 8, 1]
    labels = bunch.target.astype(np.int32)
    n_train = len(images) - DIGITS_NUM_TEST
    return ArrayDataset(
        name="digits",
        train_x=images[:n_train],
        train_y=labels[:n_train],
        test_x=images[n_train:],
        test_y=labels[n_train:],
        num_classes=10,
        likelihood="bernoulli",
    )


# Loaders that hold the whole dataset in memory: (data_dir, seed) -> ArrayDataset.
_LOCAL: dict[str, Callable[[str | None, int], ArrayDataset]] = {
    "fashion_mnist": lambda data_dir, seed: load_fashion_mnist_idx(data_dir),
    "digits": lambda data_dir, seed: _digits(),
    "splitting_normal": lambda data_dir, seed: synthetic.splitting_normal(seed),
    "categorical10": lambda data_dir, seed: synthetic.categorical10(seed),
    "correlated_gaussians": lambda data_dir, seed: synthetic.correlated_gaussians(seed),
    "synthetic64": lambda data_dir, seed: synthetic.synthetic64(seed),
    "fortunes": lambda data_dir, seed: load_fortunes(data_dir),  # data/text.py: sentences as token ids
    # sentences of at most 8 words (Mutual Autoencoder section 7.3's length), the same vocabulary construction
    "fortunes8": lambda data_dir, seed: load_fortunes(data_dir, max_words=8),
}

DATASETS: tuple[str, ...] = tuple(sorted({*_LOCAL, *TFDS_SPECS}))


def _truncate(x: np.ndarray | None, limit: int | None) -> np.ndarray | None:
    return x if x is None or limit is None else x[:limit]


def load_dataset(
    name: str,
    data_dir: str | None = None,
    max_train_examples: int | None = None,
    max_test_examples: int | None = None,
    seed: int = 0,
    *,
    image_size: int = 0,
    test_fraction: float = 0.1,
    split_seed: int = 0,
) -> ArrayDataset:
    """Load the dataset ``name`` (one of ``DATASETS``) into host memory.

    Args:
      name: dataset name.  ``fashion_mnist`` reads Debian's IDX files (``data_dir`` defaults to
        ``/usr/share/datasets/fashion-mnist``); ``mnist``, ``binarized_mnist``, ``cifar10``,
        ``cifar100``, ``celeb_a`` and ``omniglot`` read prepared tensorflow-datasets data from
        ``data_dir`` (default ``~/tensorflow_datasets``) and never download; ``digits`` is
        scikit-learn's 8x8 digits; the rest are synthetic.
      data_dir: where the files are; ignored by ``digits`` and the synthetic datasets.
      max_train_examples, max_test_examples: keep only the first N examples of the split in its
        stored order (no shuffling; for synthetic data the full split is drawn first, so the
        first N are the same whatever N).
      seed: seeds the synthetic datasets only; real datasets have fixed splits.
      image_size, test_fraction, split_seed: for your own data, ``folder:/path`` (images found recursively;
        first-level sub-folders are classes) and ``npz:/path/file.npz`` (see ``mi_vae.data.files``).

    Raises:
      DatasetError: unknown name, or data missing/damaged (one line saying how to get it).
    """
    for arg, value in (
        ("max_train_examples", max_train_examples),
        ("max_test_examples", max_test_examples),
    ):
        if value is not None and value <= 0:
            raise ValueError(f"{arg} must be positive or None, got {value}")
    if name == "celeb_a" and data_dir and celeba_layout(os.path.expanduser(data_dir)):
        ds = load_celeba_files(data_dir, test_fraction=test_fraction, split_seed=split_seed)
        return dataclasses.replace(ds, train_x=_truncate(ds.train_x, max_train_examples),
                                   test_x=_truncate(ds.test_x, max_test_examples))
    if name == "celeb_a" and importlib.util.find_spec("tensorflow_datasets") is None:
        raise DatasetError(f"celeb_a: no CelebA in {data_dir or 'config.data_dir (not set)'}; --config.data_dir must "
                           f"name a folder holding {', or '.join(CELEBA_LAYOUTS)} (that needs pip install "
                           "'mi_vae[tfds]')")
    if name in TFDS_SPECS:
        return load_tfds(name, data_dir, max_train_examples, max_test_examples)
    source, _, path = name.partition(":")
    if source == "folder" and path:
        ds = load_image_folder(path, image_size=image_size, test_fraction=test_fraction, split_seed=split_seed)
    elif source == "npz" and path:
        ds = load_npz(path, test_fraction=test_fraction, split_seed=split_seed)
    elif name not in _LOCAL:
        raise DatasetError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}, folder:/path/to/images, "
                           "npz:/path/to/file.npz")
    else:
        ds = _LOCAL[name](data_dir, seed)
    if max_train_examples is None and max_test_examples is None:
        return ds
    return dataclasses.replace(  # keeps subclasses (TextDataset's vocabulary)
        ds,
        train_x=_truncate(ds.train_x, max_train_examples),
        train_y=_truncate(ds.train_y, max_train_examples),
        test_x=_truncate(ds.test_x, max_test_examples),
        test_y=_truncate(ds.test_y, max_test_examples),
    )
