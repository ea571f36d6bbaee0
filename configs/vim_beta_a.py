"""beta_A-VAE baseline of the VIMAE paper (beta < 1, Alemi et al.): the beta-VAE on the VIMAE settings.

beta = 0.2 for MNIST/Omniglot, 0.4 for CIFAR10/CelebA (section V); ``beta=0.4`` overrides. Nets, latent,
batch and length as configs/vim_normal.py; arguments as configs/vim_beta_h.py.

python -m mi_vae.main --config=configs/vim_beta_a.py --workdir=runs/beta_a
python -m mi_vae.main --config=configs/vim_beta_a.py:beta=0.4 --workdir=runs/beta_a04
"""

from mi_vae.config import base_config, method_section, parse_arg, vimae_setting, vimae_weight


def get_config(arg=None):
    """The vae method with beta = 0.2 (MNIST/Omniglot) or 0.4 (CIFAR/CelebA) unless ``beta`` is given."""
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", beta=0.0, latent_dim=0, epochs=0, steps=20000,
                    dtype="float32")
    config = base_config()
    config.method = method_section("vae", beta=arg.beta or vimae_weight(arg.dataset, 0.2, 0.4))
    return vimae_setting(config, arg.dataset, arg.latent_dim, arg.epochs, arg.steps, arg.dtype, smoke_run=arg.smoke)
