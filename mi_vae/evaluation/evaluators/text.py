"""``text``: sentences in and out (Mutual Autoencoder tables 1-2 and figure 3), for token data.

Reconstruction rates (exact sentences and tokens) of greedy decoding from the posterior mean on
``examples`` sentences of ``split`` (test, or train as the paper's tables), and a report section with
reconstructions and an interpolation.
"""

from __future__ import annotations

from collections.abc import Iterator

from mi_vae.errors import ConfigError
from mi_vae.evaluation import text as text_lib
from mi_vae.evaluation.evaluators.common import EvalData, Note, Section, Skip


class Evaluator:
    requires: frozenset[str] = frozenset()

    def __init__(self, method, data: EvalData, *, examples: int = 1000, split: str = "test"):
        """examples: sentences whose reconstruction rates are measured; split: "test" or "train" (the sentences
        trained on, as the Mutual Autoencoder paper measures them)."""
        if split not in ("test", "train"):
            raise ConfigError(f"config.evals.text.split must be 'test' or 'train', got {split!r}")
        self.data, self.examples, self.split = data, int(examples), split

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        data = self.data
        if data.likelihood != "tokens":
            raise Skip("the data are not token sequences")
        model, params, batch_stats = data.vae, state["params"], state["batch_stats"]
        n = min(data.n if self.split == "test" else data.dataset.num_train, self.examples)
        yield from text_lib.reconstruction_rates(model, params, batch_stats, data.dataset, n=n,
                                                 split=self.split).items()
        yield "text_exact_reconstruction", Note(f"greedy decoding of the posterior mean, the first {n} {self.split} "
                                                "sentences")
        yield "Text reconstructions and interpolation", Section(tuple(
            text_lib.text_report(model, params, batch_stats, data.dataset)))
