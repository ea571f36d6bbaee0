"""The ELBO (plain VAE) on InfoVAE's settings: loss = recon + KL(q(z|x) || p(z)), as configs/infovae_mmd.py.

The baseline of InfoVAE's figure 3 and table 1 (same nets, batch, optimiser and length as the MMD,
Stein and adversarial variants). Arguments as configs/infovae_mmd.py (lambda_ is unused).

python -m mi_vae.main --config=configs/infovae_elbo.py --workdir=runs/infovae_elbo
"""

from mi_vae.config import INFOVAE_LAMBDA, base_config, infovae_setting, parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", latent_dim=10, lambda_=INFOVAE_LAMBDA["elbo"],
                    alpha=1.0, net="conv28", decoder_depth=2, steps=20000, epochs=0, binarize=False)
    config = base_config()
    return infovae_setting(config, "elbo", dataset=arg.dataset, latent_dim=arg.latent_dim,
                           lambda_=arg.lambda_, alpha=arg.alpha, net_name=arg.net,
                           decoder_depth=arg.decoder_depth, steps=arg.steps, epochs=arg.epochs,
                           binarize=arg.binarize, smoke_run=arg.smoke)
