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
"""

from mi_vae.config import INFOVAE_LAMBDA, base_config, infovae_setting, parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, dataset="fashion_mnist", latent_dim=10, lambda_=INFOVAE_LAMBDA["mmd"],
                    alpha=1.0, net="conv28", decoder_depth=2, steps=20000, epochs=0, binarize=False)
    config = base_config()
    return infovae_setting(config, "mmd", dataset=arg.dataset, latent_dim=arg.latent_dim,
                           lambda_=arg.lambda_, alpha=arg.alpha, net_name=arg.net,
                           decoder_depth=arg.decoder_depth, steps=arg.steps, epochs=arg.epochs,
                           binarize=arg.binarize, smoke_run=arg.smoke)
