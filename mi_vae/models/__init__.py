"""Flax Linen modules: encoders, decoders, critics t(x, z), auxiliary networks, the VAE modules.

Encoders map x -> (mean, log_var) of a diagonal Gaussian q(z|x) with log-variance clipped to
[LOG_VAR_MIN, LOG_VAR_MAX]. Decoders map a code -> the parameters of p(x|z) with the shape of x
(Bernoulli logits or a Gaussian mean). Every module takes ``dtype`` (the compute dtype);
parameters stay float32 and heads return float32 so that losses are computed in float32.

Architectures are chosen by name (``build_encoder`` / ``build_decoder``; the other keys of a
``config.model.encoder`` / ``decoder`` section are the module's fields):
  mlp      fully connected, depth and width configurable (InfoMax-VAE varies decoder depth 2/4/10)
  conv28   the InfoMax-VAE 28x28 conv net (4x4 stride-2 convs 28-28-56-118, 1x1 head)
  conv32   a 32x32 conv net for CIFAR (4x4 stride-2 convs 64-128-256)
  dcgan64  the DCGAN/WAE-style 64x64 net with BatchNorm (VIMAE CelebA setting)
  pixelcnn (decoder) conditional gated PixelCNN for binary images (models/pixelcnn.py; autoregressive)
  bilstm / lstm  text encoder / decoder over token ids (models/text.py; the decoder is autoregressive)

Layers: ``layers`` (shared blocks) <- ``networks``, ``auxiliary``, ``pixelcnn``, ``text`` <- this
registry. ``vae`` holds the VAE modules and the ``AutoregressiveDecoder`` protocol.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from mi_vae.errors import ConfigError, check_keys
from mi_vae.models.auxiliary import CategoricalGaussianEncoder, CategoricalPosterior, GaussianPosterior
from mi_vae.models.conv import CONV_IMPLS
from mi_vae.models.layers import LOG_VAR_MAX, LOG_VAR_MIN, MLP, Dtype
from mi_vae.models.networks import (
    Conv28Decoder,
    Conv28Encoder,
    Conv32Decoder,
    Conv32Encoder,
    Critic,
    DCGAN64Decoder,
    DCGAN64Encoder,
    MLPDecoder,
    MLPEncoder,
)
from mi_vae.models.pixelcnn import PixelCNNDecoder
from mi_vae.models.text import BiLSTMEncoder, LSTMDecoder
from mi_vae.models.vae import VAE, AutoregressiveDecoder, CategoricalVAE, DecoderFns, is_autoregressive

ENCODERS: dict[str, type[nn.Module]] = {
    "mlp": MLPEncoder, "conv28": Conv28Encoder, "conv32": Conv32Encoder, "dcgan64": DCGAN64Encoder,
    "bilstm": BiLSTMEncoder,
}
DECODERS: dict[str, type[nn.Module]] = {
    "mlp": MLPDecoder, "conv28": Conv28Decoder, "conv32": Conv32Decoder, "dcgan64": DCGAN64Decoder,
    "pixelcnn": PixelCNNDecoder, "lstm": LSTMDecoder,
}
#: fields every module gets from the library, not from its config section
_GIVEN = ("parent", "name", "latent_dim", "out_shape", "dtype", "conv_impl")


def settings(cls: type[nn.Module]) -> tuple[str, ...]:
    """The fields of ``cls`` a config section may set (all but latent_dim / out_shape / dtype)."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _GIVEN)


def module_kwargs(section, cls: type[nn.Module], what: str) -> dict:
    """A config section's keys (but ``name``) as ``cls``'s fields; sequences as tuples.

    An unknown key is a ``ConfigError`` naming the valid ones.
    """
    given = {k: v for k, v in dict(section).items() if k != "name"}
    check_keys(what, given, settings(cls))
    return {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in given.items()}


def _registered(registry: dict, kind: str, name: str) -> type[nn.Module]:
    if name not in registry:
        raise ConfigError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(registry))}")
    return registry[name]


def _conv_kwargs(cls: type[nn.Module], conv_impl: str) -> dict:
    """``{"conv_impl": conv_impl}`` for a convolutional net (one with that field), else {}."""
    if conv_impl not in CONV_IMPLS:
        raise ConfigError(f"config.model.conv_impl must be one of {', '.join(CONV_IMPLS)}; got {conv_impl!r}")
    return {"conv_impl": conv_impl} if "conv_impl" in {f.name for f in dataclasses.fields(cls)} else {}


def build_encoder(section, latent_dim: int, dtype: Dtype = jnp.float32, conv_impl: str = "auto") -> nn.Module:
    """The encoder ``section.name`` (see ``ENCODERS``) with the section's other keys as its fields; convolutional
    ones run their convolutions by ``conv_impl`` (``mi_vae.models.conv``)."""
    cls = _registered(ENCODERS, "encoder", section["name"])
    return cls(latent_dim=latent_dim, dtype=dtype, **_conv_kwargs(cls, conv_impl),
               **module_kwargs(section, cls, f"encoder {section['name']!r}"))


def build_decoder(section, out_shape: Sequence[int], dtype: Dtype = jnp.float32, conv_impl: str = "auto") -> nn.Module:
    """The decoder ``section.name`` (see ``DECODERS``) producing ``[B, *out_shape]``."""
    cls = _registered(DECODERS, "decoder", section["name"])
    return cls(out_shape=tuple(out_shape), dtype=dtype, **_conv_kwargs(cls, conv_impl),
               **module_kwargs(section, cls, f"decoder {section['name']!r}"))


__all__ = [
    "AutoregressiveDecoder",
    "CategoricalGaussianEncoder",
    "CategoricalPosterior",
    "CategoricalVAE",
    "Critic",
    "DECODERS",
    "DecoderFns",
    "ENCODERS",
    "GaussianPosterior",
    "LOG_VAR_MAX",
    "LOG_VAR_MIN",
    "MLP",
    "VAE",
    "build_decoder",
    "build_encoder",
    "is_autoregressive",
    "module_kwargs",
    "settings",
]
