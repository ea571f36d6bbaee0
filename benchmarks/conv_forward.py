"""Forward-only passes of the default config's nets (evaluation's case) with each convolution implementation.

    python -m benchmarks.conv_forward [--config configs/default.py] [--min-time 2]

Times the jitted encoder (batch 500, evaluation's batch) and decoder (batches 500 and 1000: IWAE decodes
batch x chunk codes per call) with ``train=False`` for ``conv_impl`` xla and im2col; one JSON line each.
Training always differentiates, where im2col wins on the CPU (BENCHMARKS.md); this asks whether the
forward-only passes of evaluation would gain from XLA's convolution.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp


def _time(module, x, min_time: float) -> float:
    """Mean ms per call of the jitted forward pass after one compile call."""
    params = module.init(jax.random.key(0), x, train=False)
    forward = jax.jit(lambda p, x: module.apply(p, x, train=False))
    jax.block_until_ready(forward(params, x))
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < min_time:
        jax.block_until_ready(forward(params, x))
        calls += 1
    return (time.perf_counter() - start) / calls * 1e3


def main(argv=None) -> None:
    import importlib.util

    from mi_vae import models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/default.py")
    parser.add_argument("--min-time", type=float, default=2.0)
    args = parser.parse_args(argv)
    spec = importlib.util.spec_from_file_location("bench_config", args.config)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    shape = (28, 28, 1)  # Fashion-MNIST, the default config's data
    for impl in ("xla", "im2col"):
        encoder = models.build_encoder(config.model.encoder, config.model.latent_dim, jnp.float32, impl)
        decoder = models.build_decoder(config.model.decoder, shape, jnp.float32, impl)
        cases = [("encoder", encoder, (500, *shape)), ("decoder", decoder, (500, config.model.latent_dim)),
                 ("decoder", decoder, (1000, config.model.latent_dim))]
        for net, module_, x_shape in cases:
            ms = _time(module_, jnp.ones(x_shape, jnp.float32), args.min_time)
            print(json.dumps({"net": net, "conv_impl": impl, "batch": x_shape[0], "ms": round(ms, 2),
                              "device": jax.devices()[0].device_kind}), flush=True)


if __name__ == "__main__":
    main()
