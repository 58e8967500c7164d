"""AlexNet-specific tests: both layouts' structure and counts, Caffe's LRN and pooling, argument checks.

Build, parameter count, save/load and the common argument checks of both registered layouts (``AlexNet``,
``AlexNetCaffe``) are in the registry-wide suite.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_archs import imagenet_utils, registry
from keras_archs import weights as weights_lib
from keras_archs.applications import _blocks, alexnet
from keras_archs.applications.alexnet import AlexNet, LocalResponseNormalization
from tests.conftest import assert_input_sensitive, forward


def _caffe_lrn(x, size=5, alpha=1e-4, beta=0.75, k=1.0):
    """Caffe's LRNLayer (ACROSS_CHANNELS) written out channel by channel on an NHWC array."""
    out = np.empty_like(x)
    channels = x.shape[-1]
    for c in range(channels):
        lo, hi = max(0, c - size // 2), min(channels, c + size // 2 + 1)
        scale = k + alpha / size * np.sum(x[..., lo:hi] ** 2, axis=-1)
        out[..., c] = x[..., c] / scale**beta
    return out


def _caffe_max_pool(x, size=3, stride=2):
    """Caffe's PoolingLayer (MAX, pad 0): output size ceil((n - size) / stride) + 1, windows clipped at the border."""
    n_rows, n_cols = x.shape[1:3]
    rows, cols = (int(np.ceil((n - size) / stride)) + 1 for n in (n_rows, n_cols))
    out = np.empty((x.shape[0], rows, cols, x.shape[3]), x.dtype)
    for i in range(rows):
        for j in range(cols):
            window = x[:, i * stride : min(i * stride + size, n_rows), j * stride : min(j * stride + size, n_cols)]
            out[:, i, j] = window.max(axis=(1, 2))
    return out


@pytest.fixture(scope="module")
def models(built):
    return {layout: built(alexnet.LAYOUT_SPECS[layout]) for layout in alexnet.LAYOUTS}


def test_parameter_counts_are_the_known_figures(models):
    # DESIGN.md table: 61,100,840 (torchvision's alexnet) and 60,965,224 (Caffe bvlc_alexnet, two groups).
    for layout, expected in (("torchvision", 61_100_840), ("caffe", 60_965_224)):
        model = models[layout]
        assert model.count_params() == expected == registry.get_spec(alexnet.LAYOUT_SPECS[layout]).params
        assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == expected  # no BN
        assert model.output_shape == (None, 1000)


def test_torchvision_layout(models):
    model = models["torchvision"]
    assert model.name == "alexnet" and model.input_shape == (None, 224, 224, 3)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size[0], c.strides[0], c.groups) for c in convs] == [
        (64, 11, 4, 1),
        (192, 5, 1, 1),
        (384, 3, 1, 1),
        (256, 3, 1, 1),
        (256, 3, 1, 1),
    ]
    # padding 2 on every side (torchvision) -> 228 -> 55; features 6x6x256 at 224 (the adaptive pool is the identity)
    assert model.get_layer("conv1_pad").output.shape[1:3] == (228, 228)
    shapes = {name: model.get_layer(name).output.shape[1:] for name in ("conv1", "pool1", "pool2", "pool5", "flatten")}
    assert shapes == {
        "conv1": (55, 55, 64),
        "pool1": (27, 27, 64),
        "pool2": (13, 13, 192),
        "pool5": (6, 6, 256),
        "flatten": (9216,),
    }
    assert not any(isinstance(layer, LocalResponseNormalization) for layer in model.layers)
    # torchvision: Dropout, Linear(9216, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Linear(4096, classes)
    head = [layer.name for layer in model.layers[model.layers.index(model.get_layer("flatten")) + 1 :]]
    assert head == ["drop5", "fc6", "drop6", "fc7", "predictions"]
    assert {model.get_layer(n).rate for n in ("drop5", "drop6")} == {0.5}


