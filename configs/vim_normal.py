"""VIMAE-n (variational_infomax_ae.txt): loss = -E_q[log p(x|z)] + lambda_ * MMD(q(z), N(0, I)), eq. (5)/(12).

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

This file also holds the VIMAE dataset settings shared by configs/vim_*.py.
"""

import ml_collections

from mi_vae.config import base_config, parse_arg, smoke

#: datasets of the paper's "large entropy" group (lambda = beta_H = 100, beta_A = 0.4)
LARGE = ("cifar10", "cifar100", "celeb_a", "synthetic64")
#: (encoder/decoder name, latent_dim, epochs) per dataset
NETS = {
    "mnist": ("conv28", 8, 100), "fashion_mnist": ("conv28", 8, 100), "binarized_mnist": ("conv28", 8, 100),
    "omniglot": ("conv28", 8, 100), "cifar10": ("conv32", 64, 100), "cifar100": ("conv32", 64, 100),
    "celeb_a": ("dcgan64", 64, 55), "synthetic64": ("dcgan64", 64, 55), "digits": ("mlp", 8, 100),
}


def paper_weight(dataset, small, large):
    """The paper's coefficient for ``dataset``: ``small`` for MNIST/Omniglot, ``large`` for CIFAR/CelebA."""
    return large if dataset in LARGE else small


def vimae_setting(c, dataset, latent_dim=0, epochs=0, steps=20000, dtype="float32"):
    """Set data, nets, latent size, batch, optimiser and length of the VIMAE experiments on ``c``."""
    if dataset not in NETS:
        raise ValueError(f"VIMAE has no setting for dataset {dataset!r}; valid: {', '.join(sorted(NETS))}")
    net, default_latent, default_epochs = NETS[dataset]
    c.dataset = dataset
    c.latent_dim = latent_dim or default_latent
    if net == "mlp":
        c.encoder = ml_collections.ConfigDict({"name": "mlp", "widths": (512, 512)})
        c.decoder = ml_collections.ConfigDict({"name": "mlp", "widths": (512, 512)})
    else:
        c.encoder = ml_collections.ConfigDict({"name": net})
        c.decoder = ml_collections.ConfigDict({"name": net})
    c.compute_dtype = dtype
    c.batch_size = 100
    c.learning_rate = 1e-3
    c.num_epochs = max(epochs or default_epochs, 0)  # epochs < 0: use num_train_steps
    c.num_train_steps = steps
    return c


def tiny_dcgan64(c):
    """Smoke-size dcgan64 nets (BatchNorm kept), latent 8, batch 8, 40 steps, on synthetic64.

    The decoder's first layer (dense to 8x8x1024) is fixed by the architecture; the narrow transposed
    convs after it keep a CPU step fast.
    """
    c.dataset = "synthetic64"
    c.encoder = ml_collections.ConfigDict({"name": "dcgan64", "channels": (4, 4, 8, 8)})
    c.decoder = ml_collections.ConfigDict({"name": "dcgan64", "channels": (2, 2, 2)})
    c.latent_dim = 8
    c.batch_size = 8
    c.num_train_steps = 40
    c.log_every_steps = 10
    c.checkpoint_every_steps = 20
    c.compute_dtype = "float32"
    return c


def build(prior, arg=None, **defaults):
    a = parse_arg(arg, **{"smoke": False, "dataset": "fashion_mnist", "lambda_": 0.0, "latent_dim": 0,
                          "prior_scale": 1.0, "epochs": 0, "steps": 20000, "dtype": "float32", **defaults})
    c = base_config()
    c.method = "vim"
    c.prior = prior
    c.prior_scale = a.prior_scale
    c.lambda_ = a.lambda_ or paper_weight(a.dataset, 10.0, 100.0)
    c.mmd_kernel = "imq"
    c.mmd_scales = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # WAE's; multiplied by the prior's variance
    c.mmd_unbiased = True
    vimae_setting(c, a.dataset, a.latent_dim, a.epochs, a.steps, a.dtype)
    if a.smoke:
        if NETS[a.dataset][0] == "dcgan64":
            smoke(c)
            tiny_dcgan64(c)
        else:
            smoke(c)
    return c


def get_config(arg=None):
    return build("normal", arg)
