"""Your own data: a folder of images (``folder:/path``) or arrays in an ``.npz`` file (``npz:/path/file.npz``).

Folder: PNG/JPEG files found recursively (sorted paths). When every image lies in a first-level sub-folder,
the sub-folders are the classes (sorted names -> labels 0..K-1), so probes and cluster metrics apply;
otherwise the data are unlabelled. Images are grey when the first one is (Pillow modes 1, L, LA, I, F),
else RGB, and all are converted to that mode. ``image_size`` > 0 centre-crops each image to a square and
resizes it to image_size x image_size (Pillow, Lanczos); 0 keeps the size, which must then be the same for
all. A file Pillow cannot decode stops the load with one line naming it (nothing is skipped silently).
The decoded uint8 array is cached under ``cache_dir`` by a hash of the file list (paths, sizes, mtimes)
and the settings, so a second run starts in seconds.

npz: keys ``x_train`` and ``x_test`` (optional ``y_train``, ``y_test``), or ``x`` (optional ``y``) split
below. Images ``[N, H, W]`` or ``[N, H, W, C]``, uint8 in 0..255 or float in [0, 1]; other arrays
``[N, D]`` float (Gaussian likelihood).

Splits of data without one: a permutation by ``split_seed``, the last ``test_fraction`` of it the test
split; the same seed and files give the same split whatever the training seed.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from mi_vae.data.core import ArrayDataset, DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
SOURCES = ("folder", "npz")


def default_cache_dir() -> str:
    return os.environ.get("MI_VAE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "mi_vae"))


def split_indices(n: int, test_fraction: float, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: a permutation of n by ``split_seed``, its last round(test_fraction n) the test split."""
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = int(round(test_fraction * n))
    if n_test < 1 or n - n_test < 1:
        raise DatasetError(f"{n} examples cannot be split into train and test with test_fraction {test_fraction}")
    order = np.random.default_rng(split_seed).permutation(n)
    return np.sort(order[: n - n_test]), np.sort(order[n - n_test:])


def _list_images(root: str) -> list[str]:
    paths = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        paths += [os.path.join(directory, f) for f in sorted(files)
                  if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith(".")]
    return sorted(paths)


