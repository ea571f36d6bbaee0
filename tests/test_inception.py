"""InceptionV3 pool3 features (mi_vae.models.inception), the pytorch-fid weights converter and loader, and the
``fid`` evaluator.

The real weights are user-supplied, so everything here runs on random weights: the network's size and wiring
against torchvision's Inception3 and pytorch-fid's FID blocks, its preprocessing against torch's bilinear
interpolation, determinism and batch independence, and the path .pth state_dict -> npz -> Flax variables.
"""

from __future__ import annotations

import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mi_vae.models import inception
from mi_vae.tools import convert_inception_weights as convert

#: a source hash as the converter records it for pytorch-fid's checkpoint (only its prefix is known)
FAKE_SOURCE = inception.PT_INCEPTION_SHA256_PREFIX + "0" * 56


def random_variables(seed: int = 0) -> dict:
    """He-normal kernels and random BatchNorm statistics (so a swapped scale/bias/mean/var changes the output)."""
    rng = np.random.default_rng(seed + 1)
    flat = inception.flatten_variables(inception.init_variables(seed))
    for key, value in flat.items():
        leaf = key.rsplit("/", 1)[1]
        if leaf in ("scale", "var"):
            flat[key] = jnp.asarray(rng.uniform(0.5, 1.5, value.shape), jnp.float32)
        elif leaf in ("bias", "mean"):
            flat[key] = jnp.asarray(rng.normal(0.0, 0.1, value.shape), jnp.float32)
    return unflatten(flat)


def unflatten(flat: dict) -> dict:
    from flax import traverse_util

    return traverse_util.unflatten_dict(flat, sep="/")


@pytest.fixture(scope="module")
def net():
    """Random variables, two small image batches and their features (one forward per batch for the module)."""
    rng = np.random.default_rng(0)
    variables = random_variables()
    gray = rng.random((3, 28, 28, 1)).astype(np.float32)
    rgb = rng.random((2, 32, 32, 3)).astype(np.float32)
    return types.SimpleNamespace(variables=variables, gray=gray, rgb=rgb,
                                 f_gray=inception.pool_features(variables, gray),
                                 f_rgb=inception.pool_features(variables, rgb))


@pytest.fixture(scope="module")
def weights_file(net, tmp_path_factory):
    """The fixture's variables written as the converter writes them: (path, the npz's sha256)."""
    path = str(tmp_path_factory.mktemp("weights") / "inception.npz")
    digest = inception.save_inception_params(path, inception.flatten_variables(net.variables), FAKE_SOURCE)
    return path, digest


# ----------------------------------------------------------------------------- the network


def test_size_is_torchvision_inception_v3_without_aux_logits_and_fc():
    """torchvision's inception_v3 has 27,161,264 parameters; AuxLogits (conv 768->128 1x1, conv 128->768 5x5 with
    their BN, fc 768->1000) has 3,326,696 and fc 2048->1000 has 2,049,000, leaving 21,785,568 for pool3, in 94
    BasicConv2d."""
    shapes = inception.variable_shapes()
    assert sum(int(np.prod(s)) for k, s in shapes.items() if k.startswith("params/")) == 27_161_264 - 3_326_696 \
        - 2_049_000
    assert sum(k.endswith("/conv/kernel") for k in shapes) == 94
    assert shapes["params/Conv2d_1a_3x3/conv/kernel"] == (3, 3, 3, 32)
    assert shapes["params/Mixed_6b/branch7x7_2/conv/kernel"] == (1, 7, 128, 128)
    assert shapes["params/Mixed_7c/branch_pool/conv/kernel"] == (1, 1, 2048, 192)
    assert shapes["batch_stats/Mixed_7c/branch3x3dbl_3b/bn/var"] == (384,)


