"""beta-VAE (method ``vae`` with beta != 1): beta_H > 1 (Higgins et al.) or beta_A < 1.

The VIMAE paper's baselines use beta_H = 10 and beta_A = 0.2 / 0.4.

python -m mi_vae.main --config=configs/beta_vae.py:beta=10 --workdir=runs/beta_h
"""

from mi_vae.config import base_config, method_section, parse_arg, smoke


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", beta=10.0, decoder_depth=2)
    config = base_config()
    config.method = method_section("vae", beta=arg.beta)
    config.dataset = arg.dataset
    config.model.latent_dim = 20
    config.model.decoder.widths = (512,) * arg.decoder_depth
    config.num_train_steps = 10000
    if arg.smoke:
        smoke(config)
    return config
