"""Evaluation metrics: pure functions of arrays (and of jittable callables where a model is needed).

Every function states its exact definition. They take plain arrays so that each can be checked
against an independent reference on a case with a known answer (tests/test_evaluation.py); the
evaluators (``mi_vae.evaluation.evaluators``) feed them a trained method's encoder and decoder outputs.

Conventions: log-densities and MI in nats; "per example" means summed over the example's event
axes (pixels, channels) and then averaged over the N evaluated examples; variances and
covariances across examples use the unbiased (N - 1) normalisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
import scipy.stats
from scipy.optimize import linear_sum_assignment

from mi_vae import losses as L

ArrayLike = Any

#: One-line definitions for the report, by metric key (``<sigma>`` / ``<p>`` keys by prefix).
DEFINITIONS: dict[str, str] = {
    "elbo": "mean_i [log p(x_i|z_i) - KL(q(z|x_i) || p(z))], one z_i ~ q(z|x_i) per test example (nats)",
    "recon_nll": "-mean_i log p(x_i|z_i), z_i ~ q(z|x_i) (nats; the data's likelihood: Bernoulli cross-entropy on "
                 "grey levels, categorical on tokens)",
    "kl": "mean_i KL(q(z|x_i) || p(z)), closed form (nats)",
    "recon_l2": "mean_i sum_pixels (x_i - x_hat_i)^2, x_hat_i the decoder's point estimate (Bernoulli "
                "probabilities / Gaussian mean) at the posterior mean E_q[z|x_i] (VIMAE table II)",
    "active_units": "#{d : Var_i(E_q[z_d|x_i]) >= eps} (InfoMax-VAE eq. 7; Burda et al. use eps = 0.01)",
    "active_units_sampled": "#{d : Var_i(mean of S samples z ~ q(z|x_i))_d >= eps}, S = "
                            "config.evals.active_units.samples (the InfoMax-VAE authors' script; a collapsed unit "
                            "counts about half the time)",
    "mi_aggregate": "I_q(x; z) >= mean_i log q(z_i|x_i) / ((1/N) sum_j q(z_i|x_j)), z_i ~ q(z|x_i), queries i "
                    "from the training split scored against all N training posteriors (estimator "
                    "aggregate_posterior, InfoVAE app. B.2; nats)",
    "mi_aggregate_stderr": "standard error of mi_aggregate over its queries (nats)",
    "mi_aggregate_ceiling": "log N, the ceiling of mi_aggregate (N training examples)",
    "mi_critic": "I(x; z) from a critic trained on training pairs (x_i, z_i ~ q(z|x_i)) and read on held-out "
                 "pairs (mi_vae.evaluation.mi.estimate; the report names the estimator; nats)",
    "mi_critic_stderr": "standard error of mi_critic over its held-out pairs, the critic fixed (nats)",
    "mi_critic_ceiling": "the most mi_critic's estimator can read on its held-out pairs (InfoNCE: log K)",
    "iwae_nll": "-mean_i log (1/K) sum_k p(x_i|z_k) p(z_k) / q(z_k|x_i), z_k ~ q(z|x_i) (nats)",
    "iwae_nll_stderr": "standard error of iwae_nll over its test examples (nats)",
    "iwae_k": "K, the importance samples of iwae_nll",
    "probe_accuracy": "test accuracy of logistic regression on latent means, fit on labelled training "
                      "examples (VIMAE section V.B)",
    "probe_accuracy_gaussian_": "probe_accuracy with train and test inputs x + N(0, sigma^2) noise, clipped "
                                "to [0, 1] (VIMAE tables III-V)",
    "probe_accuracy_mask_": "probe_accuracy with train and test input pixels zeroed with probability p "
                            "(VIMAE tables III-V)",
    "mmd_prior": "unbiased MMD^2 between z_i ~ q(z|x_i) over test examples and as many z ~ p(z); RBF "
                 "kernel exp(-||z - z'||^2 / (2d)) (InfoVAE section 4.2.1)",
    "logdet_cov_per_dim": "log det Cov_i(z_i) / d, z_i ~ q(z|x_i); 0 when q(z) matches N(0, I) "
                          "(InfoVAE figure 3)",
    "cluster_accuracy": "accuracy of argmax categorical code under the best one-to-one code->class map "
                        "(Hungarian)",
    "code_mi": "I(x; c) of the categorical code on the test set: H(mean_i q(c|x_i)) - mean_i H(q(c|x_i)), "
               "<= log K; 0 both when every x gets one category and when q(c|x) is the uniform prior",
    "code_kl_uniform": "mean_i KL(q(c|x_i) || Unif(K)) = log K - mean_i H(q(c|x_i)); log K for a "
                       "deterministic code, 0 for a code that ignores x",
    "mi_target": "M, the Mutual Autoencoder's MI target (config.method.M)",
    "fd_classifier": "Frechet distance between prior samples and test images in the hidden features of a "
                     "classifier trained on the training split (not FID; comparable between models on the same data)",
    "kid_classifier": "KID (unbiased cubic-kernel MMD^2, mean over subsets) of the same features as fd_classifier",
    "kid_classifier_std": "standard deviation of kid_classifier over its subsets",
    "fd_classifier_real": "fd_classifier of held-out test images against as many training images: the floor",
    "mi_achieved": "Barber-Agakov I_BA of the trained decoder with a freshly trained r(z|x) (MAE eq. 7)",
}


def definition(key: str) -> str:
    """The one-line definition of a metric key ("" if unknown)."""
    if key in DEFINITIONS:
        return DEFINITIONS[key]
    for prefix in ("probe_accuracy_gaussian_", "probe_accuracy_mask_"):
        if key.startswith(prefix):
            return DEFINITIONS[prefix]
    return ""


# ----------------------------------------------------------------------------- ELBO terms


def elbo(log_px: ArrayLike, kl_values: ArrayLike) -> float:
    """ELBO = mean_i [log p(x_i|z_i) - KL(q(z|x_i) || p(z))].

    Args:
      log_px: ``[N]`` log p(x_i|z_i), one sample z_i ~ q(z|x_i) per example.
      kl_values: ``[N]`` closed-form KL(q(z|x_i) || p(z)).
    """
    return float(np.mean(np.asarray(log_px, np.float64) - np.asarray(kl_values, np.float64)))


def recon_nll(log_px: ArrayLike) -> float:
    """Reconstruction negative log-likelihood = -mean_i log p(x_i|z_i), z_i ~ q(z|x_i)."""
    return float(-np.mean(np.asarray(log_px, np.float64)))


def kl(kl_values: ArrayLike) -> float:
    """Mean KL(q(z|x_i) || p(z)) over examples."""
    return float(np.mean(np.asarray(kl_values, np.float64)))


def recon_l2(x: ArrayLike, x_hat: ArrayLike) -> float:
    """Squared reconstruction error = mean_i sum_{pixels} (x_i - x_hat_i)^2.

    Summed over every non-batch axis (pixels and channels), averaged over examples. The runner
    uses x_hat_i = the decoder's point estimate (Bernoulli probabilities or Gaussian mean,
    ``method.reconstruction``) at the sample z_i ~ q(z|x_i) that recon_nll uses (a sample, not the
    posterior mean, so that the definition holds for every encoder, categorical parts included).
    """
    x = np.asarray(x, np.float64)
    diff = x - np.asarray(x_hat, np.float64)
    return float(np.mean(np.sum(np.square(diff).reshape(x.shape[0], -1), axis=1)))


# ----------------------------------------------------------------------------- latent statistics


def latent_variances(means: ArrayLike) -> np.ndarray:
    """Per-dimension activity Var_i(E_q[z_d|x_i]) across examples (unbiased), ``[N, D] -> [D]``."""
    return np.var(np.asarray(means, np.float64), axis=0, ddof=1)


def active_units(means: ArrayLike, eps: float = 0.05) -> int:
    """Active units AU = sum_d 1{ Cov_x(E_{q(z_d|x)}[z_d]) >= eps }.

    InfoMax-VAE eq. 7 (eps = 0.05); Burda et al. 2016 define it with eps = 0.01.

    Args:
      means: ``[N, D]`` posterior means E_q[z|x_i] over N examples.
      eps: activity threshold.
    """
    return int(np.sum(latent_variances(means) >= eps))


def mmd_prior(z_q: ArrayLike, z_p: ArrayLike) -> float:
    """MMD^2(q(z), p(z)) = E k(z,z') + E k(z~,z~') - 2 E k(z,z~), unbiased U-statistic.

    ``losses.mmd(z_q, z_p, kernel="rbf", unbiased=True)`` with its default kernel
    k(a, b) = exp(-||a - b||^2 / (2 d)), d the latent dimension (InfoVAE section 4.2.1 "MMD
    statistic over the full data"). z_q: ``[N, D]`` codes z_i ~ q(z|x_i); z_p: ``[M, D]`` prior draws.
    Can be slightly negative when q(z) = p(z).
    """
    return float(_mmd_rbf_unbiased(jnp.asarray(z_q, jnp.float32), jnp.asarray(z_p, jnp.float32)))


@jax.jit
def _mmd_rbf_unbiased(z_q: jax.Array, z_p: jax.Array) -> jax.Array:
    return L.mmd(z_q, z_p, kernel="rbf", unbiased=True)


def logdet_cov_per_dim(z: ArrayLike) -> float:
    """log det Sigma / d, Sigma = (1/(N-1)) sum_i (z_i - z_bar)(z_i - z_bar)^T.

    InfoVAE section 4.2.1 / figure 3 (B): 0 when the aggregate posterior has the covariance of
    N(0, I); the average log-variance under- (< 0) or over- (> 0) estimation per dimension.
    -inf for a singular covariance. Computed in float64.
    """
    z = np.asarray(z, np.float64)
    cov = np.atleast_2d(np.cov(z, rowvar=False, ddof=1))
    sign, logdet = np.linalg.slogdet(cov)
    return float(logdet / z.shape[1]) if sign > 0 else float("-inf")


# ----------------------------------------------------------------------------- importance sampling


def iwae_log_likelihood(
    rng: jax.Array,
    mean: ArrayLike,
    log_var: ArrayLike,
    log_px_given_z: Callable[[jax.Array], jax.Array],
    k: int,
    chunk: int | None = None,
    log_prior: Callable[[jax.Array], jax.Array] = L.normal_log_prob,
) -> jax.Array:
    """Importance-weighted estimate of log p(x) per example (Burda et al. 2016), ``[B]``.

    log p(x) ~= logsumexp_k [ log p(x|z_k) + log p(z_k) - log q(z_k|x) ] - log K,
    z_k = mean + exp(log_var / 2) * eps_k, eps_k ~ N(0, I).

    A lower bound on log p(x) in expectation that tightens as K grows (5000 in Burda et al.); K = 1
    is the single-sample ELBO with a Monte-Carlo KL. The K samples are drawn ``chunk`` at a time
    (chunk c uses ``fold_in(rng, c)``) and accumulated by a running logsumexp, so memory is
    bounded by ``chunk`` decoder calls per example; samples past K in the last chunk are masked.
    Jittable with ``k`` and ``chunk`` static.

    Args:
      rng: PRNG key.
      mean: ``[B, D]`` means of q(z|x) for the B examples.
      log_var: ``[B, D]`` log-variances of q(z|x).
      log_px_given_z: ``z [B, D] -> [B]`` log p(x_b | z_b) for the fixed batch x (closed over).
      k: number of importance samples K.
      chunk: samples per chunk (default: all K at once).
      log_prior: ``z [.., D] -> [..]`` log p(z); default standard normal.
    """
    mean = jnp.asarray(mean, jnp.float32)
    log_var = jnp.asarray(log_var, jnp.float32)
    chunk = int(min(k, chunk or k))
    num_chunks = -(-int(k) // chunk)

    def body(acc, c):
        z = L.reparameterize(jax.random.fold_in(rng, c), mean, log_var, chunk)  # [C, B, D]
        log_q = L.diag_gaussian_log_prob(z, mean, log_var)  # [C, B]
        log_w = jax.vmap(log_px_given_z)(z) + log_prior(z) - log_q  # [C, B]
        valid = (c * chunk + jnp.arange(chunk)) < k
        log_w = jnp.where(valid[:, None], log_w, -jnp.inf)
        return jnp.logaddexp(acc, jax.nn.logsumexp(log_w, axis=0)), None

    init = jnp.full(mean.shape[:1], -jnp.inf, jnp.float32)
    acc, _ = jax.lax.scan(body, init, jnp.arange(num_chunks))
    return acc - math.log(k)


def iwae_nll(log_likelihoods: ArrayLike) -> float:
    """IWAE negative log-likelihood = -mean_i of ``iwae_log_likelihood`` (nats)."""
    return float(-np.mean(np.asarray(log_likelihoods, np.float64)))


# ----------------------------------------------------------------------------- post-hoc MI critic


def probe_subset(labels: ArrayLike, num: int, seed: int = 0) -> np.ndarray:
    """Indices of ``num`` labelled examples drawn uniformly without replacement (all if fewer)."""
    n = len(labels)
    if num <= 0 or num >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=num, replace=False))


def probe_accuracy(train_codes: ArrayLike, train_labels: ArrayLike, test_codes: ArrayLike,
                   test_labels: ArrayLike, seed: int = 0) -> float:
    """Linear-probe accuracy: a logistic regression fit on (train_codes, train_labels), scored on test.

    scikit-learn ``make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000,
    random_state=seed))`` (multinomial, L2, C = 1); standardising makes the probe indifferent to
    the scale of the code. The probe evaluator passes latent means of ``labels`` random training
    examples and of the test examples. A stand-in for the semi-supervised M1+TSVM of VIMAE
    section V.B (and the classifier on learnt features of InfoMax-VAE table IV).
    """
    from sklearn.linear_model import LogisticRegression  # lazy: scikit-learn is slow to import
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    clf.fit(np.asarray(train_codes, np.float64), np.asarray(train_labels))
    return float(clf.score(np.asarray(test_codes, np.float64), np.asarray(test_labels)))


def code_class_histogram(codes: ArrayLike, labels: ArrayLike, num_codes: int | None = None,
                         num_classes: int | None = None) -> np.ndarray:
    """Contingency table ``counts[k, c]`` = #{i : codes_i = k and labels_i = c}, ``[K, C]`` int64."""
    codes = np.asarray(codes, np.int64)
    labels = np.asarray(labels, np.int64)
    num_codes = int(num_codes or codes.max() + 1)
    num_classes = int(num_classes or labels.max() + 1)
    counts = np.zeros((num_codes, num_classes), np.int64)
    np.add.at(counts, (codes, labels), 1)
    return counts