def test_pools_are_pytorch_fids_in_every_block(monkeypatch):
    """Which pool runs where, on which feature map: FIDInceptionA/C/E_1 average without the padding,
    FIDInceptionE_2 (Mixed_7c) max with padding 1, the stem and the grid reductions max 3/2."""
    calls = []

    def recording(kind, fn):
        def pool(x):
            calls.append((kind, tuple(x.shape[1:])))
            return fn(x)
        return pool

    for name in ("avg_pool_3x3_exclude_pad", "max_pool_3x3_same", "max_pool_3x3_stride2"):
        monkeypatch.setattr(inception, name, recording(name, getattr(inception, name)))
    out = jax.eval_shape(inception.InceptionV3().apply, inception.init_variables(),
                         jax.ShapeDtypeStruct((2, 28, 28, 1), jnp.float32))
    assert out.shape == (2, 2048)
    avg, same, stride2 = "avg_pool_3x3_exclude_pad", "max_pool_3x3_same", "max_pool_3x3_stride2"
    assert calls == [(stride2, (147, 147, 64)), (stride2, (71, 71, 192)),
                     (avg, (35, 35, 192)), (avg, (35, 35, 256)), (avg, (35, 35, 288)),  # Mixed_5b-d
                     (stride2, (35, 35, 288)),  # Mixed_6a
                     *[(avg, (17, 17, 768))] * 4,  # Mixed_6b-e
                     (stride2, (17, 17, 768)),  # Mixed_7a
                     (avg, (8, 8, 1280)), (same, (8, 8, 2048))]  # Mixed_7b, Mixed_7c


def test_average_pool_leaves_padding_out_and_max_pool_pads_with_minus_infinity():
    """F.avg_pool2d(x, 3, 1, 1, count_include_pad=False) and F.max_pool2d(x, 3, 1, 1), by their definitions."""
    x = -1.0 - np.random.default_rng(0).random((1, 4, 5, 2)).astype(np.float32)  # all negative
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=np.nan)
    windows = np.stack([padded[:, i:i + 4, j:j + 5] for i in range(3) for j in range(3)])
    np.testing.assert_allclose(inception.avg_pool_3x3_exclude_pad(jnp.asarray(x)), np.nanmean(windows, 0),
                               rtol=1e-6)
    np.testing.assert_array_equal(inception.max_pool_3x3_same(jnp.asarray(x)), np.nanmax(windows, 0))
    # a corner averages its 4 in-image pixels (count_include_pad=True would divide by 9)
    np.testing.assert_allclose(inception.avg_pool_3x3_exclude_pad(jnp.asarray(x))[0, 0, 0], x[0, :2, :2].mean((0, 1)),
                               rtol=1e-6)


def torch_bilinear(x: np.ndarray, size: int) -> np.ndarray:
    """``F.interpolate(x, (size, size), mode="bilinear", align_corners=False)`` written out (NHWC): source
    coordinate (d + 0.5) in / out - 0.5, clamped below at 0; neighbours floor and floor + 1 (clamped at in - 1)."""
    def axis_weights(n_in):
        src = np.maximum((np.arange(size) + 0.5) * n_in / size - 0.5, 0.0)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        w = np.zeros((size, n_in))
        np.add.at(w, (np.arange(size), i0), 1.0 - (src - i0))
        np.add.at(w, (np.arange(size), i1), src - i0)
        return w

    return np.einsum("ah,bw,nhwc->nabc", axis_weights(x.shape[1]), axis_weights(x.shape[2]), x.astype(np.float64))


@pytest.mark.parametrize("shape,size", [((2, 28, 28, 1), 299), ((1, 32, 32, 3), 299), ((1, 9, 13, 3), 5),
                                        ((1, 5, 7, 1), 11)])
