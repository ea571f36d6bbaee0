"""VMI with a Gaussian latent, MI maximised on a sub-vector (vmi_vae_thesis.txt section 4.3.1).

A 32-dim Gaussian latent, prior N(0, I); the MI regulariser (eq. 4.13-4.14) acts on the first two
coordinates z_hat = (z_1, z_2): an auxiliary Gaussian MLP Q(z_hat | x_hat) on the decoder's output.
The thesis trains on MNIST and compares lambda = 0 (plain ELBO) with lambda in {0.001, 0.005,
0.01} (Figure 4.4; the reconstruction term is summed over pixels). Here the offline default is
Fashion-MNIST. Arguments: lambda_ (MI weight), mi_dims, dataset, net=conv28|mlp, steps, smoke.

python -m mi_vae.main --config=configs/vmi_subvector.py:lambda_=0.01 --workdir=runs/vmi_sub
"""

import ml_collections

from mi_vae.config import base_config, parse_arg, smoke


def get_config(arg=None):
    a = parse_arg(arg, smoke=False, lambda_=0.01, mi_dims=2, dataset="fashion_mnist", net="conv28",
                  steps=20000, epochs=0)
    c = base_config()
    c.method = "vmi"
    c.dataset = a.dataset
    c.mi_target = "subvector"
    c.latent_dim = 32
    c.mi_dims = a.mi_dims
    c.lambda_ = a.lambda_
    c.q = ml_collections.ConfigDict({"widths": (256, 256)})
    c.q_learning_rate = 1e-3
    if a.net == "conv28":
        c.encoder = ml_collections.ConfigDict({"name": "conv28"})
        c.decoder = ml_collections.ConfigDict({"name": "conv28"})
    c.batch_size = 64
    c.num_train_steps = a.steps
    c.num_epochs = a.epochs
    if a.smoke:
        smoke(c)
        c.q.widths = (64,)
    return c
