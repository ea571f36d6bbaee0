"""Shared config pieces: the keys every experiment has, ``parse_arg`` for ``file.py:k=v,...``, and the
settings several experiment files share. Experiment files (``configs/*.py``) import only this module,
so they run from any working directory.

Sections (see docs/design.md):
- engine and data keys at the top level (``dataset``, ``batch_size``, ``num_train_steps``, ...);
- ``method``: ``name`` plus the method's coefficients, exactly the keyword arguments of its ``build``;
- ``model``: ``latent_dim``, ``encoder`` and ``decoder`` sections (``name`` + the module's fields), and the
  other nets a method reads (``critic``, ``discriminator``, ``r``, ``q``);
- ``optim``: one optax chain per player, ``{player: {setting: value}}`` over ``OPTIM_DEFAULTS``;
- ``eval``: the evaluation data (``EVAL_DEFAULTS``); ``evals``: the evaluators and their settings
  (``evals_section``).

``smoke=True`` shrinks model and data so a run takes seconds on a CPU.
"""

from __future__ import annotations

import json
import math

import ml_collections

from mi_vae.errors import ConfigError, check_keys

#: ``config.eval``: the evaluation data every evaluator shares (``mi_vae.evaluation.evaluators.common``):
#: PRNG seed; test examples (0: all); examples per encoder/decoder call; training examples encoded for
#: the MI evaluators (0: all). Each evaluator's own settings are in ``config.evals.<name>`` (``evals_section``).
EVAL_DEFAULTS: dict = {"seed": 0, "num_examples": 0, "batch_size": 500, "train_examples": 60_000}

#: One player's optimiser (``config.optim.<player>``): Adam(W) with a learning-rate schedule.
#: schedule: "constant" | "cosine" (decay to 0 over the run) | "warmup_cosine" (linear warm-up over
#: ``warmup_steps``, then cosine); ``clip_norm`` > 0 clips the global gradient norm; ``weight_decay`` > 0
#: makes it AdamW (decoupled decay).
OPTIM_DEFAULTS: dict = {
    "learning_rate": 1e-3,
    "schedule": "constant",
    "warmup_steps": 0,
    "b1": 0.9,
    "b2": 0.999,
    "eps": 1e-8,
    "clip_norm": 0.0,
    "weight_decay": 0.0,
}


def parse_arg(arg: str | None, **defaults):
    """Parse ``"a=1,b=x,smoke=True"`` into a ConfigDict, typed after ``defaults`` (big_vision style).

    Unknown names raise ``ConfigError`` naming the valid ones.
    """
    out = ml_collections.ConfigDict(defaults)
    if not arg:
        return out
    for item in arg.split(","):
        if not item:
            continue
        key, _, value = item.partition("=")
        if key not in defaults:
            raise ConfigError(f"unknown config argument {key!r}; valid: {', '.join(sorted(defaults))}")
        kind = type(defaults[key])
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0", ""):
                raise ConfigError(f"config argument {key} must be true or false, got {value!r}")
            out[key] = value.lower() in ("true", "1", "")
        elif defaults[key] is None:
            out[key] = value
        else:
            try:
                out[key] = kind(value)
            except ValueError:
                raise ConfigError(f"config argument {key} must be a {kind.__name__}, got {value!r}") from None
    return out


