"""The README's main job: InfoMax-VAE on the offline Fashion-MNIST, sized for a few minutes on a laptop CPU.

It is configs/infomax_vae.py with 1000 steps (arguments as there); for the paper-length run use
``configs/infomax_vae.py:epochs=100``.
"""

from mi_vae.config import base_config, method_section, net, optim_section, parse_arg, smoke


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", mi_bound="nwj", alpha=20.0, beta=1.0,
                    net="conv28", decoder_depth=2, latent_dim=10, epochs=0, steps=1000, update_mode="simultaneous")
    config = base_config()
    config.method = method_section("infomax_vae", alpha=arg.alpha, beta=arg.beta, mi_bound=arg.mi_bound,
                                   update_mode=arg.update_mode)
    config.dataset = arg.dataset
    config.model.latent_dim = arg.latent_dim
    config.model.critic = {"widths": (1000, 400, 100)}
    if arg.net == "conv28":
        config.model.encoder = net("conv28")
        config.model.decoder = net("conv28")
    else:
        config.model.decoder.widths = (512,) * arg.decoder_depth
    config.optim = optim_section(vae={"learning_rate": 1e-3}, critic={"learning_rate": 1e-5})
    config.batch_size = 64
    config.num_train_steps = arg.steps
    config.num_epochs = arg.epochs
    if arg.smoke:
        smoke(config)
        config.model.critic.widths = (64, 32)
        config.optim.critic.learning_rate = 1e-3
    return config