def _decode(path: str, mode: str, image_size: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            if image_size > 0:
                side = min(im.size)
                left, top = (im.width - side) // 2, (im.height - side) // 2
                im = im.crop((left, top, left + side, top + side)).resize((image_size, image_size),
                                                                          Image.Resampling.LANCZOS)
            array = np.asarray(im, np.uint8)
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot decode image {path}: {str(err).splitlines()[0] if str(err) else err!r}") from None
    return array[..., None] if array.ndim == 2 else array


def load_image_folder(root: str, *, image_size: int = 0, test_fraction: float = 0.1, split_seed: int = 0,
                      cache_dir: str | None = None) -> ArrayDataset:
    """The images under ``root`` as an ``ArrayDataset`` (see the module docstring)."""
    from PIL import Image

    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise DatasetError(f"folder:{root} is not a directory")
    paths = _list_images(root)
    if not paths:
        raise DatasetError(f"folder:{root} holds no {'/'.join(s[1:] for s in IMAGE_SUFFIXES)} images")
    relative = [os.path.relpath(p, root) for p in paths]
    labelled = all(os.sep in r for r in relative)
    classes = sorted({r.split(os.sep)[0] for r in relative}) if labelled else []
    try:
        with Image.open(paths[0]) as first:
            mode = "L" if first.mode in GREY_MODES else "RGB"
    except OSError as err:
        raise DatasetError(f"cannot decode image {paths[0]}: {err}") from None

    stats = [os.stat(p) for p in paths]
    key = hashlib.sha256(json.dumps([relative, [(s.st_size, s.st_mtime_ns) for s in stats], mode, image_size],
                                    sort_keys=True).encode()).hexdigest()[:24]
    cache = os.path.join(cache_dir or default_cache_dir(), "folders", f"{key}.npy")
    if os.path.exists(cache):
        images = np.load(cache, mmap_mode="r")
    else:
        decoded, sizes = [], {}
        for path in paths:
            array = _decode(path, mode, image_size)
            sizes.setdefault(array.shape, path)
            if len(sizes) > 1:
                (shape_a, path_a), (shape_b, path_b) = list(sizes.items())[:2]
                raise DatasetError(f"folder:{root} mixes image sizes ({path_a} is {shape_a[1]}x{shape_a[0]}, "
                                   f"{path_b} is {shape_b[1]}x{shape_b[0]}); set --config.image_size to "
                                   "centre-crop and resize them")
            decoded.append(array)
        images = np.stack(decoded)
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        tmp = f"{cache}.{os.getpid()}.tmp.npy"
        np.save(tmp, images)
        os.replace(tmp, cache)
    labels = (np.asarray([classes.index(r.split(os.sep)[0]) for r in relative], np.int32) if labelled else None)
    train, test = split_indices(len(images), test_fraction, split_seed)
    return ArrayDataset(name=f"folder:{root}", train_x=np.asarray(images[train]),
                        train_y=None if labels is None else labels[train], test_x=np.asarray(images[test]),
                        test_y=None if labels is None else labels[test],
                        num_classes=len(classes) if labelled else None, likelihood="bernoulli")


def _as_examples(x: np.ndarray, what: str) -> tuple[np.ndarray, str]:
    """(array in the library's convention, likelihood): images uint8 NHWC or float in [0, 1]; vectors float32."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return (x[..., None] if x.ndim == 3 else x), "bernoulli"
    if not np.issubdtype(x.dtype, np.floating):
        raise DatasetError(f"{what} must be uint8 (0..255) or float, got {x.dtype}")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{what} has non-finite values")
    if x.ndim == 2:
        return x, "gaussian"
    if x.min() < 0.0 or x.max() > 1.0:
        raise DatasetError(f"{what}: float images must lie in [0, 1] (got {x.min():.3g}..{x.max():.3g})")
    return (x[..., None] if x.ndim == 3 else x), "bernoulli"


def from_arrays(x, y=None, *, x_test=None, y_test=None, name: str = "arrays", test_fraction: float = 0.1,
                split_seed: int = 0) -> ArrayDataset:
    """A dataset from numpy arrays, the Python route to your own data.

    ``x`` is the training split when ``x_test`` is given, else all examples, split by ``split_seed`` and
    ``test_fraction`` (see ``split_indices``). Images ``[N, H, W]`` or ``[N, H, W, C]``, uint8 in 0..255 or
    float in [0, 1] (Bernoulli likelihood); vectors ``[N, D]`` float (Gaussian likelihood). Labels ``y`` /
    ``y_test`` are optional integers; the probes and cluster metrics need both.

    >>> import numpy as np
    >>> ds = from_arrays(np.zeros((100, 8, 8), np.uint8), np.arange(100) % 4)
    >>> ds.train_x.shape, ds.test_x.shape, ds.num_classes, ds.likelihood
    ((90, 8, 8, 1), (10, 8, 8, 1), 4, 'bernoulli')

    Raises:
      DatasetError: arrays that do not fit the conventions above (one line).
    """
    if x_test is None and y_test is not None:
        raise DatasetError(f"{name}: y_test without x_test")
    if x_test is not None:
        train_x, likelihood = _as_examples(x, f"{name}: x_train")
        test_x, _ = _as_examples(x_test, f"{name}: x_test")
        train_y, test_y = y, y_test
    else:
        examples, likelihood = _as_examples(x, f"{name}: x")
        train, test = split_indices(len(examples), test_fraction, split_seed)
        train_x, test_x = examples[train], examples[test]
        labels = None if y is None else np.asarray(y)
        if labels is not None and len(labels) != len(examples):
            raise DatasetError(f"{name}: {len(examples)} examples but {len(labels)} labels")
        train_y, test_y = (None, None) if labels is None else (labels[train], labels[test])
    labelled = train_y is not None and test_y is not None
    if labelled:
        train_y, test_y = np.asarray(train_y), np.asarray(test_y)
        if not (np.issubdtype(train_y.dtype, np.integer) and np.issubdtype(test_y.dtype, np.integer)):
            raise DatasetError(f"{name}: labels must be integers")
        if len(train_y) != len(train_x) or len(test_y) != len(test_x):
            raise DatasetError(f"{name}: {len(train_x)}/{len(test_x)} examples but {len(train_y)}/{len(test_y)} "
                               "labels")
        if min(train_y.min(), test_y.min()) < 0:
            raise DatasetError(f"{name}: labels must be >= 0")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DatasetError(f"{name}: train and test examples differ in shape ({train_x.shape[1:]} vs "
                           f"{test_x.shape[1:]})")
    num_classes = int(max(train_y.max(), test_y.max())) + 1 if labelled else None
    return ArrayDataset(name=name, train_x=train_x, test_x=test_x,
                        train_y=train_y.astype(np.int32) if labelled else None,
                        test_y=test_y.astype(np.int32) if labelled else None,
                        num_classes=num_classes, likelihood=likelihood)


def load_npz(path: str, *, test_fraction: float = 0.1, split_seed: int = 0) -> ArrayDataset:
    """The arrays of ``path`` as an ``ArrayDataset`` (see the module docstring and ``from_arrays``)."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise DatasetError(f"npz:{path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as err:
        raise DatasetError(f"npz:{path} is not a readable .npz file: {str(err).splitlines()[0]}") from None
    name = f"npz:{path}"
    if "x_train" in arrays and "x_test" in arrays:
        return from_arrays(arrays["x_train"], arrays.get("y_train"), x_test=arrays["x_test"],
                           y_test=arrays.get("y_test"), name=name)
    if "x" in arrays:
        return from_arrays(arrays["x"], arrays.get("y"), name=name, test_fraction=test_fraction,
                           split_seed=split_seed)
    raise DatasetError(f"{name} has keys {', '.join(sorted(arrays)) or 'none'}; it needs x_train and "
                       "x_test (optional y_train, y_test) or x (optional y)")


# ----------------------------------------------------------------------------- CelebA from its own files

CELEBA_CROP, CELEBA_SIZE = 140, 64  # WAE's preprocessing, which VIMAE follows: centre crop 140x140, resize to 64x64
CELEBA_LAYOUTS = ("img_align_celeba/ (the JPEGs)", "img_align_celeba.zip", "a tfds-prepared celeb_a")


def celeba_layout(data_dir: str) -> str | None:
    """"folder" or "zip" when ``data_dir`` holds CelebA's own files, else None."""
    if os.path.isdir(os.path.join(data_dir, "img_align_celeba")):
        return "folder"
    if os.path.isfile(os.path.join(data_dir, "img_align_celeba.zip")):
        return "zip"
    return None


def load_celeba_files(data_dir: str, *, test_fraction: float = 0.1, split_seed: int = 0,
                      cache_dir: str | None = None, chunk: int = 1024) -> ArrayDataset:
    """CelebA from ``data_dir``/img_align_celeba/ or ``data_dir``/img_align_celeba.zip: each 178x218 JPEG centre
    cropped to 140x140 and resized to 64x64 (``preprocessing.center_crop_and_resize``), uint8, unlabelled.

    The split is the official one of ``list_eval_partition.txt`` (0 train, 2 test; 1, validation, unused as in the
    tfds path) when ``data_dir`` has it, else seeded as for folders. The preprocessed array is cached like a
    folder's (2.5 GB for the 202,599 images, read back memory-mapped).
    """
    import zipfile

    from PIL import Image

    from mi_vae.data.preprocessing import center_crop_and_resize

    data_dir = os.path.abspath(os.path.expanduser(data_dir))
    layout = celeba_layout(data_dir)
    archive = zipfile.ZipFile(os.path.join(data_dir, "img_align_celeba.zip")) if layout == "zip" else None
    try:
        if archive is not None:
            members = sorted((i for i in archive.infolist() if i.filename.lower().endswith(".jpg")),
                             key=lambda i: i.filename)
            names = [os.path.basename(i.filename) for i in members]
            fingerprint = [(i.filename, i.file_size, i.CRC) for i in members]
        else:
            folder = os.path.join(data_dir, "img_align_celeba")
            names = sorted(f for f in os.listdir(folder) if f.lower().endswith(".jpg"))
            fingerprint = [(n, os.stat(os.path.join(folder, n)).st_size) for n in names]
        if not names:
            raise DatasetError(f"celeb_a: no JPEGs in {data_dir} ({layout})")
        key = hashlib.sha256(json.dumps([fingerprint, CELEBA_CROP, CELEBA_SIZE]).encode()).hexdigest()[:24]
        cache = os.path.join(cache_dir or default_cache_dir(), "celeb_a", f"{key}.npy")
        if os.path.exists(cache):
            images = np.load(cache, mmap_mode="r")
        else:
            out = None
            for start in range(0, len(names), chunk):
                batch = []
                for i in range(start, min(start + chunk, len(names))):
                    name = names[i]
                    try:
                        handle = archive.open(members[i]) if archive is not None else open(
                            os.path.join(folder, name), "rb")
                        with handle, Image.open(handle) as im:
                            batch.append(np.asarray(im.convert("RGB"), np.uint8))
                    except (OSError, ValueError) as err:
                        raise DatasetError(f"celeb_a: cannot decode {name} in {data_dir}: {err}") from None
                shapes = {b.shape for b in batch}
                if len(shapes) != 1:
                    raise DatasetError(f"celeb_a: images of several sizes {sorted(shapes)} in {data_dir}")
                resized = center_crop_and_resize(np.stack(batch), CELEBA_CROP, CELEBA_SIZE)
                if out is None:
                    os.makedirs(os.path.dirname(cache), exist_ok=True)
                    tmp = f"{cache}.{os.getpid()}.tmp.npy"
                    out = np.lib.format.open_memmap(tmp, "w+", np.uint8, (len(names), *resized.shape[1:]))
                out[start:start + len(resized)] = resized
            out.flush()
            del out
            os.replace(tmp, cache)
            images = np.load(cache, mmap_mode="r")
    finally:
        if archive is not None:
            archive.close()
    partition_file = os.path.join(data_dir, "list_eval_partition.txt")
    if os.path.isfile(partition_file):
        part = {}
        with open(partition_file) as f:
            for line in f:
                fields = line.split()
                if len(fields) == 2:
                    part[fields[0]] = int(fields[1])
        missing = [n for n in names if n not in part]
        if missing:
            raise DatasetError(f"celeb_a: {missing[0]} is not in {partition_file}")
        which = np.asarray([part[n] for n in names])
        train, test = np.flatnonzero(which == 0), np.flatnonzero(which == 2)
        if len(train) == 0 or len(test) == 0:
            raise DatasetError(f"celeb_a: {partition_file} gives an empty train or test split for these images")
    else:
        train, test = split_indices(len(names), test_fraction, split_seed)
    return ArrayDataset(name="celeb_a", train_x=np.asarray(images[train]), train_y=None,
                        test_x=np.asarray(images[test]), test_y=None, num_classes=None, likelihood="bernoulli")


__all__ = ["CELEBA_LAYOUTS", "IMAGE_SUFFIXES", "SOURCES", "celeba_layout", "default_cache_dir", "load_celeba_files",
           "load_image_folder", "load_npz", "split_indices"]
