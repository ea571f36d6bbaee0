"""The method contract: build by keyword, config sections, methods outside the repository, update modes, errors."""

from __future__ import annotations

import glob
import json
import os
import textwrap
from importlib import import_module

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from conftest import REPO, run_cli

from mi_vae.config import OPTIM_DEFAULTS, method_section
from mi_vae.data import load_dataset, to_float
from mi_vae.errors import ConfigError
from mi_vae.io import read_metrics
from mi_vae.methods import METHODS, DataSpec, get_method, vae
from mi_vae.methods.base import CAPABILITIES, UPDATES
from mi_vae.train.loop import data_spec
from mi_vae.train.state import init_state, make_optimizers
from mi_vae.train.step import make_mesh, make_step

CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "configs", "*.py"))
                 if not p.endswith("__init__.py"))

#: a method module as a user would write it outside the library: the VAE with a weighted KL
TINY_METHOD = textwrap.dedent('''
    import dataclasses

    import jax.numpy as jnp

    from mi_vae.methods import base


    @dataclasses.dataclass(frozen=True)
    class TinyVAE:
        model: base.VAEModel
        beta: float

        players = ("vae",)
        update = "sequential"
        default_optim = {}
        capabilities = frozenset({base.GAUSSIAN_POSTERIOR})

        def init(self, rng, x):
            return base.init_players(self.model, rng, x)

        def losses(self, params, batch_stats, batch, rng, step):
            terms, stats = self.model.forward(params, batch_stats, batch["x"], rng)
            if self.beta == 2.0:
                terms["no_such_term"]  # a bug in the user's losses: KeyError while tracing
            recon, kl = -jnp.mean(terms["log_px"]), jnp.mean(terms["kl"])
            return {"vae": (recon + self.beta * kl, {"recon_nll": recon, "tiny_kl": kl})}, stats


    def build(spec, *, model, dtype, beta=1.0):
        if beta == -1.0:
            return spec.no_such_field  # a bug in the user's build: AttributeError
        return TinyVAE(base.make_model(spec, model, dtype), beta=beta)
''')


