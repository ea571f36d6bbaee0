"""Pure loss functions of mi_vae: likelihoods, KLs, priors, MI bounds and divergences.

Plain ``jax.numpy`` on arrays (imports only jax and numpy; no Flax, no config, no state), so
another project can call ``losses.mmd(z, z_prior)`` or ``losses.nwj_bound(t_joint, t_marginal)``
inside its own ``jax.jit``. Every function is batch-first, float32-stable (log-sum-exp, logits,
softplus), and safe under ``jit``, ``grad`` and ``vmap``.

Return conventions:

- Per example, ``[B]`` (summed over event axes, never averaged): ``bernoulli_log_prob``,
  ``categorical_log_prob``, ``gaussian_log_prob`` (all non-batch axes), ``token_log_prob`` (non-pad
  positions); ``gaussian_kl``, ``categorical_kl_to_uniform``, ``normal_log_prob``,
  ``diag_gaussian_log_prob``, ``logistic_log_prob``, ``normal_entropy``, ``logistic_entropy`` (last
  axis). Average them over the batch yourself.
- Batch scalars: the MI bounds (``nwj_bound``, ``donsker_varadhan_bound``, ``js_bound``,
  ``infonce_bound``, ``smile_bound``, ``barber_agakov_bound``; in nats, higher = more MI, so
  maximise them or minimise their negative), ``mmd``, ``stein_surrogate``,
  ``gan_discriminator_loss``, ``gan_generator_loss`` (losses to minimise) and
  ``aggregate_posterior_mi`` (an evaluation estimate, <= log N).
- ``mi_target_penalty`` keeps the shape of its ``mi`` argument (a scalar for a scalar bound).
- Samplers (``sample_normal``, ``reparameterize``, ``sample_logistic``, ``gumbel_softmax``, ``shuffle_marginal``,
  ``draw_flat``) take a PRNG key
  first and return samples of the requested / input shape.
- Log-densities and MI values are in nats.
"""

from mi_vae.losses.divergences import (
    DEFAULT_SCALES,
    categorical_kl_to_uniform,
    gan_discriminator_loss,
    gan_generator_loss,
    gaussian_kl,
    imq_kernel,
    mmd,
    rbf_kernel,
    squared_distances,
    stein_surrogate,
)
from mi_vae.losses.likelihoods import (
    bernoulli_log_prob,
    categorical_log_prob,
    gaussian_log_prob,
    token_log_prob,
)
from mi_vae.losses.mi_bounds import (
    NWJ_MAX_EXPONENT,
    aggregate_posterior_mi,
    barber_agakov_bound,
    donsker_varadhan_bound,
    infonce_bound,
    js_bound,
    mi_target_penalty,
    nwj_bound,
    shuffle_marginal,
    smile_bound,
)
from mi_vae.losses.priors import (
    diag_gaussian_log_prob,
    draw_flat,
    gumbel_softmax,
    logistic_entropy,
    logistic_log_prob,
    normal_entropy,
    normal_log_prob,
    reparameterize,
    sample_logistic,
    sample_normal,
)

__all__ = [
    "diag_gaussian_log_prob",
    "draw_flat",
    "reparameterize",
    "token_log_prob",
    "sample_normal",
    "DEFAULT_SCALES",
    "NWJ_MAX_EXPONENT",
    "aggregate_posterior_mi",
    "barber_agakov_bound",
    "bernoulli_log_prob",
    "categorical_log_prob",
    "categorical_kl_to_uniform",
    "donsker_varadhan_bound",
    "gan_discriminator_loss",
    "gan_generator_loss",
    "gaussian_kl",
    "gaussian_log_prob",
    "gumbel_softmax",
    "imq_kernel",
    "infonce_bound",
    "js_bound",
    "logistic_entropy",
    "logistic_log_prob",
    "mi_target_penalty",
    "mmd",
    "normal_entropy",
    "normal_log_prob",
    "nwj_bound",
    "rbf_kernel",
    "sample_logistic",
    "shuffle_marginal",
    "smile_bound",
    "squared_distances",
    "stein_surrogate",
]
