"""The ELBO (plain VAE) on InfoVAE's settings: loss = recon + KL(q(z|x) || p(z)), as configs/infovae_mmd.py.

The baseline of InfoVAE's figure 3 and table 1 (same nets, batch, optimiser and length as the MMD,
Stein and adversarial variants). Arguments as configs/infovae_mmd.py (lambda_ is unused).

python -m mi_vae.main --config=configs/infovae_elbo.py --workdir=runs/infovae_elbo
"""

from configs.infovae_mmd import build


def get_config(arg=None):
    return build("elbo", arg)
