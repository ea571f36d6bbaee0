"""beta-VAE: beta_H > 1 (Higgins et al.) or beta_A < 1, the VIMAE paper's baselines (beta_H=10, beta_A=0.2/0.4).

python -m mi_vae.main --config=configs/beta_vae.py:beta=10 --workdir=runs/beta_h
"""

from mi_vae.config import base_config, parse_arg, smoke


def get_config(arg=None):
    a = parse_arg(arg, smoke=False, dataset="fashion_mnist", beta=10.0, decoder_depth=2)
    c = base_config()
    c.method = "beta_vae"
    c.dataset = a.dataset
    c.beta = a.beta
    c.latent_dim = 20
    c.decoder.widths = (512,) * a.decoder_depth
    c.num_train_steps = 10000
    if a.smoke:
        smoke(c)
    return c
