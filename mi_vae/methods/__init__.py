"""Methods by name: each module composes ``mi_vae.losses`` and ``mi_vae.models`` into per-player objectives.

``get_method(config, spec)`` imports the module named by ``config.method.name`` and calls its
``build(spec, model=config.model, dtype=..., **coefficients)``, the coefficients being the other keys
of ``config.method``. The name is one of ``METHODS`` or an importable module path
(``mypkg.my_method``), so a method can live outside this repository. See ``mi_vae.methods.base`` for
the contract the engine and evaluation rely on.
"""

from __future__ import annotations

import importlib
import inspect

import jax.numpy as jnp
import ml_collections

from mi_vae.errors import ConfigError
from mi_vae.methods.base import DataSpec, Method, VAEModel

#: the library's methods: name -> module with ``build``
METHODS: dict[str, str] = {
    "vae": "mi_vae.methods.vae",
    "infomax_vae": "mi_vae.methods.infomax_vae",
    "infovae": "mi_vae.methods.infovae",
    "vim": "mi_vae.methods.vim",
    "mae": "mi_vae.methods.mae",
    "vmi": "mi_vae.methods.vmi",
}
COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class UnknownMethodError(ConfigError):
    pass


def method_module(name: str):
    """The module of method ``name``: a registered name, or an importable module path with a ``build``."""
    path = METHODS.get(name, name)
    if name not in METHODS and "." not in name:
        raise UnknownMethodError(f"unknown method {name!r}; valid: {', '.join(sorted(METHODS))}, "
                                 "or a module path such as mypkg.my_method")
    try:
        module = importlib.import_module(path)
    except ModuleNotFoundError as err:
        if err.name is None or not (path == err.name or path.startswith(err.name + ".")):  # a bug inside it
            raise
        raise UnknownMethodError(f"method module {path!r} not found ({err}); valid names: "
                                 f"{', '.join(sorted(METHODS))}") from None
    if not callable(getattr(module, "build", None)):
        raise UnknownMethodError(f"method module {path!r} has no build(spec, *, model, dtype, **coefficients)")
    return module


def compute_dtype(name: str):
    if name not in COMPUTE_DTYPES:
        raise ConfigError(f"compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {name!r}")
    return COMPUTE_DTYPES[name]


def coefficients(build, section: dict) -> dict:
    """The coefficients of ``config.method`` (all keys but ``name``), checked against ``build``'s signature."""
    given = {k: (tuple(v) if isinstance(v, list) else v) for k, v in section.items() if k != "name"}
    params = inspect.signature(build).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return given
    valid = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY and n not in ("model", "dtype")]
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ConfigError(f"unknown coefficient {unknown[0]!r} of method {section['name']!r}; "
                          f"valid: {', '.join(valid) or '(none)'}")
    return given


def get_method(config: ml_collections.ConfigDict, spec: DataSpec) -> Method:
    """The method of ``config.method`` built for data described by ``spec``."""
    if isinstance(config.method, str):
        raise ConfigError(f"config.method is {config.method!r}, the layout before config sections: this config (or "
                          "config.json) comes from an older mi_vae; rebuild it from configs/ (method.name=...)")
    section = config.method.to_dict() if isinstance(config.method, ml_collections.ConfigDict) else dict(config.method)
    build = method_module(section["name"]).build
    model = config.model.to_dict() if isinstance(config.model, ml_collections.ConfigDict) else dict(config.model)
    return build(spec, model=model, dtype=compute_dtype(config.compute_dtype), **coefficients(build, section))


__all__ = ["METHODS", "DataSpec", "Method", "UnknownMethodError", "VAEModel", "compute_dtype", "get_method",
           "method_module"]
