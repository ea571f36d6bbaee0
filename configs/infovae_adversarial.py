"""Adversarial InfoVAE / adversarial autoencoder (InfoVAE section 4.1.1), alpha = 1:

vae:           recon + lambda_ * (-E_q log sigmoid T(z))   (non-saturating generator loss)
discriminator: -E_p log sigmoid T(z) - E_q log(1 - sigmoid T(z)), MLP 512-512-1 on z, Adam 1e-4.
Settings and arguments as configs/infovae_mmd.py.

python -m mi_vae.main --config=configs/infovae_adversarial.py --workdir=runs/infovae_adv
"""

from configs.infovae_mmd import build


def get_config(arg=None):
    return build("adversarial", arg)
