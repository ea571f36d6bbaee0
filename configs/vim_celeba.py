"""VIMAE on CelebA 64x64 (section V): the DCGAN/WAE-style nets with BatchNorm, lambda = 100.

dcgan64 encoder (4x4 stride-2 convs 128-256-512-1024, BatchNorm, ReLU) and decoder (dense to
8x8x1024, transposed convs 512-256-128, BatchNorm), latent 64, batch 100, Adam 1e-3, 55 epochs (WAE's
CelebA setting, which the paper follows; WAE also decays the learning rate, not done here), IMQ-kernel
MMD. Arguments: prior=normal|logistic (VIMAE-n / VIMAE-l), dtype=float32|bfloat16 (bfloat16 on
GPU/TPU: params and losses stay float32), lambda_, latent_dim, epochs, smoke, data_dir via
--config.data_dir. CelebA comes from prepared tensorflow-datasets data (never downloaded); without it
the run stops with one line saying how to get it. ``smoke=True`` trains tiny dcgan64 nets on the
synthetic64 stand-in for a few seconds.

python -m mi_vae.main --config=configs/vim_celeba.py --workdir=runs/vimae_celeba
python -m mi_vae.main --config=configs/vim_celeba.py:prior=logistic,dtype=bfloat16 --workdir=runs/vimae_l_celeba
"""

from mi_vae.config import WAE_MMD_SCALES, base_config, method_section, parse_arg, vimae_setting


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, prior="normal", dtype="float32", lambda_=100.0, latent_dim=64, epochs=55)
    if arg.prior not in ("normal", "logistic"):
        raise ValueError(f"prior must be normal or logistic, got {arg.prior!r}")
    config = base_config()
    config.method = method_section("vim", prior=arg.prior, prior_scale=1.0, lambda_=arg.lambda_,
                                   mmd_kernel="imq", mmd_scales=WAE_MMD_SCALES, mmd_unbiased=True)
    return vimae_setting(config, "celeb_a", arg.latent_dim, arg.epochs, 20000, arg.dtype, smoke_run=arg.smoke)
