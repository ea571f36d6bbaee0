"""The im2col convolution path: the same parameters and the same function (values and all gradients) as XLA's."""

from __future__ import annotations

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized

from mi_vae.models.conv import Conv, ConvTranspose, im2col_conv, resolve_impl
from mi_vae.models.layers import SubPixelConvTranspose


def _compare(make, x_shape, seed=0):
    """Forward values and the gradients w.r.t. parameters and input of ``make("xla")`` and ``make("im2col")``."""
    x = jax.random.normal(jax.random.key(seed), x_shape)
    xla, im2col = make("xla"), make("im2col")
    params = xla.init(jax.random.key(1), x)
    assert jax.tree.map(jnp.shape, im2col.init(jax.random.key(1), x)) == jax.tree.map(jnp.shape, params)
    weights = jax.random.normal(jax.random.key(2), xla.apply(params, x).shape)

    def loss(module):
        return lambda p, x: jnp.sum(module.apply(p, x) * weights)

    y_xla, y_im2col = xla.apply(params, x), im2col.apply(params, x)
    chex.assert_trees_all_close(y_im2col, y_xla, rtol=1e-5, atol=1e-5)
    g_xla = jax.grad(loss(xla), argnums=(0, 1))(params, x)
    g_im2col = jax.grad(loss(im2col), argnums=(0, 1))(params, x)
    chex.assert_trees_all_close(g_im2col, g_xla, rtol=1e-4, atol=1e-4)


class ConvTest(parameterized.TestCase):
    @parameterized.parameters(  # every conv of the models' nets: conv28, conv32, dcgan64 (narrow), 1x1
        ((4, 28, 28, 1), 28, 4, 2, 1), ((4, 14, 14, 28), 56, 4, 2, 1), ((4, 3, 3, 56), 118, 4, 2, 1),
        ((2, 32, 32, 3), 64, 4, 2, 1), ((2, 64, 64, 3), 8, 4, 2, 1), ((4, 1, 1, 10), 118, 1, 1, 0),
        ((3, 9, 7, 5), 6, 3, 1, 1), ((3, 9, 7, 5), 6, 3, 2, 0))
    def test_conv_matches_xla(self, x_shape, features, k, s, p):
        _compare(lambda impl: Conv(features, (k, k), strides=s, padding=p, impl=impl), x_shape)

    @parameterized.parameters(  # conv28's decoder (2->4->7->14->28), conv32's, dcgan64's, an odd kernel
        ((4, 1, 1, 118), 118, 4, 2, 1), ((4, 2, 2, 118), 56, 4, 2, 1), ((4, 4, 4, 56), 28, 4, 1, 0),
        ((4, 7, 7, 28), 28, 4, 2, 1), ((4, 14, 14, 28), 1, 4, 2, 1), ((2, 8, 8, 16), 3, 4, 2, 1),
        ((2, 5, 5, 4), 3, 3, 2, 1))
    def test_transposed_convs_match_xla(self, x_shape, features, k, s, p):
        padding = [(k - 1 - p, k - 1 - p)] * 2
        cls = ConvTranspose if s == 1 else SubPixelConvTranspose
        _compare(lambda impl: cls(features, (k, k), strides=(s, s), padding=padding, impl=impl), x_shape)

    def test_im2col_conv_is_lax_conv_with_negative_padding(self):
        x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
        kernel = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
        for padding in (((1, 1), (1, 1)), ((-1, 2), (0, -1))):
            expected = jax.lax.conv_general_dilated(x, kernel, (1, 1), padding,
                                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))
            np.testing.assert_allclose(im2col_conv(x, kernel, (1, 1), padding), expected, rtol=1e-5, atol=1e-5)

    def test_auto_is_im2col_on_the_cpu_and_a_bad_name_is_an_error(self):
        assert resolve_impl("auto") == ("im2col" if jax.default_backend() == "cpu" else "xla")
        assert resolve_impl("xla") == "xla"
        with pytest.raises(ValueError, match="conv_impl must be one of auto, xla, im2col; got 'fast'"):
            resolve_impl("fast")

    def test_module_names_and_parameters_do_not_change(self):
        """Checkpoints written with nn.Conv / nn.ConvTranspose restore into the im2col modules."""

        class Old(nn.Module):
            @nn.compact
            def __call__(self, x):
                return nn.ConvTranspose(3, (4, 4), padding=[(3, 3)] * 2)(nn.Conv(5, (4, 4), 2, padding=1)(x))

        class New(nn.Module):
            @nn.compact
            def __call__(self, x):
                return ConvTranspose(3, (4, 4), padding=[(3, 3)] * 2, impl="im2col")(
                    Conv(5, (4, 4), 2, padding=1, impl="im2col")(x))

        x = jnp.ones((1, 8, 8, 2))
        params = Old().init(jax.random.key(0), x)
        assert jax.tree.map(jnp.shape, New().init(jax.random.key(0), x)) == jax.tree.map(jnp.shape, params)
        np.testing.assert_allclose(New().apply(params, x), Old().apply(params, x), rtol=1e-5, atol=1e-5)


def test_a_bad_conv_impl_in_the_config_is_one_config_error():
    from mi_vae.errors import ConfigError
    from mi_vae.models import build_encoder

    with pytest.raises(ConfigError, match="config.model.conv_impl must be one of auto, xla, im2col; got 'fast'"):
        build_encoder({"name": "conv28"}, 4, conv_impl="fast")
