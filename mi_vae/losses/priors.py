"""Latent priors: log-densities, entropies and reparameterised samplers.

Log-densities and entropies are per example, ``[B, D] -> [B]`` (summed over the last axis).
Samplers return arrays of the requested shape. VIMAE (Variational InfoMax AutoEncoder) uses both
a Normal prior (VIMAE-n) and a Logistic(0, 1) prior (VIMAE-l), VIMAE section V; the VMI thesis
uses a Gumbel-softmax categorical latent (thesis eq. 4.20).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array

_LOG_2PI = math.log(2.0 * math.pi)
_LOG_2PI_E = math.log(2.0 * math.pi * math.e)


def draw_flat(sampler, key: jax.Array, shape, dtype=jnp.float32) -> Array:
    """``sampler(key, shape, dtype)`` drawn as a flat vector and reshaped to ``shape``.

    x = reshape(sampler(key, (prod(shape),)), shape)

    The same distribution as an N-d draw; XLA:CPU compiles JAX's partitionable threefry for a 1-D
    shape several times faster than for an N-d one (e.g. 0.3 s instead of 3.7 s for (4, 128, 10)).
    ``sampler`` is a ``jax.random`` function such as ``jax.random.normal`` or ``jax.random.gumbel``.

    References:
      - J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw. "Parallel Random Numbers: As Easy as 1, 2, 3". SC 2011 (no
        arXiv id).
      - D. P. Kingma, M. Welling. "Auto-Encoding Variational Bayes". 2013. arXiv:1312.6114. Section 2.4 (the noise eps
        of the reparameterisation).

    Examples:
      >>> import jax
      >>> from mi_vae import losses
      >>> losses.draw_flat(jax.random.normal, jax.random.PRNGKey(0), (2, 3)).shape
      (2, 3)
    """
    return sampler(key, (math.prod(shape),), dtype).reshape(shape)


def sample_normal(key: jax.Array, shape, dtype=jnp.float32) -> Array:
    """Standard normal samples of ``shape`` (drawn flat: see ``draw_flat``).

    eps_i ~ N(0, 1) i.i.d.

    The noise of the reparameterisation trick z = mean + sigma * eps (``reparameterize``).

    References:
      - D. P. Kingma, M. Welling. "Auto-Encoding Variational Bayes". 2013. arXiv:1312.6114. Section 2.4.

    Examples:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> eps = losses.sample_normal(jax.random.PRNGKey(0), (10000,))
      >>> eps.shape, abs(float(eps.mean())) < 0.05, abs(float(eps.std()) - 1.0) < 0.05
      ((10000,), True, True)
    """
    return draw_flat(jax.random.normal, key, shape, dtype)


def reparameterize(key: jax.Array, mean: ArrayLike, log_var: ArrayLike, num_samples: int | None = None) -> Array:
    """z ~ N(mean, diag(exp(log_var))) by reparameterisation (Kingma & Welling 2014, section 2.4).

    z = mean + exp(log_var / 2) * eps,  eps ~ N(0, I) (``sample_normal``), differentiable in mean and log_var.

    Args:
      key: PRNG key.
      mean: ``[B, D]`` mean of the diagonal Gaussian q(z|x).
      log_var: ``[B, D]`` its log-variances.
      num_samples: None for one draw ``[B, D]``; k for k independent draws ``[k, B, D]``.

    Returns:
      ``[B, D]`` or ``[k, B, D]`` samples.

    References:
      - D. P. Kingma, M. Welling. "Auto-Encoding Variational Bayes". 2013. arXiv:1312.6114. Section 2.4.

    Examples:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # 4 draws for a batch of 2 codes of size 3; a tiny variance puts every draw at the mean
      >>> z = losses.reparameterize(jax.random.PRNGKey(0), jnp.ones((2, 3)), jnp.full((2, 3), -100.0), num_samples=4)
      >>> z.shape, float(z.min()), float(z.max())
      ((4, 2, 3), 1.0, 1.0)
    """
    mean, log_var = jnp.asarray(mean), jnp.asarray(log_var)
    shape = mean.shape if num_samples is None else (num_samples, *mean.shape)
    return mean + jnp.exp(0.5 * log_var) * sample_normal(key, shape, mean.dtype)


def diag_gaussian_log_prob(z: ArrayLike, mean: ArrayLike, log_var: ArrayLike) -> Array:
    """Diagonal Gaussian log-density, per example, summed over the last axis.

    log N(z; m, diag(exp(v))) = sum_d [ -0.5 (z_d - m_d)^2 exp(-v_d) - 0.5 v_d - 0.5 log(2 pi) ]

    The encoder's q(z|x), the Mutual Autoencoder's r(z|x) (eq. 9) and the VMI thesis's Q(z_hat|x_hat)
    (eq. 4.13). Leading axes broadcast.

    Args:
      z: ``[..., D]`` points.
      mean: ``[..., D]`` means.
      log_var: ``[..., D]`` log-variances (not log-scales).

    Returns:
      ``[...]`` log-density (nats).

    References:
      - Anonymous. "The Mutual Autoencoder: Controlling Information in Latent Code Representations". ICLR 2018
        submission, 2018 (OpenReview; no arXiv id). Eq. 9.
      - A. Serdega. "Variational Mutual Information Maximization Framework for VAE Latent Codes with Continuous and
        Discrete Priors" (the VMI thesis). M.S. thesis, KAIST, 2019. arXiv:2006.02227. Eq. 4.13.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # N(0; 0, I) in 2 dimensions: -log(2 pi)
      >>> round(float(losses.diag_gaussian_log_prob(jnp.zeros((1, 2)), jnp.zeros((1, 2)), jnp.zeros((1, 2)))[0]), 4)
      -1.8379
    """
    z, mean, log_var = jnp.asarray(z), jnp.asarray(mean), jnp.asarray(log_var)
    return -0.5 * jnp.sum(jnp.square(z - mean) * jnp.exp(-log_var) + log_var + _LOG_2PI, axis=-1)


def normal_log_prob(z: ArrayLike) -> Array:
    """Standard normal log-density, per example.

    log N(z; 0, I) = sum_d [ -0.5 z_d^2 - 0.5 log(2 pi) ]

    The prior p(z) = N(0, I) of the VAE (Kingma & Welling 2014; InfoVAE section 4.2; VIMAE-n,
    VIMAE section V).

    Args:
      z: ``[B, D]`` latent codes.

    Returns:
      ``[B]`` log-density summed over the last axis (nats).

    References:
      - D. P. Kingma, M. Welling. "Auto-Encoding Variational Bayes". 2013. arXiv:1312.6114.
      - S. Zhao, J. Song, S. Ermon. "InfoVAE: Information Maximizing Variational Autoencoders". 2017. arXiv:1706.02262.
        Section 4.2.
      - V. Crescimanna, B. Graham. "The Variational InfoMax AutoEncoder" (VIMAE). 2019. arXiv:1905.10549. Section V
        (VIMAE-n).

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> round(float(losses.normal_log_prob(jnp.zeros((1, 2)))[0]), 4)  # -log(2 pi)
      -1.8379
    """
    z = jnp.asarray(z)
    return jnp.sum(-0.5 * jnp.square(z) - 0.5 * _LOG_2PI, axis=-1)


def logistic_log_prob(z: ArrayLike, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0) -> Array:
    """Logistic log-density, per example, in the overflow-free form.

    With u = (z - loc) / scale,
        log p(z) = sum_d [ -u - 2 softplus(-u) - log scale ]
    which equals -u - 2 log(1 + e^{-u}) - log s, the log of e^{-u} / (s (1 + e^{-u})^2), and stays
    finite for |u| large. The Logistic(0, 1) prior of VIMAE-l (VIMAE section V).

    Args:
      z: ``[B, D]`` latent codes.
      loc: location, broadcastable to ``z``.
      scale: scale s > 0, broadcastable to ``z``.

    Returns:
      ``[B]`` log-density summed over the last axis (nats).

    References:
      - V. Crescimanna, B. Graham. "The Variational InfoMax AutoEncoder" (VIMAE). 2019. arXiv:1905.10549. Section V
        (VIMAE-l).

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> round(float(losses.logistic_log_prob(jnp.zeros((1, 1)))[0]), 4)  # the density 1/4 at the mode
      -1.3863
    """
    z = jnp.asarray(z)
    loc = jnp.asarray(loc, dtype=z.dtype)
    scale = jnp.asarray(scale, dtype=z.dtype)
    u = (z - loc) / scale
    log_p = -u - 2.0 * jax.nn.softplus(-u) - jnp.log(scale)
    return jnp.sum(log_p, axis=-1)


def sample_logistic(
    key: Array,
    shape: tuple[int, ...],
    loc: ArrayLike = 0.0,
    scale: ArrayLike = 1.0,
    dtype: jnp.dtype = jnp.float32,
) -> Array:
    """Draws Logistic(loc, scale) samples by the inverse CDF.

    z = loc + scale * (log u - log(1 - u)),  u ~ Uniform(0, 1)

    u is clipped to [tiny, 1 - eps] (float32: ~1.2e-38 and ~6e-8), so samples are always finite
    (|u-quantile| <= ~87 in float32). Sampler for the VIMAE-l prior (VIMAE section V).

    Args:
      key: PRNG key.
      shape: output shape, e.g. ``(B, D)``.
      loc: location, broadcastable to ``shape``.
      scale: scale, broadcastable to ``shape``.
      dtype: floating dtype of the samples.

    Returns:
      Samples of shape ``shape``.

    References:
      - V. Crescimanna, B. Graham. "The Variational InfoMax AutoEncoder" (VIMAE). 2019. arXiv:1905.10549. Section V
        (VIMAE-l).

    Examples:
      >>> import math
      >>> import jax
      >>> from mi_vae import losses
      >>> z = losses.sample_logistic(jax.random.PRNGKey(0), (10000,))
      >>> z.shape, abs(float(z.mean())) < 0.1, abs(float(z.var()) - math.pi ** 2 / 3) < 0.3  # variance pi^2 / 3
      ((10000,), True, True)
    """
    finfo = jnp.finfo(dtype)
    u = draw_flat(jax.random.uniform, key, tuple(shape), dtype)
    u = jnp.clip(u, finfo.tiny, 1.0 - finfo.epsneg)
    return jnp.asarray(loc, dtype) + jnp.asarray(scale, dtype) * (jnp.log(u) - jnp.log1p(-u))


def normal_entropy(log_var: ArrayLike) -> Array:
    """Differential entropy of a diagonal Gaussian, per example.

    H(N(mu, diag(sigma^2))) = 0.5 * sum_d [ log(2 pi e) + log sigma_d^2 ]

    Used as H(z) in the Barber-Agakov bound (MAE eq. 7; VMI thesis eq. 4.9) when z is Gaussian,
    and to measure latent capacity (VIMAE eq. 8 and section III).

    Args:
      log_var: ``[B, D]`` log-variances.

    Returns:
      ``[B]`` entropy in nats, summed over the last axis.

    References:
      - Anonymous. "The Mutual Autoencoder: Controlling Information in Latent Code Representations". ICLR 2018
        submission, 2018 (OpenReview; no arXiv id). Eq. 7.
      - A. Serdega. "Variational Mutual Information Maximization Framework for VAE Latent Codes with Continuous and
        Discrete Priors" (the VMI thesis). M.S. thesis, KAIST, 2019. arXiv:2006.02227. Eq. 4.9.
      - V. Crescimanna, B. Graham. "The Variational InfoMax AutoEncoder" (VIMAE). 2019. arXiv:1905.10549. Eq. 8 and
        section III.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> round(float(losses.normal_entropy(jnp.zeros((1, 1)))[0]), 4)  # 0.5 log(2 pi e)
      1.4189
    """
    log_var = jnp.asarray(log_var)
    return 0.5 * jnp.sum(_LOG_2PI_E + log_var, axis=-1)


def logistic_entropy(log_scale: ArrayLike) -> Array:
    """Differential entropy of independent Logistic(loc, s_d) coordinates, per example.

    H(Logistic(mu, s)) = log s + 2  per dimension (the standard logistic has 2 nats),
    summed over the last axis. Entropy of the VIMAE-l prior, which bounds the network capacity
    (VIMAE eq. 8 and section III).

    Args:
      log_scale: ``[B, D]`` log-scales (zeros give the standard logistic: 2 nats per dimension).

    Returns:
      ``[B]`` entropy in nats, summed over the last axis.

    References:
      - V. Crescimanna, B. Graham. "The Variational InfoMax AutoEncoder" (VIMAE). 2019. arXiv:1905.10549. Eq. 8 and
        section III.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> losses.logistic_entropy(jnp.zeros((1, 3))).tolist()  # 2 nats per standard logistic coordinate
      [6.0]
    """
    log_scale = jnp.asarray(log_scale)
    return jnp.sum(log_scale + 2.0, axis=-1)


def gumbel_softmax(
    key: Array, logits: ArrayLike, temperature: ArrayLike, hard: bool = False
) -> Array:
    """Gumbel-softmax (Concrete) relaxed categorical sample.

    y_k = softmax((logits + g) / tau)_k,  g_k ~ Gumbel(0, 1) i.i.d.

    VMI thesis eq. 4.20 (Jang, Gu & Poole 2017; Maddison, Mnih & Teh 2017); ``logits`` stand for
    log pi up to a constant. With ``hard=True`` the forward value is the one-hot of argmax(y),
    a draw from Categorical(softmax(logits)) by the Gumbel-max trick, and the gradient is the
    straight-through one of the soft sample: y_hard - stop_gradient(y_soft) + y_soft.

    Args:
      key: PRNG key.
      logits: ``[B, K]`` unnormalised log-probabilities (any leading shape works, K last).
      temperature: tau > 0; smaller is closer to one-hot.
      hard: return one-hot samples with straight-through gradients.

    Returns:
      ``[B, K]`` samples on the probability simplex (one-hot if ``hard``).

    References:
      - A. Serdega. "Variational Mutual Information Maximization Framework for VAE Latent Codes with Continuous and
        Discrete Priors" (the VMI thesis). M.S. thesis, KAIST, 2019. arXiv:2006.02227. Eq. 4.20.
      - E. Jang, S. Gu, B. Poole. "Categorical Reparameterization with Gumbel-Softmax". ICLR 2017. arXiv:1611.01144.
      - C. J. Maddison, A. Mnih, Y. W. Teh. "The Concrete Distribution: A Continuous Relaxation of Discrete Random
        Variables". ICLR 2017. arXiv:1611.00712.

    Examples:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> y = losses.gumbel_softmax(jax.random.PRNGKey(0), jnp.zeros((2, 4)), temperature=0.5)
      >>> y.shape, [round(s, 4) for s in y.sum(axis=-1).tolist()]  # points on the simplex
      ((2, 4), [1.0, 1.0])
      >>> hard = losses.gumbel_softmax(jax.random.PRNGKey(0), jnp.zeros((2, 4)), temperature=0.5, hard=True)
      >>> hard.sum(axis=-1).tolist(), sorted(set(hard.ravel().tolist()))  # one-hot rows
      ([1.0, 1.0], [0.0, 1.0])
    """
    logits = jnp.asarray(logits)
    g = draw_flat(jax.random.gumbel, key, logits.shape, logits.dtype)
    perturbed = logits + g
    y_soft = jax.nn.softmax(perturbed / temperature, axis=-1)
    if not hard:
        return y_soft
    # argmax of the perturbed logits (not of y_soft, which may tie after underflow at small tau).
    y_hard = jax.nn.one_hot(jnp.argmax(perturbed, axis=-1), logits.shape[-1], dtype=y_soft.dtype)
    return y_hard - jax.lax.stop_gradient(y_soft) + y_soft
