"""beta_H-VAE baseline of the VIMAE paper (eq. 9, beta >> 1): configs/beta_vae.py on the VIMAE settings.

beta = 10 for MNIST/Omniglot, 100 for CIFAR10/CelebA (section V: "beta_H = lambda"); nets, latent,
batch and length as configs/vim_normal.py. Arguments: dataset, beta (0: the paper's), latent_dim,
epochs, steps, dtype, smoke.

python -m mi_vae.main --config=configs/vim_beta_h.py --workdir=runs/beta_h
"""

from configs import beta_vae
from configs.vim_normal import NETS, paper_weight, tiny_dcgan64, vimae_setting
from mi_vae.config import parse_arg, smoke


def build(small, large, arg=None):
    """beta_vae with beta = small (MNIST/Omniglot) or large (CIFAR/CelebA) unless ``beta`` is given."""
    a = parse_arg(arg, smoke=False, dataset="fashion_mnist", beta=0.0, latent_dim=0, epochs=0, steps=20000,
                  dtype="float32")
    beta = a.beta or paper_weight(a.dataset, small, large)
    c = beta_vae.get_config(f"dataset={a.dataset},beta={beta}")
    vimae_setting(c, a.dataset, a.latent_dim, a.epochs, a.steps, a.dtype)
    if a.smoke:
        smoke(c)
        if NETS[a.dataset][0] == "dcgan64":
            tiny_dcgan64(c)
    return c


def get_config(arg=None):
    return build(10.0, 100.0, arg)
