"""What every evaluator shares: the evaluation data with its memoised encodings, and ``from_config``.

An evaluator (one module per metric family, in the manner of big_vision's ``evaluators/``) is

    Evaluator(method, data, **settings)      settings: keyword arguments with defaults, the schema of
                                             ``config.evals.<name>`` (defaults live once, in the signature)
    Evaluator.requires                       frozenset of method capabilities it needs (Step 1's contract)
    evaluator.run(state) -> Iterator[(name, value)]

where ``state`` is ``{"params", "batch_stats", "step"}`` on the host and a value is a float or int
(a metric), ``Skipped(reason)`` (one key that does not apply), ``Note(text)`` (how a metric was
computed, for the report), ``Figure(path)`` (a PNG written) or ``Section(lines)`` (Markdown for the
report). ``run`` raises ``Skip(reason)`` when the whole family does not apply to the run.

Evaluators do not talk to each other: work several of them need — the test pass (ELBO terms and
codes), the training split's posteriors, the categorical code — is computed once by ``EvalData``
and memoised per state.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mi_vae import data as data_lib
from mi_vae.config import EVAL_DEFAULTS, evals_section
from mi_vae.errors import ConfigError, check_keys

#: Evaluation draws with XLA's RngBitGenerator ("rbg"): it compiles several times faster than
#: threefry on CPU (seconds per function); its streams are reproducible for a given backend and
#: JAX version (training keeps threefry, whose streams do not depend on the device count).
PRNG_IMPL = "rbg"

#: The evaluators, in the order they run (figures last: they read nothing the others compute, but
#: a failed figure should not delay a metric). Name -> module under mi_vae.evaluation.evaluators.
EVALUATORS: tuple[str, ...] = ("elbo", "iwae", "active_units", "mi", "prior_match", "probe", "clusters",
                               "achieved_mi", "text", "generation", "fid", "figures")

class Skip(Exception):
    """An evaluator does not apply to this run; the message says why."""


@dataclasses.dataclass(frozen=True)
class Skipped:
    """One key an evaluator could not compute, and why."""
    reason: str


@dataclasses.dataclass(frozen=True)
class Note:
    """How a metric was computed (estimator, sample sizes), shown beside it in the report."""
    text: str


@dataclasses.dataclass(frozen=True)
class Figure:
    """A PNG an evaluator wrote."""
    path: str


@dataclasses.dataclass(frozen=True)
class Section:
    """Markdown lines for a section of the report (text reconstructions, interpolations)."""
    lines: tuple[str, ...]


class Evaluator(Protocol):
    requires: frozenset[str]

    def run(self, state: dict) -> Iterator[tuple[str, Any]]: ...


def evaluator_module(name: str):
    if name not in EVALUATORS:
        raise ConfigError(f"unknown evaluator {name!r} in config.evals; valid: {', '.join(EVALUATORS)}")
    return importlib.import_module(f"mi_vae.evaluation.evaluators.{name}")


def evaluator_defaults(name: str) -> dict:
    """The settings of evaluator ``name`` and their defaults: its constructor's keyword arguments."""
    params = inspect.signature(evaluator_module(name).Evaluator).parameters
    return {k: p.default for k, p in params.items() if p.kind is p.KEYWORD_ONLY}


def evaluator_settings(name: str, given) -> dict:
    """``evaluator_defaults(name)`` updated by ``given``; a setting the evaluator lacks (or an unknown evaluator)
    is a ConfigError naming the valid ones."""
    defaults = evaluator_defaults(name)
    given = dict(given or {})
    check_keys(f"config.evals.{name}", given, defaults)
    return {**defaults, **given}


