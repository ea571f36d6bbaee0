"""``clusters``: the categorical code c (VMI): how much of x it carries, and how well it finds the classes.

    code_mi          = H(mean_i q(c|x_i)) - mean_i H(q(c|x_i))   (I(x; c) on the test set, <= log K)
    code_kl_uniform  = mean_i KL(q(c|x_i) || Unif(K))
    cluster_accuracy = accuracy of argmax_c q(c|x) under the best one-to-one code -> class map (Hungarian)
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mi_vae.evaluation import metrics as M
from mi_vae.evaluation.evaluators.common import EvalData, Skipped
from mi_vae.methods.base import CATEGORICAL_CODE


class Evaluator:
    requires = frozenset({CATEGORICAL_CODE})

    def __init__(self, method, data: EvalData):
        self.data = data

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        logits = self.data.categorical_logits(state)
        yield from M.categorical_code_information(logits).items()
        if self.data.labelled:
            yield "cluster_accuracy", M.cluster_accuracy(np.argmax(logits, axis=-1), self.data.y)
        else:
            yield "cluster_accuracy", Skipped("the dataset has no class labels")
