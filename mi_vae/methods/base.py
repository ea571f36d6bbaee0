"""The method contract, and the VAE model every method of the library composes.

A method is a small object made by its module's ``build(spec, *, model, dtype, **coefficients)``
(``spec`` describes the data, ``model`` is ``config.model``, the coefficients are ``config.method``
but ``name``). The engine relies on five members only::

    players        tuple of player names in update order, e.g. ("vae", "critic")
    update         "sequential" | "simultaneous"
    capabilities   frozenset of the names below: what evaluation may ask of the method
    init(rng, x) -> {"params": {player: ...}, "batch_stats": {...}}
    losses(params, batch_stats, batch, rng, step) -> ({player: (loss, metrics)}, new_batch_stats)

``sequential``: the engine differentiates ``losses(...)[player][0]`` with respect to
``params[player]`` only, one player after the other on the same batch, each seeing the players
updated before it. ``simultaneous``: one forward and one backward of the sum of the players' losses;
each player's loss must reach the other players' parameters only through ``stop_gradient``, so each
player's gradient is that of its own loss. Losses are minimised float32 scalars; metrics are float32
scalars named after the objective's terms. ``default_optim`` ({player: {optim setting: value}}) gives
a paper's per-player optimiser settings under ``config.optim``.

Every method of the library holds a ``VAEModel`` (``method.model``): q(z|x), p(x|z) and p(z) of one
network, with the Flax ``apply`` / BatchNorm plumbing written once. Evaluation uses ``method.model``
and the declared ``capabilities``; it never probes for attributes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import flax.linen as nn
import jax
import jax.numpy as jnp

from mi_vae import losses, models
from mi_vae.errors import ConfigError, check_keys

Metrics = dict[str, jax.Array]
PlayerLosses = dict[str, tuple[jax.Array, Metrics]]

LOG_SCALE_MIN = -7.0  # clip for Gaussian decoder log-scales

# --- capabilities: what a method declares it can do (evaluators read these) -------------------
#: q(z|x) is the diagonal Gaussian ``model.encode`` and the decoder's code is z alone
GAUSSIAN_POSTERIOR = "gaussian_posterior"
#: ancestral samples decode(z ~ p(z)) are the model's samples
PRIOR_SAMPLING = "prior_sampling"
#: ``model.prior_log_prob`` is the density of the prior the model was trained with
PRIOR_DENSITY = "prior_density"
#: ``model.categorical_code`` gives the logits of a categorical code q(c|x)
CATEGORICAL_CODE = "categorical_code"
#: samples come from the Markov chain x -> z -> x (``model.markov_chain``; InfoVAE eq. 3)
MARKOV_CHAIN = "markov_chain"
#: ``method.achieved_mi`` measures the decoder's I(x; z) with a fresh auxiliary net (Mutual Autoencoder)
ACHIEVED_MI = "achieved_mi"
#: the decoder is autoregressive (``models.AutoregressiveDecoder``)
AUTOREGRESSIVE = "autoregressive"
CAPABILITIES = (GAUSSIAN_POSTERIOR, PRIOR_SAMPLING, PRIOR_DENSITY, CATEGORICAL_CODE, MARKOV_CHAIN, ACHIEVED_MI,
                AUTOREGRESSIVE)
UPDATES = ("sequential", "simultaneous")


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a method needs to know about the data: one example's shape and its likelihood."""

    example_shape: tuple[int, ...]
    likelihood: str  # "bernoulli" | "gaussian" | "categorical" | "tokens"
    num_classes: int | None = None


@runtime_checkable
class Method(Protocol):
    """The engine's view of a method (see the module docstring)."""

    players: tuple[str, ...]
    update: str
    capabilities: frozenset[str]
    default_optim: Mapping[str, Mapping[str, Any]]

    def init(self, rng: jax.Array, x: jax.Array) -> dict: ...

    def losses(self, params, batch_stats, batch, rng, step) -> tuple[PlayerLosses, Any]: ...


