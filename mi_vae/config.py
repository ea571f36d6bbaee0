"""Shared config pieces: the keys every experiment has, and ``parse_arg`` for ``file.py:k=v,...``.

Experiment files live in ``configs/`` and define ``get_config(arg=None)``; they start from
``base_config()`` and set their method's coefficients (named as in the paper: beta, alpha,
gamma, lambda_, C, M). ``smoke=True`` shrinks model and data so a run takes seconds on a CPU.
"""

from __future__ import annotations

import ml_collections

#: Evaluation settings (config.eval): keys and defaults; definitions in mi_vae/evaluation/runner.py.
EVAL_DEFAULTS: dict = {
    "seed": 0,
    "num_examples": 0,
    "batch_size": 500,
    "iwae_k": 100,
    "iwae_examples": 1000,
    "iwae_batch": 100,
    "iwae_chunk": 50,
    "active_units_eps": 0.05,
    "mi_samples": 1000,
    "mi_critic_steps": -1,
    "mi_critic_batch": 256,
    "mi_critic_lr": 1e-4,
    "mi_critic_widths": (512, 256),
    "probe_labels": 1000,
    "probe_noise": True,
    "mmd_examples": 2000,
    "figures": True,
    "figure_columns": 8,
    "traversal_dims": 8,
    "traversal_range": 3.0,
    "traversal_steps": 7,
}


def parse_arg(arg: str | None, **defaults):
    """Parse ``"a=1,b=x,smoke=True"`` into a ConfigDict, typed after ``defaults`` (big_vision style).

    Unknown names raise ValueError naming the valid ones.
    """
    out = ml_collections.ConfigDict(defaults)
    if not arg:
        return out
    for item in arg.split(","):
        if not item:
            continue
        key, _, value = item.partition("=")
        if key not in defaults:
            raise ValueError(f"unknown config argument {key!r}; valid: {', '.join(sorted(defaults))}")
        kind = type(defaults[key])
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0", ""):
                raise ValueError(f"config argument {key} must be true or false, got {value!r}")
            out[key] = value.lower() in ("true", "1", "")
        elif defaults[key] is None:
            out[key] = value
        else:
            out[key] = kind(value)
    return out


def base_config() -> ml_collections.ConfigDict:
    """Keys shared by every experiment, with their defaults."""
    c = ml_collections.ConfigDict()
    c.method = "vae"
    c.seed = 0

    # Data
    c.dataset = "fashion_mnist"
    c.data_dir = ""  # empty: the dataset's default location
    c.max_train_examples = 0  # 0: all
    c.max_test_examples = 0
    c.binarize = False  # dynamic binarization: x ~ Bernoulli(pixel intensity) at every step

    # Model
    c.latent_dim = 10
    c.encoder = ml_collections.ConfigDict({"name": "mlp", "widths": (512, 512)})
    c.decoder = ml_collections.ConfigDict({"name": "mlp", "widths": (512, 512)})
    c.compute_dtype = "float32"  # float32 | bfloat16; params and losses stay float32

    # Optimisation
    c.batch_size = 64  # global batch, split over all devices
    c.num_train_steps = 1000
    c.num_epochs = 0  # > 0 overrides num_train_steps with epochs * (train examples // batch_size)
    c.learning_rate = 1e-3
    c.max_consecutive_nonfinite = 20  # stop after this many skipped (non-finite) steps in a row
    c.flatten_optimizer = False  # Adam over each player's parameters as one vector (optax.flatten): same
    # updates, fewer and larger kernels; checkpoints of the two forms do not restore into each other

    # Loop, logging, checkpoints
    c.steps_per_call = 0  # steps fused in one lax.scan call; 0: log_every_steps
    c.scan_unroll = 1  # steps unrolled per scan iteration (GPU: fewer loop round trips, longer compile)
    c.log_every_steps = 100
    c.checkpoint_every_steps = 1000
    c.keep_checkpoints = 3
    c.run_eval = True  # evaluate the final model after training
    c.eval = ml_collections.ConfigDict(EVAL_DEFAULTS)
    return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Shrink a config to a seconds-long CPU run (small MLPs, 1024 examples, 200 steps)."""
    c.max_train_examples = 1024
    c.max_test_examples = 256
    c.encoder = ml_collections.ConfigDict({"name": "mlp", "widths": (64,)})
    c.decoder = ml_collections.ConfigDict({"name": "mlp", "widths": (64,)})
    c.batch_size = 32
    c.num_train_steps = 200
    c.num_epochs = 0
    c.log_every_steps = 20
    c.checkpoint_every_steps = 100
    c.eval.update(iwae_k=8, mi_critic_steps=50, mi_critic_widths=(32,), probe_labels=200, mmd_examples=256)
    return c
