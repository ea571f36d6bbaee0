"""``iwae``: the importance-weighted negative log-likelihood (Burda et al. 2016).

    iwae_nll = -mean_i log (1/K) sum_k p(x_i|z_k) p(z_k) / q(z_k|x_i),  z_k ~ q(z|x_i)

and its standard error over the examples, on the first ``examples`` test examples; K = ``k``
(Burda et al. use 5000 for final numbers).
Needs a Gaussian q(z|x) as the whole decoder code and a prior with a density.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mi_vae.evaluation import metrics as M
from mi_vae.evaluation.evaluators.common import EvalData, Skip
from mi_vae.methods.base import GAUSSIAN_POSTERIOR, PRIOR_DENSITY


class Evaluator:
    requires = frozenset({GAUSSIAN_POSTERIOR, PRIOR_DENSITY})

    def __init__(self, method, data: EvalData, *, k: int = 100, examples: int = 1000, batch: int = 100,
                 chunk: int = 10):
        """k: importance samples K; examples: test examples (0: all); batch: examples per call, whose
        decoder call decodes batch * chunk codes; chunk: importance samples per decoder call (memory)."""
        self.data, self.k, self.examples, self.batch, self.chunk = data, int(k), int(examples), int(batch), int(chunk)

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        if self.k < 1:
            raise Skip("config.evals.iwae.k < 1")
        data, vae, k, chunk = self.data, self.data.vae, self.k, self.chunk
        n = min(self.examples or data.n, data.n)

        def fn(m, x, key):
            mean, log_var = vae.encode(m[0], m[1], x)

            def log_px_given_z(z):
                # x reaches autoregressive decoders (teacher forcing); others ignore it
                return vae.log_likelihood(vae.decode(m[0], m[1], z, x=x), x)

            return {"ll": M.iwae_log_likelihood(key, mean, log_var, log_px_given_z, k, chunk,
                                                log_prior=vae.prior_log_prob)}

        ll = data.batched("iwae", fn, state, data.x[:n], batch_size=self.batch)["ll"]
        yield "iwae_nll", M.iwae_nll(ll)
        if n > 1:
            yield "iwae_nll_stderr", float(np.std(ll, ddof=1) / np.sqrt(n))
        yield "iwae_k", k