def data_settings(config: ml_collections.ConfigDict) -> dict:
    """``mi_vae.config.EVAL_DEFAULTS`` updated by ``config.eval``; an unknown key is a ConfigError naming
    the valid ones."""
    given = config.get("eval", None) or {}
    given = given.to_dict() if isinstance(given, ml_collections.ConfigDict) else dict(given)
    unknown = sorted(set(given) - set(EVAL_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown config.eval key {unknown[0]!r}; valid: {', '.join(sorted(EVAL_DEFAULTS))} "
                          f"(each evaluator's settings are in config.evals.<name>)")
    return {**EVAL_DEFAULTS, **given}


def from_config(config: ml_collections.ConfigDict, method, data: EvalData) -> list[tuple[str, Evaluator]]:
    """``[(name, Evaluator(method, data, **config.evals[name]))]`` in ``EVALUATORS`` order.

    ``config.evals`` absent: every evaluator with its defaults. An unknown evaluator or setting is a
    ConfigError naming the valid ones.
    """
    evals = config.get("evals", None)
    evals = evals_section() if evals is None else evals
    specs = evals.to_dict() if isinstance(evals, ml_collections.ConfigDict) else dict(evals)
    settings = {name: evaluator_settings(name, given) for name, given in specs.items()}  # all checked first
    return [(name, evaluator_module(name).Evaluator(method, data, **settings[name]))
            for name in EVALUATORS if name in settings]


def require(method, capabilities: frozenset[str]) -> None:
    """``Skip`` naming the capabilities in ``capabilities`` the method does not declare."""
    missing = sorted(set(capabilities) - set(method.capabilities))
    if missing:
        raise Skip(f"needs the method capabilities {', '.join(missing)} "
                   f"(declared: {', '.join(sorted(method.capabilities)) or 'none'})")


def is_image(shape) -> bool:
    return len(shape) == 3


def batched(fn: Callable, model, x: np.ndarray, batch_size: int, key: jax.Array) -> dict:
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


class EvalData:
    """The data of one evaluation and the model passes several evaluators share, memoised per state.

    Test inputs are the first ``num_examples`` test examples in model-input form (float32; with a
    fixed seeded binarization when the run trained with dynamic binarization). ``test_pass(state)``
    (ELBO terms, reconstruction error at the posterior mean, codes), ``train_posterior(state)`` (q(z|x)
    over the first ``train_examples`` training examples) and ``categorical_logits(state)`` are computed
    once per state object and then reused by every evaluator that reads them.
    """

    def __init__(self, method, dataset, *, seed: int = 0, num_examples: int = 0, batch_size: int = 500,
                 train_examples: int = 60_000, binarize: bool = False, out_dir: str | None = None,
                 train_rows: tuple[dict, ...] = (), valid_rows: tuple[dict, ...] = ()):
        self.method, self.vae, self.dataset = method, method.model, dataset
        self.seed, self.batch_size, self.train_examples = int(seed), int(batch_size), int(train_examples)
        self.binarize = bool(binarize)
        self.out_dir, self.train_rows, self.valid_rows = out_dir, tuple(train_rows), tuple(valid_rows)
        self.key = jax.random.key(self.seed, impl=PRNG_IMPL)
        self.n = int(min(num_examples or dataset.num_test, dataset.num_test))
        self.x = self.prepare(dataset.test_x[: self.n], 0)  # [N, ...] float32
        self.y = None if dataset.test_y is None else np.asarray(dataset.test_y[: self.n])
        self.labelled = (dataset.num_classes is not None and dataset.test_y is not None
                         and dataset.train_y is not None
                         and np.issubdtype(np.asarray(dataset.test_y).dtype, np.integer))
        self.example_shape, self.likelihood = dataset.example_shape, dataset.likelihood
        self._jit_cache: dict[str, Callable] = {}
        self._memo: dict[str, tuple[Any, Any]] = {}

    # --- plumbing ---------------------------------------------------------------------------------
    def rng(self, name: str) -> jax.Array:
        """A key per named draw, independent of the order evaluators run in."""
        return jax.random.fold_in(self.key, zlib.crc32(name.encode()) & 0x7FFFFFFF)

    def np_rng(self, *salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *salt])

    def prepare(self, x_stored: np.ndarray, salt: int, corrupt: Callable | None = None) -> np.ndarray:
        """Stored data -> float32 model input: to_float, optional corruption, fixed binarization
        (a seeded Bernoulli draw) when the run was trained with dynamic binarization."""
        x = np.asarray(data_lib.to_float(x_stored), np.float32)
        if corrupt is not None:
            x = corrupt(x)
        if self.binarize:
            x = (self.np_rng(7, salt).random(x.shape) < x).astype(np.float32)
        return x

    def jitted(self, name: str, fn: Callable, **jit_kwargs) -> Callable:
        """``jax.jit(fn)`` made once per name (repeated calls reuse the compilation)."""
        if name not in self._jit_cache:
            self._jit_cache[name] = jax.jit(fn, **jit_kwargs)
        return self._jit_cache[name]

    def batched(self, name: str, fn: Callable, state: dict, x: np.ndarray, batch_size: int | None = None) -> dict:
        """``fn((params, batch_stats), x_batch, key)`` jitted once under ``name``, applied over x in batches."""
        return batched(self.jitted(name, fn), (state["params"], state["batch_stats"]), x,
                       int(batch_size or self.batch_size), self.rng(name))

    def _memoised(self, name: str, state: dict, compute: Callable[[], Any]) -> Any:
        held = self._memo.get(name)
        if held is not None and held[0] is state["params"]:
            return held[1]
        value = compute()
        self._memo[name] = (state["params"], value)
        return value

    # --- shared passes ----------------------------------------------------------------------------
    def test_pass(self, state: dict) -> dict:
        """One pass over the test inputs: {log_px, kl, sq, z, code, mean, log_var} per example.

        ``sq`` is sum_pixels (x - x_hat)^2 with x_hat the decoder's point estimate at the posterior
        mean (the code with its Gaussian part at the mean; VIMAE table II).
        """
        vae = self.vae

        def fn(m, x, key):
            terms, _ = vae.forward(m[0], m[1], x, key, train=False)
            code_at_mean = terms["code"].at[:, : terms["mean"].shape[-1]].set(terms["mean"])
            x_hat = vae.reconstruction(vae.decode(m[0], m[1], code_at_mean, x=x)).astype(jnp.float32)
            sq = jnp.sum(jnp.square(x - x_hat).reshape(x.shape[0], -1), axis=1)
            return {"log_px": terms["log_px"], "kl": terms["kl"], "sq": sq, "z": terms["z"], "code": terms["code"],
                    "mean": terms["mean"], "log_var": terms["log_var"]}

        return self._memoised("test_pass", state, lambda: self.batched("test_pass", fn, state, self.x))

    def train_inputs(self) -> np.ndarray:
        """The first ``train_examples`` training examples in model-input form."""
        held = self._memo.get("train_inputs")
        if held is None:
            held = (None, self.prepare(self.dataset.train_x[: self.train_examples or None], 5))
            self._memo["train_inputs"] = held
        return held[1]

    def train_posterior(self, state: dict) -> dict:
        """{mean, log_var} of q(z|x) over ``train_inputs()``."""
        vae = self.vae

        def fn(m, x, key):
            mean, log_var = vae.encode(m[0], m[1], x)
            return {"mean": mean, "log_var": log_var}

        return self._memoised("train_posterior", state,
                              lambda: self.batched("train_posterior", fn, state, self.train_inputs()))

    def categorical_logits(self, state: dict) -> np.ndarray:
        """Logits of q(c|x) of a categorical code over the test inputs, [N, K]."""
        vae = self.vae
        return self._memoised("categorical_logits", state, lambda: self.batched(
            "categorical_logits", lambda m, x, key: {"logits": vae.categorical_code(m[0], m[1], x)},
            state, self.x)["logits"])

    def encode_means(self, state: dict, x: np.ndarray) -> np.ndarray:
        vae = self.vae
        return self.batched("means", lambda m, xb, key: {"mean": vae.encode(m[0], m[1], xb)[0]}, state, x)["mean"]

    def decode_images(self, state: dict, z: np.ndarray) -> np.ndarray:
        vae = self.vae

        def decode(m, zb, key):
            return {"x": vae.reconstruction(vae.decode(m[0], m[1], zb)).astype(jnp.float32)}

        z = np.asarray(z, np.float32)
        n = len(z)
        padded = -(-n // 64) * 64  # one compiled shape for the figures' 49, 56 and 64 codes
        z = np.concatenate([z, np.repeat(z[-1:], padded - n, axis=0)]) if padded > n else z
        return self.batched("decode", decode, state, z, batch_size=max(64, min(padded, self.batch_size)))["x"][:n]

    def sample_prior(self, name: str, n: int) -> np.ndarray:
        """``n`` draws from the method's prior with the key named ``name``."""
        return np.asarray(self.jitted("sample_prior", self.vae.sample_prior, static_argnums=1)(self.rng(name), n))


__all__ = ["EVALUATORS", "EvalData", "Evaluator", "Figure", "Note", "PRNG_IMPL", "Section", "Skip", "Skipped",
           "batched", "data_settings", "evaluator_defaults", "evaluator_module", "evaluator_settings", "from_config",
           "is_image", "require"]
