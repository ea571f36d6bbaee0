"""Your own data: image folders and .npz arrays, loaded, split, cached, and trained on through the CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from mi_vae.data import DatasetError, load_dataset
from mi_vae.data.files import load_image_folder, load_npz, split_indices


def _write_folder(root, classes=("boots", "shirts"), per_class=30, size=(20, 16), mode="L", seed=0):
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        folder = root / name / "nested" if k == 1 else root / name  # searched recursively
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
            pixels = np.clip(rng.normal(60 + 120 * k, 30, shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode).save(folder / f"{i:03d}.{'png' if i % 2 else 'jpg'}")
    return root


def test_folder_labels_from_subfolders_split_and_cache(tmp_path):
    root = _write_folder(tmp_path / "imgs")
    ds = load_image_folder(str(root), image_size=12, test_fraction=0.2, split_seed=3, cache_dir=str(tmp_path / "c"))
    assert ds.example_shape == (12, 12, 1) and ds.train_x.dtype == np.uint8
    assert ds.num_train == 48 and ds.num_test == 12 and ds.num_classes == 2
    assert set(np.unique(ds.train_y)) == {0, 1}
    # class 1 ("shirts") is brighter: labels follow the sub-folders
    assert ds.train_x[ds.train_y == 1].mean() > ds.train_x[ds.train_y == 0].mean() + 60
    cached = list((tmp_path / "c" / "folders").glob("*.npy"))
    assert len(cached) == 1
    again = load_image_folder(str(root), image_size=12, test_fraction=0.2, split_seed=3, cache_dir=str(tmp_path / "c"))
    np.testing.assert_array_equal(again.test_x, ds.test_x)
    np.testing.assert_array_equal(again.test_y, ds.test_y)
    other = load_image_folder(str(root), image_size=12, test_fraction=0.2, split_seed=4, cache_dir=str(tmp_path / "c"))
    assert not np.array_equal(other.test_y, ds.test_y) or not np.array_equal(other.test_x, ds.test_x)


def test_unlabelled_rgb_folder_and_mixed_sizes(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    for i in range(10):
        Image.fromarray(np.full((8, 8, 3), 20 * i, np.uint8), "RGB").save(root / f"{i}.png")
    ds = load_image_folder(str(root), test_fraction=0.2, cache_dir=str(tmp_path / "c"))
    assert ds.example_shape == (8, 8, 3) and ds.train_y is None and ds.num_classes is None
    Image.fromarray(np.zeros((9, 8, 3), np.uint8), "RGB").save(root / "odd.png")
    with pytest.raises(DatasetError, match=r"mixes image sizes .*set --config.image_size"):
        load_image_folder(str(root), cache_dir=str(tmp_path / "c"))
    assert load_image_folder(str(root), image_size=8, cache_dir=str(tmp_path / "c")).example_shape == (8, 8, 3)


def test_bad_folders_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no png/jpg/jpeg images"):
        load_image_folder(str(tmp_path / "empty"))
    with pytest.raises(DatasetError, match="is not a directory"):
        load_image_folder(str(tmp_path / "missing"))
    root = _write_folder(tmp_path / "imgs", per_class=3)
    (root / "boots" / "zz_broken.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=r"cannot decode image .*zz_broken.png"):
        load_image_folder(str(root), cache_dir=str(tmp_path / "c"))


def test_npz_with_and_without_a_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 6, 6), np.uint8)
    y = rng.integers(0, 3, 50)
    np.savez(tmp_path / "one.npz", x=x, y=y)
    ds = load_dataset(f"npz:{tmp_path / 'one.npz'}", test_fraction=0.2)
    assert ds.example_shape == (6, 6, 1) and ds.num_train == 40 and ds.num_test == 10 and ds.num_classes == 3
    np.savez(tmp_path / "two.npz", x_train=x[:40] / 255.0, x_test=x[40:] / 255.0)
    ds = load_npz(str(tmp_path / "two.npz"))
    assert ds.train_x.dtype == np.float32 and ds.train_y is None and ds.likelihood == "bernoulli"
    np.savez(tmp_path / "vectors.npz", x=rng.normal(size=(30, 4)))
    assert load_npz(str(tmp_path / "vectors.npz")).likelihood == "gaussian"
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(DatasetError, match="has keys images; it needs x_train and x_test"):
        load_npz(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "range.npz", x=x * 2.0)
    with pytest.raises(DatasetError, match=r"float images must lie in \[0, 1\]"):
        load_npz(str(tmp_path / "range.npz"))
    with pytest.raises(DatasetError, match=r"unknown dataset 'my_pngs'.*folder:/path/to/images"):
        load_dataset("my_pngs")


def test_split_is_a_function_of_split_seed_only():
    a, b = split_indices(100, 0.1, 7)
    assert len(a) == 90 and len(b) == 10 and not set(a) & set(b)
    np.testing.assert_array_equal(split_indices(100, 0.1, 7)[1], b)
    with pytest.raises(DatasetError, match="test_fraction must be in"):
        split_indices(100, 1.5, 0)


@pytest.mark.slow
def test_cli_trains_and_evaluates_on_a_folder_and_an_npz(tmp_path):
    root = _write_folder(tmp_path / "imgs", per_class=40, size=(28, 28))
    env = {"MI_VAE_CACHE": str(tmp_path / "cache")}
    common = ["--config=configs/vae.py:smoke=True", "--config.num_train_steps=20", "--config.checkpoint_every_steps=20",
              "--evals=elbo,probe", "--config.evals.probe.labels=40"]
    workdir = tmp_path / "run_folder"
    run_cli(*common, f"--config.dataset=folder:{root}", "--config.image_size=16", f"--workdir={workdir}", env=env)
    metrics = json.loads((workdir / "eval" / "metrics.json").read_text())
    assert np.isfinite(metrics["elbo"]) and metrics["probe_accuracy"] > 0.9  # the two classes differ in brightness
    config = json.loads((workdir / "config.json").read_text())
    assert config["dataset"] == f"folder:{root}" and config["image_size"] == 16 and config["split_seed"] == 0
    run_cli(*common, f"--config.dataset=folder:{root}", "--config.image_size=16", f"--workdir={workdir}",
            "--mode=eval", env=env)  # re-evaluation reads the cached array
    x = np.random.default_rng(0).integers(0, 256, (120, 8, 8), np.uint8)
    np.savez(tmp_path / "data.npz", x=x)
    run_cli(*common[:-2], "--evals=elbo", f"--config.dataset=npz:{tmp_path / 'data.npz'}",
            f"--workdir={tmp_path / 'run_npz'}", env=env)
    assert np.isfinite(json.loads((tmp_path / "run_npz" / "eval" / "metrics.json").read_text())["elbo"])
    proc = run_cli(*common, f"--config.dataset=folder:{tmp_path / 'nothing'}", f"--workdir={tmp_path / 'bad'}",
                   check=False, env=env)
    assert proc.returncode != 0 and "is not a directory" in proc.stderr.strip().splitlines()[-1]
    assert not os.path.exists(tmp_path / "bad" / "checkpoints")


# ----------------------------------------------------------------------------- CelebA from its own files


def _fake_celeba(root, n=60, partition=True, as_zip=False):
    """n 178x218 JPEGs named like CelebA's, bright faces in the train split, and its partition file."""
    import zipfile

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    folder = root / "img_align_celeba"
    folder.mkdir()
    for name in names:
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), np.uint8), "RGB").save(folder / name, quality=90)
    if partition:  # 0 train, 1 validation, 2 test
        (root / "list_eval_partition.txt").write_text(
            "".join(f"{name} {0 if i < n - 20 else (1 if i < n - 10 else 2)}\n" for i, name in enumerate(names)))
    if as_zip:
        with zipfile.ZipFile(root / "img_align_celeba.zip", "w") as archive:
            for name in names:
                archive.write(folder / name, f"img_align_celeba/{name}")
        for name in names:
            (folder / name).unlink()
        folder.rmdir()
    return root


