"""InfoMax-VAE (infomax_vae.txt): ELBO + alpha * I_hat(x; z) with a critic t(x, z).

The paper's Fashion-MNIST setting: the 28x28 conv VAE, z = 10, batch 64, Adam 1e-3 for the VAE and
1e-5 for the critic (MLP 1000-400-100-1 on concat(x, z)), alpha = 20, beta = 1, KL f-dual bound (eq. 6).
Arguments: divergence=kl|dv, alpha, beta, net=conv28|mlp, decoder_depth (MLP decoder, Table II), dataset, smoke.

python -m mi_vae.main --config=configs/infomax_vae.py --workdir=runs/infomax
"""

import ml_collections

from mi_vae.config import base_config, parse_arg, smoke


def get_config(arg=None):
    a = parse_arg(arg, smoke=False, dataset="fashion_mnist", divergence="kl", alpha=20.0, beta=1.0,
                  net="conv28", decoder_depth=2, latent_dim=10, epochs=0, steps=20000)
    c = base_config()
    c.method = "infomax_vae"
    c.dataset = a.dataset
    c.latent_dim = a.latent_dim
    c.divergence = a.divergence
    c.alpha = a.alpha
    c.beta = a.beta
    c.critic = ml_collections.ConfigDict({"widths": (1000, 400, 100)})
    c.critic_learning_rate = 1e-5
    if a.net == "conv28":
        c.encoder = ml_collections.ConfigDict({"name": "conv28"})
        c.decoder = ml_collections.ConfigDict({"name": "conv28"})
    else:
        c.decoder.widths = (512,) * a.decoder_depth
    c.batch_size = 64
    c.num_train_steps = a.steps
    c.num_epochs = a.epochs
    if a.smoke:
        smoke(c)
        c.critic.widths = (64, 32)
        c.critic_learning_rate = 1e-3
    return c