# --- the prior ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Prior:
    """p(code): independent Normal(0, s^2) or Logistic(0, s) coordinates over ``dim`` dims, followed, when
    ``num_categories`` = K > 0, by a one-hot c ~ Uniform(K) (the VMI thesis's [z, c] layout)."""

    dim: int
    kind: str = "normal"
    scale: float = 1.0
    num_categories: int = 0

    def __post_init__(self):
        if self.kind not in ("normal", "logistic"):
            raise ConfigError(f"prior must be 'normal' or 'logistic', got {self.kind!r}")
        if not self.scale > 0:
            raise ConfigError(f"prior_scale must be positive, got {self.scale}")

    @property
    def standard_normal(self) -> bool:
        return self.kind == "normal" and self.scale == 1.0

    @property
    def variance(self) -> float:
        """Per-dimension variance of the continuous part: s^2 (normal) or s^2 pi^2 / 3 (logistic)."""
        return self.scale ** 2 * (math.pi ** 2 / 3.0 if self.kind == "logistic" else 1.0)

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Codes ``[n, dim + num_categories]``."""
        if self.num_categories:
            rng, rng_c = jax.random.split(rng)
        if self.kind == "logistic":
            z = losses.sample_logistic(rng, (n, self.dim), scale=self.scale)
        else:
            z = self.scale * losses.sample_normal(rng, (n, self.dim))
        if not self.num_categories:
            return z
        c = jax.nn.one_hot(jax.random.randint(rng_c, (n,), 0, self.num_categories), self.num_categories,
                           dtype=jnp.float32)
        return jnp.concatenate([z, c], axis=-1)

    def log_prob(self, code: jax.Array) -> jax.Array:
        """log p(code) per example ``[...]``: a density in z, times the mass 1/K of a one-hot c."""
        log_p = self.z_log_prob(code[..., : self.dim])
        return log_p - math.log(self.num_categories) if self.num_categories else log_p

    def z_log_prob(self, z: jax.Array) -> jax.Array:
        """log p(z) of the continuous part per example."""
        if self.kind == "logistic":
            return losses.logistic_log_prob(z, scale=self.scale)
        return losses.normal_log_prob(z / self.scale) - self.dim * math.log(self.scale)

    def kl(self, mean: jax.Array, log_var: jax.Array, z: jax.Array) -> jax.Array:
        """The rate KL(q(z|x) || p(z)) per example: closed form for N(0, I), else -H(q(z|x)) - log p(z) at z."""
        if self.standard_normal:
            return losses.gaussian_kl(mean, log_var)
        return -losses.normal_entropy(log_var) - self.z_log_prob(z)


# --- the VAE model --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VAEModel:
    """q(z|x), p(x|z) and p(z) of one VAE network; ``params["vae"]`` holds its parameters.

    Functions take the full ``params`` dict of a method and its ``batch_stats``. ``module`` is a
    ``models.VAE`` or ``models.CategoricalVAE``; ``apply`` is the only place that builds Flax
    variables and the BatchNorm ``mutable`` collection.
    """

    module: nn.Module
    spec: DataSpec
    latent_dim: int
    prior: Prior
    #: leading code coordinates an MI term targets (VMI's sub-vector), shown first in traversals
    mi_dims: int = 0

    @property
    def code_dim(self) -> int:
        """Size of the decoder's input: [z (latent_dim), one-hot c (num_categories)]."""
        return self.latent_dim + self.prior.num_categories

    @property
    def autoregressive(self) -> bool:
        return models.is_autoregressive(self.module.decoder)

    @property
    def categorical(self) -> bool:
        return isinstance(self.module, models.CategoricalVAE)

    # --- Flax plumbing -----------------------------------------------------------------------
    def init(self, rng: jax.Array, x: jax.Array) -> dict:
        return self.module.init(rng, x, jax.random.key(0), train=False)

    def apply(self, params, batch_stats, *args, train: bool, method=None, **kwargs):
        """``module.apply`` -> (output, new batch_stats); BatchNorm statistics update only when ``train``."""
        variables = {"params": params["vae"], **({"batch_stats": batch_stats} if batch_stats else {})}
        if train and batch_stats:
            out, updated = self.module.apply(variables, *args, train=True, method=method, mutable=["batch_stats"],
                                             **kwargs)
            return out, updated["batch_stats"]
        return self.module.apply(variables, *args, train=train, method=method, **kwargs), batch_stats

    # --- the forward pass ----------------------------------------------------------------------
    def forward(self, params, batch_stats, x, rng, *, train: bool = True, num_samples: int | None = None,
                **module_kwargs) -> tuple[dict, Any]:
        """Encode, draw the code (reparameterised), decode: (terms, new batch_stats).

        terms: the module's outputs (mean, log_var, z, code, out; logits and c for a categorical code),
        log_px = log p(x|code) ``[B]`` and kl = KL(q(code|x) || p(code)) ``[B]`` (a categorical code adds
        kl_z and kl_c, its two parts). With
        ``num_samples=k``: z ``[k, B, d]``, log_px ``[k, B]``, and log_pz, log_qz ``[k, B]`` instead of kl.
        """
        if num_samples is not None:
            module_kwargs["num_samples"] = num_samples
        terms, new_stats = self.apply(params, batch_stats, x, rng, train=train, **module_kwargs)
        if num_samples is None:
            terms["log_px"] = self.log_likelihood(terms["out"], x)
            terms["kl"] = self.prior.kl(terms["mean"], terms["log_var"], terms["z"])
            if self.categorical:  # KL(q(z|x) || N(0, I)) + KL(q(c|x) || Unif(K)), VMI thesis eq. 4.19
                terms["kl_z"], terms["kl_c"] = terms["kl"], losses.categorical_kl_to_uniform(terms["logits"])
                terms["kl"] = terms["kl_z"] + terms["kl_c"]
            return terms, new_stats
        k, b = num_samples, x.shape[0]
        terms["log_px"] = self.log_likelihood(terms["out"], jnp.concatenate([x] * k)).reshape(k, b)
        terms["log_pz"] = self.prior.log_prob(terms["z"])
        terms["log_qz"] = losses.diag_gaussian_log_prob(terms["z"], terms["mean"], terms["log_var"])
        return terms, new_stats

    def encode(self, params, batch_stats, x) -> tuple[jax.Array, jax.Array]:
        """(mean, log_var) of the Gaussian q(z|x), each ``[B, latent_dim]`` (BatchNorm in inference mode)."""
        out, _ = self.apply(params, batch_stats, x, train=False, method="encode")
        return out[0], out[1]

    def categorical_code(self, params, batch_stats, x) -> jax.Array:
        """Logits of q(c|x), ``[B, num_categories]`` (a ``models.CategoricalVAE`` only)."""
        if not self.categorical:
            raise ValueError("categorical_code needs a categorical code (models.CategoricalVAE)")
        out, _ = self.apply(params, batch_stats, x, train=False, method="encode")
        return out[2]

    def decode(self, params, batch_stats, code, x=None) -> jax.Array:
        """Decoder output for ``code`` ``[B, code_dim]`` (inference mode): Bernoulli/categorical logits or the
        Gaussian (mean, log_scale) packed on the last axis.

        Autoregressive decoders use ``x`` for teacher forcing; without x, x is first drawn by
        ``sample_x`` (greedy or ancestral per the decoder's ``default_greedy``, fixed key 0, so decode is
        a deterministic function of the code) and the teacher-forced output on that draw is returned.
        Costs one decoder pass per position.
        """
        if self.autoregressive and x is None:
            x = jax.lax.stop_gradient(self.sample_x(params, batch_stats, code, jax.random.PRNGKey(0)))
        out, _ = self.apply(params, batch_stats, code, train=False, x=x, method="decode")
        return out

    def sample_x(self, params, batch_stats, code, rng, greedy: bool | None = None) -> jax.Array:
        """x ~ p(x|code) from an autoregressive decoder (jittable; one decoder step per position).

        PixelCNN: ``lax.fori_loop`` over the pixels ({0,1} float32 images); LSTM: ``lax.scan`` over the
        tokens (ids as float32, pad after <eos>). ``greedy`` (default: the decoder's ``default_greedy``)
        takes the most probable value at each step.
        """
        decoder = self.module.decoder
        if not self.autoregressive:
            raise ValueError("sample_x needs an autoregressive decoder")
        greedy = decoder.default_greedy if greedy is None else greedy

        def run(fn, *args):
            return self.apply(params, batch_stats, *args, train=False, method=fn)[0]

        fns = models.DecoderFns(
            logits=lambda z, x: run(lambda m, z, x, train: m.decode(z, train, x=x), z, x),
            initial_carry=lambda z: run(lambda m, z, train: m.decoder.initial_carry(z), z),
            step=lambda carry, token, z: run(lambda m, c, t, z, train: m.decoder.step(c, t, z), carry, token, z))
        return decoder.sample(fns, code, rng, greedy)

    # --- the likelihood and the prior ----------------------------------------------------------
    def log_likelihood(self, out: jax.Array, x: jax.Array) -> jax.Array:
        """log p(x|z) per example ``[B]`` under the data's likelihood, from the decoder output."""
        kind = self.spec.likelihood
        if kind == "bernoulli":
            return losses.bernoulli_log_prob(out, x)
        if kind == "gaussian":
            mean, log_scale = jnp.split(out, 2, axis=-1)
            return losses.gaussian_log_prob(mean, jnp.maximum(log_scale, LOG_SCALE_MIN), x)
        if kind == "categorical":
            return losses.categorical_log_prob(out, x)
        if kind == "tokens":
            return losses.token_log_prob(out, x)
        raise ValueError(f"unknown likelihood {kind!r}")

    def reconstruction(self, out: jax.Array) -> jax.Array:
        """The decoder's point estimate of x: Bernoulli/categorical probabilities, the Gaussian mean, or
        (tokens) the most probable id at each position (float32)."""
        kind = self.spec.likelihood
        if kind == "tokens":
            return jnp.argmax(out, axis=-1).astype(jnp.float32)
        if kind == "bernoulli":
            return jax.nn.sigmoid(out)
        if kind == "gaussian":
            return jnp.split(out, 2, axis=-1)[0]
        return jax.nn.softmax(out, axis=-1)

    def sample_prior(self, rng: jax.Array, n: int) -> jax.Array:
        """Codes from p(code), ``[n, code_dim]``."""
        return self.prior.sample(rng, n)

    def prior_log_prob(self, code: jax.Array) -> jax.Array:
        """log p(code) per example."""
        return self.prior.log_prob(code)

    def sample_likelihood(self, params, batch_stats, code, rng) -> jax.Array:
        """x ~ p(x|code), float32 in the data's form: Bernoulli {0, 1}, Gaussian mean + scale * eps, one-hot
        categorical draws, or (autoregressive decoders) ``sample_x``'s ancestral draw."""
        if self.autoregressive:
            return self.sample_x(params, batch_stats, code, rng, greedy=False).astype(jnp.float32)
        out = self.decode(params, batch_stats, code)
        kind = self.spec.likelihood
        if kind == "bernoulli":
            return jax.random.bernoulli(rng, jax.nn.sigmoid(out)).astype(jnp.float32)
        if kind == "gaussian":
            mean, log_scale = jnp.split(out, 2, axis=-1)
            return mean + jnp.exp(jnp.maximum(log_scale, LOG_SCALE_MIN)) * jax.random.normal(rng, mean.shape)
        if kind == "categorical":
            return jax.nn.one_hot(jax.random.categorical(rng, out, axis=-1), out.shape[-1], dtype=jnp.float32)
        raise ValueError(f"sample_likelihood: no sampler for the {kind!r} likelihood")

    def markov_chain(self, params, batch_stats, x0: jax.Array, rng: jax.Array, num_steps: int,
                     decoder_mean: bool = False) -> jax.Array:
        """The Markov chain of InfoVAE Proposition 1 (eq. 3) from ``x0``: ``[num_steps + 1, B, ...]``, x0 first.

            z^(t) ~ q(z | x^(t)),   x^(t+1) ~ p(x | z^(t))

        as in the proposition (``sample_likelihood``: binary images for a Bernoulli decoder), whose
        stationary distribution is the model's when q and p are consistent. ``decoder_mean=True`` feeds
        back the decoder's mean instead (Bernoulli probabilities / Gaussian mean): a smoother picture of
        the same chain, not the proposition's sampler. ``x0`` is float data (uint8 images are mapped to
        [0, 1] like ``mi_vae.data.to_float``). The sampler of the unregularised autoencoder, whose
        p(z) p(x|z) is not a valid generative model.
        """
        x0 = jnp.asarray(x0)
        x0 = x0.astype(jnp.float32) / 255.0 if x0.dtype == jnp.uint8 else x0.astype(jnp.float32)

        def step(x, key):
            key_z, key_x = jax.random.split(key)
            mean, log_var = self.encode(params, batch_stats, x)
            z = losses.reparameterize(key_z, mean, log_var)
            if decoder_mean:
                x_next = self.reconstruction(self.decode(params, batch_stats, z)).astype(jnp.float32)
            else:
                x_next = self.sample_likelihood(params, batch_stats, z, key_x)
            return x_next, x_next

        _, xs = jax.lax.scan(step, x0, jax.random.split(rng, num_steps))
        return jnp.concatenate([x0[None], xs], axis=0)


