"""A small classifier trained on a dataset's labelled training split, whose hidden layer is a feature space for
Frechet distance and KID that needs nothing from outside (``fd_classifier``, ``kid_classifier``).

    features(x) = relu(W_2 relu(W_1 flatten(x) + b_1) + b_2)        (``hidden`` widths, default 256-128)
    trained by cross-entropy on (x_i, y_i) of the training split, Adam, ``epochs`` epochs, batch 256

This is not FID: the features are not InceptionV3's, so the numbers are not comparable with published FIDs.
They are comparable between models evaluated on the same data with the same settings, and they see what
a classifier of this data sees (class-relevant shape, not only pixel statistics). The trained weights are
cached under ``cache_dir`` by a hash of the training data and the settings, so every run on the same data
uses the same feature space.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from mi_vae.data import to_float
from mi_vae.data.core import digest_array


class FeatureClassifier(nn.Module):
    hidden: Sequence[int] = (256, 128)
    num_classes: int = 10

    def features(self, x: jax.Array) -> jax.Array:
        h = x.reshape(x.shape[0], -1)
        for i, width in enumerate(self.hidden):
            h = nn.relu(nn.Dense(width, name=f"hidden_{i}")(h))
        return h

    @nn.compact
    def __call__(self, x: jax.Array, features_only: bool = False) -> jax.Array:
        h = self.features(x)
        return h if features_only else nn.Dense(self.num_classes, name="logits")(h)


def _key(train_x: np.ndarray, train_y: np.ndarray, settings: dict) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for array in (train_x, train_y):
        digest_array(digest, array)
    return digest.hexdigest()[:24]


def train_classifier(train_x: np.ndarray, train_y: np.ndarray, num_classes: int, *, hidden: Sequence[int] = (256, 128),
                     epochs: int = 3, batch_size: int = 256, learning_rate: float = 1e-3, seed: int = 0,
                     cache_dir: str | None = None) -> tuple[FeatureClassifier, dict, float]:
    """(module, params, training accuracy of the last epoch), from ``cache_dir`` when these data and settings
    were trained before. ``train_x`` are stored examples (uint8 images or float), ``train_y`` int labels."""
    settings = {"hidden": list(hidden), "epochs": int(epochs), "batch_size": int(batch_size),
                "learning_rate": float(learning_rate), "seed": int(seed), "num_classes": int(num_classes), "v": 1}
    module = FeatureClassifier(tuple(hidden), int(num_classes))
    path = os.path.join(cache_dir, "classifiers", _key(train_x, train_y, settings) + ".npz") if cache_dir else None
    x_example = jnp.asarray(to_float(train_x[:1]), jnp.float32)
    params = module.init(jax.random.key(seed), x_example)["params"]
    if path and os.path.isfile(path):
        with np.load(path) as f:
            leaves = [jnp.asarray(f[f"leaf_{i}"]) for i in range(len(jax.tree.leaves(params)))]
            accuracy = float(f["accuracy"])
        return module, jax.tree.unflatten(jax.tree.structure(params), leaves), accuracy

    optimizer = optax.adam(learning_rate)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            logits = module.apply({"params": p}, to_float(x).astype(jnp.float32))
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), logits

        (_, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, jnp.sum(jnp.argmax(logits, -1) == y)

    rng = np.random.default_rng(seed)
    n = len(train_x)
    batch = min(batch_size, n)
    correct = 0
    for _ in range(int(epochs)):
        order, correct = rng.permutation(n), 0
        for start in range(0, n - batch + 1, batch):
            rows = order[start:start + batch]
            params, opt_state, hits = step(params, opt_state, jnp.asarray(train_x[rows]), jnp.asarray(train_y[rows]))
            correct += int(hits)
    accuracy = correct / max(1, (n // batch) * batch)
    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp.npz"
        np.savez(tmp, accuracy=accuracy, **{f"leaf_{i}": np.asarray(v) for i, v in enumerate(jax.tree.leaves(params))})
        os.replace(tmp, path)
    return module, params, accuracy


def features(module: FeatureClassifier, params, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
    """The classifier's hidden features of ``x`` (stored examples or model-space floats in [0, 1]), [N, hidden[-1]]."""
    fn = jax.jit(lambda p, xb: module.apply({"params": p}, to_float(xb).astype(jnp.float32), features_only=True))
    return np.concatenate([np.asarray(fn(params, jnp.asarray(x[i:i + batch_size])))
                           for i in range(0, len(x), batch_size)])


__all__ = ["FeatureClassifier", "features", "train_classifier"]
