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

    The same distribution as an N-d draw; XLA:CPU compiles JAX's partitionable threefry for a 1-D
    shape several times faster than for an N-d one (e.g. 0.3 s instead of 3.7 s for (4, 128, 10)).
    ``sampler`` is a ``jax.random`` function such as ``jax.random.normal`` or ``jax.random.gumbel``.
    """
    return sampler(key, (math.prod(shape),), dtype).reshape(shape)


def sample_normal(key: jax.Array, shape, dtype=jnp.float32) -> Array:
    """Standard normal samples of ``shape`` (drawn flat: see ``draw_flat``)."""
    return draw_flat(jax.random.normal, key, shape, dtype)


def reparameterize(key: jax.Array, mean: ArrayLike, log_var: ArrayLike, num_samples: int | None = None) -> Array:
    """z ~ N(mean, diag(exp(log_var))) by reparameterisation (Kingma & Welling 2014, section 2.4).

    z = mean + exp(log_var / 2) * eps,  eps ~ N(0, I) (``sample_normal``), differentiable in mean and log_var.

    Args:
      key: PRNG key.
      mean, log_var: ``[B, D]`` parameters of the diagonal Gaussian q(z|x).
      num_samples: None for one draw ``[B, D]``; k for k independent draws ``[k, B, D]``.

    Returns:
      ``[B, D]`` or ``[k, B, D]`` samples.
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
      mean, log_var: ``[..., D]`` parameters (log-variances, not log-scales).

    Returns:
      ``[...]`` log-density (nats).
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
