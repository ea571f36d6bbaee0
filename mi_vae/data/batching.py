"""Deterministic, resumable shuffling: the batch at step s is a function of (seed, s) alone.

A checkpoint therefore needs only the step to resume the data stream exactly.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=4)
def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
    """Order of epoch ``epoch``: ``np.random.default_rng([seed, epoch]).permutation(n)``, read-only."""
    perm = np.random.default_rng([seed, epoch]).permutation(num_examples).astype(np.int32)
    perm.flags.writeable = False
    return perm


def batch_indices(
    seed: int, start_step: int, num_steps: int, num_examples: int, batch_size: int
) -> np.ndarray:
    """Example indices ``int32 [num_steps, batch_size]`` for steps ``start_step .. +num_steps-1``.

    With ``spe = num_examples // batch_size`` steps per epoch (the remainder is dropped), step s
    belongs to epoch ``e = s // spe`` and takes ``perm_e[(s % spe) * B : (s % spe + 1) * B]``
    where ``perm_e = np.random.default_rng([seed, e]).permutation(num_examples)``.  Hence
    ``batch_indices(seed, a, n1 + n2)`` equals the concatenation of ``batch_indices(seed, a, n1)``
    and ``batch_indices(seed, a + n1, n2)`` (resume invariance).
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if batch_size > num_examples:
        raise ValueError(f"batch_size {batch_size} exceeds the {num_examples} examples")
    if start_step < 0 or num_steps < 0:
        raise ValueError(f"start_step and num_steps must be >= 0, got {start_step}, {num_steps}")
    steps_per_epoch = num_examples // batch_size
    out = np.empty((num_steps, batch_size), np.int32)
    step, end = start_step, start_step + num_steps
    while step < end:
        epoch, offset = divmod(step, steps_per_epoch)
        take = min(steps_per_epoch - offset, end - step)
        perm = epoch_permutation(seed, epoch, num_examples)
        rows = perm[offset * batch_size : (offset + take) * batch_size]
        out[step - start_step : step - start_step + take] = rows.reshape(take, batch_size)
        step += take
    return out
