"""InfoVAE with a PixelCNN decoder (InfoVAE figure 1: MI over training, ELBO vs MMD / AE).

The paper's point: with a strong autoregressive decoder the ELBO can model x without z, so the
mutual information I_q(x; z) collapses, while the InfoVAE (MMD) objective and the plain autoencoder
keep an informative z. Here: dynamically binarized Fashion-MNIST (offline default; the paper uses
binarized MNIST), conv28 encoder, the conditional gated PixelCNN decoder of
``mi_vae/models/pixelcnn.py`` (z projected into every gated layer), latent 10, batch 100, Adam 1e-3.
Arguments: method=elbo|mmd|ae (the InfoVAE regularizer), dataset, latent_dim, lambda_ (mmd),
layers (0: the fewest with which every pixel sees all earlier pixels, ``full_view_layers``: 14 at
kernel 5), channels, kernel, steps, epochs, smoke. Compare runs through the logged ``mi_aggregate``-style
metrics of evaluation and ``kl`` over training (metrics.jsonl).

python -m mi_vae.main --config=configs/infovae_pixelcnn.py:method=elbo --workdir=runs/pixelcnn_elbo
python -m mi_vae.main --config=configs/infovae_pixelcnn.py:method=mmd --workdir=runs/pixelcnn_mmd

Evaluation note: decode(z) without x (samples, traversals) is ancestral sampling, one network pass
per pixel (784); IWAE and reconstructions are teacher-forced.
"""

from mi_vae.config import base_config, infovae_setting, net, parse_arg
from mi_vae.models.pixelcnn import full_view_layers


def get_config(arg=None):
    arg = parse_arg(arg, method="mmd", smoke=False, dataset="fashion_mnist", latent_dim=10, lambda_=1000.0,
                    layers=0, channels=64, kernel=5, steps=20000, epochs=0)
    if arg.method not in ("elbo", "mmd", "ae"):
        raise ValueError(f"method must be elbo, mmd or ae, got {arg.method!r}")
    config = infovae_setting(base_config(), arg.method, dataset=arg.dataset, latent_dim=arg.latent_dim,
                             lambda_=arg.lambda_ if arg.method == "mmd" else 0.0, alpha=1.0, net_name="conv28",
                             decoder_depth=2, steps=arg.steps, epochs=arg.epochs, binarize=True, smoke_run=arg.smoke)
    layers = arg.layers or full_view_layers(28, 28, arg.kernel)  # every pixel sees all earlier ones (14 at k = 5)
    config.model.decoder = net("pixelcnn", channels=arg.channels, num_layers=layers, kernel_size=arg.kernel,
                               head_channels=2 * arg.channels)
    config.evals.iwae.k = 20  # each IWAE sample is a full teacher-forced PixelCNN pass
    if arg.smoke:
        config.model.decoder.update(channels=8, num_layers=2, kernel_size=3, head_channels=16)
        config.evals.iwae.k = 4
    return config
