"""SqueezeNet-specific tests: the Caffe structure, the real Deep Compression and rcmalli weights, real photos."""

from __future__ import annotations

import hashlib
import re
import shutil

import h5py
import keras
import numpy as np
import pytest

import keras_archs
from keras_archs import registry
from keras_archs import weights as weights_lib
from keras_archs.applications import squeezenet
from tests.conftest import assert_input_sensitive, forward, randomize_weights

PHOTOS = {
    # scikit-image sample photo -> ImageNet classes a correct model puts first (top-1) / within its top 5.
    "chelsea": ({"n02124075", "n02123159", "n02123045"}, "n02124075"),  # Egyptian_cat / tiger_cat / tabby
    "coffee": ({"n07920052", "n07930864", "n03063599"}, "n07920052"),  # espresso / cup / coffee_mug
    "rocket": ({"n03773504", "n04008634", "n04266014"}, None),  # missile / projectile / space_shuttle
}


@pytest.fixture(scope="module")
def dc_model(dc_net_path):
    return keras_archs.SqueezeNet(weights=str(dc_net_path))


def _photo_batch(names):
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the sample photos")
    batch = []
    for name in names:
        image = getattr(skimage_data, name)().astype("float32")
        side = min(image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        crop = image[top : top + side, left : left + side]
        batch.append(np.asarray(keras.ops.image.resize(crop[None], (227, 227), antialias=True))[0])
    return squeezenet.preprocess_input(np.stack(batch))


def test_architecture_follows_the_caffe_prototxts(built):
    v10 = built("SqueezeNet1_0")
    v11 = built("SqueezeNet1_1")
    assert (v10.count_params(), v11.count_params()) == (1_248_424, 1_235_496)
    assert v10.name == "squeezenet1_0" and v11.name == "squeezenet1_1"
    assert v10.input_shape == (None, 227, 227, 3)
    # conv10 pad 1 in the 1.0 prototxt: 13x13 features become a 15x15 class map.
    assert v10.get_layer("conv10_pad").output.shape[1:3] == (15, 15)
    assert "conv10_pad" not in [layer.name for layer in v11.layers]
    assert v10.get_layer("conv1").kernel.shape == (7, 7, 3, 96)
    assert v11.get_layer("conv1").kernel.shape == (3, 3, 3, 64)
    # Caffe and Keras pooling agree at 227 for 1.0: 111 -> 55 -> 27 -> 13.
    assert [v10.get_layer(n).output.shape[1] for n in ("relu_conv1", "pool1", "pool4", "pool8")] == [111, 55, 27, 13]
    convs = [layer.name for layer in v10.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 26 and convs[1:4] == ["fire2_squeeze1x1", "fire2_expand1x1", "fire2_expand3x3"]


def test_version_is_validated():
    with pytest.raises(ValueError, match=r"version='1.2'.*'1.0', '1.1'|'1.0', '1.1'.*version='1.2'"):
        keras_archs.SqueezeNet(weights=None, version="1.2")


def test_deep_compression_weights_decode_exactly(dc_model, dc_net_path):
    # Every decoded kernel holds only codebook values and is ~33% dense overall (Han et al. 2016, Table 4).
    kernels = [layer.kernel.numpy() for layer in dc_model.layers if isinstance(layer, keras.layers.Conv2D)]
    nonzero = sum(int(np.count_nonzero(k)) for k in kernels)
    total = sum(k.size for k in kernels)
    assert 0.30 < nonzero / total < 0.36
    for kernel in kernels:
        assert len(np.unique(kernel)) <= 256
    # Spot-check one layer against an independent decode of the raw bytes.
    raw = dc_net_path.read_bytes()
    count0 = int(np.frombuffer(raw, "<u4", count=1)[0])
    offset = 4 * 26
    codebook = np.frombuffer(raw, "<f4", count=256, offset=offset)
    bias = np.frombuffer(raw, "<f4", count=96, offset=offset + 1024)
    codes = np.frombuffer(raw, np.uint8, count=count0, offset=offset + 1024 + 4 * 96)
    packed = np.frombuffer(raw, np.uint8, count=(count0 + 1) // 2, offset=offset + 1024 + 4 * 96 + count0)
    gaps = np.array([(b >> (4 * (i % 2))) & 15 for i, b in enumerate(np.repeat(packed, 2))][:count0])
    blob = np.zeros(96 * 3 * 7 * 7, np.float32)
    position = -1
    for code, gap in zip(codes, gaps):
        position += int(gap) + 1
        blob[position] = codebook[code]
    conv1 = dc_model.get_layer("conv1")
    np.testing.assert_array_equal(conv1.kernel.numpy(), blob.reshape(96, 3, 7, 7).transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(conv1.bias.numpy(), bias)


def test_real_photos_are_classified(dc_model):
    names = list(PHOTOS)
    probabilities = forward(dc_model, _photo_batch(names))
    decoded = squeezenet.decode_predictions(probabilities, top=5)
    for name, top5 in zip(names, decoded):
        top5_wnids = [wnid for wnid, _, _ in top5]
        accepted, top1 = PHOTOS[name]
        assert accepted & set(top5_wnids), (name, top5)
        if top1 is not None:
            assert top5_wnids[0] == top1, (name, top5)


def test_feature_extractor_gets_the_same_weights(dc_model, dc_net_path):
    features = keras_archs.SqueezeNet(weights=str(dc_net_path), include_top=False, pooling="avg")
    x = np.random.default_rng(0).uniform(-120, 130, (2, 227, 227, 3)).astype("float32")
    reference = keras.Model(dc_model.inputs, dc_model.get_layer("fire9_concat").output)
    np.testing.assert_allclose(forward(features, x), forward(reference, x).mean(axis=(1, 2)), rtol=1e-5, atol=1e-5)


def test_imagenet_from_a_preseeded_cache(keras_home, dc_net_path, rcmalli_h5_path, dc_model):
    models = keras_home / "models"
    models.mkdir(parents=True)
    shutil.copy(dc_net_path, models / "compressed_SqueezeNet.net")
    shutil.copy(rcmalli_h5_path, models / "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5")
    full = keras_archs.SqueezeNet(weights="imagenet")
    for ours, reference in zip(full.weights, dc_model.weights):
        np.testing.assert_array_equal(ours.numpy(), reference.numpy())
    notop = keras_archs.SqueezeNet(version="1.1", include_top=False, weights="imagenet")
    assert notop.output_shape == (None, None, None, 512)


def test_rcmalli_weights_load_by_layer_order(rcmalli_h5_path):
    model = keras_archs.SqueezeNet(version="1.1", include_top=False, weights=str(rcmalli_h5_path))
    with h5py.File(rcmalli_h5_path, "r") as handle:
        np.testing.assert_array_equal(model.get_layer("conv1").kernel.numpy(), handle["conv1"]["conv1_3/kernel:0"][()])
        group = handle["fire9/expand3x3"]
        np.testing.assert_array_equal(
            model.get_layer("fire9_expand3x3").bias.numpy(), group["fire9/expand3x3_1/bias:0"][()]
        )


def test_v11_imagenet_with_top_is_refused():
    with pytest.raises(
        ValueError,
        match="No 'imagenet' weights are published for SqueezeNet1_1 with include_top=True. "
        "They exist with include_top=False",
    ):
        keras_archs.SqueezeNet(version="1.1", weights="imagenet")


def test_wrong_architecture_for_a_net_file_is_refused(dc_net_path):
    with pytest.raises(weights_lib.WeightsFileError, match="not a Deep Compression file for this architecture"):
        keras_archs.SqueezeNet(version="1.1", weights=str(dc_net_path))


def test_truncated_net_file_is_refused(dc_net_path, tmp_path):
    truncated = tmp_path / "truncated.net"
    truncated.write_bytes(dc_net_path.read_bytes()[:-100])
    with pytest.raises(weights_lib.WeightsFileError, match="truncated"):
        keras_archs.SqueezeNet(weights=str(truncated))


def test_preprocess_uses_the_caffe_squeezenet_mean():
    x = np.full((1, 2, 2, 3), 200.0, np.float32)
    x[..., 0] = 10.0  # red
    out = squeezenet.preprocess_input(x.copy())
    np.testing.assert_allclose(out[0, 0, 0], [200 - 104, 200 - 117, 10 - 123])


# ----- bypass (Iandola et al. 2016, Sec. 6, Fig. 2) -----------------------------------------------------------------

# Complex bypass, 1.0: 1x1 convs 96->128, 128->256, 256->384, 384->512 around fire2/4/6/8, with biases.
COMPLEX_BYPASS_EXTRA = 96 * 128 + 128 * 256 + 256 * 384 + 384 * 512 + (128 + 256 + 384 + 512)


def _layer_names(model, kind):
    return [layer.name for layer in model.layers if isinstance(layer, kind)]


@pytest.mark.parametrize("version, extra", [("1.0", COMPLEX_BYPASS_EXTRA), ("1.1", 337_152)])
def test_bypass_parameter_counts(version, extra, built):
    plain = built(f"SqueezeNet{version.replace('.', '_')}").count_params()
    simple = keras_archs.SqueezeNet(weights=None, version=version, bypass="simple")
    complex_ = keras_archs.SqueezeNet(weights=None, version=version, bypass="complex")
    assert simple.count_params() == plain  # identity shortcuts add no parameters
    assert complex_.count_params() - plain == extra
    assert COMPLEX_BYPASS_EXTRA == 341_248  # the figure the issue quotes for 1.0 (339,968 weights + 1,280 biases)
    assert simple.output_shape == complex_.output_shape == (None, 1000)
    assert (simple.name, complex_.name) == (
        f"squeezenet{version.replace('.', '_')}_simple_bypass",
        f"squeezenet{version.replace('.', '_')}_complex_bypass",
    )


def test_simple_bypass_sums_the_matching_modules():
    model = keras_archs.SqueezeNet(weights=None, bypass="simple", include_top=False, input_shape=(35, 35, 3))
    assert _layer_names(model, keras.layers.Add) == ["bypass_23", "bypass_45", "bypass_67", "bypass_89"]
    assert _layer_names(model, keras.layers.Conv2D) == _layer_names(
        keras_archs.SqueezeNet(weights=None, include_top=False, input_shape=(35, 35, 3)), keras.layers.Conv2D
    )
    # fire5's shortcut is pool4 (its input), the sum feeds fire6, and no ReLU follows it.
    probe = keras.Model(
        model.inputs, [model.get_layer(n).output for n in ("pool4", "fire5_concat", "bypass_45", "fire6_squeeze1x1")]
    )
    assert probe.get_layer("fire6_squeeze1x1").input is probe.get_layer("bypass_45").output
    x = np.random.default_rng(0).uniform(-1, 1, (1, 35, 35, 3)).astype("float32")
    pool4, fire5, summed, _ = forward(probe, x)
    np.testing.assert_allclose(summed, pool4 + fire5, rtol=1e-6)


def test_complex_bypass_projects_the_other_modules():
    model = keras_archs.SqueezeNet(weights=None, bypass="complex", include_top=False, input_shape=(35, 35, 3))
    assert len(_layer_names(model, keras.layers.Add)) == 8
    shortcuts = {n: model.get_layer(n) for n in _layer_names(model, keras.layers.Conv2D) if n.startswith("bypass")}
    assert {n: tuple(layer.kernel.shape) for n, layer in shortcuts.items()} == {
        "bypass_12_conv1x1": (1, 1, 96, 128),
        "bypass_34_conv1x1": (1, 1, 128, 256),
        "bypass_56_conv1x1": (1, 1, 256, 384),
        "bypass_78_conv1x1": (1, 1, 384, 512),
    }
    assert all(layer.use_bias and layer.activation is keras.activations.linear for layer in shortcuts.values())
    # The plain network's convs keep their relative order; the shortcuts come after their module's layers.
    plain = keras_archs.SqueezeNet(weights=None, include_top=False, input_shape=(35, 35, 3))
    convs = _layer_names(model, keras.layers.Conv2D)
    assert [n for n in convs if not n.startswith("bypass")] == _layer_names(plain, keras.layers.Conv2D)
    assert convs.index("bypass_12_conv1x1") > convs.index("fire2_expand3x3")


def test_bypass_none_keeps_the_default_graph(built):
    def describe(model):
        # Skips the InputLayer, whose auto-generated name counts per session.
        layers_ = model.layers[1:]
        return [(type(layer).__name__, layer.name, [tuple(w.shape) for w in layer.weights]) for layer in layers_]

    default = describe(built("SqueezeNet1_0"))
    assert describe(keras_archs.SqueezeNet(weights=None, bypass=None)) == default
    assert not [name for kind, name, _ in default if kind == "Add" or "bypass" in name]
    assert len(default) == 67  # conv1 + ReLU, 3 pools, 8 Fire modules x 7, drop9, pad, conv10, ReLU, pool10, softmax


def test_bypass_is_validated():
    with pytest.raises(ValueError, match=r"`bypass` must be one of None, 'simple', 'complex'. Received: bypass='full'"):
        keras_archs.SqueezeNet(weights=None, bypass="full")


@pytest.mark.parametrize("bypass", ["simple", "complex"])
def test_pretrained_files_are_refused_with_a_bypass(bypass, tmp_path):
    with pytest.raises(ValueError, match=f"No ImageNet weights are published for SqueezeNet with bypass='{bypass}'"):
        keras_archs.SqueezeNet(weights="imagenet", bypass=bypass)
    with pytest.raises(ValueError, match=f"No ImageNet weights are published for SqueezeNet with bypass='{bypass}'"):
        keras_archs.SqueezeNet(weights="imagenet", version="1.1", include_top=False, bypass=bypass)
    net = tmp_path / "compressed_SqueezeNet.net"
    net.write_bytes(b"\0" * 16)  # refused by name, before anything is read
    with pytest.raises(ValueError, match=f"cannot be loaded with bypass='{bypass}'"):
        keras_archs.SqueezeNet(weights=str(net), bypass=bypass)


def test_complex_bypass_weights_round_trip(tmp_path):
    kwargs = dict(bypass="complex", input_shape=(35, 35, 3), classes=5)
    model = keras_archs.SqueezeNet(weights=None, classifier_activation=None, **kwargs)
    randomize_weights(model)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 35, 35, 3)).astype("float32")
    expected = assert_input_sensitive(model, x)
    path = tmp_path / "bypass.weights.h5"
    model.save_weights(path)
    restored = keras_archs.SqueezeNet(weights=str(path), classifier_activation=None, **kwargs)
    np.testing.assert_array_equal(forward(restored, x), expected)
    archive = tmp_path / "bypass.keras"
    model.save(archive)
    np.testing.assert_array_equal(forward(keras.saving.load_model(archive), x), expected)


@pytest.fixture
def shipped_tag(tmp_path, monkeypatch, replace_spec):
    """A project tag whose whole model ships as a file (like weights="fashion_mnist"), pointing at a temp file."""
    model = keras_archs.SqueezeNet(
        weights=None, version="1.1", batch_norm=True, small_input=True, input_shape=(28, 28, 1), classes=10
    )
    path = tmp_path / "squeezenet_demo_tag.keras"
    model.save(path)
    entry = registry.WeightEntry(
        tag="demo_tag",
        include_top=True,
        fname=path.name,
        url=path.as_uri(),
        file_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
        loader="keras_model",
        classes=10,
        variant=(
            ("version", "1.1"),
            ("include_top", True),
            ("classes", 10),
            ("input_shape", (28, 28, 1)),
            ("batch_norm", True),
            ("small_input", True),
            ("bypass", None),
            ("pooling", None),
        ),
    )
    replace_spec("SqueezeNet1_1", weights=registry.get_spec("SqueezeNet1_1").weights + (entry,))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return model


def test_project_tag_returns_the_shipped_model(shipped_tag):
    loaded = keras_archs.SqueezeNet(weights="demo_tag")  # version, classes and shape come from the tag
    assert loaded.input_shape == (None, 28, 28, 1) and loaded.output_shape == (None, 10)
    for ours, reference in zip(loaded.weights, shipped_tag.weights):
        np.testing.assert_array_equal(ours.numpy(), reference.numpy())
    same = keras_archs.SqueezeNet(weights="demo_tag", version="1.1", classes=10, input_shape=[28, 28, 1], name="x")
    assert same.name == "x"


@pytest.mark.parametrize(
    "kwargs, named",
    [
        (dict(classes=5), "classes=5 (the tag requires 10)"),
        (dict(version="1.0"), "version='1.0' (the tag requires '1.1')"),
        (dict(input_shape=(32, 32, 3)), "input_shape=(32, 32, 3) (the tag requires (28, 28, 1))"),
        (dict(include_top=False), "include_top=False (the tag requires True)"),
    ],
)
def test_project_tag_refuses_conflicting_arguments(shipped_tag, kwargs, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        keras_archs.SqueezeNet(weights="demo_tag", **kwargs)


def test_unknown_weights_lists_the_project_tags(shipped_tag):
    with pytest.raises(ValueError, match="Project tags available for this family: 'fashion_mnist', 'demo_tag'"):
        keras_archs.SqueezeNet(weights="fashion")
