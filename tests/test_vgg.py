"""VGG-specific tests: the paper's configurations D and E, keras' classifier and its unnamed pooling layers.

Parity with keras.applications (layers, names, weights, messages) is in the registry-wide suite, test_models.py.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from keras_archs import registry
from keras_archs.applications import vgg


@pytest.mark.parametrize(("name", "convs"), [("VGG16", (2, 2, 3, 3, 3)), ("VGG19", (2, 2, 4, 4, 4))])
def test_configurations_d_and_e(name, convs, built):
    model = built(name, include_top=False, input_shape=(32, 32, 3))
    found = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    assert [layer.name for layer in found] == [
        f"block{block}_conv{index}" for block, count in enumerate(convs, start=1) for index in range(1, count + 1)
    ]
    assert {(layer.kernel_size, layer.padding, layer.activation.__name__) for layer in found} == {
        ((3, 3), "same", "relu")
    }
    assert [model.get_layer(f"block{block}_conv1").filters for block in range(1, 6)] == [64, 128, 256, 512, 512]
    assert model.output_shape == (None, 1, 1, 512)
    assert registry.get_spec(name).preprocessing == "caffe"


def test_classifier_is_two_4096_relu_layers_then_predictions():
    model = vgg.VGG16(weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None)
    assert [layer.name for layer in model.layers[-4:]] == ["flatten", "fc1", "fc2", "predictions"]
    assert model.get_layer("fc1").kernel.shape == (512, 4096)  # 1x1x512 flattened at a 32x32 input
    assert model.get_layer("fc2").activation.__name__ == "relu"
    assert model.get_layer("predictions").kernel.shape == (4096, 10)
    assert not any(isinstance(layer, layers.Dropout) for layer in model.layers)  # keras has none


@pytest.mark.parametrize(
    ("pooling", "cls"), [("avg", layers.GlobalAveragePooling2D), ("max", layers.GlobalMaxPooling2D)]
)
def test_feature_pooling_layers_are_unnamed_like_keras(pooling, cls):
    model = vgg.VGG19(weights=None, include_top=False, input_shape=(32, 32, 3), pooling=pooling)
    last = model.layers[-1]
    assert type(last) is cls and last.name not in {"avg_pool", "max_pool"}
    assert model.output_shape == (None, 512)


def test_preprocess_input_matches_keras():
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expected = keras.applications.vgg16.preprocess_input(images.copy())
    np.testing.assert_allclose(vgg.preprocess_input(images.copy()), expected)
