"""``active_units``: how many latent dimensions the code uses.

    active_units         = #{d : Var_i(E_q[z_d|x_i]) >= eps}            (InfoMax-VAE eq. 7)
    active_units_sampled = #{d : Var_i(mean of S draws z ~ q(z|x_i))_d >= eps}

The second is the InfoMax-VAE authors' script: each code is the average of S posterior samples, so
a collapsed unit (mean 0, sigma 1) has variance 1/S across examples and counts about half the time
when 1/S is near eps; it is reported beside eq. 7's count to compare with the paper's AU numbers.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mi_vae.evaluation import metrics as M
from mi_vae.evaluation.evaluators.common import EvalData


class Evaluator:
    requires: frozenset[str] = frozenset()

    def __init__(self, method, data: EvalData, *, eps: float = 0.05, samples: int = 20):
        """eps: the variance threshold (InfoMax-VAE 0.05; Burda et al. 0.01); samples: S."""
        self.data, self.eps, self.samples = data, float(eps), int(samples)

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        c = self.data.test_pass(state)
        mean, log_var = c["mean"], c["log_var"]
        yield "active_units", M.active_units(mean, self.eps)
        noise = self.data.np_rng(3).standard_normal((self.samples, *mean.shape)).mean(axis=0)
        yield "active_units_sampled", M.active_units(mean + np.exp(0.5 * log_var) * noise, self.eps)
