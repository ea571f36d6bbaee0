"""Tests for mi_vae.data: loaders, IDX reader, errors, batch order, corruptions."""

from __future__ import annotations

import gzip
import importlib.util
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mi_vae import data
from mi_vae.data import (
    DATASETS,
    ArrayDataset,
    DatasetError,
    batch_indices,
    binarize,
    center_crop_and_resize,
    correlated_gaussians_mi,
    corrupt_gaussian,
    corrupt_mask,
    load_dataset,
    read_idx,
    to_float,
)

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(
    not os.path.exists(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz")),
    reason="Debian package dataset-fashion-mnist not installed",
)
TFDS_NAMES = ("mnist", "binarized_mnist", "cifar10", "cifar100", "celeb_a", "omniglot")


def _gunzip(name: str) -> bytes:
    with gzip.open(os.path.join(FASHION_DIR, name + ".gz"), "rb") as f:
        return f.read()


def _assert_one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert message and "\n" not in message
    return message


# ----------------------------------------------------------------------------- Fashion-MNIST / IDX


@pytest.fixture(scope="module")
def fashion() -> ArrayDataset:
    return load_dataset("fashion_mnist")


@needs_fashion
def test_fashion_mnist_from_debian_idx(fashion):
    assert fashion.train_x.shape == (60000, 28, 28, 1) and fashion.train_x.dtype == np.uint8
    assert fashion.test_x.shape == (10000, 28, 28, 1) and fashion.test_x.dtype == np.uint8
    assert fashion.example_shape == (28, 28, 1)
    assert fashion.num_classes == 10 and fashion.likelihood == "bernoulli"
    for labels in (fashion.train_y, fashion.test_y):
        assert labels.dtype == np.int32
        np.testing.assert_array_equal(np.unique(labels), np.arange(10))
    assert fashion.train_x.max() == 255 and fashion.train_x.min() == 0
    # Fashion-MNIST is balanced: 6000 / 1000 per class.
    np.testing.assert_array_equal(np.bincount(fashion.train_y), np.full(10, 6000))


@needs_fashion
def test_fashion_mnist_truncation_takes_first_examples(fashion):
    small = load_dataset("fashion_mnist", max_train_examples=100, max_test_examples=7)
    assert small.train_x.shape == (100, 28, 28, 1) and small.test_y.shape == (7,)
    np.testing.assert_array_equal(small.train_x, fashion.train_x[:100])
    np.testing.assert_array_equal(small.test_y, fashion.test_y[:7])


@needs_fashion
def test_read_idx_plain_and_gz_agree(tmp_path):
    raw = _gunzip("t10k-labels-idx1-ubyte")
    (tmp_path / "labels").write_bytes(raw)
    plain = read_idx(tmp_path / "labels")
    gz = read_idx(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz"))
    assert plain.shape == (10000,) and plain.dtype == np.uint8
    np.testing.assert_array_equal(plain, gz)


@needs_fashion
def test_fashion_mnist_reads_uncompressed_files(tmp_path, fashion):
    for base in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (tmp_path / base).write_bytes(_gunzip(base))
    ds = load_dataset("fashion_mnist", data_dir=str(tmp_path))
    np.testing.assert_array_equal(ds.test_x, fashion.test_x)
    np.testing.assert_array_equal(ds.train_y, fashion.train_y)


@needs_fashion
def test_truncated_idx_raises_naming_file(tmp_path):
    raw = _gunzip("t10k-images-idx3-ubyte")
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError) as err:
        read_idx(path)
    message = _assert_one_line(err)
    assert str(path) in message and "truncated" in message


@needs_fashion
def test_truncated_gzip_raises_naming_file(tmp_path):
    with open(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        raw = f.read()
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError) as err:
        read_idx(path)
    assert str(path) in _assert_one_line(err)


@needs_fashion
def test_damaged_file_in_data_dir_says_how_to_reinstall(tmp_path):
    for base in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        os.symlink(os.path.join(FASHION_DIR, base + ".gz"), tmp_path / (base + ".gz"))
    raw = _gunzip("t10k-labels-idx1-ubyte")
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(raw[:-10])
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion_mnist", data_dir=str(tmp_path))
    message = _assert_one_line(err)
    assert "t10k-labels-idx1-ubyte" in message and "apt-get" in message


def test_wrong_magic_number_raises(tmp_path):
    path = tmp_path / "bad-idx"
    header = bytes([0x08, 0x08, 0x08, 0x01]) + (3).to_bytes(4, "big")
    path.write_bytes(header + bytes([1, 2, 3]))
    with pytest.raises(DatasetError) as err:
        read_idx(path)
    message = _assert_one_line(err)
    assert str(path) in message and "magic" in message


def test_wrong_dtype_byte_raises(tmp_path):
    path = tmp_path / "float-idx"
    path.write_bytes(bytes([0, 0, 0x0D, 0x01]) + (1).to_bytes(4, "big") + bytes(4))
    with pytest.raises(DatasetError, match="dtype"):
        read_idx(path)


def test_trailing_bytes_raise(tmp_path):
    path = tmp_path / "long-idx"
    path.write_bytes(bytes([0, 0, 0x08, 0x01]) + (3).to_bytes(4, "big") + bytes(4))
    with pytest.raises(DatasetError, match="trailing"):
        read_idx(path)


def test_small_valid_idx_roundtrip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "tiny-idx3.gz"
    header = bytes([0, 0, 0x08, 0x03]) + b"".join(d.to_bytes(4, "big") for d in images.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + images.tobytes())
    np.testing.assert_array_equal(read_idx(path), images)


def test_missing_idx_file_raises():
    with pytest.raises(DatasetError, match="not found"):
        read_idx("/nonexistent/train-images-idx3-ubyte.gz")


def test_missing_fashion_directory_mentions_apt_get(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion_mnist", data_dir=str(tmp_path / "nowhere"))
    message = _assert_one_line(err)
    assert "apt-get install -y dataset-fashion-mnist" in message
    assert str(tmp_path / "nowhere") in message


def test_missing_fashion_file_names_it(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion_mnist", data_dir=str(tmp_path))
    message = _assert_one_line(err)
    assert "train-images-idx3-ubyte" in message and "apt-get" in message


# ----------------------------------------------------------------------------- registry and tfds


def test_unknown_name_lists_valid_names_sorted():
    with pytest.raises(DatasetError) as err:
        load_dataset("imagenet")
    message = _assert_one_line(err)
    assert "imagenet" in message and ", ".join(sorted(DATASETS)) in message
    assert list(DATASETS) == sorted(DATASETS)
    assert {
        "fashion_mnist",
        "digits",
        "splitting_normal",
        "categorical10",
        "synthetic64",
        *TFDS_NAMES,
    } <= set(DATASETS)


@pytest.mark.parametrize("name", TFDS_NAMES)
def test_unprepared_tfds_dataset_gives_build_hint(name, tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset(name, data_dir=str(tmp_path))
    message = _assert_one_line(err)
    if importlib.util.find_spec("tensorflow_datasets") is None and name == "celeb_a":  # its own files, or the extra
        assert message.startswith(f"celeb_a: no CelebA in {tmp_path}") and "img_align_celeba.zip" in message
        assert "pip install 'mi_vae[tfds]'" in message
        return
    if importlib.util.find_spec("tensorflow_datasets") is None:  # the default install: tfds is an extra
        assert message.startswith(f"{name} is read through tensorflow-datasets, an optional extra")
        assert "pip install 'mi_vae[tfds]'" in message
        return
    assert message.startswith(f"{name} is not prepared in {tmp_path}")
    assert f"tfds build {name} --data_dir=DIR" in message and "--config.data_dir" in message


def test_invalid_truncation_raises():
    with pytest.raises(ValueError):
        load_dataset("digits", max_train_examples=0)


# ----------------------------------------------------------------------------- small / synthetic


def test_digits():
    ds = load_dataset("digits")
    assert ds.train_x.shape == (1500, 8, 8, 1) and ds.test_x.shape == (297, 8, 8, 1)
    assert ds.train_x.dtype == np.uint8 and ds.train_x.max() == 255
    assert ds.num_classes == 10 and ds.likelihood == "bernoulli"
    np.testing.assert_array_equal(np.unique(ds.train_y), np.arange(10))
    np.testing.assert_array_equal(load_dataset("digits", seed=5).test_x, ds.test_x)  # fixed split


def test_splitting_normal_statistics():
    ds = load_dataset("splitting_normal")
    assert ds.train_x.shape == (50000, 1) and ds.test_x.shape == (10000, 1)
    assert ds.train_x.dtype == np.float32 and ds.likelihood == "gaussian" and ds.train_y is None
    assert abs(ds.train_x.mean()) < 0.02 and abs(ds.train_x.std() - 1.0) < 0.02
    assert abs(ds.test_x.mean()) < 0.05 and abs(ds.test_x.std() - 1.0) < 0.05
    again = load_dataset("splitting_normal", max_train_examples=10)
    np.testing.assert_array_equal(again.train_x, ds.train_x[:10])  # prefix-consistent
    other = load_dataset("splitting_normal", seed=1, max_train_examples=10)
    assert not np.array_equal(other.train_x, again.train_x)


def test_categorical10():
    ds = load_dataset("categorical10")
    assert ds.train_x.shape == (50000, 10) and ds.train_x.dtype == np.float32
    assert ds.likelihood == "categorical" and ds.num_classes == 10
    np.testing.assert_array_equal(ds.train_x.sum(axis=1), 1.0)
    np.testing.assert_array_equal(ds.train_x.argmax(axis=1), ds.train_y)
    np.testing.assert_allclose(np.bincount(ds.train_y) / len(ds.train_y), 0.1, atol=0.01)


def test_correlated_gaussians_known_mi():
    ds = load_dataset("correlated_gaussians")
    x, y = ds.train_x, ds.train_y
    assert x.shape == y.shape == (50000, 10)
    cov = np.cov(np.concatenate([x, y], axis=1), rowvar=False)
    def logdet(c):
        return np.linalg.slogdet(c)[1]

    empirical_mi = 0.5 * (logdet(cov[:10, :10]) + logdet(cov[10:, 10:]) - logdet(cov))
    assert correlated_gaussians_mi(0.8, 10) == pytest.approx(-5 * np.log(0.36))
    assert empirical_mi == pytest.approx(correlated_gaussians_mi(0.8, 10), abs=0.05)


def test_synthetic64_is_smooth_uint8_images():
    ds = load_dataset("synthetic64")
    assert ds.train_x.shape == (512, 64, 64, 3) and ds.train_x.dtype == np.uint8
    assert ds.test_x.shape[1:] == (64, 64, 3) and ds.likelihood == "bernoulli"
    x = ds.train_x.astype(np.float32)
    assert x.std() > 30  # images vary...
    assert np.abs(np.diff(x, axis=1)).mean() < 5  # ...but smoothly between neighbouring pixels


def test_array_dataset_validation():
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError):
        ArrayDataset("bad", x, np.zeros(3, np.int32), x, None, 2, "gaussian")
    with pytest.raises(ValueError):
        ArrayDataset("bad", x, None, x, None, None, "poisson")
    ds = ArrayDataset("ok", x, None, x[:1], None, None, "gaussian")
    assert ds.example_shape == (2,) and ds.num_train == 4 and ds.num_test == 1
    with pytest.raises(AttributeError):
        ds.name = "other"


def test_to_float_numpy_and_jax():
    u8 = np.array([0, 51, 255], np.uint8)
    out = to_float(u8)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.2, 1.0], atol=1e-7)
    jout = jax.jit(to_float)(jnp.asarray(u8))
    assert isinstance(jout, jax.Array) and jout.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(jout), [0.0, 0.2, 1.0], atol=1e-7)
    assert to_float(np.array([0.5, 2.0])).dtype == np.float32  # float64 -> float32, not rescaled
    np.testing.assert_allclose(to_float(np.array([0.5, 2.0])), [0.5, 2.0])