def test_preprocessing_is_pytorch_fids_bilinear_resize_scaled_to_minus_one_one(shape, size):
    """Up- and downsampling alike (antialiasing off, as torch's bilinear), up to float32 rounding of the source
    coordinates (a pixel's worth of error would be ~1e-1); gray repeated to 3 channels."""
    x = np.random.default_rng(1).random(shape).astype(np.float32)
    got = np.asarray(inception.preprocess(jnp.asarray(x), size))
    want = 2.0 * np.repeat(torch_bilinear(x, size), 3 // shape[-1], axis=-1) - 1.0
    assert got.shape == (shape[0], size, size, 3)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_features_are_2048_finite_deterministic_and_not_constant(net):
    for images, features in ((net.gray, net.f_gray), (net.rgb, net.f_rgb)):
        assert features.shape == (len(images), 2048) and features.dtype == np.float32
        assert np.isfinite(features).all() and (features >= 0).all()  # a mean of ReLUs
        assert np.std(features, axis=0).max() > 1e-3 * np.abs(features).max()  # images differ
    np.testing.assert_array_equal(inception.pool_features(net.variables, net.gray), net.f_gray)


def test_features_of_a_batch_are_the_features_of_each_image_alone(net):
    alone = np.concatenate([inception.pool_features(net.variables, net.gray[i:i + 1]) for i in range(3)])
    np.testing.assert_allclose(alone, net.f_gray, rtol=1e-5, atol=1e-5 * np.abs(net.f_gray).max())
    # 4 images in batches of 3 (the compiled shape): the last batch padded with copies of its image, then trimmed
    four = inception.pool_features(net.variables, np.concatenate([net.gray, net.gray[1:2]]), batch_size=3)
    np.testing.assert_allclose(four, np.concatenate([net.f_gray, net.f_gray[1:2]]), rtol=1e-5,
                               atol=1e-5 * np.abs(net.f_gray).max())


# ----------------------------------------------------------------------------- weights: converter and loader


def as_torch_state_dict(flat: dict) -> dict:
    """The inverse of the converter, written from pytorch-fid's naming: what ``fid_inception_v3().state_dict()``
    would hold for these variables, with the keys the converter drops."""
    leaves = {"params/conv/kernel": "conv.weight", "params/bn/scale": "bn.weight", "params/bn/bias": "bn.bias",
              "batch_stats/bn/mean": "bn.running_mean", "batch_stats/bn/var": "bn.running_var"}
    state = {}
    for key, value in flat.items():
        collection, *module, layer, leaf = key.split("/")
        name = ".".join(module) + "." + leaves[f"{collection}/{layer}/{leaf}"]
        state[name] = np.asarray(value).transpose(3, 2, 0, 1) if leaf == "kernel" else np.asarray(value)
        if leaf == "var":
            state[".".join(module) + ".bn.num_batches_tracked"] = np.array(0)
    state["fc.weight"], state["fc.bias"] = np.zeros((1008, 2048), np.float32), np.zeros(1008, np.float32)
    return state


def test_convert_state_dict_maps_names_and_transposes_oihw_to_hwio():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(32, 3, 3, 3)).astype(np.float32)  # (O, I, H, W)
    w17 = rng.normal(size=(128, 128, 1, 7)).astype(np.float32)
    state = {"Conv2d_1a_3x3.conv.weight": w, "Mixed_6b.branch7x7_2.conv.weight": w17,
             "Conv2d_1a_3x3.bn.weight": np.full(32, 2.0), "Conv2d_1a_3x3.bn.bias": np.full(32, 3.0),
             "Conv2d_1a_3x3.bn.running_mean": np.full(32, 4.0), "Conv2d_1a_3x3.bn.running_var": np.full(32, 5.0),
             "Conv2d_1a_3x3.bn.num_batches_tracked": np.array(7), "fc.weight": np.zeros((1008, 2048)),
             "fc.bias": np.zeros(1008), "AuxLogits.conv0.conv.weight": np.zeros((128, 768, 1, 1))}
    out = convert.convert_state_dict(state)
    assert set(out) == {"params/Conv2d_1a_3x3/conv/kernel", "params/Mixed_6b/branch7x7_2/conv/kernel",
                        "params/Conv2d_1a_3x3/bn/scale", "params/Conv2d_1a_3x3/bn/bias",
                        "batch_stats/Conv2d_1a_3x3/bn/mean", "batch_stats/Conv2d_1a_3x3/bn/var"}
    kernel = out["params/Conv2d_1a_3x3/conv/kernel"]
    assert kernel.shape == (3, 3, 3, 32) and out["params/Mixed_6b/branch7x7_2/conv/kernel"].shape == (1, 7, 128, 128)
    assert kernel[2, 0, 1, 5] == w[5, 1, 2, 0]  # kernel[h, w, i, o] = weight[o, i, h, w]
    np.testing.assert_array_equal(out["params/Mixed_6b/branch7x7_2/conv/kernel"][0, :, 3, 9], w17[9, 3, 0, :])
    assert [out[f"{c}/Conv2d_1a_3x3/bn/{k}"][0] for c, k in (("params", "scale"), ("params", "bias"),
                                                             ("batch_stats", "mean"), ("batch_stats", "var"))] \
        == [2.0, 3.0, 4.0, 5.0]
    with pytest.raises(ValueError, match=r"unexpected state_dict key 'Mixed_5b.branch1x1.conv.bias'"):
        convert.convert_state_dict({"Mixed_5b.branch1x1.conv.bias": np.zeros(64)})


