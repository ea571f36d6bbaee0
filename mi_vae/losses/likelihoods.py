"""Per-example log-likelihoods of the decoder p(x|z).

Both functions return ``[B]``: the log-likelihood of each example, summed over every non-batch
(event) axis. They are the reconstruction term E_q(z|x)[log p(x|z)] of the ELBO
(Kingma & Welling 2014; InfoMax-VAE eq. 1; InfoVAE eq. 2; VIMAE eq. 2; VMI thesis eq. 4.10).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def sum_event_axes(x: Array) -> Array:
    """Sums every axis but the first (batch) one: ``[B, ...] -> [B]``; ``[B]`` is returned as is.

    s_b = sum_{i, j, ...} x[b, i, j, ...]

    How every likelihood here turns per-value terms into one log p(x|z) per example.

    References:
      - D. P. Kingma, M. Welling. "Auto-Encoding Variational Bayes". 2013. arXiv:1312.6114. Section 2.3 (the log
        p(x|z) term of the estimator).

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae.losses.likelihoods import sum_event_axes
      >>> sum_event_axes(jnp.ones((2, 3, 4))).tolist()
      [12.0, 12.0]
    """
    return jnp.sum(x, axis=tuple(range(1, x.ndim)))


def bernoulli_log_prob(logits: ArrayLike, x: ArrayLike) -> Array:
    """Bernoulli log-likelihood from logits, per example.

    log p(x | l) = sum_event [ x * l - softplus(l) ]

    which equals x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)) without forming probabilities,
    so it is finite for any finite logit (this is minus the binary cross-entropy with logits).
    ``x`` may be binary or a continuous target in [0, 1] (common for grey-scale images); for
    non-binary x the value is a negative cross-entropy, not a normalised log-density.
    Decoder likelihood of the ELBO (Kingma & Welling 2014; InfoMax-VAE eq. 1, binary images).

    Args:
      logits: ``[B, ...]`` decoder logits.
      x: targets broadcastable to ``logits``, values in [0, 1].

    Returns:
      ``[B]`` log-likelihood per example, summed over all non-batch axes (nats, <= 0 for binary x).

    References:
      - D. P. Kingma, M. Welling. "Auto-Encoding Variational Bayes". 2013. arXiv:1312.6114. Appendix C.1 (Bernoulli MLP
        decoder).
      - A. Lotfi Rezaabad, S. Vishwanath. "Learning Representations by Maximizing Mutual Information in Variational
        Autoencoders" (InfoMax-VAE). 2020. arXiv:1912.13361. Eq. 1.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # logits 0 give p = 1/2 per pixel: 3 pixels, 3 log(1/2)
      >>> round(float(losses.bernoulli_log_prob(jnp.zeros((1, 3)), jnp.ones((1, 3)))[0]), 4)
      -2.0794
    """
    logits = jnp.asarray(logits)
    x = jnp.asarray(x, dtype=logits.dtype)
    return sum_event_axes(x * logits - jax.nn.softplus(logits))


def gaussian_log_prob(mean: ArrayLike, log_scale: ArrayLike, x: ArrayLike) -> Array:
    """Diagonal Gaussian log-density, per example.

    log N(x; mu, sigma^2) = sum_event [ -0.5 ((x - mu) / sigma)^2 - log sigma - 0.5 log(2 pi) ]

    with sigma = exp(log_scale); parameterising by ``log_scale`` keeps it finite for any input.
    Decoder likelihood for continuous data (Kingma & Welling 2014; InfoMax-VAE eq. 1; MAE eq. 4
    with continuous x).

    Args:
      mean: ``[B, ...]`` mean.
      log_scale: log standard deviation, broadcastable to ``mean`` (a scalar is fine, e.g. a fixed
        or learned global observation noise).
      x: ``[B, ...]`` observations.

    Returns:
      ``[B]`` log-density per example, summed over all non-batch axes (nats).

    References:
      - D. P. Kingma, M. Welling. "Auto-Encoding Variational Bayes". 2013. arXiv:1312.6114. Appendix C.2 (Gaussian MLP
        decoder).
      - A. Lotfi Rezaabad, S. Vishwanath. "Learning Representations by Maximizing Mutual Information in Variational
        Autoencoders" (InfoMax-VAE). 2020. arXiv:1912.13361. Eq. 1.
      - Anonymous. "The Mutual Autoencoder: Controlling Information in Latent Code Representations". ICLR 2018
        submission, 2018 (OpenReview; no arXiv id). Eq. 4.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # N(0; 0, 1) in 2 dimensions: -log(2 pi)
      >>> round(float(losses.gaussian_log_prob(jnp.zeros((1, 2)), 0.0, jnp.zeros((1, 2)))[0]), 4)
      -1.8379
    """
    mean = jnp.asarray(mean)
    x = jnp.asarray(x, dtype=mean.dtype)
    log_scale = jnp.asarray(log_scale, dtype=mean.dtype)
    shape = jnp.broadcast_shapes(mean.shape, x.shape, log_scale.shape)
    z = (x - mean) * jnp.exp(-log_scale)
    log_p = -0.5 * jnp.square(z) - log_scale - _HALF_LOG_2PI
    return sum_event_axes(jnp.broadcast_to(log_p, shape))


def categorical_log_prob(logits: ArrayLike, x: ArrayLike) -> Array:
    """Categorical log-likelihood of one-hot (or soft) targets from logits, per example.

    log p(x | l) = sum_event [ x * log_softmax(l) ]   (softmax over the last axis)

    Decoder likelihood for discrete data, e.g. the Mutual Autoencoder's uniform 10-way categorical
    data (Mutual Autoencoder, section 5.1); ``log_softmax`` keeps it finite for any logits.

    Args:
      logits: ``[B, ..., K]`` logits.
      x: one-hot (or probability) targets with the shape of ``logits``.

    Returns:
      ``[B]`` log-probability per example, summed over all non-batch axes (nats, <= 0).

    References:
      - Anonymous. "The Mutual Autoencoder: Controlling Information in Latent Code Representations". ICLR 2018
        submission, 2018 (OpenReview; no arXiv id). Section 5.1.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # uniform logits over 4 classes: log(1/4)
      >>> round(float(losses.categorical_log_prob(jnp.zeros((1, 4)), jnp.eye(4)[:1])[0]), 4)
      -1.3863
    """
    logits = jnp.asarray(logits)
    x = jnp.asarray(x, dtype=logits.dtype)
    return sum_event_axes(x * jax.nn.log_softmax(logits, axis=-1))


#: the padding id of token sequences (``mi_vae.data.text.PAD_ID``); padded positions carry no likelihood
PAD_ID = 0


def token_log_prob(logits: ArrayLike, tokens: ArrayLike, pad_id: int = PAD_ID) -> Array:
    """Log-likelihood of token sequences, per example, over the non-pad positions.

    log p(x|z) = sum_{t : x_t != pad} log softmax(logits_t)[x_t]

    The sentence VAE's decoder likelihood (Mutual Autoencoder section 7.3, Bowman et al. 2016).

    Args:
      logits: ``[B, T, V]`` decoder logits.
      tokens: ``[B, T]`` token ids (any dtype; cast to int32).
      pad_id: the id whose positions are skipped.

    Returns:
      ``[B]`` log-likelihood (nats).

    References:
      - Anonymous. "The Mutual Autoencoder: Controlling Information in Latent Code Representations". ICLR 2018
        submission, 2018 (OpenReview; no arXiv id). Section 7.3.
      - S. R. Bowman et al. "Generating Sentences from a Continuous Space". CoNLL 2016. arXiv:1511.06349.

    Examples:
      >>> import jax.numpy as jnp
      >>> from mi_vae import losses
      >>> # two real tokens (the trailing 0 is padding), each with probability 1/5
      >>> round(float(losses.token_log_prob(jnp.zeros((1, 3, 5)), jnp.array([[2, 3, 0]]))[0]), 4)
      -3.2189
    """
    tokens = jnp.asarray(tokens).astype(jnp.int32)
    logp = jax.nn.log_softmax(jnp.asarray(logits).astype(jnp.float32), axis=-1)
    picked = jnp.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0]
    return jnp.sum(jnp.where(tokens != pad_id, picked, 0.0), axis=-1)