@pytest.fixture
def tiny_method(tmp_path):
    package = tmp_path / "my_methods"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tiny_vae.py").write_text(TINY_METHOD)
    return {"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


SMOKE = ["--config=configs/vae.py:smoke=True", "--config.run_eval=False", "--config.num_train_steps=40",
         "--config.log_every_steps=20"]


# ----------------------------------------------------------------------------- building


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_builds_its_method(name):
    config = import_module(f"configs.{name}").get_config("smoke=True")
    dataset = load_dataset(config.dataset, max_train_examples=16, max_test_examples=8)
    method = get_method(config, data_spec(dataset))
    assert method.update in UPDATES and method.capabilities <= set(CAPABILITIES)
    assert method.players[0] in ("vae", "q") and "vae" in method.players
    variables = jax.eval_shape(method.init, jax.random.key(0), jnp.zeros((2, *dataset.example_shape)))
    assert set(variables["params"]) == set(method.players)
    assert set(make_optimizers(method, config.optim)) == set(method.players)
    for player, settings in config.optim.items():  # every optimiser setting is in the config, so overridable
        assert set(settings) == set(OPTIM_DEFAULTS), (player, settings)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_section_holds_every_coefficient_of_build(name):
    section = method_section(name)
    assert section.name == name
    config = import_module("configs.vae").get_config("smoke=True")
    config.method = section
    get_method(config, DataSpec((28, 28, 1), "bernoulli", 10))  # the signature's defaults build


def test_unknown_coefficient_and_model_key_are_config_errors():
    config = import_module("configs.vae").get_config("smoke=True")
    config.method = method_section("vae")
    with pytest.raises(ConfigError, match="unknown coefficient 'alpha' of method 'vae'; valid: beta"):
        method_section("vae", alpha=1.0)
    config.model.critic = {"widths": (8,)}
    with pytest.raises(ConfigError, match="unknown config.model setting 'critic'; valid: conv_impl, decoder, encoder"):
        get_method(config, DataSpec((28, 28, 1), "bernoulli"))


def test_a_config_from_before_the_sections_is_one_config_error():
    config = import_module("configs.vae").get_config("smoke=True").to_dict()
    config = ml_collections.ConfigDict({**config, "method": "vae"})  # how earlier config.json files stored it
    with pytest.raises(ConfigError, match="layout before config sections"):
        get_method(config, DataSpec((28, 28, 1), "bernoulli"))


def test_a_net_setting_the_module_lacks_is_a_config_error():
    config = import_module("configs.infomax_vae").get_config("smoke=True")
    config.model.critic.depth = 3
    with pytest.raises(ConfigError, match="unknown config.model.critic setting 'depth'; valid: .*widths"):
        get_method(config, DataSpec((28, 28, 1), "bernoulli"))


def test_optim_section_sets_schedule_clipping_and_weight_decay():
    model = {"latent_dim": 2, "encoder": {"name": "mlp", "widths": (8,)}, "decoder": {"name": "mlp", "widths": (8,)}}
    method = vae.build(DataSpec((4,), "gaussian"), model=model, dtype=jnp.float32)
    params = method.init(jax.random.key(0), jnp.zeros((3, 4)))["params"]["vae"]
    grads = jax.tree.map(lambda p: jnp.full_like(p, 100.0), params)

    def first_update(settings):
        tx = make_optimizers(method, {"vae": settings}, total_steps=100)["vae"]
        updates, state = tx.update(grads, tx.init(params), params)
        return float(optax.tree.norm(updates)), state

    plain, _ = first_update({"learning_rate": 0.1})
    assert first_update({"learning_rate": 0.1, "schedule": "warmup_cosine", "warmup_steps": 10})[0] == 0.0
    assert first_update({"learning_rate": 0.1, "weight_decay": 0.5})[0] != pytest.approx(plain)
    # Adam's second moment after one step is (1 - b2) g^2: clipped gradients have global norm 1.
    _, state = first_update({"clip_norm": 1.0})
    nu = sum(float(jnp.sum(leaf)) for leaf in jax.tree.leaves(optax.tree_utils.tree_get(state, "nu")))
    assert nu == pytest.approx(1e-3, rel=1e-4)
    with pytest.raises(ConfigError, match="unknown config.optim.vae setting 'lr'"):
        make_optimizers(method, {"vae": {"lr": 0.1}})
    with pytest.raises(ConfigError, match="schedule must be one of"):
        make_optimizers(method, {"vae": {"schedule": "linear"}})


# ----------------------------------------------------------------------------- update modes


def test_simultaneous_and_sequential_updates_agree_for_a_one_player_method():
    """With one player both modes take the same gradient of the same loss: the same parameters after 3 steps."""
    config = import_module("configs.vae").get_config("smoke=True")
    dataset = load_dataset("digits", max_train_examples=96, max_test_examples=8)
    base = get_method(config, data_spec(dataset))

    class Simultaneous(type(base)):
        update = "simultaneous"

    mesh = make_mesh(jax.devices()[:1])
    x = jnp.asarray(to_float(dataset.train_x[:32]))
    finals = []
    for method in (base, Simultaneous(**{f: getattr(base, f) for f in ("model", "beta")})):
        optimizers = make_optimizers(method, config.optim)
        state = init_state(method, optimizers, 0, x)
        step = jax.jit(make_step(method, optimizers, mesh, dynamic_binarization=False))
        for _ in range(3):
            state, metrics = step(state, x)
        finals.append((jax.device_get(state["params"]), float(metrics["loss"])))
    assert finals[0][1] == pytest.approx(finals[1][1], rel=1e-6)
    for got, want in zip(jax.tree.leaves(finals[1][0]), jax.tree.leaves(finals[0][0])):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- the CLI


def test_method_name_override_trains_with_that_methods_defaults(tmp_path):
    workdir = str(tmp_path / "run")
    run_cli(*SMOKE, "--config.method.name=infomax_vae", f"--workdir={workdir}")
    with open(os.path.join(workdir, "config.json")) as f:
        assert json.load(f)["method"] == {"name": "infomax_vae", "beta": 1.0}
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert rows[-1]["step"] == 40 and np.isfinite(rows[-1]["critic/loss"]) and "mi_estimate" in rows[-1]


def test_a_method_outside_the_repository_trains_through_the_cli(tmp_path, tiny_method):
    workdir = str(tmp_path / "run")
    run_cli(*SMOKE, "--config.method.name=my_methods.tiny_vae", "--config.method.beta=0.5", f"--workdir={workdir}",
            env=tiny_method)
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert rows[-1]["step"] == 40 and rows[-1]["loss"] < rows[0]["loss"] and "tiny_kl" in rows[-1]


@pytest.mark.parametrize("beta, where, error", [(-1.0, "in build", "AttributeError"),
                                                 (2.0, "in losses", "KeyError: 'no_such_term'")])
def test_a_bug_inside_a_method_keeps_its_traceback(tmp_path, tiny_method, beta, where, error):
    proc = run_cli(*SMOKE, "--config.method.name=my_methods.tiny_vae", f"--config.method.beta={beta}",
                   f"--workdir={tmp_path / 'run'}", env=tiny_method, check=False)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "tiny_vae.py" in proc.stderr and error in proc.stderr, where


def test_debug_flag_shows_the_traceback_of_a_user_error(tmp_path):
    proc = run_cli(*SMOKE, "--config.method.name=vea", f"--workdir={tmp_path / 'run'}", "--debug", check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "UnknownMethodError" in proc.stderr


def test_a_config_runs_from_another_working_directory(tmp_path):
    workdir = str(tmp_path / "run")
    run_cli(f"--config={REPO}/configs/vim_beta_a.py:smoke=True", "--config.run_eval=False",
            "--config.num_train_steps=20", f"--workdir={workdir}", cwd=str(tmp_path))
    assert read_metrics(os.path.join(workdir, "metrics.jsonl"))[-1]["step"] == 20
