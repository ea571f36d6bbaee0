"""SubPixelConvTranspose: the same parameters and function as nn.ConvTranspose, without the inserted zeros."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mi_vae.models.conv import ConvTranspose
from mi_vae.models.layers import SubPixelConvTranspose, conv_transpose
from mi_vae.models.networks import Conv28Decoder, DCGAN64Decoder

HIGHEST = jax.lax.Precision.HIGHEST
# (k, s, p, in_size, C_in, C_out): PyTorch ConvTranspose2d(k, stride=s, padding=p) = flax padding k - 1 - p
CASES = [(4, 2, 1, 7, 3, 5), (4, 2, 1, 1, 4, 2), (4, 2, 1, 8, 2, 3), (3, 2, 1, 5, 2, 2), (5, 3, 2, 4, 2, 2),
         (2, 3, 0, 4, 2, 3), (4, 2, 0, 3, 2, 2), (4, 2, 4, 6, 2, 2)]


def _pair(k, s, p, c_out, dtype=jnp.float32, separate_phases=False, impl="auto"):
    kw = dict(features=c_out, kernel_size=(k, k), strides=(s, s), padding=[(k - 1 - p, k - 1 - p)] * 2,
              dtype=dtype, precision=HIGHEST)
    return nn.ConvTranspose(**kw), SubPixelConvTranspose(**kw, separate_phases=separate_phases, impl=impl)


@jax.jit
def _draw(key, like):
    return jax.random.normal(key, like.shape)


def _normal(seed, *shapes):
    """Standard-normal arrays of ``shapes`` from one fresh key: one draw of a power-of-two size (compiles once)."""
    sizes = [math.prod(shape) for shape in shapes]
    flat = np.asarray(_draw(jax.random.key(seed), np.empty(max(1 << 13, 1 << (sum(sizes) - 1).bit_length()), np.int8)))
    return [flat[o - n:o].reshape(shape) for shape, n, o in zip(shapes, sizes, np.cumsum(sizes))]


def _forward_and_grads(ref, sub, seed, k, n, c_in, c_out):
    """Both modules' outputs and VJPs on random x, params and output cotangent, in one compiled call."""
    x_shape = (2, n, n, c_in)
    out_shape = jax.eval_shape(ref.init_with_output, jax.random.key(0), jax.ShapeDtypeStruct(x_shape, jnp.float32))[0]
    x, kernel, bias, cot = _normal(seed, x_shape, (k, k, c_in, c_out), (c_out,), out_shape.shape)
    variables = {"params": {"kernel": kernel, "bias": bias}}

    @jax.jit
    def run(variables, x, cot):
        def forward_and_vjp(module):
            out, vjp = jax.vjp(module.apply, variables, x)
            return out, vjp(cot.astype(out.dtype))

        return forward_and_vjp(ref), forward_and_vjp(sub)

    return run(variables, x, cot)


@pytest.mark.parametrize("separate_phases", [False, True], ids=["fused", "separate"])
@pytest.mark.parametrize("k,s,p,n,c_in,c_out", CASES)
def test_matches_conv_transpose_forward_and_grads(k, s, p, n, c_in, c_out, separate_phases):
    ref, sub = _pair(k, s, p, c_out, separate_phases=separate_phases)
    x = jax.ShapeDtypeStruct((2, n, n, c_in), jnp.float32)
    ref_vars, sub_vars = jax.eval_shape(ref.init, jax.random.key(0), x), jax.eval_shape(sub.init, jax.random.key(0), x)
    assert jax.tree.map(lambda a: (a.shape, a.dtype), sub_vars) == jax.tree.map(lambda a: (a.shape, a.dtype), ref_vars)

    (want, (gv_ref, gx_ref)), (got, (gv_sub, gx_sub)) = _forward_and_grads(ref, sub, 10 * k + s + n, k, n, c_in, c_out)
    out = (n - 1) * s - 2 * p + k
    assert got.shape == want.shape == (2, out, out, c_out)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx_sub, gx_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gv_sub["params"]["kernel"], gv_ref["params"]["kernel"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gv_sub["params"]["bias"], gv_ref["params"]["bias"], rtol=1e-5, atol=1e-5)


def test_same_initializers():
    """lecun_normal kernel and zero bias, float32: the same values under the same key."""
    ref, sub = _pair(4, 2, 1, 5, dtype=jnp.bfloat16)
    x = jnp.ones((2, 7, 7, 3))
    ref_vars, sub_vars = jax.jit(lambda x: (ref.init(jax.random.key(0), x), sub.init(jax.random.key(0), x)))(x)
    for a, b in zip(jax.tree.leaves(ref_vars), jax.tree.leaves(sub_vars)):
        assert a.dtype == b.dtype == jnp.float32
        np.testing.assert_array_equal(a, b)