def test_center_crop_and_resize():
    images = np.zeros((2, 218, 178, 3), np.uint8)
    images[:, 39:179, 19:159] = 200  # exactly the 140x140 center window
    out = center_crop_and_resize(images)
    assert out.shape == (2, 64, 64, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, 200)


# ----------------------------------------------------------------------------- batch order


def test_batch_indices_definition():
    n, b = 103, 10  # 10 steps per epoch, 3 examples dropped
    out = batch_indices(7, 0, 25, n, b)
    assert out.shape == (25, 10) and out.dtype == np.int32
    for step in (0, 9, 10, 24):
        epoch, k = divmod(step, 10)
        perm = np.random.default_rng([7, epoch]).permutation(n)
        np.testing.assert_array_equal(out[step], perm[k * b : (k + 1) * b])


def test_batch_indices_deterministic():
    np.testing.assert_array_equal(batch_indices(3, 5, 40, 64, 8), batch_indices(3, 5, 40, 64, 8))
    assert not np.array_equal(batch_indices(3, 5, 40, 64, 8), batch_indices(4, 5, 40, 64, 8))


@pytest.mark.parametrize(
    "start,n1,n2", [(0, 1, 30), (3, 7, 11), (9, 1, 1), (0, 12, 12), (25, 0, 5)]
)
def test_batch_indices_resume_invariance(start, n1, n2):
    n, b = 50, 4  # 12 steps per epoch
    whole = batch_indices(11, start, n1 + n2, n, b)
    parts = np.concatenate(
        [batch_indices(11, start, n1, n, b), batch_indices(11, start + n1, n2, n, b)]
    )
    np.testing.assert_array_equal(whole, parts)


