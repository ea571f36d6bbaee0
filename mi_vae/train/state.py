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

import logging

import jax
import jax.numpy as jnp
import optax

from mi_vae.config import OPTIM_DEFAULTS
from mi_vae.errors import ConfigError, check_keys
from mi_vae.methods import Method

log = logging.getLogger(__name__)

SCHEDULES = ("constant", "cosine", "warmup_cosine")


def player_settings(method: Method, optim, player: str) -> dict:
    """``OPTIM_DEFAULTS`` < the method's ``default_optim[player]`` < ``config.optim[player]``."""
    given = dict(optim.get(player, None) or {})
    check_keys(f"config.optim.{player}", given, OPTIM_DEFAULTS)
    return {**OPTIM_DEFAULTS, **dict(method.default_optim.get(player, {})), **given}


def learning_rate(settings: dict, total_steps: int):
    """The learning rate: a float (constant) or an optax schedule of the step."""
    lr, kind = float(settings["learning_rate"]), settings["schedule"]
    if kind == "constant":
        return lr
    if kind == "cosine":
        return optax.cosine_decay_schedule(lr, max(int(total_steps), 1))
    if kind == "warmup_cosine":
        warmup = int(settings["warmup_steps"])
        return optax.warmup_cosine_decay_schedule(0.0, lr, warmup, max(int(total_steps), warmup + 1))
    raise ConfigError(f"optim schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")


def make_optimizer(settings: dict, total_steps: int) -> optax.GradientTransformation:
    """One player's optax chain: [clip_by_global_norm] -> Adam, or AdamW when weight_decay > 0."""
    lr = learning_rate(settings, total_steps)
    betas = {"b1": float(settings["b1"]), "b2": float(settings["b2"]), "eps": float(settings["eps"])}
    if float(settings["weight_decay"]) > 0:
        optimizer = optax.adamw(lr, weight_decay=float(settings["weight_decay"]), **betas)
    else:
        optimizer = optax.adam(lr, **betas)
    if float(settings["clip_norm"]) > 0:
        optimizer = optax.chain(optax.clip_by_global_norm(float(settings["clip_norm"])), optimizer)
    return optimizer


def make_optimizers(method: Method, optim=None, total_steps: int = 0,
                    flatten: bool = False) -> dict[str, optax.GradientTransformation]:
    """One optax chain per player of ``method`` from ``config.optim`` (see ``mi_vae.config.OPTIM_DEFAULTS``).

    ``flatten``: the player's parameters are updated as one concatenated vector (``optax.flatten``). Adam is
    elementwise, so the updates are the same; the step runs one optimizer update per player instead of
    one per parameter tensor (fewer kernel launches), at the cost of a concatenation of the gradients.
    """
    optim = {} if optim is None else dict(optim)
    for player in sorted(set(optim) - set(method.players)):
        log.warning("config.optim.%s is not a player of this method (%s): ignored", player, ", ".join(method.players))

    def chain(player):
        optimizer = make_optimizer(player_settings(method, optim, player), total_steps)
        return optax.flatten(optimizer) if flatten else optimizer

    return {player: chain(player) for player in method.players}


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