def test_caffe_layout(models):
    model = models["caffe"]
    assert model.name == "alexnet_caffe" and model.input_shape == (None, 227, 227, 3)
    kernels = {f"conv{i}": tuple(model.get_layer(f"conv{i}").kernel.shape) for i in range(1, 6)}
    # Two filter groups on conv2, conv4, conv5: each filter sees half of the input channels.
    assert kernels == {
        "conv1": (11, 11, 3, 96),
        "conv2": (5, 5, 48, 256),
        "conv3": (3, 3, 256, 384),
        "conv4": (3, 3, 192, 384),
        "conv5": (3, 3, 192, 256),
    }
    assert [model.get_layer(f"conv{i}").groups for i in range(1, 6)] == [1, 2, 1, 2, 2]
    names = [layer.name for layer in model.layers]
    assert names[names.index("conv1") : names.index("conv1") + 3] == ["conv1", "norm1", "pool1_pad"]
    assert names[names.index("conv2") : names.index("conv2") + 3] == ["conv2", "norm2", "pool2_pad"]
    norm = model.get_layer("norm1")
    assert (norm.size, norm.alpha, norm.beta, norm.k) == (5, 1e-4, 0.75, 1.0)  # bvlc_alexnet norm1/norm2
    assert [model.get_layer(n).output.shape[1] for n in ("conv1", "pool1", "pool2", "pool5")] == [55, 27, 13, 6]
    head = names[names.index("flatten") + 1 :]
    assert head == ["fc6", "drop6", "fc7", "drop7", "predictions"]  # Caffe: fc6, relu6, drop6, fc7, relu7, drop7


def test_other_input_sizes_change_the_flatten_size():
    keras.backend.clear_session()
    model = AlexNet(input_shape=(256, 256, 3), classes=10)
    assert model.get_layer("pool5").output.shape[1:] == (7, 7, 256)
    assert model.get_layer("fc6").kernel.shape == (7 * 7 * 256, 4096)


def test_caffe_layout_rounds_pooling_sizes_up():
    # conv1 of a 231 input is 56x56: Caffe pools it to ceil(53 / 2) + 1 = 28, Keras' "valid" pooling to 27.
    keras.backend.clear_session()
    caffe = AlexNet(layout="caffe", include_top=False, input_shape=(231, 231, 3))
    torch = AlexNet(include_top=False, input_shape=(231, 231, 3))
    assert caffe.get_layer("conv1").output.shape[1] == 56 and caffe.get_layer("pool1").output.shape[1] == 28
    assert torch.get_layer("pool1").output.shape[1] == (torch.get_layer("conv1").output.shape[1] - 3) // 2 + 1


@pytest.mark.parametrize("size", [7, 8, 13, 56])
def test_ceil_mode_max_pool_equals_caffe_on_non_negative_inputs(size):
    x = np.random.default_rng(size).uniform(0, 1, (2, size, size, 3)).astype("float32")
    inputs = keras.Input((size, size, 3))
    pool = keras.Model(inputs, _blocks.max_pool(inputs, ceil_mode=True, name="pool"))
    np.testing.assert_array_equal(forward(pool, x), _caffe_max_pool(x))


def test_lrn_matches_caffe_and_tensorflow():
    x = np.random.default_rng(0).uniform(0, 40, (2, 3, 4, 11)).astype("float32")
    layer = LocalResponseNormalization()
    ours = np.asarray(layer(x))
    np.testing.assert_allclose(ours, _caffe_lrn(x), rtol=1e-5)
    # TensorFlow's LRN does not divide alpha by the window size.
    tf_lrn = tf.nn.local_response_normalization(x, depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75)
    np.testing.assert_allclose(ours, tf_lrn.numpy(), rtol=1e-5)
    # The paper's constants (Sec. 3.3: k=2, alpha=1e-4 on the undivided sum) expressed in Caffe's convention.
    paper = LocalResponseNormalization(size=5, alpha=5e-4, beta=0.75, k=2.0)
    np.testing.assert_allclose(np.asarray(paper(x)), _caffe_lrn(x, alpha=5e-4, k=2.0), rtol=1e-5)


def test_lrn_channels_first_axis():
    x = np.random.default_rng(1).uniform(0, 40, (2, 3, 4, 9)).astype("float32")
    first = np.asarray(LocalResponseNormalization(axis=1)(np.transpose(x, (0, 3, 1, 2))))
    np.testing.assert_allclose(np.transpose(first, (0, 2, 3, 1)), _caffe_lrn(x), rtol=1e-5)


