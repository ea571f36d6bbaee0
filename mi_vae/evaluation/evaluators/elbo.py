"""``elbo``: the evidence lower bound and its terms on the test set, and the reconstruction error.

    elbo      = mean_i [log p(x_i|z_i) - KL(q(z|x_i) || p(z))], one z_i ~ q(z|x_i)
    recon_nll = -mean_i log p(x_i|z_i);   kl = mean_i KL(q(z|x_i) || p(z))  (closed form)
    recon_l2  = mean_i sum_pixels (x_i - x_hat_i)^2 at the posterior mean (VIMAE table II)

From the shared test pass (``EvalData.test_pass``), so it costs one encoding of the test set that
the other evaluators reuse.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mi_vae.evaluation import metrics as M
from mi_vae.evaluation.evaluators.common import EvalData, Skipped


class Evaluator:
    requires: frozenset[str] = frozenset()

    def __init__(self, method, data: EvalData):
        self.data = data

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        c = self.data.test_pass(state)
        yield "elbo", M.elbo(c["log_px"], c["kl"])
        yield "recon_nll", M.recon_nll(c["log_px"])
        yield "kl", M.kl(c["kl"])
        if self.data.likelihood == "tokens":
            yield "recon_l2", Skipped("a squared distance between token ids means nothing")
        else:
            yield "recon_l2", float(np.mean(c["sq"]))  # = M.recon_l2(x, x_hat), summed per example in the pass
