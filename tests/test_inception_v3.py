"""InceptionV3-specific tests: the module rows, keras' layer order and names, the smallest input.

Build, parameter count, weight-file parity, save/load and the common argument checks are in the registry-wide suite.
"""

import numpy as np
import pytest

import keras
from keras import layers

from keras_archs.applications import inception_v3

MODULE_NAMES = [f"mixed{i}" for i in range(11)]
# Output channels of each module: Szegedy et al. 2016 Table 1 / keras' comments (35x35x256, 288, 288, 17x17x768 x5,
# 8x8x1280, 8x8x2048 x2).
MODULE_CHANNELS = [256, 288, 288, 768, 768, 768, 768, 768, 1280, 2048, 2048]


@pytest.fixture(scope="module")
def small_model():
    # 75x75 is keras' min_size: the trunk shrinks it to a 1x1 grid.
    keras.backend.clear_session()
    return inception_v3.InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3))


def _conv_count(branches):
    count = 0
    for branch in branches:
        for step in branch:
            if isinstance(step, inception_v3.Conv):
                count += 1
            elif isinstance(step, inception_v3.Split):
                count += len(step.convs)
    return count


def test_module_rows_match_the_paper_widths():
    # Each module's width is the sum of its branches' last filter counts (pool-only branches pass channels through).
    width = 192  # stem output, Szegedy et al. 2016 Table 1
    for (name, branches), expected in zip(inception_v3.INCEPTION_V3_MODULES, MODULE_CHANNELS):
        out = 0
        for branch in branches:
            last = branch[-1]
            if isinstance(last, inception_v3.Conv):
                out += last.filters
            elif isinstance(last, inception_v3.Split):
                out += sum(c.filters for c in last.convs)
            else:
                out += width
        assert out == expected, name
        width = out


def test_modules_are_named_and_sized_like_keras(small_model):
    for name, channels in zip(MODULE_NAMES, MODULE_CHANNELS):
        assert small_model.get_layer(name).output.shape[-1] == channels
    assert [small_model.get_layer(f"mixed9_{i}").output.shape[-1] for i in (0, 1)] == [768, 768]
    assert small_model.output_shape == (None, 1, 1, 2048)


def test_conv_units_are_keras_conv2d_bn(small_model):
    convs = [layer for layer in small_model.layers if isinstance(layer, layers.Conv2D)]
    bns = [layer for layer in small_model.layers if isinstance(layer, layers.BatchNormalization)]
    expected = _conv_count((inception_v3.STEM,)) + sum(
        _conv_count(branches) for _, branches in inception_v3.INCEPTION_V3_MODULES
    )
    assert len(convs) == len(bns) == expected == 94  # keras' InceptionV3 has 94 conv-BN-ReLU units
    assert not any(conv.use_bias for conv in convs)
    assert not any(bn.scale for bn in bns) and all(bn.center for bn in bns)
    assert {bn.epsilon for bn in bns} == {1e-3}


def test_layer_order_and_auto_names_match_keras(small_model):
    # Same class, name and weight shapes layer by layer in a fresh session: what `.weights.h5` (class + order) and
    # legacy `.h5` (order of weighted layers) files depend on.
    def describe(model):
        return [(type(layer).__name__, layer.name, [tuple(w.shape) for w in layer.weights]) for layer in model.layers]

    ours = describe(small_model)
    keras.backend.clear_session()
    assert ours == describe(keras.applications.InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3)))


def test_features_returns_every_module_endpoint():
    keras.backend.clear_session()
    features, endpoints = inception_v3.inception_v3_features(layers.Input((75, 75, 3)))
    assert list(endpoints) == MODULE_NAMES
    assert endpoints["mixed10"] is features
    assert endpoints["mixed7"].shape[1:] == (3, 3, 768)  # the 17x17 grid (at 299) the auxiliary head will use


def test_pooling_layers_are_unnamed_like_keras():
    keras.backend.clear_session()
    model = inception_v3.InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3), pooling="max")
    assert model.layers[-1].name == "global_max_pooling2d"
    assert model.output_shape == (None, 2048)


def test_below_min_size_raises_keras_message():
    with pytest.raises(ValueError, match="Input size must be at least 75x75"):
        inception_v3.InceptionV3(weights=None, include_top=False, input_shape=(74, 75, 3))


def test_preprocess_input_is_tf_mode():
    x = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    np.testing.assert_allclose(inception_v3.preprocess_input(x.copy()), [[[[-1.0, 0.0, 1.0]]]])
    np.testing.assert_allclose(
        inception_v3.preprocess_input(x.copy()), keras.applications.inception_v3.preprocess_input(x.copy())
    )
