"""Flax Linen modules: encoders, decoders, critics t(x, z), auxiliary networks, discriminators.

Encoders map x -> (mean, log_var) of a diagonal Gaussian q(z|x) with log-variance clipped to
[LOG_VAR_MIN, LOG_VAR_MAX]. Decoders map z -> the parameters of p(x|z) with the shape of x
(Bernoulli logits or a Gaussian mean). Every module takes ``dtype`` (the compute dtype);
parameters stay float32 and heads return float32 so that losses are computed in float32.

Architectures are chosen by name (``build_encoder`` / ``build_decoder``):
  mlp      fully connected, depth and width configurable (InfoMax-VAE varies decoder depth 2/4/10)
  conv28   the InfoMax-VAE 28x28 conv net (4x4 stride-2 convs 28-28-56-118, 1x1 head)
  conv32   a 32x32 conv net for CIFAR (4x4 stride-2 convs 64-128-256)
  dcgan64  the DCGAN/WAE-style 64x64 net with BatchNorm (VIMAE CelebA setting)
  pixelcnn (decoder) conditional gated PixelCNN for binary images (models/pixelcnn.py; autoregressive)
  bilstm / lstm  text encoder / decoder over token ids (models/text.py; the decoder is autoregressive)

Autoregressive decoders (class attribute ``autoregressive = True``) are called ``decoder(z, train, x=x)``
(teacher forcing); ``VAE.decode(z, train, x=None)`` passes x to them and ignores it for the others.
"""

from mi_vae.models.auxiliary import CategoricalGaussianEncoder, CategoricalPosterior, GaussianPosterior
from mi_vae.models.networks import (
    DECODERS,
    ENCODERS,
    LOG_VAR_MAX,
    LOG_VAR_MIN,
    MLP,
    VAE,
    Critic,
    build_decoder,
    build_encoder,
    is_autoregressive,
)

__all__ = [
    "CategoricalGaussianEncoder",
    "CategoricalPosterior",
    "GaussianPosterior",
    "ENCODERS",
    "DECODERS",
    "LOG_VAR_MAX",
    "LOG_VAR_MIN",
    "Critic",
    "MLP",
    "VAE",
    "build_decoder",
    "build_encoder",
    "is_autoregressive",
]
