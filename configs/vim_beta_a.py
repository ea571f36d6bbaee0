"""beta_A-VAE baseline of the VIMAE paper (beta < 1, Alemi et al.): configs/beta_vae.py on the VIMAE settings.

beta = 0.2 for MNIST/Omniglot, 0.4 for CIFAR10/CelebA (section V); ``beta=0.4`` overrides. Nets, latent,
batch and length as configs/vim_normal.py; arguments as configs/vim_beta_h.py.

python -m mi_vae.main --config=configs/vim_beta_a.py --workdir=runs/beta_a
python -m mi_vae.main --config=configs/vim_beta_a.py:beta=0.4 --workdir=runs/beta_a04
"""

from configs.vim_beta_h import build


def get_config(arg=None):
    return build(0.2, 0.4, arg)
