"""``fid``: FID the standard way, prior samples x ~ decode(z), z ~ p(z), against the test images in the pool3
features of pytorch-fid's InceptionV3 (``mi_vae.models.inception``), with user-supplied weights.

    fid      = FD(Gaussian of pool3(samples), Gaussian of pool3(test images))     (Heusel et al. 2017,
               arXiv:1706.08500; ``mi_vae.evaluation.fid.frechet_distance``)
    fid_real = FD(as many training images, the same test images): the floor a perfect model reaches at this n

Both sets are quantised to 8 bits (what saving samples as PNGs for pytorch-fid does), gray images are repeated
to RGB, and the network resizes them bilinearly to 299 x 299. Skipped without ``weights`` (none ship, nothing is
downloaded): convert pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` once with
``python -m mi_vae.tools.convert_inception_weights`` and pass ``--config.evals.fid.weights=PATH``. FID is
biased in the number of images, so compare values at the same ``samples`` and reference set; published
CIFAR-10 FIDs mostly use 50,000 samples against the training set, these use min(samples, test images) against
the test split. The weights are loaded and checked when the evaluator is built, before any evaluator runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mi_vae.data import to_float
from mi_vae.evaluation import fid as fid_lib
from mi_vae.evaluation.evaluators.common import EvalData, Note, Skip, is_image
from mi_vae.methods.base import PRIOR_SAMPLING
from mi_vae.models import inception

NO_WEIGHTS = ("no InceptionV3 weights: pass --config.evals.fid.weights=PATH (convert pytorch-fid's checkpoint "
              f"{inception.PT_INCEPTION_NAME} with python -m mi_vae.tools.convert_inception_weights)")


def as_8bit(x: np.ndarray) -> np.ndarray:
    """Stored or decoded images -> float32 in [0, 1] on the 8-bit grid: round(255 clip(x, 0, 1)) / 255."""
    return (np.round(np.clip(np.asarray(to_float(x), np.float32), 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


class Evaluator:
    requires = frozenset({PRIOR_SAMPLING})

    def __init__(self, method, data: EvalData, *, weights: str = "", samples: int = 10_000, batch_size: int = 50):
        """weights: the npz of ``convert_inception_weights`` ("" : skipped); samples: generated images compared
        with as many test images (at most the test split); batch_size: images per InceptionV3 call."""
        self.data, self.weights = data, str(weights)
        self.samples, self.batch_size = int(samples), int(batch_size)
        self.variables = inception.load_inception_params(self.weights) if self.weights else None

    def features(self, images: np.ndarray) -> np.ndarray:
        return inception.pool_features(self.variables, as_8bit(images), self.batch_size)

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        if self.variables is None:
            raise Skip(NO_WEIGHTS)
        data, dataset = self.data, self.data.dataset
        shape = tuple(dataset.example_shape)
        if not is_image(shape):
            raise Skip("the data are not images")
        if shape[-1] not in (1, 3):
            raise Skip(f"InceptionV3 takes gray or RGB images; these have {shape[-1]} channels")
        n = min(self.samples, dataset.num_test)
        if n < 2:
            raise Skip("fewer than 2 test images")
        f_gen = self.features(data.decode_images(state, data.sample_prior("fid", n)))
        f_test = self.features(dataset.test_x[:n])
        m = min(n, dataset.num_train)
        f_train = self.features(dataset.train_x[np.sort(np.random.default_rng(data.seed).choice(
            dataset.num_train, m, replace=False))])
        test_stats = fid_lib.gaussian_statistics(f_test)
        yield "fid", fid_lib.frechet_distance(*fid_lib.gaussian_statistics(f_gen), *test_stats)
        yield "fid_real", fid_lib.frechet_distance(*fid_lib.gaussian_statistics(f_train), *test_stats)
        yield "fid", Note(f"{n} prior samples against {n} test images (fid_real: {m} training images against the "
                          f"same), 8-bit, bilinear to 299x299, pool3 of pytorch-fid's InceptionV3 ({self.weights}); "
                          f"FID depends on n: compare at the same n")
