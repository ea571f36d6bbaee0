"""InfoVAE's probabilistic autoencoder (eq. 2): loss = -E_q[log p(x|z)], no regulariser.

Samples come from the Markov chain of Proposition 1 (eq. 3), ``VAEModel.markov_chain``, not
from p(z). Settings as configs/infovae_mmd.py (arguments too; lambda_ and alpha are unused).

python -m mi_vae.main --config=configs/infovae_ae.py --workdir=runs/infovae_ae
"""

from mi_vae.config import INFOVAE_LAMBDA, base_config, infovae_setting, parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", latent_dim=10, lambda_=INFOVAE_LAMBDA["ae"],
                    alpha=1.0, net="conv28", decoder_depth=2, steps=20000, epochs=0, binarize=False)
    config = base_config()
    return infovae_setting(config, "ae", dataset=arg.dataset, latent_dim=arg.latent_dim,
                           lambda_=arg.lambda_, alpha=arg.alpha, net_name=arg.net,
                           decoder_depth=arg.decoder_depth, steps=arg.steps, epochs=arg.epochs,
                           binarize=arg.binarize, smoke_run=arg.smoke)
