"""InfoVAE with a PixelCNN decoder (infovae.txt figure 1: MI over training, ELBO vs MMD / AE).

The paper's point: with a strong autoregressive decoder the ELBO can model x without z, so the
mutual information I_q(x; z) collapses, while the InfoVAE (MMD) objective and the plain autoencoder
keep an informative z. Here: dynamically binarized Fashion-MNIST (offline default; the paper uses
binarized MNIST), conv28 encoder, the conditional gated PixelCNN decoder of
``mi_vae/models/pixelcnn.py`` (z projected into every gated layer), latent 10, batch 100, Adam 1e-3.
Arguments: method=elbo|mmd|ae (the InfoVAE regularizer), dataset, latent_dim, lambda_ (mmd),
layers, channels, kernel, steps, epochs, smoke. Compare runs through the logged ``mi_aggregate``-style
metrics of evaluation and ``kl`` over training (metrics.jsonl).

python -m mi_vae.main --config=configs/infovae_pixelcnn.py:method=elbo --workdir=runs/pixelcnn_elbo
python -m mi_vae.main --config=configs/infovae_pixelcnn.py:method=mmd --workdir=runs/pixelcnn_mmd

Evaluation note: decode(z) without x (samples, traversals) is ancestral sampling, one network pass
per pixel (784); IWAE and reconstructions are teacher-forced.
"""

import ml_collections

from configs.infovae_mmd import build


def get_config(arg=None):
    from mi_vae.config import parse_arg

    a = parse_arg(arg, method="mmd", smoke=False, dataset="fashion_mnist", latent_dim=10, lambda_=1000.0,
                  layers=6, channels=64, kernel=5, steps=20000, epochs=0)
    if a.method not in ("elbo", "mmd", "ae"):
        raise ValueError(f"method must be elbo, mmd or ae, got {a.method!r}")
    lambda_ = a.lambda_ if a.method == "mmd" else 0.0
    c = build(a.method, f"dataset={a.dataset},latent_dim={a.latent_dim},lambda_={lambda_},steps={a.steps},"
                        f"epochs={a.epochs},binarize=True,smoke={a.smoke}")
    c.decoder = ml_collections.ConfigDict({"name": "pixelcnn", "channels": a.channels, "num_layers": a.layers,
                                           "kernel_size": a.kernel, "head_channels": 2 * a.channels})
    c.eval.iwae_k = 20  # each IWAE sample is a full teacher-forced PixelCNN pass
    if a.smoke:
        c.decoder.update(channels=8, num_layers=2, kernel_size=3, head_channels=16)
        c.eval.iwae_k = 4
    return c
