"""Mutual Autoencoder, "splitting the normal" (Mutual Autoencoder, section 7.1).

x ~ N(0, 1) (dataset ``splitting_normal``), a 1-D standard normal latent, Gaussian encoder and
decoder (means and log-variances from three-layer MLPs), r_omega(z|x) a Gaussian MLP. The VAE
(M = 0) ignores z; M > 0 splits N(0, 1) into a continuum of narrower normals p(x|z) holding
I(x; z) = M nats. Arguments: M (target MI, nats), C (penalty constant; the paper finds
[0.1, 10] works), steps, iw (importance_weighted_encoder k; 0 = Gaussian encoder), smoke.

python -m mi_vae.main --config=configs/mae_splitting_normal.py:M=1.0 --workdir=runs/mae_normal_m1
"""

from mi_vae.config import base_config, method_section, net, optim_section, parse_arg, smoke


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, M=1.0, C=1.0, steps=5000, iw=0)
    config = base_config()
    config.method = method_section("mae", M=arg.M, C=arg.C, importance_weighted_encoder=arg.iw,
                                   mi_batch_size=0,  # joint samples z ~ p(z), x ~ p(x|z) per step; 0: batch
                                   reinforce_samples=4)  # unused for continuous x (reparameterisation)
    config.dataset = "splitting_normal"
    config.model.latent_dim = 1
    config.model.encoder = net("mlp", widths=(64, 64))
    config.model.decoder = net("mlp", widths=(64, 64))
    config.model.r = net("mlp", widths=(64, 64))
    config.optim = optim_section(vae={"learning_rate": 1e-3}, r={"learning_rate": 1e-3})
    config.batch_size = 256
    config.num_train_steps = arg.steps
    config.log_every_steps = 100
    if arg.smoke:
        smoke(config)
        config.max_train_examples = 4096
        config.batch_size = 128
        config.model.encoder.widths = (32, 32)
        config.model.decoder.widths = (32, 32)
        config.model.r.widths = (32, 32)
    return config
