"""``evaluate(config, workdir, ...)``: every metric and figure that applies to a trained run.

Outputs (the work-directory contract of DESIGN.md):
    WORKDIR/eval/metrics.json   {metric: value}, written atomically (temporary file + os.replace)
    WORKDIR/eval/*.png          figures
    WORKDIR/eval/report.md      table of metrics with definitions, figures, config, commit, device
    WORKDIR/metrics.jsonl       one appended row {"step": int, "split": "eval", <metric>: value, ...}
Only process 0 writes; every process computes (on its first local device, with a local copy of
the replicated parameters), so multi-host runs evaluate identically.

Settings are read from ``config.eval`` (a ConfigDict; absent keys take ``EVAL_DEFAULTS``, and a
config without ``eval`` works). Unknown keys and values raise ConfigError naming the valid ones.

    seed              0     PRNG seed of the evaluation (samples, critic, probes' subsets, noise)
    num_examples      0     test examples for every metric (0: the whole test split, i.e. after
                            config.max_test_examples)
    batch_size        500   examples per encoder/decoder call
    iwae_k            100   importance samples K of iwae_nll (Burda et al. use 5000 for final numbers;
                            raise it in the experiment's config)
    iwae_examples     1000  test examples for iwae_nll (0: all num_examples); the first ones
    iwae_batch        100   examples per IWAE call; the call decodes iwae_batch * iwae_chunk codes
    iwae_chunk        50    importance samples per decoder call (bounds memory)
    active_units_eps  0.05  threshold of active_units (InfoMax-VAE eq. 7; Burda et al. 0.01)
    active_units_samples 20 posterior samples averaged per example in active_units_sampled (the
                            InfoMax-VAE authors' script)
    mi_queries        2000  training examples whose code is scored against all N training posteriors
                            in mi_aggregate (``mi.aggregate_posterior``; ceiling log N)
    mi_critic_estimator critic  the estimator of mi_critic (``mi.ESTIMATORS``; "critic": ``mi.RECOMMENDED``),
                            on pairs (x_i, z_i ~ q(z|x_i)) of the training split
    mi_critic_steps   6000  at most this many critic steps (early stopping on held-out pairs); 0 disables
    train_examples    60000 training examples encoded for mi_aggregate and mi_critic (0: all)
    mi_achieved_steps 2000  Adam steps of MAE's fresh r(z|x) for mi_achieved; 0 disables it
    probe_labels      1000  labelled training examples for the probes (random, seeded)
    probe_noise       True  also the corrupted-input probes (image data only)
    mmd_examples      2000  codes and prior draws in mmd_prior and logdet_cov_per_dim
    figures           True  write the figures
    figure_columns    8     images per row in image grids
    traversal_dims    8     latent dimensions shown in traversals (the most active ones)
    traversal_range   3.0   traversals sweep each dimension over [-range, range] ...
    traversal_steps   7     ... in this many values
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import zlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mi_vae import data as data_lib
from mi_vae import losses as L
from mi_vae.config import EVAL_DEFAULTS
from mi_vae.errors import ConfigError
from mi_vae.evaluation import figures as F
from mi_vae.evaluation import metrics as M
from mi_vae.evaluation import mi as mi_lib
from mi_vae.evaluation.report import write_report
from mi_vae.io import MetricWriter, read_metrics, write_json_atomic
from mi_vae.methods.base import (
    ACHIEVED_MI,
    CATEGORICAL_CODE,
    GAUSSIAN_POSTERIOR,
    LOG_SCALE_MIN,
    MARKOV_CHAIN,
    PRIOR_DENSITY,
    PRIOR_SAMPLING,
)
from mi_vae.train.checkpoint import Checkpointer, NoUsableCheckpointError
from mi_vae.train.loop import build, load_data
from mi_vae.train.step import make_mesh, replicated

log = logging.getLogger(__name__)


#: Evaluation draws with XLA's RngBitGenerator ("rbg"): it compiles several times faster than
#: threefry on CPU (seconds per function); its streams are reproducible for a given backend and
#: JAX version (training keeps threefry, whose streams do not depend on the device count).
PRNG_IMPL = "rbg"
PROBE_GAUSSIAN_SIGMAS = (0.2, 0.3, 0.4)  # VIMAE section V.B
PROBE_MASK_PS = (0.2, 0.5)
MAE_FIGURE_Z = (-2.1, -1.3, -0.4, 0.4, 1.3, 2.1)  # MAE figure 2a


class Skip(Exception):
    """A metric or figure does not apply to this run; the message says why."""


def eval_settings(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """``EVAL_DEFAULTS`` overridden by ``config.eval``; unknown keys or estimators raise ConfigError."""
    given = config.get("eval", None) or {}
    given = given.to_dict() if isinstance(given, ml_collections.ConfigDict) else dict(given)
    unknown = sorted(set(given) - set(EVAL_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown config.eval key {unknown[0]!r}; valid: {', '.join(sorted(EVAL_DEFAULTS))}")
    estimator = given.get("mi_critic_estimator", EVAL_DEFAULTS["mi_critic_estimator"])
    if estimator not in (*mi_lib.ESTIMATORS, "critic"):
        raise ConfigError(f"config.eval.mi_critic_estimator must be one of {', '.join(mi_lib.ESTIMATORS)}, critic; "
                          f"got {estimator!r}")
    return ml_collections.ConfigDict({**EVAL_DEFAULTS, **given})


# ----------------------------------------------------------------------------- restore


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(workdir, "checkpoints")


def require_checkpoint(workdir: str) -> str:
    """WORKDIR/checkpoints if it holds a saved step, else NoUsableCheckpointError("no checkpoint in ...")."""
    directory = checkpoint_dir(workdir)
    if not os.path.isdir(directory) or not any(name.isdigit() for name in os.listdir(directory)):
        raise NoUsableCheckpointError(f"no checkpoint in {directory}: train first")
    return directory


def restore(config, workdir: str, dataset):
    """(method, state) built from ``config`` with the newest checkpoint of WORKDIR/checkpoints."""
    directory = require_checkpoint(workdir)
    mesh = make_mesh()
    built = {}

    def build_state():  # traced only: the restore target needs shapes, not a freshly initialised state
        built["method"], _, state, _ = build(config, dataset, mesh)
        return state

    state = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=replicated(mesh)),
                         jax.eval_shape(build_state))
    method = built["method"]
    checkpointer = Checkpointer(directory, keep=int(config.keep_checkpoints), async_save=False)
    try:
        restored, step = checkpointer.restore_latest(state)
    finally:
        checkpointer.close()
    if restored is None:
        raise NoUsableCheckpointError(f"no checkpoint in {directory}: train first")
    log.info("evaluating checkpoint step %d of %s", step, directory)
    return method, restored


def _local(tree):
    """A host copy of a (replicated) state tree, so evaluation runs on one local device."""
    def leaf(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            a = a.addressable_data(0)  # replicated over hosts: the local copy is the whole array
        return np.asarray(a)
    return jax.tree.map(leaf, tree)


# ----------------------------------------------------------------------------- batching helpers


def _batched(fn: Callable, model, x: np.ndarray, batch_size: int, key: jax.Array) -> dict:
    """Apply jitted ``fn(model, x_batch, key) -> {name: [B, ...]}`` over x in padded batches; concatenate.

    ``model`` = (params, batch_stats) is an argument, not a closed-over constant, so it is not
    baked into the compiled program. The last batch is padded by repeating its final example (one
    compiled shape) and trimmed. Batch b gets ``fold_in(key, b)``.
    """
    n = len(x)
    batch_size = int(min(batch_size, n))
    outs = []
    for b, start in enumerate(range(0, n, batch_size)):
        chunk = x[start:start + batch_size]
        real = len(chunk)
        if real < batch_size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - real, axis=0)])
        out = jax.device_get(fn(model, jnp.asarray(chunk), jax.random.fold_in(key, b)))
        outs.append(jax.tree.map(lambda a, real=real: np.asarray(a)[:real], out))
    return jax.tree.map(lambda *a: np.concatenate(a), *outs)


def _is_image(shape) -> bool:
    return len(shape) == 3


def _require(method, capability: str, why: str) -> None:
    """``Skip(why)`` unless the method declares ``capability``."""
    if capability not in method.capabilities:
        raise Skip(why)


def _gaussian_posterior(method) -> None:
    _require(method, GAUSSIAN_POSTERIOR, "the decoder's code is not the Gaussian q(z|x) alone "
                                         "(no gaussian_posterior capability)")


# ----------------------------------------------------------------------------- evaluate


def evaluate(config, workdir: str, method=None, state=None, dataset=None) -> dict:
    """Evaluate the trained model of ``workdir``; write metrics.json, figures, report.md; return metrics.

    Args:
      config: the run's ConfigDict (None: read WORKDIR/config.json).
      workdir: the run's work directory.
      method, state: the trained method and its train state; when either is None both are built
        from ``config`` and the newest checkpoint of WORKDIR/checkpoints is restored (NoUsableCheckpointError
        "no checkpoint in ...: train first" if there is none).
      dataset: the run's ``ArrayDataset`` (None: ``mi_vae.train.loop.load_data(config)``).

    Returns:
      {metric key: float | int | None} (None for a non-finite value); the keys that apply to the
      run, see ``mi_vae.evaluation.metrics.DEFINITIONS``.
    """

    start = time.time()
    if config is None:
        with open(os.path.join(workdir, "config.json")) as f:
            config = ml_collections.ConfigDict(json.load(f))
    settings = eval_settings(config)
    if method is None or state is None:
        require_checkpoint(workdir)  # before loading any data
    if dataset is None:
        dataset = load_data(config)
    if method is None or state is None:
        method, state = restore(config, workdir, dataset)
    step = int(np.asarray(_local(state["step"])))
    params = jax.tree.map(jnp.asarray, _local(state["params"]))
    batch_stats = jax.tree.map(jnp.asarray, _local(state.get("batch_stats", {})))
    out_dir = os.path.join(workdir, "eval")
    os.makedirs(out_dir, exist_ok=True)
    ev = Evaluation(config, settings, method, params, batch_stats, dataset, step, out_dir)

    ev.run_metrics()
    figures: list[str] = []
    if settings.figures:
        t = time.time()
        rows = []
        metrics_path = os.path.join(workdir, "metrics.jsonl")
        if os.path.exists(metrics_path):
            rows = read_metrics(metrics_path, "train")
        figures = ev.run_figures(rows)
        ev.timings["figures"] = time.time() - t
    ev.timings["total"] = time.time() - start

    sections = {}
    if method.model.spec.likelihood == "tokens":  # Mutual Autoencoder tables 1-2 and figure 3: sentences in and out
        from mi_vae.evaluation.text import reconstruction_rates, text_report

        ev.metrics.update(reconstruction_rates(method.model, state["params"], state.get("batch_stats", {}),
                                               dataset, n=min(ev.n, 1000)))
        sections["Text reconstructions and interpolation"] = text_report(
            method.model, state["params"], state.get("batch_stats", {}), dataset)
    metrics = {k: _json_value(v) for k, v in ev.metrics.items()}
    if jax.process_index() == 0:
        write_json_atomic(os.path.join(out_dir, "metrics.json"), metrics)
        MetricWriter(os.path.join(workdir, "metrics.jsonl")).write(
            {"step": step, "split": "eval", **{k: v for k, v in metrics.items() if v is not None}})
        write_report(os.path.join(out_dir, "report.md"), metrics=metrics, skipped=ev.skipped, figures=figures,
                     config=config, step=step, timings=ev.timings,
                     extra={"test examples evaluated": str(ev.n), **ev.notes}, settings=settings.to_dict(),
                     sections=sections)
    log.info("evaluation at step %d in %.1fs: %s", step, ev.timings["total"],
             " ".join(f"{k} {_short(v)}" for k, v in metrics.items()))
    return metrics


def _short(v) -> str:
    return "n/a" if v is None else (str(v) if isinstance(v, int) else f"{v:.4g}")


def _json_value(v):
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = float(v)
    return v if math.isfinite(v) else None




class Evaluation:
    """The state shared by the metrics and figures of one evaluation (test arrays, codes, rng)."""

    def __init__(self, config, settings, method, params, batch_stats, dataset, step: int, out_dir: str):
        self.config, self.s, self.method = config, settings, method
        self.vae = method.model  # the VAEModel: encode, decode, forward, prior
        self.params, self.batch_stats = params, batch_stats
        self.dataset, self.step, self.out_dir = dataset, step, out_dir
        self.key = jax.random.key(int(settings.seed), impl=PRNG_IMPL)
        self.metrics: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}
        self.notes: dict[str, str] = {}  # how a metric was computed, for the report
        self.timings: dict[str, float] = {}
        n_test = dataset.num_test
        self.n = int(min(settings.num_examples or n_test, n_test))
        self.binarize = bool(config.binarize)
        self.x = self.prepare(dataset.test_x[: self.n], 0)  # [N, ...] float32
        self.y = None if dataset.test_y is None else np.asarray(dataset.test_y[: self.n])
        self.labelled = (dataset.num_classes is not None and dataset.test_y is not None
                         and dataset.train_y is not None and np.issubdtype(np.asarray(dataset.test_y).dtype,
                                                                           np.integer))
        self.categorical = CATEGORICAL_CODE in method.capabilities
        self.model = (params, batch_stats)
        self._jit_cache: dict[str, Callable] = {}

    # --- helpers ------------------------------------------------------------------------------
    def rng(self, name: str) -> jax.Array:
        """A key per evaluation phase, independent of the order phases run in."""
        return jax.random.fold_in(self.key, zlib.crc32(name.encode()) & 0x7FFFFFFF)

    def prepare(self, x_stored: np.ndarray, salt: int, corrupt: Callable | None = None) -> np.ndarray:
        """Stored data -> float32 model input: to_float, optional corruption, fixed binarization
        (a seeded Bernoulli draw) when the run was trained with dynamic binarization."""
        x = np.asarray(data_lib.to_float(x_stored), np.float32)
        if corrupt is not None:
            x = corrupt(x)
        if self.binarize:
            x = (np.random.default_rng([int(self.s.seed), 7, salt]).random(x.shape) < x).astype(np.float32)
        return x

    def jitted(self, name: str, fn: Callable, **jit_kwargs) -> Callable:
        """``jax.jit(fn)`` made once per evaluation and name (repeated calls reuse the compilation)."""
        if name not in self._jit_cache:
            self._jit_cache[name] = jax.jit(fn, **jit_kwargs)
        return self._jit_cache[name]

    def batched(self, name: str, fn: Callable, x: np.ndarray, batch_size: int | None = None,
                key: jax.Array | None = None) -> dict:
        """``fn(model, x_batch, key)`` jitted once under ``name``, applied over x in batches."""
        return _batched(self.jitted(name, fn), self.model, x, int(batch_size or self.s.batch_size),
                        self.rng(name) if key is None else key)

    def sample_prior(self, key: jax.Array, n: int) -> jax.Array:
        return self.jitted("sample_prior", self.vae.sample_prior, static_argnums=1)(key, n)

    def encode_means(self, x: np.ndarray) -> np.ndarray:
        vae = self.vae
        return self.batched("means", lambda m, xb, key: {"mean": vae.encode(m[0], m[1], xb)[0]}, x)["mean"]

    def guarded(self, name: str, fn: Callable[[], dict | None]) -> None:
        """Run a metric group; a ``Skip`` records its reason under ``name``."""
        t = time.time()
        try:
            out = fn()
        except Skip as why:
            self.skipped[name] = str(why)
            log.info("skipped %s: %s", name, why)
            return
        if out:
            self.metrics.update(out)
        self.timings[name] = time.time() - t

    # --- metrics ------------------------------------------------------------------------------
    def run_metrics(self) -> None:
        self.guarded("elbo", self.test_pass)
        self.guarded("iwae_nll", self.iwae)
        self.guarded("active_units", self.active_units)
        self.guarded("mi_aggregate", self.mi_aggregate)
        self.guarded("mi_critic", self.mi_critic)
        self.guarded("mmd_prior", self.prior_match)
        self.guarded("probe_accuracy", self.probes)
        self.guarded("categorical_code", self.clusters)
        self.guarded("mi_achieved", self.mae)

    def test_pass(self) -> dict:
        """One pass over the test examples: ELBO terms, reconstruction error, codes."""
        vae = self.vae

        def fn(m, x, key):
            terms, _ = vae.forward(m[0], m[1], x, key, train=False)
            # recon_l2 at the posterior mean (VIMAE table II): the code with its Gaussian part at the mean
            code_at_mean = terms["code"].at[:, : terms["mean"].shape[-1]].set(terms["mean"])
            x_hat = vae.reconstruction(vae.decode(m[0], m[1], code_at_mean, x=x)).astype(jnp.float32)
            sq = jnp.sum(jnp.square(x - x_hat).reshape(x.shape[0], -1), axis=1)
            return {"log_px": terms["log_px"], "kl": terms["kl"], "sq": sq, "z": terms["z"], "code": terms["code"],
                    "mean": terms["mean"], "log_var": terms["log_var"]}

        self.codes = self.batched("test_pass", fn, self.x)
        c = self.codes
        self.info = {"categorical": self.categorical, "z_dim": c["z"].shape[-1], "mean_dim": c["mean"].shape[-1],
                     "code_dim": c["code"].shape[-1]}
        out = {
            "elbo": M.elbo(c["log_px"], c["kl"]),
            "recon_nll": M.recon_nll(c["log_px"]),
            "kl": M.kl(c["kl"]),
            "recon_l2": float(np.mean(c["sq"])),  # = M.recon_l2(x, x_hat), summed per example in the pass
        }
        if self.vae.spec.likelihood == "tokens":  # squared distance between token ids means nothing
            del out["recon_l2"]
        return out

    def _need_codes(self) -> None:
        if not hasattr(self, "codes"):
            raise Skip("the test pass did not run")

    def iwae(self) -> dict:
        self._need_codes()
        _gaussian_posterior(self.method)
        _require(self.method, PRIOR_DENSITY, "the method's prior has no density (no prior_density capability)")
        k, chunk = int(self.s.iwae_k), int(self.s.iwae_chunk)
        if k < 1:
            raise Skip("config.eval.iwae_k < 1")
        n = int(min(self.s.iwae_examples or self.n, self.n))
        vae = self.vae

        def fn(m, x, key):
            mean, log_var = vae.encode(m[0], m[1], x)

            def log_px_given_z(z):
                # x reaches autoregressive decoders (teacher forcing); others ignore it
                return vae.log_likelihood(vae.decode(m[0], m[1], z, x=x), x)

            ll = M.iwae_log_likelihood(key, mean, log_var, log_px_given_z, k, chunk, log_prior=vae.prior_log_prob)
            return {"ll": ll}

        ll = self.batched("iwae", fn, self.x[:n], batch_size=self.s.iwae_batch)["ll"]
        return {"iwae_nll": M.iwae_nll(ll), "iwae_k": k}

    def active_units(self) -> dict:
        self._need_codes()
        self.variances = M.latent_variances(self.codes["mean"])
        eps = float(self.s.active_units_eps)
        # The InfoMax-VAE authors' count: each example's code is the average of S posterior samples, so a
        # collapsed unit (mean 0, sigma 1) has variance 1/S across examples and is counted about half the time
        # when 1/S is near eps; reported beside eq. 7's count to compare with the paper's AU numbers.
        s = int(self.s.active_units_samples)
        noise = np.random.default_rng([int(self.s.seed), 3]).standard_normal((s, *self.codes["mean"].shape))
        sampled = self.codes["mean"] + np.exp(0.5 * self.codes["log_var"]) * noise.mean(axis=0)
        return {"active_units": M.active_units(self.codes["mean"], eps),
                "active_units_sampled": M.active_units(sampled, eps)}

    def mi_aggregate(self) -> dict:
        self._need_codes()
        _gaussian_posterior(self.method)
        vae = self.vae

        def posterior(m, x, key):
            mean, log_var = vae.encode(m[0], m[1], x)
            return {"mean": mean, "log_var": log_var}

        train = self.batched("train_posteriors", posterior, self.prepare(self.train_x(), 5))
        if len(train["mean"]) < 2:
            raise Skip("fewer than 2 training examples")
        result = mi_lib.aggregate_posterior(train["mean"], train["log_var"], num_queries=int(self.s.mi_queries),
                                            seed=int(self.s.seed))
        return {"mi_aggregate": result["estimate"], "mi_aggregate_stderr": result["stderr"],
                "mi_aggregate_ceiling": result["ceiling"]}

    def train_x(self) -> np.ndarray:
        """The first ``train_examples`` training examples (stored form), the pairs of mi_aggregate and mi_critic."""
        return self.dataset.train_x[: int(self.s.train_examples) or None]

    def mi_critic(self) -> dict:
        """``mi.estimate`` on the training pairs (x_i, z_i ~ q(z|x_i)); its settings do not depend on the run."""
        _gaussian_posterior(self.method)
        steps = int(self.s.mi_critic_steps)
        if steps == 0:
            raise Skip("config.eval.mi_critic_steps = 0")
        vae = self.vae

        def codes(m, x, key):
            mean, log_var = vae.encode(m[0], m[1], x)
            return {"z": L.reparameterize(key, mean, log_var)}

        x = self.prepare(self.train_x(), 6)
        if len(x) < 100:
            raise Skip(f"{len(x)} training pairs: too few for the critic's train/validation/test split")
        z = self.batched("mi_critic_codes", codes, x)["z"]
        if not np.all(np.isfinite(z)):
            raise Skip("the encoder gives non-finite codes")
        result = mi_lib.estimate(x, z, estimator=str(self.s.mi_critic_estimator), seed=int(self.s.seed), steps=steps)
        self.notes["mi_critic"] = (f"estimator {result['estimator']} (mi_vae.evaluation.mi), {result['n_test']} "
                                   f"held-out pairs, critic trained {result['best_step']} steps")
        return {"mi_critic": result["estimate"], "mi_critic_stderr": result["stderr"],
                "mi_critic_ceiling": result["ceiling"]}

    def prior_match(self) -> dict:
        self._need_codes()
        n = int(min(self.s.mmd_examples or self.n, self.n))
        if n < 2:
            raise Skip("fewer than 2 test examples")
        z = self.codes["z"][:n]
        z_prior = np.asarray(self.sample_prior(self.rng("prior"), n))
        if z_prior.shape[1] > z.shape[1] and z_prior.shape[1] == self.info["code_dim"]:
            # the decoder code is [Gaussian z, other parts] (VMI's categorical layout): compare the
            # Gaussian part with its prior, the first coordinates of the prior draws
            z_prior = z_prior[:, : z.shape[1]]
        if z_prior.shape[1:] != z.shape[1:]:
            raise Skip(f"prior draws {z_prior.shape[1:]} and codes {z.shape[1:]} differ in shape")
        out = {"mmd_prior": M.mmd_prior(z, z_prior)}
        if n > z.shape[1]:
            out["logdet_cov_per_dim"] = M.logdet_cov_per_dim(z)
        else:
            self.skipped["logdet_cov_per_dim"] = f"needs more codes ({n}) than latent dimensions ({z.shape[1]})"
        return out

    def probes(self) -> dict:
        if not self.labelled:
            raise Skip("the dataset has no class labels")
        idx = M.probe_subset(self.dataset.train_y, int(self.s.probe_labels), int(self.s.seed))
        train_stored, train_y = self.dataset.train_x[idx], np.asarray(self.dataset.train_y)[idx]
        test_stored = self.dataset.test_x[: self.n]
        seed = int(self.s.seed)

        def probe(corrupt=None, salt=0):
            train_codes = self.encode_means(self.prepare(train_stored, 100 + salt, corrupt))
            test_codes = self.encode_means(self.x if corrupt is None else self.prepare(test_stored, 200 + salt,
                                                                                        corrupt))
            return M.probe_accuracy(train_codes, train_y, test_codes, self.y, seed=seed)

        out = {"probe_accuracy": probe()}
        if not self.s.probe_noise:
            self.skipped["probe_accuracy_<noise>"] = "config.eval.probe_noise is False"
        elif not _is_image(self.dataset.example_shape):
            self.skipped["probe_accuracy_<noise>"] = "corruptions apply to image data in [0, 1] only"
        else:
            for i, sigma in enumerate(PROBE_GAUSSIAN_SIGMAS):
                noise_rng = np.random.default_rng([seed, 1, i])
                out[f"probe_accuracy_gaussian_{sigma}"] = probe(
                    lambda x, r=noise_rng, s=sigma: data_lib.corrupt_gaussian(r, x, s), salt=1 + i)
            for i, prob in enumerate(PROBE_MASK_PS):
                noise_rng = np.random.default_rng([seed, 2, i])
                out[f"probe_accuracy_mask_{prob}"] = probe(
                    lambda x, r=noise_rng, q=prob: data_lib.corrupt_mask(r, x, q), salt=11 + i)
        return out

    def clusters(self) -> dict:
        if not self.categorical:
            raise Skip("the method has no categorical code")
        vae = self.vae
        logits = self.batched("categorical", lambda m, x, key: {"logits": vae.categorical_code(m[0], m[1], x)},
                              self.x)["logits"]
        self.cat_probs = np.asarray(jax.nn.softmax(jnp.asarray(logits), axis=-1))
        self.cat_codes = np.argmax(logits, axis=-1)
        out = M.categorical_code_information(logits)
        if self.labelled:
            out["cluster_accuracy"] = M.cluster_accuracy(self.cat_codes, self.y)
        else:
            self.skipped["cluster_accuracy"] = "the dataset has no class labels"
        return out

    def mae(self) -> dict:
        _require(self.method, ACHIEVED_MI, "the method has no achieved_mi capability (Mutual Autoencoder only)")
        steps = int(self.s.mi_achieved_steps)
        if steps == 0:
            raise Skip("config.eval.mi_achieved_steps = 0")
        return {"mi_target": float(self.method.mi_target),
                "mi_achieved": float(self.method.achieved_mi(self.params, self.batch_stats, self.rng("mae"),
                                                             num_steps=steps))}

    # --- figures ------------------------------------------------------------------------------
    def run_figures(self, train_rows: list[dict]) -> list[str]:
        written: list[str] = []
        shape, likelihood = self.dataset.example_shape, self.dataset.likelihood
        image = _is_image(shape)
        toy = (shape == (1,) and likelihood == "gaussian") or (len(shape) == 1 and likelihood == "categorical")
        plan = [
            ("reconstructions", image, self.fig_reconstructions),
            ("samples", image, self.fig_samples),
            ("traversals", image, self.fig_traversals),
            ("categorical_traversals", image and self.categorical, self.fig_categorical_traversals),
            ("latent_scatter", True, self.fig_scatter),
            ("latent_activity", True, self.fig_activity),
            ("training_curves", bool(train_rows), lambda path: F.training_curves(train_rows, path)),
            ("categorical_histogram", self.categorical, self.fig_categorical_histogram),
            ("conditionals", toy, self.fig_conditionals),
        ]
        for name, applies, fn in plan:
            if not applies:
                continue
            path = os.path.join(self.out_dir, f"{name}.png")
            try:
                result = fn(path)
            except Skip as why:
                self.skipped[f"{name}.png"] = str(why)
                continue
            except Exception as err:  # noqa: BLE001 -- a figure never fails the evaluation
                log.warning("figure %s failed: %s", name, err)
                self.skipped[f"{name}.png"] = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
                continue
            written += [result] if isinstance(result, str) else list(result)
        return written

    def decode_images(self, z: np.ndarray) -> np.ndarray:
        vae = self.vae

        def decode(m, zb, key):
            return {"x": vae.reconstruction(vae.decode(m[0], m[1], zb)).astype(jnp.float32)}

        return self.batched("decode", decode, np.asarray(z, np.float32))["x"]

    def fig_reconstructions(self, path: str) -> str:
        self._need_codes()
        cols = int(self.s.figure_columns)
        n = min(4 * cols, (self.n // cols) * cols)
        if n == 0:
            raise Skip("too few test examples")
        vae = self.vae
        x_hat = self.batched("reconstructions", lambda m, x, key: {"x_hat": vae.reconstruction(
            vae.forward(m[0], m[1], x, key, train=False)[0]["out"]).astype(jnp.float32)}, self.x[:n])["x_hat"]
        return F.reconstructions(self.x[:n], x_hat, path, columns=cols)

    def fig_samples(self, path: str) -> str:
        cols = int(self.s.figure_columns)
        if PRIOR_SAMPLING not in self.method.capabilities:
            _require(self.method, MARKOV_CHAIN, "neither prior sampling nor a Markov-chain sampler is declared")
            chains = self.vae.markov_chain(self.params, self.batch_stats, jnp.asarray(self.x[:cols]),
                                           self.rng("markov"), cols - 1)  # [cols, cols, ...]
            chains = np.swapaxes(np.asarray(chains), 0, 1).reshape(cols * cols, *self.x.shape[1:])
            return F.samples(chains, path, columns=cols,
                             title="Markov chain x -> z -> x (InfoVAE eq. 3): rows are chains from test x")
        z = np.asarray(self.sample_prior(self.rng("samples"), cols * cols))
        return F.samples(self.decode_images(z), path, columns=cols)

    def _traversal_base(self) -> tuple[np.ndarray, list[int], tuple[int, int] | None]:
        """(base decoder code, dimensions to sweep, the pair for the joint grid).

        The base is test example 0's decoder code with its Gaussian part (the code's first
        coordinates, DESIGN/VMI layout) at the posterior mean; other parts (VMI's relaxed category)
        keep their sampled value. Rows are the most active Gaussian dimensions; for VMI's
        sub-vector layout the MI sub-vector z_hat comes first and the grid sweeps (z_0, z_1)
        (thesis figure 4.3).
        """
        self._need_codes()
        mean_dim = self.info["mean_dim"]
        base = np.array(self.codes["code"][0], np.float32)
        base[:mean_dim] = self.codes["mean"][0]
        variances = getattr(self, "variances", None)
        if variances is None:
            variances = M.latent_variances(self.codes["mean"])
        order = [int(d) for d in np.argsort(-variances, kind="stable")]
        mi_dims = self.vae.mi_dims
        if mi_dims:
            order = list(range(mi_dims)) + [d for d in order if d >= mi_dims]
        dims = order[: int(self.s.traversal_dims)]
        pair = (0, 1) if mi_dims >= 2 else (tuple(dims[:2]) if len(dims) >= 2 else None)
        return base, dims, pair

    def fig_traversals(self, path: str) -> list[str]:
        base, dims, pair = self._traversal_base()
        r, steps = float(self.s.traversal_range), int(self.s.traversal_steps)
        values = np.linspace(-r, r, steps)
        z = np.repeat(base[None, None], len(dims), axis=0).repeat(steps, axis=1)  # [dims, steps, D]
        for i, d in enumerate(dims):
            z[i, :, d] = values
        images = self.decode_images(z.reshape(-1, z.shape[-1])).reshape(len(dims), steps, *self.x.shape[1:])
        written = [F.traversals(images, dims, values, path,
                                title="latent traversals of test example 0 (most active dimensions first)")]
        if pair is not None:
            a, b = pair
            grid = np.repeat(base[None, None], steps, axis=0).repeat(steps, axis=1)  # [steps, steps, D]
            grid[:, :, a] = values[:, None]
            grid[:, :, b] = values[None, :]
            images = self.decode_images(grid.reshape(-1, grid.shape[-1])).reshape(steps, steps, *self.x.shape[1:])
            written.append(F.traversal_grid(images, (a, b), values, os.path.join(self.out_dir, "traversal_grid.png")))
        return written

    def fig_categorical_traversals(self, path: str) -> str:
        """Thesis figures 4.5-4.6: each test example decoded with every category, its Gaussian part fixed.

        The decoder code is [posterior mean of the Gaussian z, one-hot c] (VMI's layout: z first,
        then the ``num_categories`` one-hot, documented in mi_vae/methods/vmi.py).
        """
        if not hasattr(self, "cat_probs"):
            raise Skip("the categorical code was not evaluated")
        self._need_codes()
        k = self.cat_probs.shape[-1]
        mean_dim = self.info["mean_dim"]
        if self.info["code_dim"] != mean_dim + k:
            raise Skip(f"the decoder code ({self.info['code_dim']}-d) is not "
                       f"[Gaussian z ({mean_dim}), one-hot c ({k})]")
        rows = min(int(self.s.figure_columns), self.n)
        means = self.codes["mean"][:rows]
        codes = np.concatenate([np.repeat(means[:, None], k, axis=1),
                                np.broadcast_to(np.eye(k, dtype=np.float32), (rows, k, k))], axis=-1)
        images = self.decode_images(codes.reshape(rows * k, -1)).reshape(rows, k, *self.x.shape[1:])
        return F.categorical_traversals(self.x[:rows], images, path)

    def fig_scatter(self, path: str) -> str:
        self._need_codes()
        return F.latent_scatter(self.codes["mean"][:2000], None if self.y is None else self.y[:2000], path)

    def fig_activity(self, path: str) -> str:
        self._need_codes()
        variances = getattr(self, "variances", None)
        if variances is None:
            variances = M.latent_variances(self.codes["mean"])
        return F.latent_activity(variances, float(self.s.active_units_eps), path)

    def fig_categorical_histogram(self, path: str) -> list[str]:
        if not hasattr(self, "cat_probs"):
            raise Skip("the categorical code was not evaluated")
        written = [F.categorical_histogram(self.cat_probs, path)]
        if self.labelled:
            counts = M.code_class_histogram(self.cat_codes, self.y, self.cat_probs.shape[-1], self.dataset.num_classes)
            written.append(F.code_class_heatmap(counts, os.path.join(self.out_dir, "code_class_histogram.png")))
        return written

    def fig_conditionals(self, path: str) -> str:
        """MAE figure 2a (1-D Gaussian data) or 2b (one-hot categorical data); else not applicable."""
        shape, likelihood = self.dataset.example_shape, self.dataset.likelihood
        self._need_codes()
        _gaussian_posterior(self.method)
        d = self.info["z_dim"]
        vae, p, bs = self.vae, self.params, self.batch_stats
        if shape == (1,) and likelihood == "gaussian":
            z = np.zeros((len(MAE_FIGURE_Z), d), np.float32)
            z[:, 0] = MAE_FIGURE_Z
            out = np.asarray(vae.decode(p, bs, jnp.asarray(z)))
            mean, log_scale = np.split(out, 2, axis=-1)
            sigma = np.exp(np.maximum(log_scale, LOG_SCALE_MIN))  # [Z, 1]
            lo, hi = np.percentile(self.x, [0.1, 99.9])
            x_grid = np.linspace(lo - 0.5, hi + 0.5, 400)
            px = np.exp(-0.5 * ((x_grid[None] - mean) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
            pz = np.exp(np.asarray(vae.prior_log_prob(jnp.asarray(z))))[:, None]
            return F.conditional_densities(x_grid, MAE_FIGURE_Z, px * pz, self.x, path)
        if len(shape) == 1 and likelihood == "categorical":
            z_grid = np.linspace(-3.0, 3.0, 121)
            z = np.zeros((len(z_grid), d), np.float32)
            z[:, 0] = z_grid
            probs = np.asarray(vae.reconstruction(vae.decode(p, bs, jnp.asarray(z))))
            return F.categorical_conditionals(z_grid, probs, path)
        raise Skip("p(x|z) curves are drawn for 1-D Gaussian or one-hot categorical data only")


__all__ = ["EVAL_DEFAULTS", "Evaluation", "Skip", "eval_settings", "evaluate", "restore"]
