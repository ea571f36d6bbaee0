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

    References:
      - A. Lotfi Rezaabad, S. Vishwanath. "Learning Representations by Maximizing Mutual Information in Variational
        Autoencoders" (InfoMax-VAE). 2020. arXiv:1912.13361. Eq. 5-6.
      - X. Nguyen, M. J. Wainwright, M. I. Jordan. "Estimating Divergence Functionals and the Likelihood Ratio by Convex
        Risk Minimization". IEEE Trans. Inf. Theory, 2010. arXiv:0809.0853.
      - S. Nowozin, B. Cseke, R. Tomioka. "f-GAN: Training Generative Neural Samplers using Variational Divergence
        Minimization". NIPS 2016. arXiv:1606.00709.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # E_joint[t] - E_marg[exp(t - 1)] = 2 - exp(-1)
      >>> round(float(losses.nwj_bound(jnp.array([2.0, 2.0]), jnp.array([0.0, 0.0]))), 4)
      1.6321
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

    References:
      - A. Lotfi Rezaabad, S. Vishwanath. "Learning Representations by Maximizing Mutual Information in Variational
        Autoencoders" (InfoMax-VAE). 2020. arXiv:1912.13361. Section IV.B.
      - M. D. Donsker, S. R. S. Varadhan. "Asymptotic Evaluation of Certain Markov Process Expectations for Large Time,
        IV". Comm. Pure Appl. Math., 1983 (no arXiv id).
      - M. I. Belghazi et al. "Mutual Information Neural Estimation" (MINE). ICML 2018. arXiv:1801.04062.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # E_joint[t] - log E_marg[exp t] = 2 - log 1
      >>> float(losses.donsker_varadhan_bound(jnp.array([2.0, 2.0]), jnp.array([0.0, 0.0])))
      2.0
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

    References:
      - S. Nowozin, B. Cseke, R. Tomioka. "f-GAN: Training Generative Neural Samplers using Variational Divergence
        Minimization". NIPS 2016. arXiv:1606.00709.
      - R. D. Hjelm et al. "Learning Deep Representations by Mutual Information Estimation and Maximization" (Deep
        InfoMax). ICLR 2019. arXiv:1808.06670.
      - A. Lotfi Rezaabad, S. Vishwanath. "Learning Representations by Maximizing Mutual Information in Variational
        Autoencoders" (InfoMax-VAE). 2020. arXiv:1912.13361. Eq. 5.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # an undecided critic (t = 0) scores -log 4, the value of independent variables
      >>> round(float(losses.js_bound(jnp.zeros(4), jnp.zeros(4))), 4)
      -1.3863
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

    References:
      - A. van den Oord, Y. Li, O. Vinyals. "Representation Learning with Contrastive Predictive Coding". 2018.
        arXiv:1807.03748.
      - B. Poole, S. Ozair, A. van den Oord, A. A. Alemi, G. Tucker. "On Variational Bounds of Mutual Information".
        ICML 2019. arXiv:1905.06922.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> round(float(losses.infonce_bound(10.0 * jnp.eye(4))), 4)  # near its ceiling log B = log 4
      1.3862
      >>> float(losses.infonce_bound(jnp.zeros((4, 4))))  # scores that cannot tell the pairs apart
      0.0
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

    References:
      - J. Song, S. Ermon. "Understanding the Limitations of Variational Mutual Information Estimators" (SMILE).
        ICLR 2020. arXiv:1910.06222.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> t_joint, t_marginal = jnp.array([2.0, 2.0]), jnp.array([10.0, -10.0])
      >>> round(float(losses.smile_bound(t_joint, t_marginal, clip=5.0)), 4)  # 2 - log((e^5 + e^-5) / 2)
      -2.3069
      >>> round(float(losses.smile_bound(t_joint, t_marginal)), 4)  # no clip: the DV bound
      -7.3069
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

    References:
      - Anonymous. "The Mutual Autoencoder: Controlling Information in Latent Code Representations". ICLR 2018
        submission, 2018 (OpenReview; no arXiv id). Eq. 7.
      - D. Barber, F. Agakov. "The IM Algorithm: A Variational Approach to Information Maximization". NIPS 2003 (no
        arXiv id). Theorem 1.
      - A. Serdega. "Variational Mutual Information Maximization Framework for VAE Latent Codes with Continuous and
        Discrete Priors" (the VMI thesis). M.S. thesis, KAIST, 2019. arXiv:2006.02227. Eq. 4.8-4.9.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # H(z) of N(0, 1) (1.4189 nats) plus E[log r(z|x)] = -1
      >>> entropy = losses.normal_entropy(jnp.zeros((1, 1)))
      >>> round(float(losses.barber_agakov_bound(jnp.array([-1.0, -1.0]), entropy)), 4)
      0.4189
    """
    log_r = jnp.asarray(log_r)
    return jnp.mean(jnp.asarray(entropy, dtype=log_r.dtype)) + jnp.mean(log_r)


def shuffle_marginal(key: jax.Array, z: ArrayLike) -> Array:
    """Re-pairs z across the batch (axis 0) so that (x_i, z'_i) are draws from q(x) q(z).

    z'_i = z_{sigma(i)},   sigma a uniformly random B-cycle (so sigma(i) != i for every i when B > 1)

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

    References:
      - A. Lotfi Rezaabad, S. Vishwanath. "Learning Representations by Maximizing Mutual Information in Variational
        Autoencoders" (InfoMax-VAE). 2020. arXiv:1912.13361. Eq. 5-6.
      - M. I. Belghazi et al. "Mutual Information Neural Estimation" (MINE). ICML 2018. arXiv:1801.04062.

    Examples:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> z = jnp.arange(5.0)
      >>> z_marginal = losses.shuffle_marginal(jax.random.PRNGKey(0), z)
      >>> bool(jnp.all(z_marginal != z)), sorted(z_marginal.tolist()) == z.tolist()  # a derangement of the rows
      (True, True)
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

    References:
      - Anonymous. "The Mutual Autoencoder: Controlling Information in Latent Code Representations". ICLR 2018
        submission, 2018 (OpenReview; no arXiv id). Eq. 6.
      - W. I. Zangwill. "Non-Linear Programming via Penalty Functions". Management Science, 1967 (no arXiv id).

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> float(losses.mi_target_penalty(jnp.array(1.5), 2.0, 10.0))  # C |I - M| = 10 * 0.5
      5.0
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

    References:
      - S. Zhao, J. Song, S. Ermon. "InfoVAE: Information Maximizing Variational Autoencoders". 2017. arXiv:1706.02262.
        Appendix B.2.
      - M. D. Hoffman, M. J. Johnson. "ELBO Surgery: Yet Another Way to Carve up the Variational Evidence Lower Bound".
        NIPS 2016 Workshop on Advances in Approximate Bayesian Inference (no arXiv id).

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # two posteriors far apart: each code reveals its input, log N = log 2 nats
      >>> mean = jnp.array([[0.0], [100.0]])
      >>> round(float(losses.aggregate_posterior_mi(mean, mean, jnp.zeros((2, 1)))), 4)
      0.6931
      >>> # identical posteriors: the code says nothing about the input
      >>> round(float(losses.aggregate_posterior_mi(mean, jnp.zeros((2, 1)), jnp.zeros((2, 1)))), 4)
      0.0
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
