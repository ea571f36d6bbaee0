"""Methods by name: each composes ``mi_vae.losses`` and ``mi_vae.models`` into per-player objectives.

``get_method(config, spec)`` builds the method named by ``config.method``; ``METHODS`` maps each
name to ``module:Class`` (imported on use, so one method's module never slows another's start).
See ``mi_vae.methods.base`` for the interface the engine relies on.
"""

from __future__ import annotations

import importlib

from mi_vae.methods.base import DataSpec, Method, VAEMethod

METHODS: dict[str, str] = {
    "vae": "mi_vae.methods.vae:VAE",
    "beta_vae": "mi_vae.methods.vae:BetaVAE",
    "infomax_vae": "mi_vae.methods.infomax_vae:InfoMaxVAE",
    "infovae": "mi_vae.methods.infovae:InfoVAE",
    "vim": "mi_vae.methods.vim:VIM",
    "mae": "mi_vae.methods.mae:MutualAutoencoder",
    "vmi": "mi_vae.methods.vmi:VMI",
}


class UnknownMethodError(ValueError):
    pass


def method_class(name: str) -> type[Method]:
    if name not in METHODS:
        raise UnknownMethodError(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}")
    module, _, cls = METHODS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def get_method(config, spec: DataSpec) -> Method:
    """The method ``config.method`` built for data described by ``spec``."""
    return method_class(config.method)(config, spec)


__all__ = ["DataSpec", "METHODS", "Method", "UnknownMethodError", "VAEMethod", "get_method", "method_class"]
