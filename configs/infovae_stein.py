"""Stein-VAE (InfoVAE section 4.1.2): loss = recon + lambda_ * Stein surrogate / n, alpha = 1.

The surrogate's gradient is the Stein variational gradient of KL(q(z) || p(z)) for p(z) = N(0, I)
(RBF kernel, median-heuristic bandwidth). Settings and arguments as configs/infovae_mmd.py.

python -m mi_vae.main --config=configs/infovae_stein.py --workdir=runs/infovae_stein
"""

from mi_vae.config import INFOVAE_LAMBDA, base_config, infovae_setting, parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", latent_dim=10, lambda_=INFOVAE_LAMBDA["stein"],
                    alpha=1.0, net="conv28", decoder_depth=2, steps=20000, epochs=0, binarize=False)
    config = base_config()
    return infovae_setting(config, "stein", dataset=arg.dataset, latent_dim=arg.latent_dim,
                           lambda_=arg.lambda_, alpha=arg.alpha, net_name=arg.net,
                           decoder_depth=arg.decoder_depth, steps=arg.steps, epochs=arg.epochs,
                           binarize=arg.binarize, smoke_run=arg.smoke)
