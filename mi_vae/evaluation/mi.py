"""Mutual-information estimates for paired samples, each with its standard error and its ceiling.

Two entry points, usable from any JAX project:

* ``estimate(x, z, estimator=...)``: a variational bound with a trained critic, for any paired arrays
  x ``[N, ...]`` and z ``[N, d]``. The pairs are shuffled (``seed``) and split three ways: the critic
  trains on the first part, early stopping reads the bound on the second (validation), and the
  estimate is the bound on the third (test), which the critic never saw. The critic is separable,
  t(x, z) = f(x) . g(z) with MLPs f and g (Poole et al. 2019), so every batch of B pairs gives B joint
  scores and B (B - 1) product-of-marginal scores (the off-diagonal pairs). Its settings (steps,
  batch, learning rate, patience) do not depend on how the data were made.
* ``aggregate_posterior(mean, log_var)``: for a Gaussian encoder q(z|x), the bound
  I_q(x; z) >= E_i[log q(z_i|x_i) - log (1/N) sum_j q(z_i|x_j)], z_i ~ q(z|x_i), over all N posteriors
  (Hoffman & Johnson 2016; InfoVAE appendix B.2); its ceiling is log N.

Estimators (``estimator=``), each the bound its critic is trained to maximise:

| name | value on the test split (t = scores; joint pairs on the diagonal, marginal pairs off it) | ceiling |
|---|---|---|
| nwj | E_joint[t] - E_marg[exp(t - 1)] (InfoMax-VAE eq. 6) | none (variance grows as e^I) |
| dv | E_joint[t] - log E_marg[exp t] (Donsker-Varadhan, MINE) | none |
| js | NWJ of t + 1, the critic trained by the Jensen-Shannon dual | as nwj |
| infonce | E_i[t_ii - log (1/K) sum_j exp t_ij] over K test rows (CPC) | log K |
| smile | DV with exp(clip(t, -tau, tau)) in the marginal term, the critic trained by JS (Song & Ermon 2020) | none |
| critic | ``RECOMMENDED``, the one that reads closest on the known answers | that of ``RECOMMENDED`` |

Standard errors are over the test rows (a bootstrap over rows of the per-row statistics, the critic
fixed); they do not include the critic's training noise, which the validation table in BENCHMARKS.md
measures across seeds.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from mi_vae.models.layers import MLP

ESTIMATORS = ("nwj", "dv", "js", "infonce", "smile")
#: the estimator ``estimator="critic"`` selects (see BENCHMARKS.md, "MI estimators on known answers")
RECOMMENDED = "infonce"
#: SMILE's clip tau (Song & Ermon use 5)
SMILE_CLIP = 5.0
#: the objective each estimator's critic is trained by: SMILE's critic is the JS-trained one, read through
#: the clipped DV bound (Song & Ermon 2020); the others train the bound they report
TRAINING_OBJECTIVE = {"nwj": "nwj", "dv": "dv", "js": "js", "infonce": "infonce", "smile": "js"}


def _check(x: np.ndarray, z: np.ndarray, min_rows: int) -> None:
    if x.ndim < 2 or z.ndim != 2:
        raise ValueError(f"x must be [N, ...] and z [N, d]; got shapes {x.shape} and {z.shape}")
    if x.shape[0] != z.shape[0]:
        raise ValueError(f"x and z must hold the same number of pairs; got {x.shape[0]} and {z.shape[0]}")
    if x.shape[0] < min_rows:
        raise ValueError(f"need at least {min_rows} pairs for the train/validation/test split; got {x.shape[0]}")
    for name, a in (("x", x), ("z", z)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} has non-finite values")


class SeparableCritic(nn.Module):
    """t(x, z) = f(x) . g(z) / sqrt(embed_dim), MLPs f (on flattened x) and g; a call gives the [B, B] scores.

    References:
      - B. Poole, S. Ozair, A. van den Oord, A. A. Alemi, G. Tucker. "On Variational Bounds of Mutual Information".
        ICML 2019. arXiv:1905.06922. The separable critic of its experiments.

    Examples:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> from mi_vae.evaluation import mi
      >>> critic = mi.SeparableCritic(hidden=(16,), embed_dim=4)
      >>> params = critic.init(jax.random.PRNGKey(0), jnp.zeros((3, 5)), jnp.zeros((3, 2)))
      >>> critic.apply(params, jnp.ones((3, 5)), jnp.ones((3, 2))).shape  # scores of every x_i with every z_j
      (3, 3)
    """

    hidden: Sequence[int] = (256,)
    embed_dim: int = 32

    def setup(self):
        self.f = MLP(tuple(self.hidden), self.embed_dim)
        self.g = MLP(tuple(self.hidden), self.embed_dim)

    def embed(self, x: jax.Array, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(f(x), g(z)), each ``[B, embed_dim]``."""
        return self.f(x.reshape(x.shape[0], -1)), self.g(z)

    def __call__(self, x: jax.Array, z: jax.Array) -> jax.Array:
        fx, gz = self.embed(x, z)
        return fx @ gz.T / math.sqrt(self.embed_dim)  # [B, B]: rows x_i, columns z_j; joint on the diagonal


