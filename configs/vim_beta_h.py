"""beta_H-VAE baseline of the VIMAE paper (eq. 9, beta >> 1): the beta-VAE on the VIMAE settings.

beta = 10 for MNIST/Omniglot, 100 for CIFAR10/CelebA (section V: "beta_H = lambda"); nets, latent,
batch and length as configs/vim_normal.py. Arguments: dataset, beta (0: the paper's), latent_dim,
epochs, steps, dtype, smoke.

python -m mi_vae.main --config=configs/vim_beta_h.py --workdir=runs/beta_h
"""

from mi_vae.config import base_config, method_section, parse_arg, vimae_setting, vimae_weight


def get_config(arg=None):
    """The vae method with beta = 10.0 (MNIST/Omniglot) or 100.0 (CIFAR/CelebA) unless ``beta`` is given."""
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", beta=0.0, latent_dim=0, epochs=0, steps=20000,
                    dtype="float32")
    config = base_config()
    config.method = method_section("vae", beta=arg.beta or vimae_weight(arg.dataset, 10.0, 100.0))
    return vimae_setting(config, arg.dataset, arg.latent_dim, arg.epochs, arg.steps, arg.dtype, smoke_run=arg.smoke)
