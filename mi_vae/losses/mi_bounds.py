"""Mutual-information bounds and estimators.

Every function here returns a batch scalar in nats; for the bounds, higher means more MI, so a
critic maximises them and a loss is their negative. Critic scores are batch-first:
``t_joint[i] = t(x_i, z_i)`` for (x_i, z_i) ~ q(x, z) and ``t_marginal[i] = t(x_i, z'_i)`` for
pairs from q(x) q(z), e.g. ``z' = shuffle_marginal(key, z)``. Scores of any shape are averaged
over all their entries.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array

# exp(80) ~ 5.5e34 < float32 max ~ 3.4e38: headroom so that NWJ's value and gradient stay finite.
NWJ_MAX_EXPONENT = 80.0


def _log_mean_exp(t: Array) -> Array:
    """log (1/n) sum_i exp(t_i) over all entries, stably (no gradient overflow)."""
    t = jnp.ravel(t)
    return jax.nn.logsumexp(t) - math.log(t.shape[0])


def nwj_bound(t_joint: ArrayLike, t_marginal: ArrayLike) -> Array:
    """NWJ / f-dual lower bound on the KL form of mutual information.

    I(x; z) = KL(q(x, z) || q(x) q(z)) >= E_{q(x,z)}[t] - E_{q(x)q(z)}[exp(t - 1)]

    InfoMax-VAE eq. 6 (eq. 5 with f(u) = u log u, f*(t) = exp(t - 1); Nguyen, Wainwright & Jordan
    2010; Nowozin et al. 2016). Tight at t = 1 + log q(x,z)/(q(x)q(z)).

    Float32 safety (documented clip): the exponent t_marginal - 1 is clipped elementwise at
    ``NWJ_MAX_EXPONENT`` = 80 and the mean of exponentials is formed as exp(logsumexp - log n), so
    value and gradient stay finite for any finite scores (clipped entries get zero gradient). The
    clip only acts when exp(t - 1) > 5e34, far outside any meaningful critic.

    Args:
      t_joint: critic scores on joint pairs, e.g. ``[B]``.
      t_marginal: critic scores on product-of-marginal pairs, e.g. ``[B']``.

    Returns:
      Scalar lower bound in nats (higher = more MI).
    """
    t_joint = jnp.asarray(t_joint)
    t_marginal = jnp.asarray(t_marginal)
    exponent = jnp.minimum(t_marginal - 1.0, NWJ_MAX_EXPONENT)
    return jnp.mean(t_joint) - jnp.exp(_log_mean_exp(exponent))


def donsker_varadhan_bound(t_joint: ArrayLike, t_marginal: ArrayLike) -> Array:
    """Donsker-Varadhan lower bound on mutual information (the MINE objective).

    I(x; z) >= E_{q(x,z)}[t] - log E_{q(x)q(z)}[exp(t)]

    Mentioned by InfoMax-VAE section IV.B as the tighter alternative to eq. 6 (Donsker & Varadhan
    1983; MINE, Belghazi et al. 2018). The log-mean-exp uses logsumexp, so it is finite for any
    finite scores. The mini-batch estimate of the log term is biased (Jensen), so the batch
    value is not itself a lower bound in expectation.

    Args:
      t_joint: critic scores on joint pairs.
      t_marginal: critic scores on product-of-marginal pairs.

    Returns:
      Scalar bound in nats (higher = more MI).
    """
    return jnp.mean(jnp.asarray(t_joint)) - _log_mean_exp(jnp.asarray(t_marginal))


def js_bound(t_joint: ArrayLike, t_marginal: ArrayLike) -> Array:
    """Jensen-Shannon (f-GAN) dual objective between q(x, z) and q(x) q(z).

    J(t) = -E_{q(x,z)}[softplus(-t)] - E_{q(x)q(z)}[softplus(t)]
         = E_joint[log sigmoid(t)] + E_marg[log(1 - sigmoid(t))]  <=  2 JSD - log 4

    f-GAN (Nowozin et al. 2016, the GAN divergence) as used by Deep InfoMax (Hjelm et al. 2019);
    an instance of the f-divergence dual of InfoMax-VAE eq. 5. The constant log 4 is NOT included:
    the value is <= 0 for every critic and its supremum over critics is 2 JSD - log 4, in
    [-log 4, 0]; add log 4 for a lower bound on 2 JSD(q(x,z) || q(x)q(z)). It grows with, but
    is not equal to, the KL mutual information.

    Args:
      t_joint: critic logits on joint pairs.
      t_marginal: critic logits on product-of-marginal pairs.

    Returns:
      Scalar (higher = more dependence); equals minus ``gan_discriminator_loss``.
    """
    return -jnp.mean(jax.nn.softplus(-jnp.asarray(t_joint))) - jnp.mean(
        jax.nn.softplus(jnp.asarray(t_marginal))
    )


def infonce_bound(scores: ArrayLike) -> Array:
    """InfoNCE lower bound on mutual information from a [B, B] score matrix.

    I(x; z) >= (1/B) sum_i [ f(x_i, z_i) - log sum_j exp f(x_i, z_j) ] + log B

    van den Oord et al. 2018 (CPC); Poole et al. 2019 (I_NCE). ``scores[i, j] = f(x_i, z_j)``
    with the positive (joint) pairs on the diagonal; the log-sum-exp runs over each row. Since
    each row's diagonal term is <= its logsumexp, the value never exceeds log B.

    Args:
      scores: ``[B, B]`` critic scores.

    Returns:
      Scalar lower bound in nats, <= log B (higher = more MI).
    """
    scores = jnp.asarray(scores)
    b = scores.shape[0]
    return jnp.mean(jnp.diagonal(scores) - jax.nn.logsumexp(scores, axis=1)) + math.log(b)


def smile_bound(t_joint: ArrayLike, t_marginal: ArrayLike, clip: float | None = None) -> Array:
    """SMILE estimator: Donsker-Varadhan with the marginal scores clipped.

    I_SMILE = E_{q(x,z)}[t] - log E_{q(x)q(z)}[exp(clip(t, -tau, tau))]

    Song & Ermon 2020 ("Understanding the limitations of variational mutual information
    estimators", SMILE); clipping the density ratio to [e^-tau, e^tau] trades a small bias for
    bounded variance. ``clip=None`` gives exactly ``donsker_varadhan_bound``.

    Args:
      t_joint: critic scores on joint pairs.
      t_marginal: critic scores on product-of-marginal pairs.
      clip: tau > 0, or ``None`` for no clipping.

    Returns:
      Scalar estimate in nats (higher = more MI).
    """
    t_marginal = jnp.asarray(t_marginal)
    if clip is not None:
        t_marginal = jnp.clip(t_marginal, -clip, clip)
    return donsker_varadhan_bound(t_joint, t_marginal)


def barber_agakov_bound(log_r: ArrayLike, entropy: ArrayLike) -> Array:
    """Barber-Agakov variational infomax lower bound.

    I(x; z) >= H(z) + E_{p(x,z)}[log r(z | x)]

    Mutual Autoencoder eq. 7 (Barber & Agakov 2003, Theorem 1); VMI thesis eq. 4.8-4.9 (with the
    auxiliary Q(z|x) as r). Equality when r(z|x) = p(z|x).

    Args:
      log_r: ``[B]`` log r(z_i | x_i) at joint samples.
      entropy: H(z) in nats, scalar or ``[B]`` (averaged).

    Returns:
      Scalar lower bound in nats (higher = more MI).
    """
    log_r = jnp.asarray(log_r)
    return jnp.mean(jnp.asarray(entropy, dtype=log_r.dtype)) + jnp.mean(log_r)


def shuffle_marginal(key: jax.Array, z: ArrayLike) -> Array:
    """Re-pairs z across the batch (axis 0) so that (x_i, z'_i) are draws from q(x) q(z).

    The standard way to sample the product of marginals for the critic's second term (InfoMax-VAE
    eq. 5-6, E_{q(x)q(z)}; MINE, Belghazi et al. 2018). The permutation is a uniformly random
    B-cycle, built from ``jax.random.permutation``: a derangement, so no x_i keeps its own code
    and, for every i, z'_i = z_j with j uniform over the other B - 1 indices. Each pair is then an
    exact draw from q(x) q(z). (A plain random permutation leaves one joint pair in place on
    average; with a critic near log q(x,z)/(q(x)q(z)) that biases NWJ down by
    (E_q(x,z)[ratio] - 1) / B, which is large when MI is high.) A batch of one is returned as is.

    Args:
      key: PRNG key.
      z: ``[B, ...]`` latent codes paired with x by index.

    Returns:
      ``[B, ...]`` the rows of z, re-ordered with no row left in place (for B > 1).
    """
    z = jnp.asarray(z)
    b = z.shape[0]
    order = jax.random.permutation(key, b)  # the cycle order[0] -> order[1] -> ... -> order[0]
    source = jnp.zeros((b,), order.dtype).at[order].set(jnp.roll(order, -1))
    return jnp.take(z, source, axis=0)


def mi_target_penalty(mi: ArrayLike, target: ArrayLike, weight: ArrayLike) -> Array:
    """Exact (L1) penalty that holds mutual information at a target value.

    penalty = C * |I(x; z) - M|

    Mutual Autoencoder eq. 6 (exact penalty function, Zangwill 1967), added as a loss to
    minimise; C = ``weight``, M = ``target``.

    Args:
      mi: MI estimate, e.g. ``barber_agakov_bound(...)`` (scalar or any shape).
      target: desired MI M >= 0 in nats.
      weight: penalty constant C > 0.

    Returns:
      The penalty, same shape as ``mi`` (>= 0).
    """
    return jnp.asarray(weight) * jnp.abs(jnp.asarray(mi) - jnp.asarray(target))


def aggregate_posterior_mi(z: ArrayLike, mean: ArrayLike, log_var: ArrayLike) -> Array:
    """Mutual information of the encoder against the mini-batch aggregate posterior.

    I_q(x; z) ~= (1/N) sum_i [ log q(z_i | x_i) - log (1/N) sum_j q(z_i | x_j) ]

    InfoVAE appendix B.2 (Hoffman & Johnson 2016), with Gaussian q(z|x_j) = N(mean_j,
    diag(exp(log_var_j))) and z_i ~ q(z | x_i). The inner average is a logsumexp. The estimate
    is <= log N, because the j = i term alone is log q(z_i|x_i) - log N.

    Args:
      z: ``[N, D]`` samples, z_i ~ q(z | x_i).
      mean: ``[N, D]`` posterior means.
      log_var: ``[N, D]`` posterior log-variances.

    Returns:
      Scalar estimate in nats, in (-inf, log N].
    """
    z = jnp.asarray(z)
    mean = jnp.asarray(mean, dtype=z.dtype)
    log_var = jnp.asarray(log_var, dtype=z.dtype)
    n = z.shape[0]
    # log q(z_i | x_j): [N, N] (rows i index samples, columns j index posteriors).
    diff = z[:, None, :] - mean[None, :, :]  # [N, N, D]
    log_q = -0.5 * jnp.sum(
        jnp.square(diff) * jnp.exp(-log_var)[None] + log_var[None] + math.log(2.0 * math.pi),
        axis=-1,
    )  # [N, N]
    log_q_joint = jnp.diagonal(log_q)  # [N]
    log_q_aggregate = jax.nn.logsumexp(log_q, axis=1) - math.log(n)  # [N]
    return jnp.mean(log_q_joint - log_q_aggregate)
