"""``prior_match``: how close the aggregate posterior q(z) is to the prior p(z) (InfoVAE section 4.2.1).

    mmd_prior          = unbiased MMD^2 between z_i ~ q(z|x_i) over test examples and as many z ~ p(z),
                         RBF kernel exp(-||z - z'||^2 / (2d))
    logdet_cov_per_dim = log det Cov_i(z_i) / d; 0 when q(z) matches N(0, I) (InfoVAE figure 3)

on the first ``examples`` codes of the shared test pass. For a code [Gaussian z, other parts]
(VMI's categorical layout) the Gaussian part is compared with the first coordinates of the prior draws.
"""

from __future__ import annotations

from collections.abc import Iterator

from mi_vae.evaluation import metrics as M
from mi_vae.evaluation.evaluators.common import EvalData, Skip, Skipped


class Evaluator:
    # the model's prior p(z), also for methods that do not sample from it (InfoVAE's autoencoder: figure 3
    # compares its q(z) with N(0, I))
    requires: frozenset[str] = frozenset()

    def __init__(self, method, data: EvalData, *, examples: int = 2000):
        """examples: codes and prior draws compared (0: all test examples)."""
        self.data, self.examples = data, int(examples)

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        data = self.data
        n = min(self.examples or data.n, data.n)
        if n < 2:
            raise Skip("fewer than 2 test examples")
        c = data.test_pass(state)
        z = c["z"][:n]
        z_prior = data.sample_prior("prior", n)
        if z_prior.shape[1] > z.shape[1] and z_prior.shape[1] == c["code"].shape[1]:
            z_prior = z_prior[:, : z.shape[1]]  # [Gaussian z, other parts]: the Gaussian part
        if z_prior.shape[1:] != z.shape[1:]:
            raise Skip(f"prior draws {z_prior.shape[1:]} and codes {z.shape[1:]} differ in shape")
        yield "mmd_prior", M.mmd_prior(z, z_prior)
        if n > z.shape[1]:
            yield "logdet_cov_per_dim", M.logdet_cov_per_dim(z)
        else:
            yield "logdet_cov_per_dim", Skipped(f"needs more codes ({n}) than latent dimensions ({z.shape[1]})")