# --- building blocks for build() -------------------------------------------------------------------

#: keys of ``config.model`` every method reads; a method adds the names of its other nets
MODEL_KEYS = ("latent_dim", "encoder", "decoder", "conv_impl")


def decoder_out_shape(spec: DataSpec) -> tuple[int, ...]:
    """The decoder's output shape: that of x, with a mean and a log-scale per value for Gaussian x."""
    out_shape = list(spec.example_shape)
    if spec.likelihood == "gaussian":
        out_shape[-1] *= 2
    return tuple(out_shape)


def check_model(model: Mapping, nets: tuple[str, ...] = ()) -> None:
    """``ConfigError`` for a ``config.model`` key that is neither a VAE key nor one of ``nets``."""
    check_keys("config.model", dict(model), MODEL_KEYS + nets)


def net_kwargs(model: Mapping, net: str, cls: type[nn.Module]) -> dict:
    """``cls``'s fields from the ``config.model.<net>`` section (absent: the module's defaults)."""
    return models.module_kwargs(dict(model).get(net, {}), cls, f"config.model.{net}")


def make_model(spec: DataSpec, model: Mapping, dtype, *, prior: Prior | None = None) -> VAEModel:
    """The Gaussian VAE of ``config.model`` (latent_dim, encoder, decoder) for data ``spec``."""
    latent_dim = int(model["latent_dim"])
    conv_impl = dict(model).get("conv_impl", "auto")
    module = models.VAE(encoder=models.build_encoder(model["encoder"], latent_dim, dtype, conv_impl),
                        decoder=models.build_decoder(model["decoder"], decoder_out_shape(spec), dtype, conv_impl))
    return VAEModel(module, spec, latent_dim, prior or Prior(latent_dim))


