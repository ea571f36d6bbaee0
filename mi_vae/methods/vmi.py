"""Variational mutual information maximisation for VAEs (VMI; A. Serdega, "Variational Mutual Information
Maximization Framework for VAE Latent Codes with Continuous and Discrete Priors", M.S. thesis, KAIST,
2019; arXiv:2006.02227), chapter 4.

Objective maximised (eq. 4.11 / 4.12), with an auxiliary network Q on the decoder's output:

    L = ELBO + lambda_ * MI
    MI = H(c) + E_{x ~ data, c ~ q(c|x)}[ log Q(c | x_hat) ],   x_hat = decoder output for the code  (eq. 4.9)

The thesis's x ~ p_theta(x|z) is taken as the decoder's point estimate x_hat (Bernoulli or
categorical probabilities, Gaussian mean), Q's input. MI is a Barber-Agakov lower bound (eq. 4.4,
4.8) with H(c) the entropy of c's prior, a constant (``code_entropy="prior"``). Where the pairs
(c, x_hat) come from (``mi_samples``):

* ``"posterior"`` (the thesis's eq. 4.9 as written and as trained): c ~ q(c|x) for the batch's x.
  Then H(c) = H(prior) holds only while the aggregate posterior q(c) = E_x q(c|x) stays at the prior;
  it is not a lower bound otherwise: a code collapsed to one category is predicted perfectly by Q and
  scores log K, (lambda_ - 1) log K per example better in the objective than an uninformative one, so a
  large lambda_ collapses the code. ``code_entropy="aggregate"`` (categorical layout) uses instead the
  entropy of the batch's aggregate posterior, H(mean_b softmax(logits_b)), which rewards balanced codes.
* ``"prior"`` (eq. 4.5 as derived, the InfoGAN form): the code ~ p(code) (z ~ N(0, I) and, categorical,
  c ~ Unif(K) one-hot), x_hat decoded from it, c read back by Q(c | x_hat). H(c) = H(prior) is then
  exact, so the bound is a lower bound on I(c; x_hat) under the generative model; the MI gradient
  reaches the decoder only (the encoder learns q(c|x) through the ELBO).
Two latent layouts (``mi_code``):

* ``"subvector"`` (section 4.3.1, eq. 4.13-4.14): z ~ q(z|x) = N(mu(x), sigma^2(x)) of
  ``latent_dim`` dims, prior N(0, I); c = z_hat = z[:, :mi_dims] (the first ``mi_dims``
  coordinates); Q(z_hat | x_hat) a diagonal Gaussian MLP; H(z_hat) = mi_dims/2 log(2 pi e).
  ELBO = E_q log p(x|z) - KL(q(z|x) || N(0, I)) (eq. 4.10).
* ``"categorical"`` (section 4.3.2, eq. 4.15-4.22): q(z, c|x) = q(z|x) q(c|x) (eq. 4.16) with a
  Gaussian z of ``latent_dim`` dims and a ``num_categories``-way c relaxed by Gumbel-softmax,
  c ~ GS(pi(x)) at temperature tau (eq. 4.20); uniform prior p(c). The decoder takes the
  concatenation [z, c] (``latent_dim + num_categories`` inputs, z first). Q(c | x_hat) is a
  categorical MLP and log Q(c|x_hat) = sum_k c_k log softmax(Q(x_hat))_k (the relaxed sample as a
  soft target); H(c) = log K.
  ELBO = E_q log p(x|z, c) - KL(q(z|x) || N(0, I)) - KL(q(c|x) || Unif(K)) (eq. 4.19; the second
  KL is ``losses.categorical_kl_to_uniform``). tau is annealed with the step:
  tau(t) = tau_start * (tau_end / tau_start) ** min(t / temperature_anneal_steps, 1)
  (exponential decay from ``temperature_start`` to ``temperature_end``, then constant).

Players, in this order on each batch (Algorithm 1, lines 4-5: Q first, then the VAE):
    q:   -MI                                (Q's parameters; the VAE fixed)
    vae: -(ELBO + lambda_ * MI)             (encoder and decoder; Q fixed, just updated)
Q's loss has no lambda_, so with lambda_ = 0 Q still measures the MI lower bound of a plain VAE
(the thesis's Figure 4.8 comparison). The MI gradient reaches the encoder through c (reparameterised
Gaussian / Gumbel-softmax sample) and both encoder and decoder through x_hat.

The model (``method.model``): ``encode`` returns the Gaussian (mean, log_var); ``categorical_code``
the logits of q(c|x); ``decode`` and ``sample_prior`` work on full codes of ``code_dim`` =
latent_dim + num_categories entries laid out [z, one-hot c] (num_categories = 0 for "subvector").
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from mi_vae import losses, models
from mi_vae.errors import ConfigError
from mi_vae.methods import base

MI_CODES = ("subvector", "categorical")
CODE_ENTROPIES = ("prior", "aggregate")
MI_SAMPLES = ("posterior", "prior")


@dataclasses.dataclass(frozen=True)
class VMI:
    model: base.VAEModel
    q_net: nn.Module
    lambda_: float
    code_entropy: str
    mi_samples: str
    temperature_start: float
    temperature_end: float
    temperature_anneal_steps: int

    players = ("q", "vae")  # Algorithm 1, lines 4-5: Q first, then the VAE
    update = "sequential"
    default_optim = {}

    @property
    def categorical(self) -> bool:
        return self.model.categorical

    @property
    def capabilities(self) -> frozenset[str]:
        if self.categorical:  # the decoder's code is [z, c]: q(z|x) alone is not the posterior of the code
            return base.capabilities(self.model, base.CATEGORICAL_CODE) - {base.GAUSSIAN_POSTERIOR}
        return base.capabilities(self.model)

    @property
    def prior_entropy(self) -> float:
        """H(c): log K for c ~ Unif(K), or mi_dims/2 log(2 pi e) for the N(0, I) sub-vector z_hat."""
        if self.categorical:
            return math.log(self.model.prior.num_categories)
        return 0.5 * self.model.mi_dims * math.log(2.0 * math.pi * math.e)

    def init(self, rng, x):
        rng_vae, rng_q = jax.random.split(rng)
        q = self.q_net.init(rng_q, jnp.zeros((1, *self.model.spec.example_shape), jnp.float32))["params"]
        return base.init_players(self.model, rng_vae, x, q=q)

    def temperature(self, step) -> jax.Array:
        """Gumbel-softmax temperature at ``step``: exponential decay tau_start -> tau_end."""
        frac = jnp.clip(jnp.asarray(step, jnp.float32) / max(self.temperature_anneal_steps, 1), 0.0, 1.0)
        return self.temperature_start * (self.temperature_end / self.temperature_start) ** frac

    def forward(self, params, batch_stats, x, rng, step):
        """The model's forward with the code of this layout: terms and new batch_stats.

        Categorical: c ~ GumbelSoftmax at ``temperature(step)`` and kl = KL(q(z|x)||N(0,I)) + KL(q(c|x)||Unif(K))
        (eq. 4.19), with kl_z, kl_c. Sub-vector: the Gaussian VAE (the first half of ``rng`` draws z).
        """
        if not self.categorical:
            return self.model.forward(params, batch_stats, x, jax.random.split(rng)[0])
        return self.model.forward(params, batch_stats, x, rng, temperature=self.temperature(step))

    # --- the MI regulariser ----------------------------------------------------------------
    def mi_pairs(self, params, batch_stats, terms, rng) -> tuple[dict, object]:
        """The bound's pairs {"code", "x_hat"[, "logits"]} and the batch_stats after any decoder pass.

        "posterior": the batch's own codes (c of the categorical code, z of the sub-vector layout) and
        their decoder outputs. "prior": ``B`` codes drawn from p(code) and decoded (eq. 4.5)."""
        if self.mi_samples == "posterior":
            code = terms["c"] if self.categorical else terms["z"]
            return ({"code": code, "x_hat": self.model.reconstruction(terms["out"]), "logits": terms.get("logits")},
                    batch_stats)
        full = self.model.sample_prior(rng, terms["out"].shape[0])
        out, batch_stats = self.model.apply(params, batch_stats, full, train=True, method="decode")
        code = full[:, self.model.latent_dim:] if self.categorical else full
        return {"code": code, "x_hat": self.model.reconstruction(out)}, batch_stats

    def mi_lower_bound(self, q_params, pairs) -> jax.Array:
        """MI = H(c) + mean log Q(c | x_hat) (eq. 4.5 / 4.9 / 4.13 / 4.21) on the pairs of ``mi_pairs``."""
        if self.categorical:
            q_logits = self.q_net.apply({"params": q_params}, pairs["x_hat"])
            log_q = jnp.sum(pairs["code"] * jax.nn.log_softmax(q_logits, axis=-1), axis=-1)
        else:
            mean, log_var = self.q_net.apply({"params": q_params}, pairs["x_hat"])
            log_q = losses.diag_gaussian_log_prob(pairs["code"][:, : self.model.mi_dims], mean, log_var)
        return losses.barber_agakov_bound(log_q, self.entropy(pairs))

    def entropy(self, pairs) -> jax.Array:
        """H(c): the prior's (constant), or for ``code_entropy="aggregate"`` the entropy of the batch's
        aggregate posterior q(c) = mean_b softmax(logits_b) (categorical layout, posterior pairs only)."""
        if self.code_entropy == "prior":
            return jnp.asarray(self.prior_entropy, jnp.float32)
        p = jnp.mean(jax.nn.softmax(pairs["logits"], axis=-1), axis=0)
        return -jnp.sum(p * jnp.log(jnp.maximum(p, 1e-12)))

    def losses(self, params, batch_stats, batch, rng, step):
        rng, rng_prior = jax.random.split(rng)
        terms, new_stats = self.forward(params, batch_stats, batch["x"], rng, step)
        pairs, new_stats = self.mi_pairs(params, new_stats, terms, rng_prior)
        metrics = base.elbo_metrics(terms)
        mi = self.mi_lower_bound(params["q"], pairs)
        metrics["mi_estimate"] = mi
        if self.categorical:
            metrics.update(kl_z=jnp.mean(terms["kl_z"]), kl_c=jnp.mean(terms["kl_c"]),
                           temperature=self.temperature(step))
        vae_loss = -metrics["elbo"] - self.lambda_ * mi
        # Q sees the VAE's codes and outputs as data (no gradient to the VAE through its loss).
        q_loss = -self.mi_lower_bound(params["q"], jax.lax.stop_gradient(pairs))
        return {"q": (q_loss, {"mi_estimate": -q_loss}), "vae": (vae_loss, metrics)}, new_stats


def build(spec: base.DataSpec, *, model, dtype, lambda_: float = 1.0, mi_code: str = "subvector", mi_dims: int = 2,
          num_categories: int = 10, temperature_start: float = 1.0, temperature_end: float = 0.5,
          temperature_anneal_steps: int = 10000, hard_gumbel: bool = False, code_entropy: str = "prior",
          mi_samples: str = "posterior") -> VMI:
    """VMI with one of the thesis's two code layouts.

    Args:
      spec: the data.
      model: ``config.model``: latent_dim (the Gaussian z), encoder, decoder, and ``q`` (Q's
        ``models.GaussianPosterior`` / ``models.CategoricalPosterior`` fields; default widths 256-256).
      dtype: compute dtype of the networks.
      lambda_: weight of the MI bound.
      mi_code: "subvector" (section 4.3.1) or "categorical" (section 4.3.2).
      mi_dims: size of the sub-vector z_hat = z[:, :mi_dims] (subvector).
      num_categories: K of the categorical code (categorical).
      temperature_start: the Gumbel-softmax temperature at step 0 (categorical); it decays exponentially.
      temperature_end: the temperature it decays to (categorical).
      temperature_anneal_steps: the steps the decay takes (categorical).
      hard_gumbel: straight-through one-hot c (categorical).
      code_entropy: H(c) in the bound: "prior" (the thesis's constant) or "aggregate" (the batch's q(c);
        categorical layout with posterior pairs only).
      mi_samples: the bound's pairs: "posterior" (c ~ q(c|x), the thesis as trained) or "prior" (the code ~
        p(code) and decoded, eq. 4.5 as derived; a lower bound whatever the encoder does).
    """
    base.check_model(model, nets=("q",))
    if mi_code not in MI_CODES:
        raise ConfigError(f"mi_code must be one of {', '.join(MI_CODES)}, got {mi_code!r}")
    if code_entropy not in CODE_ENTROPIES or (code_entropy == "aggregate" and mi_code != "categorical"):
        raise ConfigError(f"code_entropy must be 'prior' or (mi_code='categorical') 'aggregate', got {code_entropy!r}")
    if mi_samples not in MI_SAMPLES:
        raise ConfigError(f"mi_samples must be one of {', '.join(MI_SAMPLES)}, got {mi_samples!r}")
    if mi_samples == "prior" and code_entropy != "prior":
        raise ConfigError("mi_samples='prior' draws c from p(c), whose entropy is exact: code_entropy must be 'prior'")
    latent_dim = int(model["latent_dim"])
    encoder, decoder = dict(model["encoder"]), dict(model["decoder"])
    out_shape = base.decoder_out_shape(spec)
    if mi_code == "categorical":
        k = int(num_categories)
        conv_impl = dict(model).get("conv_impl", "auto")
        trunk = models.build_encoder(encoder, latent_dim + k, dtype, conv_impl)
        module = models.CategoricalVAE(encoder=models.CategoricalGaussianEncoder(trunk, latent_dim, k),
                                       decoder=models.build_decoder(decoder, out_shape, dtype, conv_impl),
                                       hard=bool(hard_gumbel),
                                       temperature=float(temperature_end))
        vae = base.VAEModel(module, spec, latent_dim, base.Prior(latent_dim, num_categories=k))
        q_cls, q_size = models.CategoricalPosterior, k
    else:
        if not 1 <= int(mi_dims) <= latent_dim:
            raise ConfigError(f"mi_dims must be in [1, latent_dim={latent_dim}], got {mi_dims}")
        vae = dataclasses.replace(base.make_model(spec, model, dtype), mi_dims=int(mi_dims))
        q_cls, q_size = models.GaussianPosterior, int(mi_dims)
    q_fields = {"widths": (256, 256), **base.net_kwargs(model, "q", q_cls)}
    q_net = q_cls(q_size, dtype=dtype, **q_fields)
    if mi_samples == "prior" and vae.autoregressive:
        raise ConfigError("mi_samples='prior' decodes prior codes in one pass: it needs a non-autoregressive decoder")
    return VMI(vae, q_net, lambda_=float(lambda_), code_entropy=code_entropy, mi_samples=mi_samples,
               temperature_start=float(temperature_start), temperature_end=float(temperature_end),
               temperature_anneal_steps=int(temperature_anneal_steps))


__all__ = ["CODE_ENTROPIES", "MI_CODES", "MI_SAMPLES", "VMI", "build"]
