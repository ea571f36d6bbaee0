"""VIMAE-n (Crescimanna & Graham 2019, arXiv:1905.10549): eq. (5)/(12).

loss = -E_q[log p(x|z)] + lambda_ * MMD(q(z), N(0, I)).

The paper's settings (section V; "the same settings and autoencoder models used in [25]", WAE):
lambda = 10 for MNIST and Omniglot, 100 for CIFAR10 and CelebA; stochastic Gaussian encoder; IMQ-kernel
MMD (U-statistic, WAE's scales) between the batch's codes and as many prior draws; batch 100, Adam 1e-3;
latent 8 for the 28x28 sets (WAE's MNIST), 64 for CIFAR10 and CelebA; 100 epochs (55 for CelebA).
Nets: conv28 for 28x28 (the DCGAN-like net of the paper is approximated; conv28 has no BatchNorm),
conv32 for CIFAR, dcgan64 with BatchNorm for 64x64 (see configs/vim_celeba.py), mlp for digits.
The data default is the offline Fashion-MNIST (28x28 like MNIST, so lambda 10); the paper's are
``dataset=mnist|omniglot|cifar10|celeb_a`` (tfds, prepared offline).
Arguments: dataset, lambda_ (0: the paper's for the dataset), latent_dim (0: as above), prior_scale,
epochs (0: as above), steps (used when epochs < 0), dtype=float32|bfloat16, smoke.

python -m mi_vae.main --config=configs/vim_normal.py --workdir=runs/vimae_n
python -m mi_vae.main --config=configs/vim_normal.py:dataset=mnist --workdir=runs/vimae_n_mnist
"""

from mi_vae.config import WAE_MMD_SCALES, base_config, method_section, parse_arg, vimae_setting, vimae_weight


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", lambda_=0.0, latent_dim=0, prior_scale=1.0, epochs=0,
                    steps=20000, dtype="float32")
    config = base_config()
    config.method = method_section("vim", prior="normal", prior_scale=arg.prior_scale,
                                   lambda_=arg.lambda_ or vimae_weight(arg.dataset, 10.0, 100.0),
                                   mmd_kernel="imq", mmd_scales=WAE_MMD_SCALES, mmd_unbiased=True)
    return vimae_setting(config, arg.dataset, arg.latent_dim, arg.epochs, arg.steps, arg.dtype, smoke_run=arg.smoke)
