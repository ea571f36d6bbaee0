"""VAE (Kingma & Welling) on Fashion-MNIST with MLP encoder and decoder.

python -m mi_vae.main --config=configs/vae.py --workdir=runs/vae   (add :smoke=True for a seconds-long run)
"""

from mi_vae.config import base_config, parse_arg, smoke


def get_config(arg=None):
    a = parse_arg(arg, smoke=False, dataset="fashion_mnist", decoder_depth=2)
    c = base_config()
    c.method = "vae"
    c.dataset = a.dataset
    c.latent_dim = 20
    c.decoder.widths = (512,) * a.decoder_depth
    c.num_train_steps = 10000
    if a.smoke:
        smoke(c)
    return c