def test_lrn_serialises(tmp_path):
    layer = LocalResponseNormalization(size=3, alpha=2e-4, beta=0.5, k=2.0, name="lrn")
    clone = LocalResponseNormalization.from_config(layer.get_config())
    assert (clone.size, clone.alpha, clone.beta, clone.k, clone.axis, clone.name) == (3, 2e-4, 0.5, 2.0, -1, "lrn")
    keras.backend.clear_session()
    model = AlexNet(layout="caffe", include_top=False, input_shape=(39, 39, 3))
    x = np.random.default_rng(2).uniform(0, 255, (2, 39, 39, 3)).astype("float32")
    model.save(tmp_path / "alexnet_caffe.keras")
    restored = keras.saving.load_model(tmp_path / "alexnet_caffe.keras")
    assert isinstance(restored.get_layer("norm1"), LocalResponseNormalization)
    np.testing.assert_array_equal(forward(restored, x), assert_input_sensitive(model, x))


@pytest.mark.parametrize("size", [0, 4, 2.0, True])
def test_lrn_rejects_even_or_bad_sizes(size):
    with pytest.raises(ValueError, match=f"size={size!r}"):
        LocalResponseNormalization(size=size)


def test_weights_files_load_into_the_matching_layout_only(tmp_path):
    keras.backend.clear_session()
    source = AlexNet(include_top=False, input_shape=(63, 63, 3))
    for variable in source.weights:
        variable.assign(np.random.default_rng(3).normal(0, 0.1, variable.shape).astype("float32"))
    path = tmp_path / "alexnet_notop.weights.h5"
    source.save_weights(path)
    x = np.random.default_rng(4).uniform(-1, 1, (2, 63, 63, 3)).astype("float32")
    loaded = AlexNet(include_top=False, input_shape=(63, 63, 3), weights=str(path))
    np.testing.assert_array_equal(forward(loaded, x), assert_input_sensitive(source, x))
    with pytest.raises(weights_lib.WeightsFileError):
        AlexNet(layout="caffe", include_top=False, input_shape=(63, 63, 3), weights=str(path))


@pytest.mark.parametrize("layout", ["torchvision", "caffe"])
def test_imagenet_weights_are_not_published(layout):
    with pytest.raises(ValueError, match="No 'imagenet' weights are published for AlexNet.*weights='imagenet'"):
        AlexNet(weights="imagenet", layout=layout)


def test_unknown_layout_is_rejected():
    with pytest.raises(ValueError, match=r"'torchvision', 'caffe'.*layout='pytorch'"):
        AlexNet(layout="pytorch")
    with pytest.raises(ValueError, match="layout='pytorch'"):
        alexnet.preprocess_input(np.zeros((1, 2, 2, 3)), layout="pytorch")


def test_registry_entries():
    torch_spec, caffe_spec = registry.get_spec("AlexNet"), registry.get_spec("AlexNetCaffe")
    assert (torch_spec.default_size, torch_spec.min_size, torch_spec.preprocessing) == (224, 63, "torch")
    assert (caffe_spec.default_size, caffe_spec.min_size, caffe_spec.preprocessing) == (227, 39, "caffe")
    assert caffe_spec.build_kwargs == {"layout": "caffe"} and caffe_spec.trainable_params == caffe_spec.params
    keras.backend.clear_session()
    for spec in (torch_spec, caffe_spec):  # min_size is the smallest input that builds
        spec.build(include_top=False, input_shape=(spec.min_size, spec.min_size, 3))
        with pytest.raises(ValueError, match=f"at least {spec.min_size}x{spec.min_size}"):
            spec.build(include_top=False, input_shape=(spec.min_size - 1, spec.min_size - 1, 3))
        smaller = keras.Input((spec.min_size - 1, spec.min_size - 1, 3))
        with pytest.raises(ValueError):  # Keras' negative-dimension error: min_size is tight
            alexnet.alexnet_features(smaller, alexnet.LAYOUTS[spec.build_kwargs["layout"]])


def test_preprocessing_modes():
    x = np.random.default_rng(5).uniform(0, 255, (1, 2, 2, 3)).astype("float32")
    np.testing.assert_allclose(
        alexnet.preprocess_input(x.copy()), imagenet_utils.preprocess_input(x.copy(), mode="torch")
    )
    np.testing.assert_allclose(
        alexnet.preprocess_input(x.copy(), layout="caffe"), imagenet_utils.preprocess_input(x.copy(), mode="caffe")
    )
