"""The in-memory dataset container, the data error and the uint8 -> float convention."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from mi_vae.errors import MiVaeError

LIKELIHOODS = ("bernoulli", "gaussian", "categorical", "tokens")


class DatasetError(MiVaeError):
    """A dataset could not be loaded.

    ``str(err)`` is one self-contained line saying what is missing and how to get it;
    the command line prints it and exits with status 1 (no traceback).
    """


@dataclasses.dataclass(frozen=True, eq=False)
class ArrayDataset:
    """A whole dataset held in host memory as numpy arrays.

    Conventions:
      * images are NHWC ``uint8`` in 0..255 (small on the device; ``to_float`` maps them to
        [0, 1] inside the step); real-valued and one-hot data are ``float32`` ``[N, D]``;
      * labels are ``int32`` ``[N]`` (or ``None`` for unlabelled data); ``correlated_gaussians``
        stores its continuous partner variable ``y`` as ``float32`` ``[N, D]`` instead;
      * ``likelihood`` names the decoder's likelihood: ``"bernoulli"`` (images in [0, 1]),
        ``"gaussian"`` (real-valued data), ``"categorical"`` (one-hot data) or ``"tokens"``
        (int32 token-id sequences ``[N, T]`` padded with id 0, see ``mi_vae.data.text``).
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray | None
    test_x: np.ndarray
    test_y: np.ndarray | None
    num_classes: int | None
    likelihood: str

    def __post_init__(self) -> None:
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(
                f"{self.name}: train and test example shapes differ: "
                f"{self.train_x.shape[1:]} vs {self.test_x.shape[1:]}"
            )
        for x, y, split in (
            (self.train_x, self.train_y, "train"),
            (self.test_x, self.test_y, "test"),
        ):
            if y is not None and len(y) != len(x):
                raise ValueError(f"{self.name}: {split} has {len(x)} examples but {len(y)} labels")

    @property
    def example_shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. ``(28, 28, 1)`` or ``(1,)``."""
        return tuple(self.train_x.shape[1:])

    @property
    def num_train(self) -> int:
        """Number of training examples."""
        return int(self.train_x.shape[0])

    @property
    def num_test(self) -> int:
        """Number of test examples."""
        return int(self.test_x.shape[0])


def to_float(x: Any) -> Any:
    """Map stored data to float32: ``uint8`` -> ``x / 255`` in [0, 1], anything else -> float32.

    Works on numpy arrays (returns numpy) and on jax arrays (returns jax, jittable).
    """
    if not hasattr(x, "dtype"):
        x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    return x.astype(np.float32)


def digest_array(digest, array: np.ndarray) -> None:
    """Feed ``array``'s dtype, shape and bytes to ``digest`` (a ``hashlib`` object); a contiguous array is
    not copied. The one way the library hashes data (stored arrays, cached classifiers)."""
    array = np.ascontiguousarray(array)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(memoryview(array.reshape(-1).view(np.uint8)))