def test_bfloat16_compute():
    ref, sub = _pair(4, 2, 1, 8, dtype=jnp.bfloat16)
    (want, (gv_ref, gx_ref)), (got, (gv_sub, gx_sub)) = _forward_and_grads(ref, sub, 3, 4, 7, 6, 8)
    assert got.dtype == want.dtype == jnp.bfloat16
    for g, w in ((got, want), (gx_sub, gx_ref), (gv_sub["params"]["kernel"], gv_ref["params"]["kernel"])):
        g, w = np.asarray(g, np.float32), np.asarray(w, np.float32)
        np.testing.assert_allclose(g, w, rtol=2e-2, atol=2e-2 * float(np.abs(w).max()))


def test_one_stride_one_conv_without_input_dilation():
    _, sub = _pair(4, 2, 1, 5, impl="xla")
    x = jax.ShapeDtypeStruct((2, 7, 7, 3), jnp.float32)
    variables = jax.eval_shape(sub.init, jax.random.key(0), x)
    convs = [e for e in jax.make_jaxpr(sub.apply)(variables, x).eqns if e.primitive.name == "conv_general_dilated"]
    assert len(convs) == 1
    assert tuple(convs[0].params["lhs_dilation"]) == (1, 1) and tuple(convs[0].params["window_strides"]) == (1, 1)
    _, sub = _pair(4, 2, 1, 5, impl="im2col")  # the CPU path: one matmul, no convolution
    eqns = [e.primitive.name for e in jax.make_jaxpr(sub.apply)(variables, x).eqns]
    assert "conv_general_dilated" not in eqns and eqns.count("dot_general") == 1
    assert convs[0].outvars[0].aval.shape[-1] == 4 * 5  # s*s phases of C_out, 3x3 common window for k=4, s=2, p=1
    assert convs[0].invars[1].aval.shape == (3, 3, 3, 20)


def test_helper_picks_subpixel_only_when_strided():
    assert type(conv_transpose(8, 4, 2, 1, jnp.float32)) is SubPixelConvTranspose
    assert type(conv_transpose(8, 4, 1, 0, jnp.float32)) is ConvTranspose  # nn.ConvTranspose with an im2col path
    assert conv_transpose(8, 4, 2, 1, jnp.float32, separate_phases=True).separate_phases


def test_decoders_keep_their_output_shapes():
    z = jax.ShapeDtypeStruct((2, 6), jnp.float32)
    out, _ = jax.eval_shape(Conv28Decoder((28, 28, 1)).init_with_output, jax.random.key(1), z)
    assert out.shape == (2, 28, 28, 1)
    out, variables = jax.eval_shape(DCGAN64Decoder((64, 64, 3), channels=(8, 4, 4)).init_with_output,
                                    jax.random.key(1), z)
    assert out.shape == (2, 64, 64, 3)
    kernels = [variables["params"][f"SubPixelConvTranspose_{i}"]["kernel"].shape for i in range(3)]
    assert kernels == [(4, 4, 1024, 8), (4, 4, 8, 4), (4, 4, 4, 4)]


def test_decoder_runs_and_matches_the_dilated_form():
    """A DCGAN64 decoder's output on random parameters equals the one with every layer run as nn.ConvTranspose."""
    model = DCGAN64Decoder((64, 64, 3), channels=(4, 4, 2))
    shapes = jax.eval_shape(lambda z: model.init(jax.random.key(0), z, train=False), jnp.zeros((2, 6)))
    leaves, treedef = jax.tree.flatten(shapes)
    z, *values = _normal(5, (2, 6), *(leaf.shape for leaf in leaves))
    variables = jax.tree.unflatten(treedef, [0.1 * v for v in values])
    variables["batch_stats"] = jax.tree.map(lambda v: 1.0 + np.abs(v), variables["batch_stats"])  # var > 0
    inside = []

    def dilated(next_fun, args, kwargs, context):  # run each SubPixelConvTranspose as nn.ConvTranspose.__call__
        if isinstance(context.module, SubPixelConvTranspose) and context.method_name == "__call__" and not inside:
            inside.append(True)
            try:
                return nn.ConvTranspose.__call__(context.module, *args, **kwargs)
            finally:
                inside.pop()
        return next_fun(*args, **kwargs)

    def both(variables, z):
        with nn.intercept_methods(dilated):
            want = model.apply(variables, z, train=False)
        return want, model.apply(variables, z, train=False)

    want, got = jax.jit(both)(variables, z)
    assert got.shape == (2, 64, 64, 3)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
