"""InfoMax-VAE (Rezaabad & Vishwanath 2020, arXiv:1912.13361): ELBO + alpha * I_hat(x; z) with a critic t(x, z).

The paper's Fashion-MNIST setting: the 28x28 conv VAE, z = 10, batch 64, Adam 1e-3 for the VAE and
1e-5 for the critic (MLP 1000-400-100-1 on concat(x, z)), alpha = 20, beta = 1, the KL f-dual bound of
eq. 6 (``mi_bound=nwj``). Arguments: mi_bound=nwj|dv|js|smile|infonce, alpha, beta, net=conv28|mlp,
decoder_depth (MLP decoder, Table II), dataset, update_mode=simultaneous|sequential (the authors' code
updates VAE and critic from one forward), smoke.

python -m mi_vae.main --config=configs/infomax_vae.py --workdir=runs/infomax
"""

from mi_vae.config import base_config, method_section, net, optim_section, parse_arg, smoke

STEPS = 20000

def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", mi_bound="nwj", alpha=20.0, beta=1.0,
                    net="conv28", decoder_depth=2, latent_dim=10, epochs=0, steps=STEPS, update_mode="simultaneous")
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