def _offdiag_mask(b: int) -> jax.Array:
    return ~jnp.eye(b, dtype=bool)


def _log_mean_exp_offdiag(t: jax.Array) -> jax.Array:
    b = t.shape[0]
    masked = jnp.where(_offdiag_mask(b), t, -jnp.inf)
    return jax.nn.logsumexp(masked) - math.log(b * (b - 1))


def batch_bound(name: str, t: jax.Array) -> jax.Array:
    """Bound ``name`` on a [B, B] score matrix (joint on the diagonal, product-of-marginal pairs off it).

    With t_ii the B joint scores and t_ij (i != j) the B (B - 1) product-of-marginal scores:

        nwj     = mean_i t_ii - mean_{i != j} exp(min(t_ij, 80) - 1)
        dv      = mean_i t_ii - log mean_{i != j} exp(t_ij)
        smile   = mean_i t_ii - log mean_{i != j} exp(clip(t_ij, -SMILE_CLIP, SMILE_CLIP))
        js      = -mean_i softplus(-t_ii) - mean_{i != j} softplus(t_ij)   (the critic's objective, not an MI value)
        infonce = mean_i [t_ii - logsumexp_j t_ij] + log B

    Raises:
      ValueError: an unknown ``name``.

    References:
      - X. Nguyen, M. J. Wainwright, M. I. Jordan. "Estimating Divergence Functionals and the Likelihood Ratio by Convex
        Risk Minimization". IEEE Trans. Inf. Theory, 2010. arXiv:0809.0853.
      - M. D. Donsker, S. R. S. Varadhan. "Asymptotic Evaluation of Certain Markov Process Expectations for Large Time,
        IV". Comm. Pure Appl. Math., 1983 (no arXiv id).
      - M. I. Belghazi et al. "Mutual Information Neural Estimation" (MINE). ICML 2018. arXiv:1801.04062.
      - J. Song, S. Ermon. "Understanding the Limitations of Variational Mutual Information Estimators" (SMILE).
        ICLR 2020. arXiv:1910.06222.
      - R. D. Hjelm et al. "Learning Deep Representations by Mutual Information Estimation and Maximization" (Deep
        InfoMax). ICLR 2019. arXiv:1808.06670.
      - A. van den Oord, Y. Li, O. Vinyals. "Representation Learning with Contrastive Predictive Coding". 2018.
        arXiv:1807.03748.
      - B. Poole, S. Ozair, A. van den Oord, A. A. Alemi, G. Tucker. "On Variational Bounds of Mutual Information".
        ICML 2019. arXiv:1905.06922.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae.evaluation import mi
      >>> t = 10.0 * jnp.eye(4)  # joint pairs score 10, the others 0
      >>> round(float(mi.batch_bound("infonce", t)), 4), float(mi.batch_bound("dv", t))
      (1.3862, 10.0)
    """
    joint = jnp.mean(jnp.diagonal(t))
    if name == "nwj":
        return joint - jnp.exp(_log_mean_exp_offdiag(jnp.minimum(t, 80.0) - 1.0))
    if name == "dv":
        return joint - _log_mean_exp_offdiag(t)
    if name == "smile":
        return joint - _log_mean_exp_offdiag(jnp.clip(t, -SMILE_CLIP, SMILE_CLIP))
    if name == "js":  # the Jensen-Shannon dual (its value is not an MI estimate; see ``_value``)
        b = t.shape[0]
        marginal = jnp.sum(jnp.where(_offdiag_mask(b), jax.nn.softplus(t), 0.0)) / (b * (b - 1))
        return -jnp.mean(jax.nn.softplus(-jnp.diagonal(t))) - marginal
    if name == "infonce":
        return jnp.mean(jnp.diagonal(t) - jax.nn.logsumexp(t, axis=1)) + math.log(t.shape[0])
    raise ValueError(f"unknown estimator {name!r}; valid: {', '.join(ESTIMATORS)}, critic")


