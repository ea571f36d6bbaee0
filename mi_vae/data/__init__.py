"""Data: named datasets as in-memory numpy arrays, resumable batch order, corruptions.

One entry point by name, ``load_dataset(name, data_dir, max_train_examples, max_test_examples, seed)``
-> ``ArrayDataset``, and one from arrays in Python, ``from_arrays(x, y, x_test=..., y_test=...)``.
Images are NHWC ``uint8`` (``to_float`` maps them to [0, 1]); real-valued and one-hot data are
``float32``; labels ``int32``.  Sources:

* ``fashion_mnist`` -- the offline default, Debian's ``dataset-fashion-mnist`` IDX files, read
  without TensorFlow;
* ``mnist``, ``binarized_mnist``, ``cifar10``, ``cifar100``, ``celeb_a`` (140x140 center crop,
  64x64), ``omniglot`` (28x28, strokes bright) -- prepared tensorflow-datasets data, never
  downloaded; ``tensorflow_datasets`` is imported only when one of them is loaded;
* ``digits`` -- scikit-learn's bundled 8x8 digits;
* ``splitting_normal``, ``categorical10`` (Mutual Autoencoder toys), ``correlated_gaussians``
  (known MI), ``synthetic64`` (smooth 64x64x3 images for CelebA smoke tests) -- seeded numpy.

A missing dataset raises ``DatasetError`` whose message is one line saying how to get it.
``batch_indices(seed, start_step, num_steps, n, batch_size)`` gives the shuffled example indices
as a function of the step alone, so a resumed run sees exactly the batches of an uninterrupted one.
"""

from mi_vae.data.batching import batch_indices, epoch_permutation
from mi_vae.data.core import ArrayDataset, DatasetError, to_float
from mi_vae.data.corruption import binarize, corrupt_gaussian, corrupt_mask
from mi_vae.data.datasets import DATASETS, load_dataset
from mi_vae.data.files import from_arrays
from mi_vae.data.idx import read_idx
from mi_vae.data.preprocessing import center_crop, center_crop_and_resize, resize_uint8
from mi_vae.data.synthetic import correlated_gaussians_mi, sample_correlated_gaussians

__all__ = [
    "DATASETS",
    "ArrayDataset",
    "DatasetError",
    "batch_indices",
    "binarize",
    "center_crop",
    "center_crop_and_resize",
    "correlated_gaussians_mi",
    "corrupt_gaussian",
    "corrupt_mask",
    "epoch_permutation",
    "from_arrays",
    "load_dataset",
    "read_idx",
    "resize_uint8",
    "sample_correlated_gaussians",
    "to_float",
]