def test_batch_indices_epochs_visit_each_example_at_most_once():
    n, b = 50, 4
    spe = n // b
    out = batch_indices(0, 0, 3 * spe, n, b)
    epochs = out.reshape(3, spe * b)
    for epoch in epochs:
        assert len(np.unique(epoch)) == spe * b  # no repeats within an epoch
        assert epoch.min() >= 0 and epoch.max() < n
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[1], epochs[2])


def test_batch_indices_edge_cases():
    assert batch_indices(0, 0, 0, 10, 3).shape == (0, 3)
    np.testing.assert_array_equal(np.sort(batch_indices(0, 0, 1, 10, 10)[0]), np.arange(10))
    with pytest.raises(ValueError):
        batch_indices(0, 0, 1, 10, 11)
    with pytest.raises(ValueError):
        batch_indices(0, -1, 1, 10, 2)


# ----------------------------------------------------------------------------- noise


def test_binarize_frequency():
    x = jnp.asarray(np.random.default_rng(0).random((200, 100), dtype=np.float32))
    draws = jnp.stack([jax.jit(binarize)(jax.random.key(i), x) for i in range(50)])
    assert draws.dtype == jnp.float32
    assert set(np.unique(np.asarray(draws)).tolist()) <= {0.0, 1.0}
    freq = np.asarray(draws.mean(axis=0))  # per pixel, 50 draws
    assert np.abs(freq - np.asarray(x)).mean() < 0.07
    constant = binarize(jax.random.key(0), jnp.full((100000,), 0.3))
    assert float(constant.mean()) == pytest.approx(0.3, abs=0.01)
    assert not np.array_equal(binarize(jax.random.key(1), x), binarize(jax.random.key(2), x))


