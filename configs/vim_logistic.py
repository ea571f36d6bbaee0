"""VIMAE-l: loss = -E_q[log p(x|z)] + lambda_ * MMD(q(z), Logistic(0, 1)^d) (section V, eq. 5/12).

Generation samples z from the Logistic prior (``VAEModel.sample_prior``). ``prior_scale=0.5513`` (sqrt(3)/pi)
gives the unit-variance Logistic, whose entropy is below N(0, 1)'s (section III.B). Settings and
arguments as configs/vim_normal.py.

python -m mi_vae.main --config=configs/vim_logistic.py --workdir=runs/vimae_l
"""

from mi_vae.config import WAE_MMD_SCALES, base_config, method_section, parse_arg, vimae_setting, vimae_weight


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", lambda_=0.0, latent_dim=0, prior_scale=1.0, epochs=0,
                    steps=20000, dtype="float32")
    config = base_config()
    config.method = method_section("vim", prior="logistic", prior_scale=arg.prior_scale,
                                   lambda_=arg.lambda_ or vimae_weight(arg.dataset, 10.0, 100.0),
                                   mmd_kernel="imq", mmd_scales=WAE_MMD_SCALES, mmd_unbiased=True)
    return vimae_setting(config, arg.dataset, arg.latent_dim, arg.epochs, arg.steps, arg.dtype, smoke_run=arg.smoke)
