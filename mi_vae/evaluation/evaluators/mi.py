"""``mi``: how much information the code carries about the input, by two validated estimators.

    mi_aggregate = mean_i log q(z_i|x_i) / ((1/N) sum_j q(z_i|x_j)),  z_i ~ q(z|x_i)
                   (``mi.aggregate_posterior``: a lower bound on I_q(x; z), ceiling log N; InfoVAE app. B.2)
    mi_critic    = ``mi.estimate(x, z)`` on pairs (x_i, z_i ~ q(z|x_i)): a critic trained on some pairs,
                   read on held-out ones (``estimator``, default the recommended InfoNCE; ceiling log K)

both over the first ``config.eval.train_examples`` training examples (one shared encoding), each
with its standard error and ceiling. The critic's settings do not depend on how long the model
trained: at most ``critic_steps`` steps with early stopping on held-out pairs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mi_vae.errors import ConfigError
from mi_vae.evaluation import mi as mi_lib
from mi_vae.evaluation.evaluators.common import EvalData, Note, Skip, Skipped
from mi_vae.methods.base import GAUSSIAN_POSTERIOR


class Evaluator:
    requires = frozenset({GAUSSIAN_POSTERIOR})

    def __init__(self, method, data: EvalData, *, queries: int = 2000, estimator: str = "critic",
                 critic_steps: int = 6000):
        """queries: training codes scored against all N posteriors in mi_aggregate; estimator: of
        mi_critic (``mi.ESTIMATORS`` or "critic" = ``mi.RECOMMENDED``); critic_steps: at most this many
        critic steps (0: no mi_critic)."""
        if estimator not in (*mi_lib.ESTIMATORS, "critic"):
            raise ConfigError(f"config.evals.mi.estimator must be one of {', '.join(mi_lib.ESTIMATORS)}, critic; "
                              f"got {estimator!r}")
        self.data, self.queries, self.estimator, self.critic_steps = data, int(queries), estimator, int(critic_steps)

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        posterior = self.data.train_posterior(state)
        mean, log_var = posterior["mean"], posterior["log_var"]
        if len(mean) < 2:
            raise Skip("fewer than 2 training examples")
        result = mi_lib.aggregate_posterior(mean, log_var, num_queries=self.queries, seed=self.data.seed)
        yield "mi_aggregate", result["estimate"]
        yield "mi_aggregate_stderr", result["stderr"]
        yield "mi_aggregate_ceiling", result["ceiling"]
        yield "mi_aggregate", Note(f"estimator aggregate_posterior (mi_vae.evaluation.mi), {result['num_queries']} "
                                  f"queries against N = {len(mean)} training posteriors, ceiling log N")
        yield from self.critic(mean, log_var)

    def critic(self, mean: np.ndarray, log_var: np.ndarray) -> Iterator[tuple[str, object]]:
        if self.critic_steps == 0:
            yield "mi_critic", Skipped("config.evals.mi.critic_steps = 0")
            return
        x = self.data.train_inputs()
        if len(x) < 100:
            yield "mi_critic", Skipped(f"{len(x)} training pairs: too few for the critic's train/validation/test "
                                       "split")
            return
        eps = self.data.np_rng(6).standard_normal(mean.shape).astype(np.float32)
        z = (mean + np.exp(0.5 * log_var) * eps).astype(np.float32)  # z_i ~ q(z|x_i)
        if not np.all(np.isfinite(z)):
            yield "mi_critic", Skipped("the encoder gives non-finite codes")
            return
        result = mi_lib.estimate(x, z, estimator=self.estimator, seed=self.data.seed, steps=self.critic_steps)
        yield "mi_critic", result["estimate"]
        yield "mi_critic_stderr", result["stderr"]
        yield "mi_critic_ceiling", result["ceiling"]
        yield "mi_critic", Note(f"estimator {result['estimator']} (mi_vae.evaluation.mi), {result['n_test']} "
                                f"held-out pairs, critic trained {result['best_step']} steps")