def method_section(name: str, **coefficients) -> ml_collections.ConfigDict:
    """``config.method``: ``name`` and every coefficient of that method's ``build``, its signature's defaults
    updated by ``coefficients``, so that each one shows in config.json and can be overridden from the command
    line (``--config.method.alpha=5``). An unknown coefficient is a ``ConfigError`` naming the valid ones."""
    import inspect

    from mi_vae.methods import method_module

    params = inspect.signature(method_module(name).build).parameters
    defaults = {k: p.default for k, p in params.items()
                if p.kind is p.KEYWORD_ONLY and p.default is not p.empty and k not in ("model", "dtype")}
    unknown = sorted(set(coefficients) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown coefficient {unknown[0]!r} of method {name!r}; valid: {', '.join(defaults)}")
    return ml_collections.ConfigDict({"name": name, **defaults, **coefficients})


def evals_section(*names: str, **settings: dict) -> ml_collections.ConfigDict:
    """``config.evals``: ``{name: {setting: value}}`` for the evaluators ``names`` (default: all, in
    ``mi_vae.evaluation.evaluators.EVALUATORS``), each setting filled from the evaluator's signature and
    updated by ``settings[name]``, so each shows in config.json and can be overridden from the command line
    (``--config.evals.iwae.k=5000``). An unknown evaluator or setting is a ``ConfigError`` naming the valid ones."""
    from mi_vae.evaluation.evaluators.common import EVALUATORS, evaluator_module, evaluator_settings

    names = names or EVALUATORS
    for name in settings:
        evaluator_module(name)  # ConfigError for an unknown evaluator
    extra = sorted(set(settings) - set(names))
    if extra:
        raise ConfigError(f"settings for evaluator {extra[0]!r}, which is not selected; selected: {', '.join(names)}")
    return ml_collections.ConfigDict({name: evaluator_settings(name, settings.get(name)) for name in names})


def select_evals(config: ml_collections.ConfigDict, names) -> ml_collections.ConfigDict:
    """A copy of ``config`` whose ``config.evals`` keeps only the evaluators ``names`` (their settings kept);
    a name not in ``config.evals`` is a ``ConfigError`` naming those that are."""
    names = list(names)
    unknown = [n for n in names if n not in config.evals]
    if unknown:
        raise ConfigError(f"evaluator {unknown[0]!r} is not in config.evals; there: {', '.join(config.evals.keys())}")
    out = ml_collections.ConfigDict(config.to_dict())
    out.evals = ml_collections.ConfigDict({n: config.evals[n].to_dict() for n in names})
    return out


EVAL_SECTIONS = ("eval", "evals")


def flatten(d: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: a nested config (as a dict) keyed by dotted paths."""
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def eval_config(recorded: ml_collections.ConfigDict,
                requested: ml_collections.ConfigDict | None) -> tuple[ml_collections.ConfigDict, list[str]]:
    """(config to evaluate a run with, keys of ``requested`` that were ignored).

    Evaluation uses the run's ``recorded`` config (its config.json); from ``requested`` (the command
    line's ``--config``, if any) only the evaluation sections ``config.eval`` and ``config.evals`` are
    taken. The other keys where ``requested`` differs are returned, for the caller to say they were ignored.
    """
    config = ml_collections.ConfigDict(recorded.to_dict())
    if "evals" not in config:  # a run from before config.evals: every evaluator with its defaults
        config.evals = evals_section()
    if requested is None:
        return config, []
    wanted = requested.to_dict()
    have = flatten({k: v for k, v in config.to_dict().items() if k not in EVAL_SECTIONS})
    ignored = sorted(k for k, v in flatten({k: v for k, v in wanted.items() if k not in EVAL_SECTIONS}).items()
                     if k in have and have[k] != v)
    for section in EVAL_SECTIONS:
        if section in wanted:
            config[section] = ml_collections.ConfigDict(wanted[section])
    return config, ignored


#: keys that a resumed run must keep: changing them would make the run's data order, keys or model other
#: than its checkpoints' (``check_resume``)
RESUME_FIXED = ("seed", "dataset", "max_train_examples", "image_size", "test_fraction", "split_seed", "binarize",
                "method", "batch_size")


def _number(config: ml_collections.ConfigDict, key: str):
    value = config
    for part in key.split("."):
        value = value[part]
    return value


def check_run_config(config: ml_collections.ConfigDict) -> None:
    """``ConfigError`` naming the first key whose value no run can use (before anything is loaded or written).

    Counts: batch_size, log_every_steps, checkpoint_every_steps, keep_checkpoints (0 would delete every
    checkpoint), max_consecutive_nonfinite, model.latent_dim, eval.batch_size >= 1; num_train_steps,
    num_epochs, max_*_examples, steps_per_call, eval_every_steps, valid_examples, eval.num_examples,
    eval.train_examples >= 0; seed in
    [0, 2^32); every player's learning rate finite and > 0 (a negative one ascends the loss).
    """
    def need(key: str, ok, what: str) -> None:
        value = _number(config, key)
        if isinstance(value, bool) or not ok(value):
            raise ConfigError(f"config.{key} must be {what}, got {value!r}")

    def integer(v) -> bool:
        return isinstance(v, int)

    for key in ("batch_size", "log_every_steps", "checkpoint_every_steps", "keep_checkpoints",
                "max_consecutive_nonfinite", "model.latent_dim", "eval.batch_size"):
        if key.split(".")[0] in config:
            need(key, lambda v: integer(v) and v >= 1, "an integer >= 1")
    for key in ("num_train_steps", "num_epochs", "max_train_examples", "max_test_examples", "steps_per_call",
                "eval_every_steps", "valid_examples", "eval.num_examples", "eval.train_examples"):
        if key.split(".")[0] in config:
            need(key, lambda v: integer(v) and v >= 0, "an integer >= 0")
    need("seed", lambda v: integer(v) and 0 <= v < 2**32, "an integer in [0, 2^32)")
    for player in config.get("optim", {}) or {}:
        need(f"optim.{player}.learning_rate",
             lambda v: isinstance(v, (int, float)) and math.isfinite(v) and v > 0, "a finite number > 0")


def check_resume(recorded: ml_collections.ConfigDict, config: ml_collections.ConfigDict) -> list[tuple]:
    """(key, old, new) for every key ``config`` changes against the run's ``recorded`` config; a
    ``ConfigError`` naming the keys of ``RESUME_FIXED`` it changes (those cannot be resumed)."""
    old, new = (flatten(json.loads(json.dumps(c.to_dict()))) for c in (recorded, config))  # tuples as JSON lists
    changes = [(k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    fixed = [k for k, _, _ in changes if k.split(".")[0] in RESUME_FIXED]
    if fixed:
        shown = ", ".join(f"{k} ({old.get(k)!r} -> {new.get(k)!r})" for k in fixed[:3])
        raise ConfigError(f"cannot resume with a changed {shown}{' ...' if len(fixed) > 3 else ''}: the run's "
                          "data order, keys or model would no longer be its checkpoints'; use a new --workdir")
    return changes


def optim_section(**players) -> ml_collections.ConfigDict:
    """``config.optim``: for each player ``{**OPTIM_DEFAULTS, **settings}``, so every setting shows in config.json
    and can be overridden (``--config.optim.vae.schedule=cosine``); a player left out gets the method's
    ``default_optim`` over ``OPTIM_DEFAULTS``."""
    for player, settings in players.items():
        check_keys(f"config.optim.{player}", settings, OPTIM_DEFAULTS)
    return ml_collections.ConfigDict({player: {**OPTIM_DEFAULTS, **settings} for player, settings in players.items()})


def net(name: str, **fields) -> ml_collections.ConfigDict:
    """An encoder/decoder section: the registered ``name`` and the module's fields."""
    return ml_collections.ConfigDict({"name": name, **fields})


def base_config() -> ml_collections.ConfigDict:
    """Keys shared by every experiment, with their defaults."""
    c = ml_collections.ConfigDict()
    c.seed = 0

    # Data
    c.dataset = "fashion_mnist"
    c.data_dir = ""  # empty: the dataset's default location
    c.max_train_examples = 0  # 0: all
    c.max_test_examples = 0
    c.binarize = False  # dynamic binarization: x ~ Bernoulli(pixel intensity) at every step
    # your own data (dataset = "folder:/path" or "npz:/path/file.npz"): square centre crop resized to image_size
    # (0: keep the size), and the split of data without one (a permutation by split_seed, test_fraction to test)
    c.image_size = 0
    c.test_fraction = 0.1
    c.split_seed = 0

    # Method and model
    c.method = method_section("vae")
    c.model = ml_collections.ConfigDict({
        "latent_dim": 10,
        "encoder": net("mlp", widths=(512, 512)),
        "decoder": net("mlp", widths=(512, 512)),
        "conv_impl": "auto",  # auto (im2col on the CPU, XLA's convolution on GPU/TPU) | xla | im2col
    })
    c.compute_dtype = "float32"  # float32 | bfloat16; params and losses stay float32

    # Optimisation
    c.optim = optim_section(vae={"learning_rate": 1e-3})
    c.batch_size = 64  # global batch, split over all devices
    c.num_train_steps = 1000
    c.num_epochs = 0  # > 0 overrides num_train_steps with epochs * (train examples // batch_size)
    c.max_consecutive_nonfinite = 20  # stop after this many skipped (non-finite) steps in a row
    c.flatten_optimizer = False  # Adam over each player's parameters as one vector (optax.flatten): same
    # updates, fewer and larger kernels; checkpoints of the two forms do not restore into each other

    # Loop, logging, checkpoints
    c.steps_per_call = 0  # steps fused in one lax.scan call; 0: log_every_steps
    c.scan_unroll = 1  # steps unrolled per scan iteration (GPU: fewer loop round trips, longer compile)
    c.log_every_steps = 100
    c.checkpoint_every_steps = 1000
    c.keep_checkpoints = 3
    # Validation curve: the method's loss terms on the first valid_examples test examples (whole batches)
    # every eval_every_steps and at the end, split "valid" in metrics.jsonl and TensorBoard (0: off)
    c.eval_every_steps = 500
    c.valid_examples = 1000
    c.wandb_project = ""  # also log to this Weights & Biases project (needs `pip install wandb`; "": off)
    c.run_eval = True  # evaluate the final model after training
    c.eval = ml_collections.ConfigDict(EVAL_DEFAULTS)  # the evaluation data
    c.evals = evals_section()  # the evaluators and their settings
    return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Shrink a config to a seconds-long CPU run (small MLPs, 1024 examples, 200 steps)."""
    c.max_train_examples = 1024
    c.max_test_examples = 256
    c.model.encoder = net("mlp", widths=(64,))
    c.model.decoder = net("mlp", widths=(64,))
    c.batch_size = 32
    c.num_train_steps = 200
    c.num_epochs = 0
    c.log_every_steps = 20
    c.checkpoint_every_steps = 100
    for name, settings in {"iwae": {"k": 8}, "mi": {"critic_steps": 500}, "achieved_mi": {"steps": 50},
                           "generation": {"samples": 256, "classifier_epochs": 1, "kid_subset_size": 100},
                           "fid": {"samples": 64},
                           "probe": {"labels": 200}, "prior_match": {"examples": 256}}.items():
        if name in c.evals:
            c.evals[name].update(settings)
    return c


# --- settings shared by several experiment files ---------------------------------------------------

#: VIMAE: datasets of the paper's "large entropy" group (lambda = beta_H = 100, beta_A = 0.4)
VIMAE_LARGE = ("cifar10", "cifar100", "celeb_a", "synthetic64")
#: VIMAE: (encoder/decoder name, latent_dim, epochs) per dataset
VIMAE_NETS = {
    "mnist": ("conv28", 8, 100), "fashion_mnist": ("conv28", 8, 100), "binarized_mnist": ("conv28", 8, 100),
    "omniglot": ("conv28", 8, 100), "cifar10": ("conv32", 64, 100), "cifar100": ("conv32", 64, 100),
    "celeb_a": ("dcgan64", 64, 55), "synthetic64": ("dcgan64", 64, 55), "digits": ("mlp", 8, 100),
}
#: VIMAE's MMD: WAE's IMQ scales (multiplied by the prior's variance by the method)
WAE_MMD_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def vimae_weight(dataset: str, small: float, large: float) -> float:
    """VIMAE's coefficient for ``dataset``: ``small`` for MNIST/Omniglot, ``large`` for CIFAR/CelebA."""
    return large if dataset in VIMAE_LARGE else small


def vimae_setting(c, dataset: str, latent_dim: int = 0, epochs: int = 0, steps: int = 20000,
                  dtype: str = "float32", smoke_run: bool = False):
    """Data, nets, latent size, batch, optimiser and length of the VIMAE experiments (section V), on ``c``.

    ``smoke_run`` shrinks it (dcgan64 datasets keep narrow dcgan64 nets with BatchNorm on synthetic64).
    """
    if dataset not in VIMAE_NETS:
        raise ConfigError(f"VIMAE has no setting for dataset {dataset!r}; valid: {', '.join(sorted(VIMAE_NETS))}")
    name, default_latent, default_epochs = VIMAE_NETS[dataset]
    c.dataset = dataset
    c.model.latent_dim = latent_dim or default_latent
    fields = {"widths": (512, 512)} if name == "mlp" else {}
    c.model.encoder = net(name, **fields)
    c.model.decoder = net(name, **fields)
    c.compute_dtype = dtype
    c.batch_size = 100
    c.optim.vae.learning_rate = 1e-3
    c.num_epochs = max(epochs or default_epochs, 0)  # epochs < 0: use num_train_steps
    c.num_train_steps = steps
    if smoke_run:
        smoke(c)
        if name == "dcgan64":
            tiny_dcgan64(c)
    return c


def tiny_dcgan64(c):
    """Smoke-size dcgan64 nets (BatchNorm kept), latent 8, batch 8, 40 steps, on synthetic64.

    The decoder's first layer (dense to 8x8x1024) is fixed by the architecture; the narrow transposed
    convs after it keep a CPU step fast.
    """
    c.dataset = "synthetic64"
    c.model.encoder = net("dcgan64", channels=(4, 4, 8, 8))
    c.model.decoder = net("dcgan64", channels=(2, 2, 2))
    c.model.latent_dim = 8
    c.batch_size = 8
    c.num_train_steps = 40
    c.log_every_steps = 10
    c.checkpoint_every_steps = 20
    c.compute_dtype = "float32"
    return c


#: InfoVAE: lambda per regularizer (the paper's MNIST settings; ae and elbo do not use it)
INFOVAE_LAMBDA = {"ae": 0.0, "elbo": 0.0, "mmd": 1000.0, "stein": 100.0, "adversarial": 100.0}


def infovae_setting(c, regularizer: str, *, dataset: str, latent_dim: int, lambda_: float, alpha: float,
                    net_name: str, decoder_depth: int, steps: int, epochs: int, binarize: bool, smoke_run: bool):
    """The InfoVAE experiments' shared setting (configs/infovae_*.py) on ``c``."""
    c.dataset = dataset
    c.binarize = binarize
    c.model.latent_dim = latent_dim
    # MMD kernel (also used by the "mmd" metric of every variant): one Gaussian, bandwidth 2 * latent_dim.
    c.method = method_section("infovae", regularizer=regularizer, alpha=alpha, lambda_=lambda_, mmd_kernel="rbf",
                              mmd_scales=(1.0,), mmd_unbiased=False,
                              stein_bandwidth=0.0)  # <= 0: median heuristic of Liu & Wang
    if net_name == "conv28":
        c.model.encoder = net("conv28")
        c.model.decoder = net("conv28")
    elif net_name == "mlp":
        c.model.decoder.widths = (512,) * decoder_depth
    else:
        raise ConfigError(f"net must be conv28 or mlp, got {net_name!r}")
    if regularizer == "adversarial":
        c.model.discriminator = ml_collections.ConfigDict({"widths": (512, 512)})
        # "a sufficiently small learning rate" for the discriminator
        c.optim = optim_section(vae={"learning_rate": 1e-3}, discriminator={"learning_rate": 1e-4})
    c.batch_size = 100
    c.num_train_steps = steps
    c.num_epochs = epochs
    if smoke_run:
        smoke(c)
        if regularizer == "adversarial":
            c.model.discriminator.widths = (64, 64)
            c.optim.discriminator.learning_rate = 1e-3
    return c
