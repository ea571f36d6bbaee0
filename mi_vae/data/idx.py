"""Fashion-MNIST from IDX files (Debian's ``dataset-fashion-mnist``), read without TensorFlow.

IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian header of two zero bytes, a dtype
byte (0x08 = unsigned byte, the only type used by (Fashion-)MNIST), the number of dimensions,
then one uint32 per dimension, then the row-major payload.  Images have magic 0x00000803
(3 dims: N, 28, 28), labels 0x00000801 (1 dim: N).
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from mi_vae.data.core import ArrayDataset, DatasetError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_HINT = (
    "install them with `apt-get install -y dataset-fashion-mnist` "
    "(reinstall with `apt-get install --reinstall -y dataset-fashion-mnist`) "
    "or set --config.data_dir to a directory holding the IDX files"
)
_IDX_UBYTE = 0x08
_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def read_idx(path: str | os.PathLike, hint: str | None = None) -> np.ndarray:
    """Read one IDX file (plain or ``.gz``) of unsigned bytes into a ``uint8`` array.

    Checks the magic number (two zero bytes, dtype byte 0x08, ndim), the dimensions and that
    the payload size matches the header exactly.  A missing, truncated or damaged file raises
    ``DatasetError`` naming the file and the problem, followed by ``hint`` if given.
    """
    path = os.fspath(path)
    suffix = f": {hint}" if hint else ""

    def fail(problem: str) -> DatasetError:
        return DatasetError(f"IDX file {path} {problem}{suffix}")

    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except FileNotFoundError:
        raise fail("not found") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise fail(f"is a damaged or truncated gzip file ({err})") from None
    except OSError as err:
        raise fail(f"cannot be read ({err.strerror or err})") from None

    if len(data) < 4:
        raise fail(f"is truncated: {len(data)} bytes, shorter than the 4-byte magic number")
    zero0, zero1, dtype_byte, ndim = data[0], data[1], data[2], data[3]
    magic = int.from_bytes(data[:4], "big")
    if zero0 != 0 or zero1 != 0 or ndim == 0:
        raise fail(f"has a bad magic number 0x{magic:08x} (not an IDX file)")
    if dtype_byte != _IDX_UBYTE:
        raise fail(f"has dtype byte 0x{dtype_byte:02x} in magic 0x{magic:08x}; only 0x08 (ubyte)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise fail(f"is truncated inside its header ({len(data)} of {header} bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims, dtype=np.int64))
    found = len(data) - header
    if found != expected:
        problem = "is truncated" if found < expected else "has trailing bytes"
        raise fail(f"{problem}: header dims {dims} need {expected} payload bytes, found {found}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def _find(data_dir: str, base: str) -> str:
    """Path of ``base`` or ``base.gz`` in ``data_dir`` (the uncompressed one if both exist)."""
    for candidate in (base, base + ".gz"):
        path = os.path.join(data_dir, candidate)
        if os.path.exists(path):
            return path
    raise DatasetError(
        f"Fashion-MNIST IDX file {base}[.gz] not found in {data_dir}: {FASHION_MNIST_HINT}"
    )


#: the IDX headers' counts of Fashion-MNIST's two splits
FASHION_MNIST_COUNTS = {"train": 60000, "test": 10000}


def load_fashion_mnist_idx(data_dir: str | None = None) -> ArrayDataset:
    """Fashion-MNIST (60000 train / 10000 test, 10 classes) from IDX files.

    Images ``uint8 [N, 28, 28, 1]``, labels ``int32 [N]``, in the files' order.
    ``data_dir`` defaults to Debian's ``/usr/share/datasets/fashion-mnist``.
    """
    data_dir = data_dir or FASHION_MNIST_DIR
    if not os.path.isdir(data_dir):
        raise DatasetError(
            f"Fashion-MNIST IDX files not found: directory {data_dir} does not exist; "
            f"{FASHION_MNIST_HINT}"
        )
    arrays = {}
    for (split, kind), base in _FILES.items():
        path = _find(data_dir, base)
        array = read_idx(path, hint=FASHION_MNIST_HINT)
        want_ndim = 3 if kind == "images" else 1
        if array.ndim != want_ndim or (kind == "images" and array.shape[1:] != (28, 28)):
            raise DatasetError(
                f"IDX file {path} has shape {array.shape}, expected "
                f"{'[N, 28, 28]' if kind == 'images' else '[N]'}: {FASHION_MNIST_HINT}"
            )
        arrays[split, kind] = array
    for split in ("train", "test"):
        images, labels = arrays[split, "images"], arrays[split, "labels"]
        if len(images) != len(labels):
            raise DatasetError(
                f"Fashion-MNIST {split} files in {data_dir} disagree: {len(images)} images but "
                f"{len(labels)} labels: {FASHION_MNIST_HINT}"
            )
        if labels.max(initial=0) > 9:
            raise DatasetError(
                f"Fashion-MNIST {split} labels in {data_dir} exceed 9: {FASHION_MNIST_HINT}"
            )
    counts = {split: len(arrays[split, "images"]) for split in ("train", "test")}
    if counts != FASHION_MNIST_COUNTS:
        swapped = counts == {"train": FASHION_MNIST_COUNTS["test"], "test": FASHION_MNIST_COUNTS["train"]}
        raise DatasetError(
            f"Fashion-MNIST in {data_dir} has {counts['train']} training and {counts['test']} test images, not "
            f"60000 and 10000{' (the train and t10k files are swapped)' if swapped else ''}: {FASHION_MNIST_HINT}"
        )
    return ArrayDataset(
        name="fashion_mnist",
        train_x=arrays["train", "images"][..., None],
        train_y=arrays["train", "labels"].astype(np.int32),
        test_x=arrays["test", "images"][..., None],
        test_y=arrays["test", "labels"].astype(np.int32),
        num_classes=10,
        likelihood="bernoulli",
    )