def test_corrupt_gaussian_statistics():
    rng = np.random.default_rng(0)
    x = np.full((200, 28, 28, 1), 0.5, np.float32)
    for sigma in (0.05, 0.1):
        noisy = corrupt_gaussian(rng, x, sigma)
        assert noisy.shape == x.shape and noisy.dtype == np.float32
        assert (noisy - x).mean() == pytest.approx(0.0, abs=0.002)
        assert (noisy - x).std() == pytest.approx(sigma, rel=0.02)
    clipped = corrupt_gaussian(rng, np.zeros((100000,), np.float32), 0.4)
    assert clipped.min() == 0.0 and clipped.max() <= 1.0
    assert (clipped == 0.0).mean() == pytest.approx(0.5, abs=0.01)  # negative half clipped to 0


def test_corrupt_mask_statistics():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 1.0, size=(100, 28, 28, 1)).astype(np.float32)
    for p in (0.2, 0.5):
        masked = corrupt_mask(rng, x, p)
        assert masked.shape == x.shape and masked.dtype == np.float32
        zeroed = masked == 0.0
        assert zeroed.mean() == pytest.approx(p, abs=0.01)
        np.testing.assert_array_equal(masked[~zeroed], x[~zeroed])  # kept pixels untouched
    np.testing.assert_array_equal(corrupt_mask(rng, x, 0.0), x)


# ----------------------------------------------------------------------------- import hygiene


def test_import_does_not_pull_tensorflow():
    code = (
        "import sys, mi_vae.data; "
        "bad = [m for m in ('tensorflow', 'tensorflow_datasets') if m in sys.modules]; "
        "assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_public_api_exported():
    for name in data.__all__:
        assert hasattr(data, name)


@needs_fashion
def test_swapped_train_and_test_files_are_refused(tmp_path):
    pairs = {"train-images-idx3-ubyte": "t10k-images-idx3-ubyte", "train-labels-idx1-ubyte": "t10k-labels-idx1-ubyte"}
    for a, b in pairs.items():
        os.symlink(os.path.join(FASHION_DIR, b + ".gz"), tmp_path / (a + ".gz"))
        os.symlink(os.path.join(FASHION_DIR, a + ".gz"), tmp_path / (b + ".gz"))
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion_mnist", data_dir=str(tmp_path))
    assert "swapped" in _assert_one_line(err)