def capabilities(model: VAEModel, *extra: str) -> frozenset[str]:
    """A Gaussian VAE's capabilities (posterior, prior samples and density, autoregressive), plus ``extra``."""
    caps = {GAUSSIAN_POSTERIOR, PRIOR_SAMPLING, PRIOR_DENSITY, *extra}
    if model.autoregressive:
        caps.add(AUTOREGRESSIVE)
    return frozenset(caps)


def check_update(update_mode: str) -> str:
    """A method's ``update`` from its ``update_mode`` coefficient (a ConfigDict cannot hold a key named "update")."""
    if update_mode not in UPDATES:
        raise ConfigError(f"update_mode must be one of {', '.join(UPDATES)}, got {update_mode!r}")
    return update_mode


def init_players(model: VAEModel, rng: jax.Array, x: jax.Array, **nets) -> dict:
    """``init`` of a method: the VAE's variables from ``rng``, and ``nets`` ({player: params}) beside them."""
    variables = model.init(rng, x)
    return {"params": {"vae": variables["params"], **nets}, "batch_stats": variables.get("batch_stats", {})}


def elbo_metrics(terms: dict) -> Metrics:
    """The ELBO's terms as batch means: recon_nll, kl, elbo."""
    recon_nll = -jnp.mean(terms["log_px"])
    kl = jnp.mean(terms["kl"])
    return {"recon_nll": recon_nll, "kl": kl, "elbo": -(recon_nll + kl)}


__all__ = [
    "ACHIEVED_MI", "AUTOREGRESSIVE", "CAPABILITIES", "CATEGORICAL_CODE", "GAUSSIAN_POSTERIOR", "LOG_SCALE_MIN",
    "MARKOV_CHAIN", "PRIOR_DENSITY", "PRIOR_SAMPLING", "UPDATES", "DataSpec", "Method", "Prior", "VAEModel",
    "capabilities", "check_model", "check_update", "decoder_out_shape", "elbo_metrics", "init_players",
    "make_model", "net_kwargs",
]
