"""Adversarial InfoVAE / adversarial autoencoder (InfoVAE section 4.1.1), alpha = 1:

vae:           recon + lambda_ * (-E_q log sigmoid T(z))   (non-saturating generator loss)
discriminator: -E_p log sigmoid T(z) - E_q log(1 - sigmoid T(z)), MLP 512-512-1 on z, Adam 1e-4.
Settings and arguments as configs/infovae_mmd.py.

python -m mi_vae.main --config=configs/infovae_adversarial.py --workdir=runs/infovae_adv
"""

from mi_vae.config import INFOVAE_LAMBDA, base_config, infovae_setting, parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", latent_dim=10, lambda_=INFOVAE_LAMBDA["adversarial"],
                    alpha=1.0, net="conv28", decoder_depth=2, steps=20000, epochs=0, binarize=False)
    config = base_config()
    return infovae_setting(config, "adversarial", dataset=arg.dataset, latent_dim=arg.latent_dim,
                           lambda_=arg.lambda_, alpha=arg.alpha, net_name=arg.net,
                           decoder_depth=arg.decoder_depth, steps=arg.steps, epochs=arg.epochs,
                           binarize=arg.binarize, smoke_run=arg.smoke)
