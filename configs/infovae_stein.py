"""Stein-VAE (InfoVAE section 4.1.2): loss = recon + lambda_ * Stein surrogate / n, alpha = 1.

The surrogate's gradient is the Stein variational gradient of KL(q(z) || p(z)) for p(z) = N(0, I)
(RBF kernel, median-heuristic bandwidth). Settings and arguments as configs/infovae_mmd.py.

python -m mi_vae.main --config=configs/infovae_stein.py --workdir=runs/infovae_stein
"""

from configs.infovae_mmd import build


def get_config(arg=None):
    return build("stein", arg)
