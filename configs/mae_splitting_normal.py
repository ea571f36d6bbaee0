"""Mutual Autoencoder, "splitting the normal" (mutual_autoencoder.txt section 7.1).

x ~ N(0, 1) (dataset ``splitting_normal``), a 1-D standard normal latent, Gaussian encoder and
decoder (means and log-variances from three-layer MLPs), r_omega(z|x) a Gaussian MLP. The VAE
(M = 0) ignores z; M > 0 splits N(0, 1) into a continuum of narrower normals p(x|z) holding
I(x; z) = M nats. Arguments: M (target MI, nats), C (penalty constant; the paper finds
[0.1, 10] works), steps, iw (importance_weighted_encoder k; 0 = Gaussian encoder), smoke.

python -m mi_vae.main --config=configs/mae_splitting_normal.py:M=1.0 --workdir=runs/mae_normal_m1
"""

import ml_collections

from mi_vae.config import base_config, parse_arg, smoke


def get_config(arg=None):
    a = parse_arg(arg, smoke=False, M=1.0, C=1.0, steps=5000, iw=0)
    c = base_config()
    c.method = "mae"
    c.dataset = "splitting_normal"
    c.latent_dim = 1
    c.M = a.M
    c.C = a.C
    c.encoder = ml_collections.ConfigDict({"name": "mlp", "widths": (64, 64)})
    c.decoder = ml_collections.ConfigDict({"name": "mlp", "widths": (64, 64)})
    c.r = ml_collections.ConfigDict({"widths": (64, 64)})
    c.r_learning_rate = 1e-3
    c.learning_rate = 1e-3
    c.importance_weighted_encoder = a.iw
    c.mi_batch_size = 0  # joint samples z ~ p(z), x ~ p(x|z) per step; 0: batch_size
    c.reinforce_samples = 4  # unused for continuous x (reparameterisation)
    c.batch_size = 256
    c.num_train_steps = a.steps
    c.log_every_steps = 100
    if a.smoke:
        smoke(c)
        c.max_train_examples = 4096
        c.batch_size = 128
        c.encoder.widths = (32, 32)
        c.decoder.widths = (32, 32)
        c.r.widths = (32, 32)
    return c
