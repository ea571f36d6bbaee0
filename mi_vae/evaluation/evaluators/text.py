"""``text``: sentences in and out (Mutual Autoencoder tables 1-2 and figure 3), for token data.

Reconstruction rates (exact sentences and tokens) of greedy decoding from the posterior mean on
``examples`` test sentences, and a report section with reconstructions and an interpolation.
"""

from __future__ import annotations

from collections.abc import Iterator

from mi_vae.evaluation import text as text_lib
from mi_vae.evaluation.evaluators.common import EvalData, Section, Skip


class Evaluator:
    requires: frozenset[str] = frozenset()

    def __init__(self, method, data: EvalData, *, examples: int = 1000):
        """examples: test sentences whose reconstruction rates are measured."""
        self.data, self.examples = data, int(examples)

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        data = self.data
        if data.likelihood != "tokens":
            raise Skip("the data are not token sequences")
        model, params, batch_stats = data.vae, state["params"], state["batch_stats"]
        yield from text_lib.reconstruction_rates(model, params, batch_stats, data.dataset,
                                                 n=min(data.n, self.examples)).items()
        yield "Text reconstructions and interpolation", Section(tuple(
            text_lib.text_report(model, params, batch_stats, data.dataset)))
