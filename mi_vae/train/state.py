"""The train state pytree and its creation, already sharded.

state = {
  "params":     {player: params},       float32
  "batch_stats": BatchNorm statistics ({} when the model has none),
  "opt_state":  {player: optax state},
  "step":       int32 [],                 steps taken (the data position is a function of it)
  "rng":        uint32 [2],               raw key data; the key of step s is fold_in(rng, s)
  "nonfinite":  int32 [],                 consecutive steps skipped for non-finite loss/gradients
  "skipped":    int32 [],                 total skipped steps
}
Every leaf is a plain array so that Orbax saves and restores it as is.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from mi_vae.methods import Method


def make_optimizers(method: Method, flatten: bool = False) -> dict[str, optax.GradientTransformation]:
    """Adam per player with the method's learning rate for that player.

    ``flatten``: the player's parameters are updated as one concatenated vector (``optax.flatten``). Adam is
    elementwise, so the updates are the same; the step runs one optimizer update per player instead of
    one per parameter tensor (fewer kernel launches), at the cost of a concatenation of the gradients.
    """
    def adam(player):
        optimizer = optax.adam(method.learning_rate(player))
        return optax.flatten(optimizer) if flatten else optimizer

    return {player: adam(player) for player in method.players}


def init_state(method: Method, optimizers, seed: int, x_example: jax.Array) -> dict:
    """A fresh state; call under ``jax.jit(..., out_shardings=...)`` to create it sharded."""
    root = jax.random.key(seed)
    variables = method.init(jax.random.fold_in(root, 0), x_example)
    params = variables["params"]
    return {
        "params": params,
        "batch_stats": variables.get("batch_stats", {}),
        "opt_state": {p: optimizers[p].init(params[p]) for p in method.players},
        "step": jnp.zeros((), jnp.int32),
        "rng": jax.random.key_data(jax.random.fold_in(root, 1)),
        "nonfinite": jnp.zeros((), jnp.int32),
        "skipped": jnp.zeros((), jnp.int32),
    }
