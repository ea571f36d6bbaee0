"""Input corruptions for robustness evaluation, and dynamic binarization.

Corruptions follow the Variational InfoMax AutoEncoder paper (Crescimanna & Graham, VIMAE),
section on the inference model and Tables III-V, where probes are trained on z ~ q(z | x + nu):
  * Gaussian: "we add to each pixel a nu value sampled from N(0, sigma^2)", sigma in
    {0.2, 0.3, 0.4};
  * mask: "a fraction nu of the elements is forced to be 0: each pixel is masked according to a
    Bernoulli distribution B(p)", p in {0.2, 0.5}.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def corrupt_gaussian(rng: np.random.Generator, x_float: np.ndarray, sigma: float) -> np.ndarray:
    """Additive Gaussian noise: ``clip(x + nu, 0, 1)`` with nu ~ N(0, sigma^2) i.i.d. per element.

    ``x_float`` is float data in [0, 1].  The clip to [0, 1] is our addition (the VIMAE paper
    states only x + nu) so the corrupted input stays in the Bernoulli decoder's domain.
    Returns float32 of the same shape.
    """
    x = np.asarray(x_float, np.float32)
    noisy = x + np.float32(sigma) * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(noisy, 0.0, 1.0)


def corrupt_mask(rng: np.random.Generator, x_float: np.ndarray, p: float) -> np.ndarray:
    """Mask noise: each element is set to 0 independently with probability p (else kept).

    Elements, not spatial positions: for multi-channel images each channel is masked on its own.
    Returns float32 of the same shape.
    """
    x = np.asarray(x_float, np.float32)
    keep = rng.random(x.shape) >= p
    return np.where(keep, x, np.float32(0.0))


def binarize(key: jax.Array, x_float: jax.Array) -> jax.Array:
    """Dynamic binarization: a fresh Bernoulli(x) draw per call, float32 in {0, 1} (jittable)."""
    return jax.random.bernoulli(key, x_float).astype(jnp.float32)
