"""``figures``: the PNGs of WORKDIR/eval/: reconstructions, samples, traversals, and each method's own.

    reconstructions, samples (prior draws, or InfoVAE's Markov chain x -> z -> x for a method that
    declares no prior sampling), traversals (+ traversal_grid), categorical_traversals (VMI thesis
    figures 4.5-4.6), latent_scatter, latent_activity, training_curves, categorical_histogram
    (+ code_class_histogram), conditionals (MAE figure 2a/2b on 1-D data).

A figure that fails is recorded as not computed with its error; it never fails the evaluation.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from mi_vae.errors import STORAGE_FULL
from mi_vae.evaluation import figures as F
from mi_vae.evaluation import metrics as M
from mi_vae.evaluation.evaluators.common import EvalData, Figure, Skip, Skipped, is_image
from mi_vae.methods.base import CATEGORICAL_CODE, GAUSSIAN_POSTERIOR, LOG_SCALE_MIN, MARKOV_CHAIN, PRIOR_SAMPLING

log = logging.getLogger(__name__)

MAE_FIGURE_Z = (-2.1, -1.3, -0.4, 0.4, 1.3, 2.1)  # MAE figure 2a


class Evaluator:
    requires: frozenset[str] = frozenset()

    def __init__(self, method, data: EvalData, *, columns: int = 8, traversal_dims: int = 8,
                 traversal_range: float = 3.0, traversal_steps: int = 7, active_units_eps: float = 0.05):
        """columns: images per row of the grids; traversal_dims: latent dimensions shown in traversals
        (the most active ones); traversals sweep each over [-traversal_range, traversal_range] in
        traversal_steps values; active_units_eps: the threshold line of latent_activity."""
        self.method, self.data = method, data
        self.columns, self.dims, self.range = int(columns), int(traversal_dims), float(traversal_range)
        self.steps, self.eps = int(traversal_steps), float(active_units_eps)
        self.categorical = CATEGORICAL_CODE in method.capabilities

    def run(self, state: dict) -> Iterator[tuple[str, object]]:
        data = self.data
        if data.out_dir is None:
            raise Skip("no output directory")
        shape, likelihood = data.example_shape, data.likelihood
        image = is_image(shape)
        toy = (shape == (1,) and likelihood == "gaussian") or (len(shape) == 1 and likelihood == "categorical")
        plan: list[tuple[str, bool, Callable]] = [
            ("reconstructions", image, self.reconstructions),
            ("samples", image, self.samples),
            ("traversals", image, self.traversals),
            ("categorical_traversals", image and self.categorical, self.categorical_traversals),
            ("latent_scatter", True, self.scatter),
            ("latent_activity", True, self.activity),
            ("training_curves", bool(data.train_rows),
             lambda state, path: F.training_curves(list(data.train_rows), path, valid_rows=data.valid_rows)),
            ("categorical_histogram", self.categorical, self.categorical_histogram),
            ("conditionals", toy, self.conditionals),
        ]
        for name, applies, draw in plan:
            if not applies:
                continue
            path = os.path.join(data.out_dir, f"{name}.png")
            try:
                written = draw(state, path)
            except Skip as why:
                yield f"{name}.png", Skipped(str(why))
                continue
            except Exception as err:  # noqa: BLE001 -- a figure never fails the evaluation, the storage does
                if os.path.exists(path):
                    os.remove(path)  # nothing half-written stays as if it were whole
                if isinstance(err, OSError) and err.errno in STORAGE_FULL:
                    raise
                log.warning("figure %s failed: %s", name, err)
                yield f"{name}.png", Skipped(f"failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
                continue
            for p in [written] if isinstance(written, str) else written:
                yield os.path.basename(p), Figure(p)

    # --- one method per figure ------------------------------------------------------------------
    def reconstructions(self, state, path: str) -> str:
        data, cols = self.data, self.columns
        n = min(4 * cols, (data.n // cols) * cols)
        if n == 0:
            raise Skip("too few test examples")
        vae = data.vae
        x_hat = data.batched("reconstructions", lambda m, x, key: {"x_hat": vae.reconstruction(
            vae.forward(m[0], m[1], x, key, train=False)[0]["out"]).astype(jnp.float32)}, state, data.x[:n])["x_hat"]
        return F.reconstructions(data.x[:n], x_hat, path, columns=cols)

    def samples(self, state, path: str) -> str:
        data, cols = self.data, self.columns
        if PRIOR_SAMPLING not in self.method.capabilities:
            if MARKOV_CHAIN not in self.method.capabilities:
                raise Skip("neither prior sampling nor a Markov-chain sampler is declared")
            chains = data.vae.markov_chain(state["params"], state["batch_stats"], jnp.asarray(data.x[:cols]),
                                           data.rng("markov"), cols - 1)  # [cols, cols, ...]
            chains = np.swapaxes(np.asarray(chains), 0, 1).reshape(cols * cols, *data.x.shape[1:])
            return F.samples(chains, path, columns=cols,
                             title="Markov chain z ~ q(z|x), x ~ p(x|z) (InfoVAE eq. 3): rows are chains from test x")
        return F.samples(data.decode_images(state, data.sample_prior("samples", cols * cols)), path, columns=cols)

    def _traversal_base(self, state) -> tuple[np.ndarray, list[int], tuple[int, int] | None]:
        """(base decoder code, dimensions to sweep, the pair for the joint grid).

        The base is test example 0's decoder code with its Gaussian part (the code's first
        coordinates) at the posterior mean; other parts (VMI's relaxed category) keep their sampled
        value. Rows are the most active Gaussian dimensions; for VMI's sub-vector layout the MI
        sub-vector z_hat comes first and the grid sweeps (z_0, z_1) (thesis figure 4.3).
        """
        c = self.data.test_pass(state)
        base = np.array(c["code"][0], np.float32)
        base[: c["mean"].shape[-1]] = c["mean"][0]
        order = [int(d) for d in np.argsort(-M.latent_variances(c["mean"]), kind="stable")]
        mi_dims = self.data.vae.mi_dims
        if mi_dims:
            order = list(range(mi_dims)) + [d for d in order if d >= mi_dims]
        dims = order[: self.dims]
        pair = (0, 1) if mi_dims >= 2 else (tuple(dims[:2]) if len(dims) >= 2 else None)
        return base, dims, pair

    def traversals(self, state, path: str) -> list[str]:
        data = self.data
        base, dims, pair = self._traversal_base(state)
        values = np.linspace(-self.range, self.range, self.steps)
        z = np.repeat(base[None, None], len(dims), axis=0).repeat(self.steps, axis=1)  # [dims, steps, D]
        for i, d in enumerate(dims):
            z[i, :, d] = values
        images = data.decode_images(state, z.reshape(-1, z.shape[-1])).reshape(len(dims), self.steps,
                                                                               *data.x.shape[1:])
        written = [F.traversals(images, dims, values, path,
                                title="latent traversals of test example 0 (most active dimensions first)")]
        if pair is not None:
            a, b = pair
            grid = np.repeat(base[None, None], self.steps, axis=0).repeat(self.steps, axis=1)  # [steps, steps, D]
            grid[:, :, a] = values[:, None]
            grid[:, :, b] = values[None, :]
            images = data.decode_images(state, grid.reshape(-1, grid.shape[-1])).reshape(
                self.steps, self.steps, *data.x.shape[1:])
            written.append(F.traversal_grid(images, (a, b), values, os.path.join(data.out_dir, "traversal_grid.png")))
        return written

    def categorical_traversals(self, state, path: str) -> str:
        """Thesis figures 4.5-4.6: each test example decoded with every category, its Gaussian part fixed.

        The decoder code is [posterior mean of the Gaussian z, one-hot c] (VMI's layout: z first,
        then the ``num_categories`` one-hot, documented in mi_vae/methods/vmi.py).
        """
        data = self.data
        k = data.categorical_logits(state).shape[-1]
        c = data.test_pass(state)
        mean_dim, code_dim = c["mean"].shape[-1], c["code"].shape[-1]
        if code_dim != mean_dim + k:
            raise Skip(f"the decoder code ({code_dim}-d) is not [Gaussian z ({mean_dim}), one-hot c ({k})]")
        rows = min(self.columns, data.n)
        means = c["mean"][:rows]
        codes = np.concatenate([np.repeat(means[:, None], k, axis=1),
                                np.broadcast_to(np.eye(k, dtype=np.float32), (rows, k, k))], axis=-1)
        images = data.decode_images(state, codes.reshape(rows * k, -1)).reshape(rows, k, *data.x.shape[1:])
        return F.categorical_traversals(data.x[:rows], images, path)

    def scatter(self, state, path: str) -> str:
        data = self.data
        return F.latent_scatter(data.test_pass(state)["mean"][:2000], None if data.y is None else data.y[:2000], path)

    def activity(self, state, path: str) -> str:
        return F.latent_activity(M.latent_variances(self.data.test_pass(state)["mean"]), self.eps, path)

    def categorical_histogram(self, state, path: str) -> list[str]:
        data = self.data
        logits = data.categorical_logits(state)
        probs = np.asarray(jax.nn.softmax(jnp.asarray(logits), axis=-1))
        written = [F.categorical_histogram(probs, path)]
        if data.labelled:
            counts = M.code_class_histogram(np.argmax(logits, axis=-1), data.y, probs.shape[-1],
                                            data.dataset.num_classes)
            written.append(F.code_class_heatmap(counts, os.path.join(data.out_dir, "code_class_histogram.png")))
        return written

    def conditionals(self, state, path: str) -> str:
        """MAE figure 2a (1-D Gaussian data) or 2b (one-hot categorical data)."""
        data = self.data
        if GAUSSIAN_POSTERIOR not in self.method.capabilities:
            raise Skip("the decoder's code is not the Gaussian q(z|x) alone")
        shape, likelihood = data.example_shape, data.likelihood
        d = data.test_pass(state)["z"].shape[-1]
        vae, p, bs = data.vae, state["params"], state["batch_stats"]
        if shape == (1,) and likelihood == "gaussian":
            z = np.zeros((len(MAE_FIGURE_Z), d), np.float32)
            z[:, 0] = MAE_FIGURE_Z
            out = np.asarray(vae.decode(p, bs, jnp.asarray(z)))
            mean, log_scale = np.split(out, 2, axis=-1)
            sigma = np.exp(np.maximum(log_scale, LOG_SCALE_MIN))  # [Z, 1]
            lo, hi = np.percentile(data.x, [0.1, 99.9])
            x_grid = np.linspace(lo - 0.5, hi + 0.5, 400)
            px = np.exp(-0.5 * ((x_grid[None] - mean) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
            pz = np.exp(np.asarray(vae.prior_log_prob(jnp.asarray(z))))[:, None]
            return F.conditional_densities(x_grid, MAE_FIGURE_Z, px * pz, data.x, path)
        z_grid = np.linspace(-3.0, 3.0, 121)
        z = np.zeros((len(z_grid), d), np.float32)
        z[:, 0] = z_grid
        probs = np.asarray(vae.reconstruction(vae.decode(p, bs, jnp.asarray(z))))
        return F.categorical_conditionals(z_grid, probs, path)