def estimate_on_batch(name: str, t: jax.Array) -> jax.Array:
    """Estimator ``name``'s MI estimate on one [B, B] score matrix: the bound itself, NWJ of t + 1 for js.

        I_hat = batch_bound(name, t)   for nwj, dv, smile, infonce
        I_hat = batch_bound("nwj", t + 1) = mean_i (t_ii + 1) - mean_{i != j} exp(t_ij)   for js

    The Jensen-Shannon dual's optimal critic is t* = log q(x,z)/(q(x)q(z)) and NWJ's is 1 + t*, hence the shift.

    References:
      - B. Poole, S. Ozair, A. van den Oord, A. A. Alemi, G. Tucker. "On Variational Bounds of Mutual Information".
        ICML 2019. arXiv:1905.06922.
      - R. D. Hjelm et al. "Learning Deep Representations by Mutual Information Estimation and Maximization" (Deep
        InfoMax). ICLR 2019. arXiv:1808.06670.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae.evaluation import mi
      >>> float(mi.estimate_on_batch("js", jnp.zeros((4, 4))))  # an undecided critic: no information
      0.0
    """
    return batch_bound("nwj", t + 1.0) if name == "js" else batch_bound(name, t)


def _row_statistics(name: str, fx: np.ndarray, gz: np.ndarray, block: int = 1024) -> dict[str, np.ndarray]:
    """Per-row statistics of the full K x K test score matrix t_ij = f(x_i).g(z_j) / sqrt(e), a block of rows
    at a time (jitted; the matrix is never held whole).

    a_i = t_ii; for the marginal terms the log-sum-exp over j != i of t_ij (DV), of its clipped form (SMILE) and
    of min(t_ij, 80) - 1 (+ 1 for js) (NWJ/JS); for infonce logsumexp_j t_ij.
    """
    k = fx.shape[0]
    g = jnp.asarray(gz, jnp.float32)
    out: dict[str, list] = {key: [] for key in ("diag", "lse_all", "lse_off", "lse_clip", "lse_nwj")}
    for start in range(0, k, block):
        f = fx[start:start + block]
        rows = len(f)
        if rows < min(block, k):  # pad the last block to the compiled shape
            f = np.concatenate([f, np.repeat(f[-1:], min(block, k) - rows, axis=0)])
        stats = _block_statistics(jnp.asarray(f, jnp.float32), g, start, name == "js")
        for key, value in stats.items():
            out[key].append(np.asarray(value, np.float64)[:rows])
    return {key: np.concatenate(value) for key, value in out.items()}


@functools.partial(jax.jit, static_argnums=(3,))
def _block_statistics(f: jax.Array, g: jax.Array, start, js: bool) -> dict[str, jax.Array]:
    t = (f @ g.T) / math.sqrt(f.shape[1])  # [rows, K]
    rows = jnp.arange(t.shape[0])
    own = jnp.arange(t.shape[1])[None, :] == (start + rows)[:, None]  # t_ii
    lse = functools.partial(jax.nn.logsumexp, axis=1)
    return {"diag": jnp.sum(jnp.where(own, t, 0.0), axis=1), "lse_all": lse(t),
            "lse_off": lse(jnp.where(own, -jnp.inf, t)),
            "lse_clip": lse(jnp.where(own, -jnp.inf, jnp.clip(t, -SMILE_CLIP, SMILE_CLIP))),
            "lse_nwj": lse(jnp.where(own, -jnp.inf, jnp.minimum(t, 80.0) - 1.0 + (1.0 if js else 0.0)))}


