"""Mutual Autoencoder on uniform 10-way categorical data (Mutual Autoencoder, section 7.2).

x ~ Unif[10] one-hot (dataset ``categorical10``), a 1-D standard normal latent, the encoder "10
separate normal distributions, one for each possible value of x" (a linear Gaussian head on the
one-hot x), a three-layer MLP decoder with a 10-way softmax, r_omega(z|x) a Gaussian MLP. The MI
gradient through the discrete x ~ p(x|z) is REINFORCE with a leave-one-out baseline over
``reinforce_samples`` draws per z (Appendix A.2). The VAE (M = 0) outputs Unif[10] whatever z;
M up to log 10 = 2.3 nats moves p(x|z) towards determinism. Arguments: M, C, steps,
iw (Appendix C resampling encoder with k samples; the paper uses k = 5), smoke.

python -m mi_vae.main --config=configs/mae_categorical.py:M=1.5 --workdir=runs/mae_cat_m15
"""

from mi_vae.config import base_config, method_section, net, optim_section, parse_arg, smoke


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, M=1.5, C=1.0, steps=10000, iw=0)
    config = base_config()
    config.method = method_section("mae", M=arg.M, C=arg.C, importance_weighted_encoder=arg.iw,
                                   mi_batch_size=0, reinforce_samples=4)
    config.dataset = "categorical10"
    config.model.latent_dim = 1
    config.model.encoder = net("mlp", widths=())  # one normal per category
    config.model.decoder = net("mlp", widths=(64, 64))
    config.model.r = net("mlp", widths=(64,))
    config.optim = optim_section(vae={"learning_rate": 1e-3}, r={"learning_rate": 1e-3})
    config.batch_size = 256
    config.num_train_steps = arg.steps
    config.log_every_steps = 100
    if arg.smoke:
        smoke(config)
        config.model.encoder.widths = ()
        config.model.decoder.widths = (32, 32)
        config.model.r.widths = (32,)
    return config
