"""MMD-VAE (InfoVAE section 4.1.3): loss = recon + lambda_ * MMD(q(z), p(z)), alpha = 1.

The paper's MNIST setting as far as this library has it: a conv encoder (conv28 stands in for the
DCGAN-style CNN; the paper's PixelCNN decoder is replaced by the conv28 decoder), p(z) = N(0, I),
batch 100 ("a fixed batch size of 100" for the MMD and Stein estimates), latent 10 (Fig. 4; Fig. 3
sweeps 2-40), Adam 1e-3, a Gaussian (RBF) kernel, lambda chosen so that the regulariser is on the
order of the log-likelihood (section 4). The data default is the offline Fashion-MNIST; the paper's
is binarized MNIST (``dataset=binarized_mnist`` once prepared with tfds).
Arguments: dataset, latent_dim, lambda_, alpha, net=conv28|mlp, decoder_depth (net=mlp: hidden layers of
512 in the decoder, as InfoMax-VAE's table II), steps, epochs, binarize, smoke.

python -m mi_vae.main --config=configs/infovae_mmd.py --workdir=runs/infovae_mmd

This file also holds ``build(regularizer, arg, **defaults)``, shared by configs/infovae_*.py.
"""

import ml_collections

from mi_vae.config import base_config, parse_arg, smoke

#: lambda_ per regulariser (the weight of D with alpha = 1); 0 where there is no D.
DEFAULT_LAMBDA = {"ae": 0.0, "elbo": 0.0, "mmd": 1000.0, "stein": 100.0, "adversarial": 100.0}


def build(regularizer, arg=None, **defaults):
    a = parse_arg(arg, **{
        "smoke": False, "dataset": "fashion_mnist", "latent_dim": 10, "lambda_": DEFAULT_LAMBDA[regularizer],
        "alpha": 1.0, "net": "conv28", "decoder_depth": 2, "steps": 20000, "epochs": 0, "binarize": False, **defaults})
    c = base_config()
    c.method = "infovae"
    c.regularizer = regularizer
    c.dataset = a.dataset
    c.binarize = a.binarize
    c.latent_dim = a.latent_dim
    c.alpha = a.alpha
    c.lambda_ = a.lambda_
    # MMD kernel (also used by the "mmd" metric of every variant): one Gaussian, bandwidth 2 * latent_dim.
    c.mmd_kernel = "rbf"
    c.mmd_scales = (1.0,)
    c.mmd_unbiased = False
    c.stein_bandwidth = 0.0  # <= 0: median heuristic of Liu & Wang
    c.discriminator = ml_collections.ConfigDict({"widths": (512, 512)})
    c.discriminator_learning_rate = 1e-4  # "a sufficiently small learning rate for the discriminator"
    if a.net == "conv28":
        c.encoder = ml_collections.ConfigDict({"name": "conv28"})
        c.decoder = ml_collections.ConfigDict({"name": "conv28"})
    elif a.net == "mlp":
        c.decoder.widths = (512,) * a.decoder_depth
    else:
        raise ValueError(f"net must be conv28 or mlp, got {a.net!r}")
    c.batch_size = 100
    c.learning_rate = 1e-3
    c.num_train_steps = a.steps
    c.num_epochs = a.epochs
    if a.smoke:
        smoke(c)
        c.discriminator.widths = (64, 64)
        c.discriminator_learning_rate = 1e-3
    return c


def get_config(arg=None):
    return build("mmd", arg)