def _np_logsumexp(t: np.ndarray) -> np.ndarray:
    m = np.max(t, axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return (m + np.log(np.sum(np.exp(t - m), axis=1, keepdims=True)))[:, 0]


def _value(name: str, s: dict[str, np.ndarray], k: int) -> float:
    """The estimate from per-row statistics (rows of one resample); k columns, k - 1 marginal pairs per row."""
    log_pairs = math.log(k - 1)
    if name == "infonce":
        return float(np.mean(s["diag"] - s["lse_all"]) + math.log(k))
    if name in ("nwj", "js"):
        shift = 1.0 if name == "js" else 0.0
        marginal = np.exp(_np_logsumexp(s["lse_nwj"][None]) - math.log(len(s["lse_nwj"])) - log_pairs)[0]
        return float(np.mean(s["diag"] + shift) - marginal)
    key = "lse_clip" if name == "smile" else "lse_off"
    log_marginal = _np_logsumexp(s[key][None])[0] - math.log(len(s[key])) - log_pairs
    return float(np.mean(s["diag"]) - log_marginal)


def _ceiling(name: str, k: int) -> float:
    """The most the estimator can read on K test rows: log K for InfoNCE; the others have no such bound."""
    return math.log(k) if name == "infonce" else math.inf


def estimate(x, z, *, estimator: str = "critic", seed: int = 0, steps: int = 6000, batch_size: int = 256,
             learning_rate: float = 2e-4, hidden: Sequence[int] = (256,), embed_dim: int = 32,
             valid_fraction: float = 0.1, test_fraction: float = 0.2, eval_every: int = 100, patience: int = 8,
             max_test: int = 10_000, bootstrap: int = 200) -> dict:
    """I(x; z) from paired samples with a trained separable critic; see the module docstring.

    With t_ij = f(x_i) . g(z_j) / sqrt(embed_dim) on the K held-out test pairs, the recommended estimator
    (``estimator="critic"``, InfoNCE) reads

        I_hat = (1/K) sum_i [ t_ii - log (1/K) sum_j exp t_ij ]   <= log K

    and the others the formulas of the module docstring's table (``batch_bound`` on all K x K pairs).

    Args:
      x: ``[N, ...]`` samples (flattened for the critic).
      z: ``[N, d]`` paired samples.
      estimator: one of ``ESTIMATORS`` or "critic" (``RECOMMENDED``).
      seed: shuffles and splits the pairs, initialises the critic and orders its batches.
      steps: at most this many Adam steps; early stopping ends sooner once the validation bound has not
        improved for ``patience`` evaluations (every ``eval_every`` steps); the best critic is kept.
      batch_size: the critic's training batch.
      learning_rate: its Adam step size.
      hidden: the hidden widths of its MLPs f and g.
      embed_dim: the size of f(x) and g(z).
      valid_fraction: the part of the pairs for early stopping.
      test_fraction: the part of the pairs for the estimate.
      max_test: at most this many test pairs are scored (all their K x K score pairs).
      bootstrap: resamples of the test rows for the standard error.

    Returns:
      ``{"estimate", "stderr", "ceiling", "estimator", "n_train", "n_valid", "n_test", "steps",
      "best_step", "seconds"}`` (nats; ceiling ``inf`` where the bound has none).

    Raises:
      ValueError: unknown estimator, mismatched N, non-finite values, or too few pairs to split.

    References:
      - B. Poole, S. Ozair, A. van den Oord, A. A. Alemi, G. Tucker. "On Variational Bounds of Mutual Information".
        ICML 2019. arXiv:1905.06922.
      - A. van den Oord, Y. Li, O. Vinyals. "Representation Learning with Contrastive Predictive Coding". 2018.
        arXiv:1807.03748.
      - J. Song, S. Ermon. "Understanding the Limitations of Variational Mutual Information Estimators" (SMILE).
        ICLR 2020. arXiv:1910.06222.
      - X. Nguyen, M. J. Wainwright, M. I. Jordan. "Estimating Divergence Functionals and the Likelihood Ratio by Convex
        Risk Minimization". IEEE Trans. Inf. Theory, 2010. arXiv:0809.0853.
      - M. I. Belghazi et al. "Mutual Information Neural Estimation" (MINE). ICML 2018. arXiv:1801.04062.

    Examples:
      >>> import numpy as np
      >>> from mi_vae.evaluation import mi
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=(300, 2))
      >>> z = x + 0.1 * rng.normal(size=(300, 2))  # true I(x; z) = log(1 + 100) = 4.6 nats
      >>> r = mi.estimate(x, z, steps=300, learning_rate=3e-3, hidden=(32,), embed_dim=8)
      >>> r["estimator"], r["n_test"], round(r["ceiling"], 4)  # InfoNCE on 60 held-out pairs: at most log 60
      ('infonce', 60, 4.0943)
      >>> 1.0 < r["estimate"] <= r["ceiling"]
      True
    """
    start = time.time()
    name = RECOMMENDED if estimator == "critic" else estimator
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; valid: {', '.join(ESTIMATORS)}, critic")
    x = np.array(x, np.float32)  # copies: standardised in place below
    z = np.array(z, np.float32)
    _check(x, z, min_rows=64)
    n = x.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(max(int(round(test_fraction * n)), 16), max_test)
    n_valid = max(int(round(valid_fraction * n)), 16)
    n_train = n - n_test - n_valid
    if n_train < 32:
        raise ValueError(f"need at least {n_test + n_valid + 32} pairs for the train/validation/test split; got {n}")
    test, valid, train = order[:n_test], order[n_test:n_test + n_valid], order[n_test + n_valid:]
    # Standardise every feature by the training split's mean and spread (a well-conditioned critic input
    # whatever the data's scale; features that never vary stay 0).
    x = x.reshape(n, -1)
    for a in (x, z):
        center, spread = a[train].mean(0), a[train].std(0)
        a -= center
        a /= np.where(spread > 1e-6, spread, 1.0)
    batch = int(min(batch_size, n_train))
    critic = SeparableCritic(tuple(hidden), int(embed_dim))
    optimizer = optax.adam(learning_rate)
    key = jax.random.key(seed)
    params = critic.init(key, jnp.asarray(x[:2]), jnp.asarray(z[:2]))["params"]
    opt_state = optimizer.init(params)
    x_train, z_train = jnp.asarray(x[train]), jnp.asarray(z[train])
    valid_rows = valid[: min(len(valid), 2048)]
    x_valid, z_valid = jnp.asarray(x[valid_rows]), jnp.asarray(z[valid_rows])
    train_chunk = _train_chunk(critic, optimizer, TRAINING_OBJECTIVE[name], batch, int(eval_every))
    evaluate = jax.jit(lambda p: estimate_on_batch(name, critic.apply({"params": p}, x_valid, z_valid)))

    best = (-math.inf, params, 0)
    stale, step = 0, 0
    rng = np.random.default_rng([seed, 1])
    while step < steps:
        idx = jnp.asarray(np.stack([rng.choice(n_train, batch, replace=False) for _ in range(eval_every)]))
        params, opt_state = train_chunk(params, opt_state, x_train, z_train, idx)
        step += eval_every
        value = float(evaluate(params))
        if np.isfinite(value) and value > best[0]:
            best, stale = (value, params, step), 0
        else:
            stale += 1
            if stale >= patience:
                break
    params = best[1]

    stats = _row_statistics(name, *_embed(critic, params, x[test], z[test]))
    value = _value(name, stats, n_test)
    boot = np.random.default_rng([seed, 2])
    draws = [_value(name, {k: v[i] for k, v in stats.items()}, n_test)
             for i in (boot.integers(0, n_test, n_test) for _ in range(int(bootstrap)))]
    return {"estimate": value, "stderr": float(np.std(draws)), "ceiling": _ceiling(name, n_test), "estimator": name,
            "n_train": int(n_train), "n_valid": int(n_valid), "n_test": int(n_test), "steps": int(step),
            "best_step": int(best[2]), "seconds": time.time() - start}


def _train_chunk(critic, optimizer, name: str, batch: int, num_steps: int):
    @jax.jit
    def run(params, opt_state, x, z, idx):  # idx [num_steps, batch]
        def body(carry, rows):
            params, opt_state = carry
            grads = jax.grad(lambda p: -batch_bound(name, critic.apply({"params": p}, x[rows], z[rows])))(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        (params, opt_state), _ = jax.lax.scan(body, (params, opt_state), idx)
        return params, opt_state

    return run


def _embed(critic, params, x: np.ndarray, z: np.ndarray, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The critic's embeddings (f(x_i), g(z_i)) of the test pairs, [K, e] each."""
    embed = jax.jit(lambda p, xb, zb: critic.apply({"params": p}, xb, zb, method="embed"))
    fx, gz = [], []
    for s in range(0, x.shape[0], block):
        f, g = embed(params, jnp.asarray(x[s:s + block]), jnp.asarray(z[s:s + block]))
        fx.append(np.asarray(f))
        gz.append(np.asarray(g))
    return np.concatenate(fx), np.concatenate(gz)


# --------------------------------------------------------------------------------- aggregate posterior


@functools.partial(jax.jit, static_argnames=("chunk",))
def _aggregate_terms(z, query_mean, query_log_var, mean, log_var, chunk: int):
    """For queries z [Q, d]: log q(z|x_query) [Q] and log sum_j q(z|x_j) [Q] over all N posteriors, in chunks."""
    log_2pi = math.log(2.0 * math.pi)
    own = -0.5 * jnp.sum(jnp.square(z - query_mean) * jnp.exp(-query_log_var) + query_log_var + log_2pi, axis=-1)
    n, d = mean.shape
    pad = (-n) % chunk
    mean_c = jnp.pad(mean, ((0, pad), (0, 0))).reshape(-1, chunk, d)
    log_var_c = jnp.pad(log_var, ((0, pad), (0, 0))).reshape(-1, chunk, d)
    valid = (jnp.arange(n + pad) < n).reshape(-1, chunk)

    def step(acc, inputs):
        m, lv, ok = inputs
        log_q = -0.5 * jnp.sum(jnp.square(z[:, None, :] - m[None]) * jnp.exp(-lv)[None] + lv[None] + log_2pi,
                               axis=-1)  # [Q, chunk]
        log_q = jnp.where(ok[None], log_q, -jnp.inf)
        return jnp.logaddexp(acc, jax.nn.logsumexp(log_q, axis=1)), None

    total, _ = jax.lax.scan(step, jnp.full(z.shape[:1], -jnp.inf), (mean_c, log_var_c, valid))
    return own, total


def aggregate_posterior(mean, log_var, *, num_queries: int = 2000, seed: int = 0, query_batch: int = 256,
                        chunk: int = 4096) -> dict:
    """I_q(x; z) of a Gaussian encoder against its aggregate posterior over all N encoded examples.

    I >= mean_i [log q(z_i|x_i) - log (1/N) sum_{j=1..N} q(z_i|x_j)],  z_i ~ q(z|x_i),
    for ``num_queries`` examples i drawn without replacement (all N if fewer), each scored against all N
    posteriors (Hoffman & Johnson 2016; InfoVAE appendix B.2). Each term is <= log N (the j = i term),
    so the ceiling is log N. Memory is O(query_batch * chunk * d): N = 60,000, d = 64 fit a laptop.

    Args:
      mean: ``[N, d]`` posterior means of q(z|x_j).
      log_var: ``[N, d]`` posterior log-variances of q(z|x_j).
      num_queries: examples whose code z_i ~ q(z|x_i) is scored.
      seed: picks the queries and draws their codes.

    Returns:
      ``{"estimate", "stderr", "ceiling", "estimator": "aggregate_posterior", "n", "num_queries"}``.

    References:
      - M. D. Hoffman, M. J. Johnson. "ELBO Surgery: Yet Another Way to Carve up the Variational Evidence Lower Bound".
        NIPS 2016 Workshop on Advances in Approximate Bayesian Inference (no arXiv id).
      - S. Zhao, J. Song, S. Ermon. "InfoVAE: Information Maximizing Variational Autoencoders". 2017. arXiv:1706.02262.
        Appendix B.2.

    Examples:
      >>> import numpy as np
      >>> from mi_vae.evaluation import mi
      >>> r = mi.aggregate_posterior(np.array([[0.0], [100.0], [200.0], [300.0]]), np.zeros((4, 1)))
      >>> round(r["estimate"], 4), round(r["ceiling"], 4), r["estimator"]  # 4 far-apart posteriors: log 4
      (1.3863, 1.3863, 'aggregate_posterior')
    """
    mean = np.asarray(mean, np.float32)
    log_var = np.asarray(log_var, np.float32)
    if mean.ndim != 2 or mean.shape != log_var.shape:
        raise ValueError(f"mean and log_var must both be [N, d]; got shapes {mean.shape} and {log_var.shape}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(log_var))):
        raise ValueError("mean or log_var has non-finite values")
    n = mean.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 posteriors; got {n}")
    rng = np.random.default_rng(seed)
    queries = rng.choice(n, min(int(num_queries), n), replace=False)
    eps = rng.standard_normal((len(queries), mean.shape[1])).astype(np.float32)
    z = mean[queries] + np.exp(0.5 * log_var[queries]) * eps
    mean_j, log_var_j = jnp.asarray(mean), jnp.asarray(log_var)
    terms = []
    chunk = int(min(chunk, n))
    for s in range(0, len(queries), query_batch):
        q = queries[s:s + query_batch]
        own, total = _aggregate_terms(jnp.asarray(z[s:s + query_batch]), mean_j[q], log_var_j[q], mean_j, log_var_j,
                                      chunk=chunk)
        terms.append(np.asarray(own - total, np.float64) + math.log(n))
    terms = np.concatenate(terms)
    return {"estimate": float(terms.mean()), "stderr": float(terms.std(ddof=1) / math.sqrt(len(terms))),
            "ceiling": math.log(n), "estimator": "aggregate_posterior", "n": int(n), "num_queries": int(len(terms))}


__all__ = ["ESTIMATORS", "RECOMMENDED", "SeparableCritic", "aggregate_posterior", "batch_bound", "estimate",
           "estimate_on_batch"]
