"""InfoVAE's probabilistic autoencoder (eq. 2): loss = -E_q[log p(x|z)], no regulariser.

Samples come from the Markov chain of Proposition 1 (eq. 3), ``InfoVAE.markov_chain_samples``, not
from p(z). Settings as configs/infovae_mmd.py (arguments too; lambda_ and alpha are unused).

python -m mi_vae.main --config=configs/infovae_ae.py --workdir=runs/infovae_ae
"""

from configs.infovae_mmd import build


def get_config(arg=None):
    return build("ae", arg)
