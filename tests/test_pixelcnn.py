"""PixelCNN decoder (mi_vae/models/pixelcnn.py): causality, jitted sampling, InfoVAE smoke training."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mi_vae.methods import DataSpec, get_method
from mi_vae.models.pixelcnn import PixelCNNDecoder, full_view_layers, sample_pixelcnn

SHAPE = (28, 28, 1)


@pytest.fixture(scope="module")
def small_net():
    dec = PixelCNNDecoder(out_shape=SHAPE, channels=8, num_layers=3, kernel_size=3, head_channels=8)
    z = jax.random.normal(jax.random.PRNGKey(3), (1, 4))
    x = jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (1, *SHAPE)).astype(jnp.float32)
    params = dec.init(jax.random.PRNGKey(0), z, x=x)
    # random (not zero) biases too, so no gradient vanishes by accident
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(7), len(leaves))
    params = jax.tree_util.tree_unflatten(
        treedef, [leaf + 0.1 * jax.random.normal(k, leaf.shape) for leaf, k in zip(leaves, keys, strict=True)])
    return dec, params, z, x


@pytest.mark.parametrize("i", [0, 1, 27, 28, 29, 56, 405, 783])  # first pixel, row 0 end, column 0, interior, last
def test_receptive_field_is_causal(small_net, i):
    dec, params, z, x = small_net
    grad = jax.grad(lambda x: dec.apply(params, z, x=x).reshape(-1)[i])(x).reshape(-1)
    assert np.all(np.asarray(grad[i:]) == 0.0), f"pixel {i} sees pixels >= {i}"
    if i > 0:  # it sees its left neighbour, or the pixel above in column 0 (not a degenerate network)
        assert grad[i - 1 if i % 28 else i - 28] != 0.0


def test_no_blind_spot(small_net):
    """The vertical stack covers the pixels above-right that a single masked stack misses."""
    dec, params, z, x = small_net
    i = 5 * 28 + 10
    grad = jax.grad(lambda x: dec.apply(params, z, x=x).reshape(-1)[i])(x).reshape(28, 28)
    assert grad[4, 11] != 0.0 and grad[4, 12] != 0.0


def test_full_view_every_pixel_sees_all_earlier_pixels_and_none_after():
    """With ``full_view_layers`` layers (the infovae_pixelcnn config's depth) the Jacobian of the logits in
    the pixels is strictly lower-triangular with every entry below the diagonal non-zero; one layer fewer
    leaves the last pixel blind to part of the image."""
    assert (full_view_layers(28, 28, 5), full_view_layers(28, 28, 7), full_view_layers(8, 8, 3)) == (14, 9, 7)
    z = jax.random.normal(jax.random.PRNGKey(3), (1, 4))
    x = jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (1, *SHAPE)).astype(jnp.float32)

    def logits_fn(num_layers):
        dec = PixelCNNDecoder(out_shape=SHAPE, channels=8, num_layers=num_layers, kernel_size=5, head_channels=8)
        params = dec.init(jax.random.PRNGKey(0), z, x=x)
        return lambda x: dec.apply(params, z, x=x).reshape(-1)

    jac = np.abs(np.asarray(jax.jacrev(logits_fn(14))(x)).reshape(784, 784))
    earlier = np.tril(np.ones((784, 784), bool), -1)
    assert np.all(jac[~earlier] == 0.0)  # nothing at or after the pixel itself
    assert np.all(jac[earlier] > 0.0)  # everything before it
    last = jax.grad(lambda x: logits_fn(13)(x)[-1])(x).reshape(-1)
    assert np.count_nonzero(np.asarray(last[:-1])) < 783


def test_infovae_pixelcnn_config_has_the_full_view():
    from configs.infovae_pixelcnn import get_config

    decoder = get_config().model.decoder
    assert decoder.num_layers >= full_view_layers(28, 28, decoder.kernel_size)


def test_sampling_is_jitted_fori_loop(small_net):
    dec, params, _, _ = small_net

    def sample(z, rng):
        return sample_pixelcnn(lambda z, x: dec.apply(params, z, x=x), z, rng, SHAPE)

    z = jax.random.normal(jax.random.PRNGKey(4), (3, 4))
    jaxpr = str(jax.make_jaxpr(sample)(z, jax.random.PRNGKey(0)))  # fori_loop with static bounds -> scan
    # one loop body, not 784 unrolled copies
    assert ("while" in jaxpr or "scan" in jaxpr) and jaxpr.count("conv_general_dilated") < 50
    s = np.asarray(jax.jit(sample)(z, jax.random.PRNGKey(0)))
    assert s.shape == (3, *SHAPE) and s.dtype == np.float32
    assert set(np.unique(s)) <= {0.0, 1.0}


def test_method_decode_and_sample(small_net):
    """The pixelcnn decoder in a VAEModel: teacher-forced forward, sample_x, decode(z) without x."""
    from configs.infovae_pixelcnn import get_config

    config = get_config("smoke=True,method=elbo")
    method = get_method(config, DataSpec(SHAPE, "bernoulli"))
    assert method.model.autoregressive and "autoregressive" in method.capabilities
    x = (jax.random.uniform(jax.random.PRNGKey(0), (2, *SHAPE)) < 0.3).astype(jnp.float32)
    variables = method.init(jax.random.PRNGKey(1), x)
    params, bs = variables["params"], variables["batch_stats"]
    terms, _ = method.model.forward(params, bs, x, jax.random.PRNGKey(2), train=False)
    assert terms["out"].shape == (2, *SHAPE) and np.all(np.isfinite(terms["log_px"]))
    z = method.model.sample_prior(jax.random.PRNGKey(3), 2)
    s = jax.jit(lambda z, r: method.model.sample_x(params, bs, z, r))(z, jax.random.PRNGKey(4))
    assert s.shape == (2, *SHAPE) and set(np.unique(np.asarray(s))) <= {0.0, 1.0}
    out = method.model.decode(params, bs, z)  # no x: teacher-forced on a sample drawn with key 0
    assert out.shape == (2, *SHAPE) and np.all(np.isfinite(out))


def test_smoke_config_trains(tmp_path):
    from configs.infovae_pixelcnn import get_config
    from mi_vae.train import train

    config = get_config("smoke=True,method=mmd")
    config.run_eval = False
    config.num_train_steps = 60
    config.log_every_steps = 10
    train(config, str(tmp_path))
    rows = [json.loads(line) for line in open(os.path.join(tmp_path, "metrics.jsonl"))]
    losses = [r["loss"] for r in rows if r["split"] == "train" and "loss" in r]
    assert len(losses) >= 5 and np.all(np.isfinite(losses))
    assert np.mean(losses[-2:]) < losses[0] - 20.0
