"""``probe``: linear read-out of the class from the latent means, clean and under input corruptions.

    probe_accuracy = test accuracy of logistic regression on E_q[z|x], fit on ``labels`` labelled
                     training examples (VIMAE section V.B)
    probe_accuracy_gaussian_<sigma>, probe_accuracy_mask_<p>: the same with train and test inputs
                     x + N(0, sigma^2) noise (clipped to [0, 1]) or pixels zeroed with probability p
                     (VIMAE tables III-V), image data only
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mi_vae import data as data_lib
from mi_vae.evaluation import metrics as M
from mi_vae.evaluation.evaluators.common import EvalData, Skip, Skipped, is_image

GAUSSIAN_SIGMAS = (0.2, 0.3, 0.4)  # VIMAE section V.B
MASK_PS = (0.2, 0.5)


class Evaluator:
    requires: frozenset[str] = frozenset()

    def __init__(self, method, data: EvalData, *, labels: int = 1000, noise: bool = True):
        """labels: labelled training examples the probe is fit on (random, seeded); noise: also the
        corrupted-input probes."""
        self.data, self.labels, self.noise = data, int(labels), bool(noise)

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        data = self.data
        if not data.labelled:
            raise Skip("the dataset has no class labels")
        idx = M.probe_subset(data.dataset.train_y, self.labels, data.seed)
        train_stored, train_y = data.dataset.train_x[idx], np.asarray(data.dataset.train_y)[idx]
        test_stored = data.dataset.test_x[: data.n]

        def probe(corrupt=None, salt=0):
            train_codes = data.encode_means(state, data.prepare(train_stored, 100 + salt, corrupt))
            test_codes = (data.test_pass(state)["mean"] if corrupt is None
                          else data.encode_means(state, data.prepare(test_stored, 200 + salt, corrupt)))
            return M.probe_accuracy(train_codes, train_y, test_codes, data.y, seed=data.seed)

        yield "probe_accuracy", probe()
        if not self.noise:
            yield "probe_accuracy_<noise>", Skipped("config.evals.probe.noise is False")
            return
        if not is_image(data.example_shape):
            yield "probe_accuracy_<noise>", Skipped("corruptions apply to image data in [0, 1] only")
            return
        for i, sigma in enumerate(GAUSSIAN_SIGMAS):
            rng = data.np_rng(1, i)
            yield f"probe_accuracy_gaussian_{sigma}", probe(
                lambda x, r=rng, s=sigma: data_lib.corrupt_gaussian(r, x, s), salt=1 + i)
        for i, prob in enumerate(MASK_PS):
            rng = data.np_rng(2, i)
            yield f"probe_accuracy_mask_{prob}", probe(lambda x, r=rng, q=prob: data_lib.corrupt_mask(r, x, q),
                                                       salt=11 + i)
