"""``generation``: how close samples x ~ decode(z), z ~ p(z), are to the test images, in the feature space of a
classifier trained on the labelled training split (``mi_vae.evaluation.feature_classifier``).

    fd_classifier      = FD(Gaussian of sample features, Gaussian of test-image features)   (``fid.frechet_distance``)
    kid_classifier     = KID of the same two feature sets (``fid.kid``), with kid_classifier_std over its subsets
    fd_classifier_real = FD(held-out test images, as many training images): the floor a perfect model reaches

Not FID and not comparable with published FIDs (no InceptionV3); comparable between models on the same data.
Needs image data with labels (Fashion-MNIST, digits, a labelled image folder) and a method that samples
from its prior.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mi_vae.data.files import default_cache_dir
from mi_vae.evaluation import feature_classifier as fc
from mi_vae.evaluation import fid
from mi_vae.evaluation.evaluators.common import EvalData, Note, Skip, is_image
from mi_vae.methods.base import PRIOR_SAMPLING


class Evaluator:
    requires = frozenset({PRIOR_SAMPLING})

    def __init__(self, method, data: EvalData, *, samples: int = 2000, classifier_epochs: int = 2,
                 kid_subsets: int = 20, kid_subset_size: int = 1000, cache_dir: str = ""):
        """samples: generated images compared with as many test images (at most the test split); classifier_epochs:
        training of the feature classifier; kid_subsets, kid_subset_size: KID's subsets; cache_dir: where the
        classifier is cached ("" : ``$MI_VAE_CACHE`` or ~/.cache/mi_vae)."""
        self.data, self.samples, self.epochs = data, int(samples), int(classifier_epochs)
        self.kid_subsets, self.kid_subset_size = int(kid_subsets), int(kid_subset_size)
        self.cache_dir = cache_dir or default_cache_dir()

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        data, dataset = self.data, self.data.dataset
        if not is_image(dataset.example_shape):
            raise Skip("the data are not images")
        if dataset.train_y is None or not dataset.num_classes:
            raise Skip("the training split has no labels to train the feature classifier on")
        n = min(self.samples, dataset.num_test)
        if n < 2:
            raise Skip("fewer than 2 test images")
        module, params, accuracy = fc.train_classifier(dataset.train_x, dataset.train_y, dataset.num_classes,
                                                       epochs=self.epochs, cache_dir=self.cache_dir)
        generated = data.decode_images(state, data.sample_prior("generation", n))
        f_gen = fc.features(module, params, generated)
        f_test = fc.features(module, params, dataset.test_x[:n])
        f_train = fc.features(module, params, dataset.train_x[np.random.default_rng(data.seed).choice(
            dataset.num_train, min(n, dataset.num_train), replace=False)])
        test_stats = fid.gaussian_statistics(f_test)
        yield "fd_classifier", fid.frechet_distance(*fid.gaussian_statistics(f_gen), *test_stats)
        mean, std = fid.kid(f_gen, f_test, num_subsets=self.kid_subsets, subset_size=self.kid_subset_size,
                            seed=data.seed)
        yield "kid_classifier", mean
        yield "kid_classifier_std", std
        yield "fd_classifier_real", fid.frechet_distance(*fid.gaussian_statistics(f_train), *test_stats)
        yield "fd_classifier", Note(f"{n} prior samples against {n} test images, features of a {module.hidden} MLP "
                                    f"classifier (training accuracy {accuracy:.3f}); not FID")