def test_celeba_from_its_folder_with_the_official_split_and_from_the_zip(tmp_path, monkeypatch):
    monkeypatch.setenv("MI_VAE_CACHE", str(tmp_path / "cache"))
    ds = load_dataset("celeb_a", data_dir=str(_fake_celeba(tmp_path / "a", n=60)))
    assert ds.example_shape == (64, 64, 3) and ds.train_x.dtype == np.uint8
    assert ds.num_train == 40 and ds.num_test == 10 and ds.train_y is None  # partition 0 and 2; 1 unused
    zipped = load_dataset("celeb_a", data_dir=str(_fake_celeba(tmp_path / "z", n=30, partition=False, as_zip=True)),
                          test_fraction=0.2)
    assert zipped.num_train == 24 and zipped.num_test == 6 and zipped.example_shape == (64, 64, 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError) as err:
        load_dataset("celeb_a", data_dir=str(tmp_path / "empty"))
    message = str(err.value)  # names the three layouts, whether tensorflow-datasets is installed or not
    assert "\n" not in message and all(s in message for s in ("img_align_celeba/", "img_align_celeba.zip", "tfds"))


@pytest.mark.slow
def test_vim_celeba_config_smoke_trains_on_celeba_files_without_tensorflow(tmp_path):
    blocker = tmp_path / "no_tf"
    for module in ("tensorflow", "tensorflow_datasets"):
        (blocker / module).mkdir(parents=True)
        (blocker / module / "__init__.py").write_text(f"raise ImportError('{module} is blocked in this test')\n")
    data_dir = _fake_celeba(tmp_path / "celeba", n=80)
    env = {"MI_VAE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(blocker)}
    workdir = tmp_path / "run"
    run_cli("--config=configs/vim_celeba.py:smoke=True", f"--workdir={workdir}", "--config.dataset=celeb_a",
            f"--config.data_dir={data_dir}", "--config.num_train_steps=10", "--config.checkpoint_every_steps=10",
            "--evals=elbo", env=env)
    assert np.isfinite(json.loads((workdir / "eval" / "metrics.json").read_text())["elbo"])


# ----------------------------------------------------------------------------- the Python route


def test_from_arrays_splits_checks_and_matches_npz(tmp_path):
    from mi_vae.data import from_arrays

    x = np.random.default_rng(0).integers(0, 256, (50, 6, 6), np.uint8)
    y = np.arange(50) % 5
    ds = from_arrays(x, y, test_fraction=0.2, split_seed=1)
    assert ds.example_shape == (6, 6, 1) and ds.num_train == 40 and ds.num_classes == 5
    np.savez(tmp_path / "same.npz", x=x, y=y)
    via_file = load_npz(str(tmp_path / "same.npz"), test_fraction=0.2, split_seed=1)
    np.testing.assert_array_equal(via_file.test_x, ds.test_x)  # one code path for arrays and npz files
    np.testing.assert_array_equal(via_file.test_y, ds.test_y)
    vectors = from_arrays(np.zeros((30, 3), np.float32), x_test=np.ones((5, 3), np.float32))
    assert vectors.likelihood == "gaussian" and vectors.num_test == 5 and vectors.train_y is None
    with pytest.raises(DatasetError, match="float images must lie in"):
        from_arrays(np.full((20, 4, 4), 2.0))
    with pytest.raises(DatasetError, match="50 examples but 49 labels"):
        from_arrays(x, y[:49])
    with pytest.raises(DatasetError, match="labels must be integers"):
        from_arrays(x, y.astype(float))


@pytest.mark.slow
def test_python_train_on_arrays_then_cli_eval_and_resume(tmp_path):
    from conftest import smoke_config

    from mi_vae.data import from_arrays
    from mi_vae.train import train
    from mi_vae.train.run_record import RunRecordError

    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    x = np.clip(rng.normal(60 + 120 * y[:, None, None], 30, (200, 12, 12)), 0, 255).astype(np.uint8)
    dataset = from_arrays(x, y, name="blobs")
    config = smoke_config("vae", num_train_steps=10, checkpoint_every_steps=10)
    workdir = tmp_path / "run"
    train(config, str(workdir), dataset=dataset)
    recorded = json.loads((workdir / "config.json").read_text())
    assert recorded["dataset"] == "arrays:blobs" and config.dataset == "fashion_mnist"  # the caller's config untouched
    assert recorded["data"]["train_examples"] == 180 and recorded["data"]["example_shape"] == [12, 12, 1]
    assert recorded["data"]["num_classes"] == 2 and len(recorded["data"]["sha256"]) == 64
    assert (workdir / "dataset.npz").is_file()
    # the command line evaluates the run on its stored arrays, with no --config
    run_cli(f"--workdir={workdir}", "--mode=eval", "--evals=elbo")
    metrics = json.loads((workdir / "eval" / "metrics.json").read_text())
    assert np.isfinite(metrics["elbo"])
    # resuming with other arrays is refused and leaves the record alone
    with pytest.raises(RunRecordError, match="trained on other arrays"):
        train(config, str(workdir), dataset=from_arrays(x[::-1].copy(), y, name="blobs"))
    assert json.loads((workdir / "config.json").read_text())["data"]["sha256"] == recorded["data"]["sha256"]
    # the stored copy changed behind the run's back is named, not silently used
    np.savez(workdir / "dataset.npz", x_train=x[:180], x_test=x[180:])
    proc = run_cli(f"--workdir={workdir}", "--mode=eval", "--evals=elbo", check=False)
    assert proc.returncode == 1 and "was changed after training" in proc.stderr.strip().splitlines()[-1]


def test_eval_mode_uses_the_recorded_config():
    import ml_collections

    from mi_vae.config import eval_config, evals_section

    recorded = ml_collections.ConfigDict({"method": {"name": "vae", "beta": 1.0}, "seed": 0, "eval": {"seed": 0},
                                          "evals": evals_section("elbo").to_dict()})
    requested = ml_collections.ConfigDict({"method": {"name": "vae", "beta": 4.0}, "seed": 0, "eval": {"seed": 3},
                                           "evals": evals_section("elbo", "iwae").to_dict()})
    config, ignored = eval_config(recorded, requested)
    assert ignored == ["method.beta"] and config.method.beta == 1.0
    assert config.eval.seed == 3 and list(config.evals.keys()) == ["elbo", "iwae"]
    assert eval_config(recorded, None) == (recorded, [])
