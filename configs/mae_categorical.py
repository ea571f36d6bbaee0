"""Mutual Autoencoder on uniform 10-way categorical data (mutual_autoencoder.txt section 7.2).

x ~ Unif[10] one-hot (dataset ``categorical10``), a 1-D standard normal latent, the encoder "10
separate normal distributions, one for each possible value of x" (a linear Gaussian head on the
one-hot x), a three-layer MLP decoder with a 10-way softmax, r_omega(z|x) a Gaussian MLP. The MI
gradient through the discrete x ~ p(x|z) is REINFORCE with a leave-one-out baseline over
``reinforce_samples`` draws per z (Appendix A.2). The VAE (M = 0) outputs Unif[10] whatever z;
M up to log 10 = 2.3 nats moves p(x|z) towards determinism. Arguments: M, C, steps,
iw (Appendix C resampling encoder with k samples; the paper uses k = 5), smoke.

python -m mi_vae.main --config=configs/mae_categorical.py:M=1.5 --workdir=runs/mae_cat_m15
"""

import ml_collections

from mi_vae.config import base_config, parse_arg, smoke


def get_config(arg=None):
    a = parse_arg(arg, smoke=False, M=1.5, C=1.0, steps=10000, iw=0)
    c = base_config()
    c.method = "mae"
    c.dataset = "categorical10"
    c.latent_dim = 1
    c.M = a.M
    c.C = a.C
    c.encoder = ml_collections.ConfigDict({"name": "mlp", "widths": ()})  # one normal per category
    c.decoder = ml_collections.ConfigDict({"name": "mlp", "widths": (64, 64)})
    c.r = ml_collections.ConfigDict({"widths": (64,)})
    c.r_learning_rate = 1e-3
    c.learning_rate = 1e-3
    c.importance_weighted_encoder = a.iw
    c.mi_batch_size = 0
    c.reinforce_samples = 4
    c.batch_size = 256
    c.num_train_steps = a.steps
    c.log_every_steps = 100
    if a.smoke:
        smoke(c)
        c.encoder.widths = ()
        c.decoder.widths = (32, 32)
        c.r.widths = (32,)
    return c
