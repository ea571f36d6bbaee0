"""One generic jit-compiled training step for any method, data-parallel over a "data" mesh axis.

``make_train_chunk`` returns ``train_chunk(state, data, xs, active) -> (state, metrics)`` that runs
``K`` steps inside one ``lax.scan``:

* ``data``: the training set on the device (uint8 images or float32), replicated over the mesh,
  and ``xs`` the batch indices ``[K, B]`` sharded over "data" (small datasets); or ``data`` a
  placeholder scalar and ``xs`` the batches themselves ``[K, B, ...]`` (datasets kept on the host).
* ``active[K]`` masks the tail of a short final chunk, so every call has the same shapes and the
  step compiles once. A masked step is computed and its result dropped by a select, not skipped by a
  ``lax.cond``: on a GPU a conditional copies its predicate to the host every step, which stalls the
  stream and exposes every kernel launch; the select costs only the few masked steps of a final chunk.
* ``unroll`` steps are unrolled in each scan iteration (``config.scan_unroll``): fewer loop-control
  round trips per step for small models, at a longer compile.

Inside a step, ``method.update == "sequential"``: players are updated in the method's order, each by
the gradient of its own loss w.r.t. its own parameters, seeing the players updated before it;
``"simultaneous"``: one forward and one backward of the sum of the players' losses (the method stops
gradients across players), all players updated from the same forward. Batch statistics (permutations,
MMD pairs, BatchNorm) are over the global batch: the batch is a single sharded array and XLA inserts
the collectives, so results do not depend on the device count. A step whose loss, gradients or
updated state (parameters, optimizer state, BatchNorm statistics: a NaN learning rate gives finite
gradients and a NaN update) are not finite leaves the state unchanged and counts itself in
``nonfinite``; with ``max_nonfinite``, a chunk stops stepping once that many are consecutive, so the
run stops at exactly that count.
The state is donated.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from mi_vae.data import binarize, to_float
from mi_vae.methods import Method

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh with axis "data" over all (or the given) devices."""
    devices = jax.devices() if devices is None else devices
    return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
    """Sharding of an array whose axis ``batch_axis`` is the global batch."""
    return NamedSharding(mesh, P(*([None] * batch_axis), DATA_AXIS))


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def make_step(method: Method, optimizers: dict[str, optax.GradientTransformation], mesh: Mesh,
              dynamic_binarization: bool) -> Callable:
    """``step(state, x) -> (state, metrics)`` for one global batch x (float or uint8)."""
    x_sharding = batch_sharded(mesh)
    main_player = _main_player(method)

    def step(state, x):
        rng = jax.random.fold_in(jax.random.wrap_key_data(state["rng"]), state["step"])
        rng_method, rng_data = jax.random.split(rng)
        x = jax.lax.with_sharding_constraint(to_float(x), x_sharding)
        if dynamic_binarization:
            x = binarize(rng_data, x)
        batch = {"x": x}
        params, opt_state = dict(state["params"]), dict(state["opt_state"])
        batch_stats = state["batch_stats"]
        ok = jnp.array(True)
        metrics = {}

        def apply_update(player, loss, grads, player_metrics):
            nonlocal ok
            ok = ok & jnp.isfinite(loss) & _all_finite(grads)
            updates, opt_state[player] = optimizers[player].update(grads, opt_state[player], params[player])
            params[player] = optax.apply_updates(params[player], updates)
            metrics.update(_named(player, main_player, loss, player_metrics))

        if method.update == "simultaneous":
            # One forward and one backward: the sum's gradient w.r.t. each player's parameters is the gradient
            # of that player's own loss, because the method stops gradients across players.
            def total_loss(all_params):
                out, new_stats = method.losses(all_params, batch_stats, batch, rng_method, state["step"])
                return sum(out[p][0] for p in method.players), (out, new_stats)

            (_, (out, batch_stats)), grads = jax.value_and_grad(total_loss, has_aux=True)(params)
            for player in method.players:
                apply_update(player, out[player][0], grads[player], out[player][1])
        else:
            for player in method.players:
                def loss_fn(p, player=player, batch_stats=batch_stats):
                    out, new_stats = method.losses({**params, player: p}, batch_stats, batch, rng_method,
                                                   state["step"])
                    loss, player_metrics = out[player]
                    return loss, (player_metrics, new_stats)

                (loss, (player_metrics, new_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params[player])
                if player == main_player:  # BatchNorm statistics follow the model's own forward pass
                    batch_stats = new_stats
                apply_update(player, loss, grads, player_metrics)
        metrics["loss"] = metrics[f"{main_player}/loss"]

        updated = {"params": params, "opt_state": opt_state, "batch_stats": batch_stats}
        ok = ok & _all_finite(updated)
        kept = jax.tree.map(lambda new, old: jnp.where(ok, new, old), updated,
                            {k: state[k] for k in updated})
        new_state = {
            **state, **kept,
            "step": state["step"] + 1,
            "nonfinite": jnp.where(ok, 0, state["nonfinite"] + 1),
            "skipped": state["skipped"] + (~ok).astype(jnp.int32),
        }
        return new_state, jax.tree.map(lambda m: m.astype(jnp.float32), metrics)

    return step


def _main_player(method: Method) -> str:
    """The player whose loss is the headline ``loss`` and whose terms are logged unprefixed."""
    return "vae" if "vae" in method.players else method.players[0]


def _named(player: str, main_player: str, loss, player_metrics: dict) -> dict:
    """A player's logged scalars: its terms (``<player>/`` before them unless it is the main player) and
    ``<player>/loss``."""
    prefix = "" if player == main_player else f"{player}/"
    return {**{f"{prefix}{k}": v for k, v in player_metrics.items()}, f"{player}/loss": loss}


def make_validation(method: Method, mesh: Mesh, state_shardings, dynamic_binarization: bool = False) -> Callable:
    """The jitted ``validate(state, xs, rng) -> metrics``: every player's loss and terms (the names the
    training rows use; e.g. ``elbo``, ``kl``, ``recon_nll`` for the ELBO's terms) on held-out batches
    ``xs [N, B, ...]``, averaged over the N batches, without updating anything.

    ``rng`` is fixed by the caller (one key for the whole run), so successive validations differ only
    by the parameters. Dynamically binarized data is binarized with that key too.
    """
    main_player = _main_player(method)
    x_sharding = batch_sharded(mesh)

    def validate(state, xs, rng):
        rng_method, rng_data = jax.random.split(rng)

        def one(x):
            x = jax.lax.with_sharding_constraint(to_float(x), x_sharding)
            if dynamic_binarization:
                x = binarize(rng_data, x)
            out, _ = method.losses(state["params"], state["batch_stats"], {"x": x}, rng_method, state["step"])
            metrics = {}
            for player in method.players:
                metrics.update(_named(player, main_player, *out[player]))
            metrics["loss"] = metrics[f"{main_player}/loss"]
            return jax.tree.map(lambda m: m.astype(jnp.float32), metrics)

        return jax.tree.map(lambda m: jnp.mean(m, axis=0), jax.lax.map(one, xs))

    return jax.jit(validate, in_shardings=(state_shardings, batch_sharded(mesh, batch_axis=1), replicated(mesh)),
                   out_shardings=replicated(mesh))


def make_train_chunk(method: Method, optimizers, mesh: Mesh, state_shardings, *, data_on_device: bool,
                     dynamic_binarization: bool = False, unroll: int = 1, max_nonfinite: int | None = None) -> Callable:
    """The jitted ``train_chunk(state, data, xs, active) -> (state, metrics)``; see the module docstring.

    ``metrics`` are the means over the chunk's active steps, plus ``nonfinite`` and ``skipped``.
    """
    step = make_step(method, optimizers, mesh, dynamic_binarization)

    def train_chunk(state, data, xs, active):
        def run(state, x_or_idx):
            return step(state, data[x_or_idx] if data_on_device else x_or_idx)

        def body(state, inputs):
            x_or_idx, is_active = inputs
            if max_nonfinite is not None:  # frozen once the run must stop: the count is exact
                is_active = is_active & (state["nonfinite"] < max_nonfinite)
            new_state, metrics = run(state, x_or_idx)
            state = jax.tree.map(lambda new, old: jnp.where(is_active, new, old), new_state, state)
            return state, metrics

        state, metrics = jax.lax.scan(body, state, (xs, active), unroll=unroll)
        weight = active.astype(jnp.float32)
        # where, not a product: a masked step's metrics may be non-finite.
        metrics = jax.tree.map(lambda m: jnp.sum(jnp.where(active, m, 0.0)) / jnp.maximum(jnp.sum(weight), 1.0),
                               metrics)
        metrics["nonfinite"] = state["nonfinite"].astype(jnp.float32)
        metrics["skipped"] = state["skipped"].astype(jnp.float32)
        return state, metrics

    xs_sharding = batch_sharded(mesh, batch_axis=1)
    return jax.jit(
        train_chunk,
        in_shardings=(state_shardings, replicated(mesh), xs_sharding, replicated(mesh)),
        out_shardings=(state_shardings, replicated(mesh)),
        donate_argnums=(0,),
    )
