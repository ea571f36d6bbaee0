"""VAE (Kingma & Welling) on Fashion-MNIST with MLP encoder and decoder.

python -m mi_vae.main --config=configs/vae.py --workdir=runs/vae   (add :smoke=True for a seconds-long run)
"""

from mi_vae.config import base_config, method_section, parse_arg, smoke


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", decoder_depth=2)
    config = base_config()
    config.method = method_section("vae")
    config.dataset = arg.dataset
    config.model.latent_dim = 20
    config.model.decoder.widths = (512,) * arg.decoder_depth
    config.num_train_steps = 10000
    if arg.smoke:
        smoke(config)
    return config