def test_a_full_state_dict_converts_and_loads_back_to_the_same_features(net, weights_file, tmp_path):
    flat = {k: np.asarray(v) for k, v in inception.flatten_variables(net.variables).items()}
    converted = convert.convert_state_dict(as_torch_state_dict(flat))
    assert set(converted) == set(flat)
    for key in flat:
        np.testing.assert_array_equal(converted[key], flat[key], err_msg=key)
    path, digest = weights_file
    loaded = inception.load_inception_params(path, sha256=digest[:8])
    same = jax.tree.map(np.array_equal, loaded, net.variables)
    assert all(jax.tree.leaves(same))
    np.testing.assert_array_equal(inception.pool_features(loaded, net.gray), net.f_gray)


def test_the_loader_names_the_key_and_both_shapes_of_a_wrong_array(net, tmp_path):
    flat = {k: np.asarray(v) for k, v in inception.flatten_variables(net.variables).items()}
    flat["params/Mixed_6b/branch7x7_2/conv/kernel"] = np.zeros((7, 1, 128, 128), np.float32)  # H and W swapped
    path = str(tmp_path / "wrong.npz")
    np.savez(path, **flat, **{inception.SOURCE_SHA256_KEY: np.array(FAKE_SOURCE)})
    with pytest.raises(inception.InceptionWeightsError,
                       match=r"'params/Mixed_6b/branch7x7_2/conv/kernel' has shape \(7, 1, 128, 128\), the network "
                             r"expects \(1, 7, 128, 128\)"):
        inception.load_inception_params(path)
    shapes = {k: np.broadcast_to(np.float32(0), s) for k, s in inception.variable_shapes().items()}
    del shapes["batch_stats/Mixed_5b/branch_pool/bn/mean"]
    with pytest.raises(inception.InceptionWeightsError, match=r"lack 'batch_stats/Mixed_5b/branch_pool/bn/mean' "
                                                              r"\(expected shape \(32,\); 1 of 470"):
        inception.check_variables(shapes)
    shapes["batch_stats/Mixed_5b/branch_pool/bn/mean"] = np.zeros(32)
    shapes["params/fc/kernel"] = np.zeros((2048, 1008))
    with pytest.raises(inception.InceptionWeightsError, match=r"have 'params/fc/kernel', which the network does not"):
        inception.check_variables(shapes)


def test_the_loader_checks_the_files_hash_and_that_it_came_from_pytorch_fids_checkpoint(weights_file, tmp_path):
    path, digest = weights_file
    with pytest.raises(inception.InceptionWeightsError, match=r"has sha256 .*, expected 00000000"):
        inception.load_inception_params(path, sha256="00000000")
    other = str(tmp_path / "other.npz")
    np.savez(other, **{"params/Conv2d_1a_3x3/conv/kernel": np.zeros((3, 3, 3, 32), np.float32)})
    with pytest.raises(inception.InceptionWeightsError,
                       match=r"converted from an unrecorded source, not from pytorch-fid's "
                             r"pt_inception-2015-12-05-6726825d.pth"):
        inception.load_inception_params(other)
    with pytest.raises(inception.InceptionWeightsError, match=r"lack 'batch_stats/"):  # past the source check
        inception.load_inception_params(other, source_sha256_prefix=None)
    with pytest.raises(inception.InceptionWeightsError, match="no InceptionV3 weights file"):
        inception.load_inception_params(str(tmp_path / "absent.npz"))


def test_the_converter_refuses_a_checkpoint_that_is_not_pytorch_fids(tmp_path, capsys):
    pth = tmp_path / "other.pth"
    pth.write_bytes(b"not the checkpoint")
    assert convert.main([str(pth), str(tmp_path / "out.npz")]) == 1
    assert "not pytorch-fid's pt_inception-2015-12-05-6726825d.pth" in capsys.readouterr().err
    assert not (tmp_path / "out.npz").exists()