def categorical_code_information(logits: ArrayLike) -> dict[str, float]:
    """How much a categorical code q(c|x) says about x, from the logits of N examples ``[N, K]``.

    code_mi = I(x; c) = H(q(c)) - E_x H(q(c|x)), q(c) = (1/N) sum_i q(c|x_i) the aggregate posterior
    (the mutual information of the encoder's code, at most log K), and code_kl_uniform =
    E_x KL(q(c|x) || Unif(K)) = log K - E_x H(q(c|x)), the ELBO's categorical KL (the VMI thesis
    eq. 4.19). Together they tell the two ways a code can carry nothing: one category for every x
    (code_mi 0, code_kl_uniform log K) and q(c|x) equal to the prior (both 0). Softmax in float64 and
    -p log p as ``scipy.special.entr`` (0 at p = 0), so extreme or -inf logits stay finite.
    """
    p = scipy.special.softmax(np.asarray(logits, np.float64), axis=-1)
    conditional = float(np.mean(np.sum(scipy.special.entr(p), axis=-1)))
    aggregate = float(scipy.stats.entropy(p.mean(axis=0)))
    return {"code_mi": aggregate - conditional, "code_kl_uniform": math.log(p.shape[-1]) - conditional}


def cluster_accuracy(codes: ArrayLike, labels: ArrayLike) -> float:
    """Unsupervised clustering accuracy = max over one-to-one maps m of mean_i 1{m(codes_i) = labels_i}.

    The best map is found by the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``)
    on the code-by-class contingency table; with more codes than classes (or fewer) the unmatched
    codes count as errors. Used for the categorical code of VMI (thesis section 4.4.2: "the
    encoder categorical component as a classifier").
    """
    counts = code_class_histogram(codes, labels)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(np.asarray(codes)))


__all__ = [
    "DEFINITIONS", "active_units", "categorical_code_information", "cluster_accuracy", "code_class_histogram",
    "definition", "elbo", "iwae_log_likelihood", "iwae_nll", "kl", "latent_variances", "logdet_cov_per_dim",
    "mmd_prior", "probe_accuracy", "probe_subset", "recon_l2", "recon_nll",
]
