"""Divergences between distributions: closed-form KLs, kernel MMD, Stein and adversarial losses.

Conventions:

- ``gaussian_kl`` and ``categorical_kl_to_uniform`` are per example, ``[B, D] -> [B]``.
- ``mmd``, ``stein_surrogate`` and the GAN losses are batch scalars.
- Kernels are multi-scale: the Gram matrix is the SUM over ``scales`` of single-scale kernels, so
  k(x, x) = len(scales) for both kernels. With d the (flattened) feature dimension:
    RBF  k(x, y) = sum_s exp(-||x - y||^2 / (s * 2d))          (base bandwidth 2d)
    IMQ  k(x, y) = sum_s C_s / (C_s + ||x - y||^2),  C_s = 2d * s
  2d = E||x - y||^2 for x, y ~ N(0, I_d), so scale 1 matches the typical distance under the unit
  Gaussian prior; this is the IMQ convention of WAE (Tolstikhin et al. 2018, C = 2 d sigma^2 with
  sigma^2 = 1), used for both kernels so they are comparable. ``DEFAULT_SCALES`` is WAE's list.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array
Kernel = Callable[..., Array]

DEFAULT_SCALES: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


# ----------------------------------------------------------------------------- closed-form KLs


def gaussian_kl(mean: ArrayLike, log_var: ArrayLike) -> Array:
    """KL between a diagonal Gaussian posterior and the standard normal prior, per example.

    KL(N(mu, diag(e^{log_var})) || N(0, I)) = 0.5 * sum_d [ e^{log_var_d} + mu_d^2 - 1 - log_var_d ]

    The regulariser of the ELBO (Kingma & Welling 2014, appendix B; InfoMax-VAE eq. 1; VIMAE eq. 2;
    VMI thesis eq. 4.10).

    Args:
      mean: ``[B, D]`` posterior means.
      log_var: ``[B, D]`` posterior log-variances.

    Returns:
      ``[B]`` KL in nats (>= 0), summed over the last axis.

    References:
      - D. P. Kingma, M. Welling. "Auto-Encoding Variational Bayes". 2013. arXiv:1312.6114. Appendix B.
      - A. Lotfi Rezaabad, S. Vishwanath. "Learning Representations by Maximizing Mutual Information in Variational
        Autoencoders" (InfoMax-VAE). 2020. arXiv:1912.13361. Eq. 1.
      - V. Crescimanna, B. Graham. "The Variational InfoMax AutoEncoder" (VIMAE). 2019. arXiv:1905.10549. Eq. 2.
      - A. Serdega. "Variational Mutual Information Maximization Framework for VAE Latent Codes with Continuous and
        Discrete Priors" (the VMI thesis). M.S. thesis, KAIST, 2019. arXiv:2006.02227. Eq. 4.10.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # a unit mean shift in one of two dimensions costs 0.5 nats
      >>> losses.gaussian_kl(jnp.array([[1.0, 0.0]]), jnp.zeros((1, 2))).tolist()
      [0.5]
    """
    mean = jnp.asarray(mean)
    log_var = jnp.asarray(log_var, dtype=mean.dtype)
    return 0.5 * jnp.sum(jnp.exp(log_var) + jnp.square(mean) - 1.0 - log_var, axis=-1)


def categorical_kl_to_uniform(logits: ArrayLike) -> Array:
    """KL between a categorical posterior and the uniform prior over K classes, per example.

    KL(softmax(l) || Uniform(K)) = sum_k p_k log p_k + log K,   log p = log_softmax(l)

    The discrete-latent KL of the joint Gaussian + categorical VAE (VMI thesis eq. 4.19, with the
    uniform prior p(c) of section 4.3.2). Computed from ``log_softmax`` so it is finite for any
    logits.

    Args:
      logits: ``[B, K]`` unnormalised log-probabilities.

    Returns:
      ``[B]`` KL in nats, in [0, log K].

    References:
      - A. Serdega. "Variational Mutual Information Maximization Framework for VAE Latent Codes with Continuous and
        Discrete Priors" (the VMI thesis). M.S. thesis, KAIST, 2019. arXiv:2006.02227. Eq. 4.19, section 4.3.2.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # uniform logits: 0; a nearly one-hot posterior over 4 classes: log 4
      >>> kl = losses.categorical_kl_to_uniform(jnp.array([[0.0, 0.0, 0.0, 0.0], [50.0, 0.0, 0.0, 0.0]]))
      >>> [round(v, 4) for v in kl.tolist()]
      [0.0, 1.3863]
    """
    logits = jnp.asarray(logits)
    log_p = jax.nn.log_softmax(logits, axis=-1)
    num_classes = logits.shape[-1]
    return jnp.sum(jnp.exp(log_p) * log_p, axis=-1) + math.log(num_classes)


# ----------------------------------------------------------------------------- kernels and MMD


def _flatten(x: ArrayLike) -> Array:
    x = jnp.asarray(x)
    return x.reshape(x.shape[0], -1) if x.ndim != 2 else x


def squared_distances(x: ArrayLike, y: ArrayLike) -> Array:
    """Pairwise squared Euclidean distances ``[N, ...], [M, ...] -> [N, M]``.

    D_ij = ||x_i - y_j||^2 = sum_d (x_id - y_jd)^2   (non-batch axes flattened)

    The distances inside every kernel of ``rbf_kernel``, ``imq_kernel``, ``mmd`` and ``stein_surrogate``.
    Computed from explicit differences (not ||x||^2 + ||y||^2 - 2 x.y), so the result is exactly
    non-negative and accurate in float32.

    References:
      - A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schoelkopf, A. Smola. "A Kernel Two-Sample Test". JMLR 13, 2012 (no
        arXiv id).
      - I. Tolstikhin, O. Bousquet, S. Gelly, B. Schoelkopf. "Wasserstein Auto-Encoders". ICLR 2018. arXiv:1711.01558.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> losses.squared_distances(jnp.array([[0.0, 0.0]]), jnp.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
      [[25.0, 0.0]]
    """
    x, y = _flatten(x), _flatten(y)
    return jnp.sum(jnp.square(x[:, None, :] - y[None, :, :]), axis=-1)


def _median(values: Array) -> Array:
    return jax.lax.stop_gradient(jnp.median(values))


def _offdiag_median(sq: Array) -> Array:
    """Median of the strictly-upper-triangular entries of a square distance matrix (no gradient)."""
    n = sq.shape[0]
    if n < 2:
        return jnp.ones((), sq.dtype)
    rows, cols = jnp.triu_indices(n, k=1)
    return _median(sq[rows, cols])


def rbf_kernel(
    x: ArrayLike,
    y: ArrayLike,
    scales: Sequence[float] = DEFAULT_SCALES,
    bandwidth: ArrayLike | str | None = None,
) -> Array:
    """Multi-scale Gaussian (RBF) kernel Gram matrix.

    k(x, y) = sum_s exp(-||x - y||^2 / (s * h))

    Base bandwidth h (named convention, see the module docstring):
      - ``None``: h = 2d, d the flattened feature dimension (scale 1 = typical distance of two
        N(0, I_d) draws; InfoVAE's MMD-VAE uses an RBF kernel, InfoVAE section 4.1.3).
      - a number: h = bandwidth.
      - ``"median"``: h = median of the N*M entries of the squared-distance matrix (median
        heuristic, Gretton et al. 2012), without gradient. ``mmd`` instead resolves ``"median"``
        once on the pooled sample so that all three Gram blocks share one h.

    Args:
      x: ``[N, ...]`` samples (non-batch axes are flattened).
      y: ``[M, ...]`` samples.
      scales: multipliers of h; the single-scale kernels are summed.
      bandwidth: see above.

    Returns:
      ``[N, M]`` Gram matrix; k(x, x) = len(scales).

    References:
      - S. Zhao, J. Song, S. Ermon. "InfoVAE: Information Maximizing Variational Autoencoders". 2017. arXiv:1706.02262.
        Section 4.1.3.
      - A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schoelkopf, A. Smola. "A Kernel Two-Sample Test". JMLR 13, 2012 (no
        arXiv id).

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> x = jnp.array([[0.0], [1.0]])
      >>> float(losses.rbf_kernel(x, x)[0, 0])  # k(x, x) = len(DEFAULT_SCALES)
      7.0
      >>> round(float(losses.rbf_kernel(x, x, scales=(1.0,), bandwidth=2.0)[0, 1]), 4)  # exp(-1 / 2)
      0.6065
    """
    sq = squared_distances(x, y)
    if bandwidth is None:
        h = jnp.asarray(2.0 * _flatten(x).shape[1], sq.dtype)
    elif isinstance(bandwidth, str):
        if bandwidth != "median":
            raise ValueError(f"bandwidth must be None, a number or 'median', got {bandwidth!r}")
        h = jnp.maximum(_median(sq), jnp.finfo(sq.dtype).tiny)
    else:
        h = jnp.asarray(bandwidth, sq.dtype)
    return sum(jnp.exp(-sq / (s * h)) for s in scales)


def imq_kernel(x: ArrayLike, y: ArrayLike, scales: Sequence[float] = DEFAULT_SCALES) -> Array:
    """Multi-scale inverse multiquadratic kernel Gram matrix (WAE convention).

    k(x, y) = sum_s C_s / (C_s + ||x - y||^2),   C_s = 2 d s

    with d the flattened feature dimension; this is the kernel of WAE-MMD (Tolstikhin et al. 2018,
    C = 2 d sigma^2 with prior variance sigma^2 = 1), whose heavy tails give useful
    gradients far from the prior. An alternative MMD kernel for MMD-VAE / VIMAE (InfoVAE section
    4.1.3; VIMAE eq. 12).

    Args:
      x: ``[N, ...]`` samples (non-batch axes are flattened).
      y: ``[M, ...]`` samples.
      scales: multipliers s of the base constant 2d; the single-scale kernels are summed.

    Returns:
      ``[N, M]`` Gram matrix; k(x, x) = len(scales).

    References:
      - I. Tolstikhin, O. Bousquet, S. Gelly, B. Schoelkopf. "Wasserstein Auto-Encoders". ICLR 2018. arXiv:1711.01558.
        Section 4.
      - S. Zhao, J. Song, S. Ermon. "InfoVAE: Information Maximizing Variational Autoencoders". 2017. arXiv:1706.02262.
        Section 4.1.3.
      - V. Crescimanna, B. Graham. "The Variational InfoMax AutoEncoder" (VIMAE). 2019. arXiv:1905.10549. Eq. 12.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> x = jnp.array([[0.0], [1.0]])
      >>> float(losses.imq_kernel(x, x)[0, 0])  # k(x, x) = len(DEFAULT_SCALES)
      7.0
      >>> round(float(losses.imq_kernel(x, x, scales=(1.0,))[0, 1]), 4)  # C = 2 d = 2: 2 / (2 + 1)
      0.6667
    """
    sq = squared_distances(x, y)
    base = 2.0 * _flatten(x).shape[1]
    return sum((base * s) / (base * s + sq) for s in scales)


_KERNELS: dict[str, Kernel] = {"rbf": rbf_kernel, "imq": imq_kernel}


def mmd(
    x: ArrayLike,
    y: ArrayLike,
    kernel: str | Kernel = "rbf",
    unbiased: bool = False,
    **kernel_kwargs: Any,
) -> Array:
    """Squared maximum mean discrepancy between two samples.

    MMD^2(q, p) = E_{q,q}[k(z, z')] + E_{p,p}[k(z, z')] - 2 E_{q,p}[k(z, z')]

    InfoVAE section 4.1.3 (MMD-VAE, L_MMD) and VIMAE eq. 12 (Gretton et al. 2012). Estimators:
      - ``unbiased=False``: V-statistic, plain means of the three Gram blocks including their
        diagonals; always >= 0 (it is ||mean phi(x) - mean phi(y)||^2 in feature space).
      - ``unbiased=True``: U-statistic, the diagonals of k(x, x) and k(y, y) are dropped
        (divide by N(N-1) and M(M-1)); unbiased for MMD^2 but can be negative.

    Args:
      x: ``[N, ...]`` samples, e.g. encoder codes z ~ q(z).
      y: ``[M, ...]`` samples, e.g. prior draws z ~ p(z).
      kernel: ``"rbf"``, ``"imq"`` (see the module docstring for their bandwidths) or a callable
        ``kernel(x, y, **kernel_kwargs) -> [N, M]``.
      unbiased: use the U-statistic.
      **kernel_kwargs: passed to the kernel (``scales``, and for rbf ``bandwidth``; for rbf
        ``bandwidth="median"`` is resolved once on the pooled sample [x; y], off-diagonal pairs).

    Returns:
      Scalar squared MMD in kernel units (larger = more different).

    References:
      - S. Zhao, J. Song, S. Ermon. "InfoVAE: Information Maximizing Variational Autoencoders". 2017. arXiv:1706.02262.
        Section 4.1.3.
      - V. Crescimanna, B. Graham. "The Variational InfoMax AutoEncoder" (VIMAE). 2019. arXiv:1905.10549. Eq. 12.
      - A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schoelkopf, A. Smola. "A Kernel Two-Sample Test". JMLR 13, 2012 (no
        arXiv id).

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> x = jnp.array([[0.0], [1.0]])
      >>> float(losses.mmd(x, x))  # the V-statistic of a sample against itself
      0.0
      >>> round(float(losses.mmd(x, x + 3.0, kernel="imq", scales=(1.0,))), 4)
      1.2626
    """
    x, y = _flatten(x), _flatten(y)
    if isinstance(kernel, str):
        if kernel not in _KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; expected one of {sorted(_KERNELS)}")
        if kernel == "rbf" and isinstance(kernel_kwargs.get("bandwidth"), str):
            if kernel_kwargs["bandwidth"] != "median":
                raise ValueError(f"unknown bandwidth {kernel_kwargs['bandwidth']!r}")
            pooled = jnp.concatenate([x, y], axis=0)
            kernel_kwargs = dict(kernel_kwargs)
            kernel_kwargs["bandwidth"] = jnp.maximum(
                _offdiag_median(squared_distances(pooled, pooled)), jnp.finfo(x.dtype).tiny
            )
        kernel = _KERNELS[kernel]
    k_xx = kernel(x, x, **kernel_kwargs)  # [N, N]
    k_yy = kernel(y, y, **kernel_kwargs)  # [M, M]
    k_xy = kernel(x, y, **kernel_kwargs)  # [N, M]
    n, m = x.shape[0], y.shape[0]
    if unbiased:
        term_xx = (jnp.sum(k_xx) - jnp.trace(k_xx)) / (n * (n - 1))
        term_yy = (jnp.sum(k_yy) - jnp.trace(k_yy)) / (m * (m - 1))
    else:
        term_xx = jnp.mean(k_xx)
        term_yy = jnp.mean(k_yy)
    return term_xx + term_yy - 2.0 * jnp.mean(k_xy)


# ----------------------------------------------------------------------------- Stein


def stein_surrogate(
    z: ArrayLike,
    score_fn: Callable[[Array], Array],
    bandwidth: ArrayLike | None = None,
) -> Array:
    """Surrogate loss whose gradient w.r.t. z is minus the Stein variational gradient direction.

    InfoVAE section 4.1.2 (Stein variational gradient, Liu & Wang 2016, Lemma 3.2 and Algorithm 1):
        phi(z_i) = (1/n) sum_j [ k(z_j, z_i) grad log p(z_j) + grad_{z_j} k(z_j, z_i) ]
        surrogate = - sum_i stop_gradient(phi(z_i)) . z_i
    so d surrogate / d z_i = -phi(z_i) EXACTLY (sum over particles, not mean). Gradient descent
    with step eps on z is the SVGD update z_i <- z_i + eps phi(z_i) that decreases KL(q(z)||p(z)).
    InfoVAE writes the loss as z^T stop_gradient(phi), i.e. with the opposite sign convention for
    phi; here a loss to MINIMISE is returned. Because it is a sum, its scale grows with the
    batch size n; the regulariser weight absorbs that.

    Kernel: k(a, b) = exp(-||a - b||^2 / h) with, by default, the median heuristic of Liu & Wang
    h = med^2 / log(n + 1), med^2 the median squared distance between distinct particles.
    Kernel, bandwidth and score are all held constant (stop_gradient); the value itself is
    not a divergence and only its gradient is meaningful.

    Args:
      z: ``[n, D]`` particles, e.g. encoder codes of a mini-batch.
      score_fn: ``score_fn(z) -> [n, D]``, grad_z log p(z) of the target (``lambda z: -z`` for
        N(0, I)).
      bandwidth: h; ``None`` for the median heuristic.

    Returns:
      Scalar surrogate loss.

    References:
      - S. Zhao, J. Song, S. Ermon. "InfoVAE: Information Maximizing Variational Autoencoders". 2017. arXiv:1706.02262.
        Section 4.1.2.
      - Q. Liu, D. Wang. "Stein Variational Gradient Descent: A General Purpose Bayesian Inference Algorithm".
        NIPS 2016. arXiv:1608.04471. Lemma 3.2 and Algorithm 1.

    Examples:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> z = jnp.array([[-1.0], [1.0]])
      >>> grad = jax.grad(lambda z: losses.stein_surrogate(z, lambda z: -z, bandwidth=1.0))(z)
      >>> [round(g, 4) for g in grad[:, 0].tolist()]  # -phi: descent moves both particles towards the mode 0
      [-0.4542, 0.4542]
    """
    z = jnp.asarray(z)
    zs = jax.lax.stop_gradient(z)
    n = zs.shape[0]
    score = jax.lax.stop_gradient(score_fn(zs))  # [n, D]
    sq = squared_distances(zs, zs)  # [n, n]
    if bandwidth is None:
        h = _offdiag_median(sq) / math.log(n + 1)
    else:
        h = jnp.asarray(bandwidth, zs.dtype)
    h = jax.lax.stop_gradient(jnp.maximum(h, jnp.finfo(zs.dtype).tiny))
    k = jnp.exp(-sq / h)  # [n, n], symmetric: k[i, j] = k(z_j, z_i)
    # grad_{z_j} k(z_j, z_i) = (2 / h) (z_i - z_j) k_ij, summed over j.
    repulsion = (2.0 / h) * (zs * jnp.sum(k, axis=1, keepdims=True) - k @ zs)  # [n, D]
    phi = jax.lax.stop_gradient((k @ score + repulsion) / n)  # [n, D]
    return -jnp.sum(phi * z)


# ----------------------------------------------------------------------------- adversarial


def gan_discriminator_loss(logits_real: ArrayLike, logits_fake: ArrayLike) -> Array:
    """Binary cross-entropy of a discriminator, from logits (to minimise).

    L_D = mean softplus(-D(real)) + mean softplus(D(fake))
        = -E_p[log sigmoid(D)] - E_q[log(1 - sigmoid(D))]

    The adversarial regulariser of InfoVAE section 4.1.1 (adversarial autoencoder, Makhzani et al.
    2016; Goodfellow et al. 2014): "real" are prior samples z ~ p(z), "fake" are codes z ~ q(z).
    Its minimum over D equals log 4 - 2 JSD(p, q).

    Args:
      logits_real: ``[B]`` (or ``[B, 1]``) discriminator logits on real samples.
      logits_fake: ``[B']`` (or ``[B', 1]``) discriminator logits on generated samples.

    Returns:
      Scalar loss in nats (>= 0).

    References:
      - S. Zhao, J. Song, S. Ermon. "InfoVAE: Information Maximizing Variational Autoencoders". 2017. arXiv:1706.02262.
        Section 4.1.1.
      - A. Makhzani, J. Shlens, N. Jaitly, I. Goodfellow, B. Frey. "Adversarial Autoencoders". 2015. arXiv:1511.05644.
      - I. Goodfellow et al. "Generative Adversarial Nets". NIPS 2014. arXiv:1406.2661.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> round(float(losses.gan_discriminator_loss(jnp.zeros(4), jnp.zeros(4))), 4)  # D undecided: 2 log 2
      1.3863
    """
    return jnp.mean(jax.nn.softplus(-jnp.asarray(logits_real))) + jnp.mean(
        jax.nn.softplus(jnp.asarray(logits_fake))
    )


def gan_generator_loss(logits_fake: ArrayLike) -> Array:
    """Non-saturating generator (encoder) loss, from logits (to minimise).

    L_G = mean softplus(-D(fake)) = -E_q[log sigmoid(D(z))]

    The non-saturating form of Goodfellow et al. (2014) used for the adversarial regulariser of
    InfoVAE section 4.1.1 (adversarial autoencoder, Makhzani et al. 2016).

    Args:
      logits_fake: ``[B]`` (or ``[B, 1]``) discriminator logits on generated samples.

    Returns:
      Scalar loss in nats (>= 0).

    References:
      - I. Goodfellow et al. "Generative Adversarial Nets". NIPS 2014. arXiv:1406.2661.
      - S. Zhao, J. Song, S. Ermon. "InfoVAE: Information Maximizing Variational Autoencoders". 2017. arXiv:1706.02262.
        Section 4.1.1.
      - A. Makhzani, J. Shlens, N. Jaitly, I. Goodfellow, B. Frey. "Adversarial Autoencoders". 2015. arXiv:1511.05644.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> round(float(losses.gan_generator_loss(jnp.zeros(4))), 4)  # D undecided: log 2
      0.6931
    """
    return jnp.mean(jax.nn.softplus(-jnp.asarray(logits_fake)))