def test_the_converter_writes_an_npz_that_records_its_source(net, tmp_path, monkeypatch, capsys):
    """main() end to end with a stand-in for torch.load; --any-source, since no other file has pytorch-fid's hash
    prefix: the loader then refuses it by default and reads it when the source check is off."""
    flat = {k: np.asarray(v) for k, v in inception.flatten_variables(net.variables).items()}
    tensors = {k: types.SimpleNamespace(detach=lambda v=v: types.SimpleNamespace(cpu=lambda: types.SimpleNamespace(
        numpy=lambda: v))) for k, v in as_torch_state_dict(flat).items()}
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(load=lambda *a, **k: tensors))
    pth, out = tmp_path / "other.pth", str(tmp_path / "converted.npz")
    pth.write_bytes(b"a stand-in checkpoint")
    assert convert.main([str(pth), out, "--any-source"]) == 0
    assert f"--config.evals.fid.weights={out}" in capsys.readouterr().out
    with np.load(out) as f:
        assert str(f[inception.SOURCE_SHA256_KEY]) == inception.file_sha256(str(pth))
    with pytest.raises(inception.InceptionWeightsError, match="converted from a checkpoint with sha256"):
        inception.load_inception_params(out)
    loaded = inception.flatten_variables(inception.load_inception_params(out, source_sha256_prefix=None))
    assert all(np.array_equal(loaded[k], flat[k]) for k in flat) and set(loaded) == set(flat)


# ----------------------------------------------------------------------------- the fid evaluator


def test_fid_evaluator_runs_after_generation_and_is_skipped_without_weights():
    from mi_vae.config import evals_section
    from mi_vae.evaluation.evaluators import EVALUATORS, Skip
    from mi_vae.evaluation.evaluators import fid as fid_evaluator

    assert EVALUATORS.index("generation") < EVALUATORS.index("fid") == EVALUATORS.index("figures") - 1
    assert evals_section("fid").fid.to_dict() == {"weights": "", "samples": 10_000, "batch_size": 50}
    with pytest.raises(Skip, match=r"no InceptionV3 weights: pass --config.evals.fid.weights=PATH \(convert "
                                   r"pytorch-fid's checkpoint .* with python -m "
                                   r"mi_vae.tools.convert_inception_weights"):
        list(fid_evaluator.Evaluator(None, None).run({}))


def test_fid_evaluator_compares_8bit_prior_samples_with_test_images(weights_file, monkeypatch):
    """With the network replaced by a small feature map (a 2048-d FD costs a minute of scipy's sqrtm on one
    core): samples that are the test images up to 8-bit rounding give fid 0; fid_real compares training images."""
    from mi_vae.evaluation.evaluators import Note, Skip
    from mi_vae.evaluation.evaluators import fid as fid_evaluator

    rng = np.random.default_rng(0)
    test_x, train_x = (rng.integers(0, 256, (n, 6, 6, 1), np.uint8) for n in (5, 8))
    seen = []

    def features(variables, images, batch_size):
        seen.append(images)
        return images.reshape(len(images), -1)[:, :3].astype(np.float64)

    monkeypatch.setattr(fid_evaluator.inception, "pool_features", features)
    dataset = types.SimpleNamespace(example_shape=(6, 6, 1), num_test=5, num_train=8, test_x=test_x, train_x=train_x)
    data = types.SimpleNamespace(
        dataset=dataset, seed=0, sample_prior=lambda name, n: np.zeros((n, 2)),
        decode_images=lambda state, z: test_x[:len(z)] / 255.0 + 1e-3)  # off the 8-bit grid by < 1/510
    out = list(fid_evaluator.Evaluator(None, data, weights=weights_file[0], samples=4).run({}))
    values = {k: v for k, v in out if not isinstance(v, Note)}
    assert set(values) == {"fid", "fid_real"} and isinstance(dict(out)["fid"], Note)
    assert abs(values["fid"]) < 1e-9 and values["fid_real"] > 1e-3
    assert [len(x) for x in seen] == [4, 4, 4]
    assert all(np.array_equal(x * 255, np.round(x * 255)) for x in seen)
    dataset.example_shape = (36,)
    with pytest.raises(Skip, match="the data are not images"):
        list(fid_evaluator.Evaluator(None, data, weights=weights_file[0]).run({}))
