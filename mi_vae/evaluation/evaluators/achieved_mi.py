"""``achieved_mi``: the Mutual Autoencoder's MI target M and the MI its trained model achieves.

    mi_achieved = I_BA of the trained decoder with a freshly trained r(z|x) (MAE eq. 7; ``steps`` Adam steps)
"""

from __future__ import annotations

from collections.abc import Iterator

from mi_vae.evaluation.evaluators.common import EvalData, Skip
from mi_vae.methods.base import ACHIEVED_MI


class Evaluator:
    requires = frozenset({ACHIEVED_MI})

    def __init__(self, method, data: EvalData, *, steps: int = 2000):
        """steps: Adam steps of the fresh r(z|x) (0: skip)."""
        self.method, self.data, self.steps = method, data, int(steps)

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        if self.steps == 0:
            raise Skip("config.evals.achieved_mi.steps = 0")
        yield "mi_target", float(self.method.mi_target)
        yield "mi_achieved", float(self.method.achieved_mi(state["params"], state["batch_stats"],
                                                           self.data.rng("mae"), num_steps=self.steps))
