"""InceptionResNetV2-specific tests: the residual scale layer, the stage rows, keras' block names.

Build, parameter count, weight-file parity, save/load and the common argument checks are in the registry-wide suite.
The model is large, so it is built once (75x75, no top) for the whole module.
"""

import keras
import numpy as np
import pytest
from keras import layers
from keras.src.applications import inception_resnet_v2 as keras_irv2

from keras_archs.applications import inception_resnet_v2
from keras_archs.applications.inception_resnet_v2 import CustomScaleLayer
from tests.conftest import forward


@pytest.fixture(scope="module")
def small_model(built):
    return built("InceptionResNetV2", include_top=False, input_shape=(75, 75, 3))


def test_scale_layer_adds_the_scaled_residual():
    shortcut = np.full((1, 2, 2, 3), 2.0, dtype="float32")
    residual = np.arange(12, dtype="float32").reshape(1, 2, 2, 3)
    out = CustomScaleLayer(0.17)([shortcut, residual])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), shortcut + 0.17 * residual, rtol=1e-6)


def test_scale_layer_keeps_keras_class_name():
    # `.weights.h5` keys and auto-generated layer names derive from the class name.
    assert CustomScaleLayer.__name__ == keras_irv2.CustomScaleLayer.__name__
    assert CustomScaleLayer(0.1).name.startswith("custom_scale_layer")


def test_scale_layer_serialises(tmp_path):
    assert keras.saving.get_registered_name(CustomScaleLayer) == "keras_archs>CustomScaleLayer"
    layer = CustomScaleLayer(0.2, name="scale")
    clone = CustomScaleLayer.from_config(layer.get_config())
    assert (clone.scale, clone.name) == (0.2, "scale")

    a, b = layers.Input((4,)), layers.Input((4,))
    model = keras.Model([a, b], CustomScaleLayer(0.1)([a, b]))
    model.save(tmp_path / "scale.keras")
    loaded = keras.saving.load_model(tmp_path / "scale.keras")  # no custom_objects needed
    x = [np.ones((1, 4), "float32"), np.full((1, 4), 5.0, "float32")]
    np.testing.assert_allclose(forward(loaded, x), forward(model, x))
    assert isinstance(loaded.layers[-1], CustomScaleLayer)


def test_residual_scales_follow_keras(small_model):
    scales = [layer.scale for layer in small_model.layers if isinstance(layer, CustomScaleLayer)]
    assert scales == [0.17] * 10 + [0.1] * 20 + [0.2] * 9 + [1.0]


def test_block_names_follow_keras(small_model):
    names = {layer.name for layer in small_model.layers}
    for block_type, count in (("block35", 10), ("block17", 20), ("block8", 10)):
        for idx in range(1, count + 1):
            assert {f"{block_type}_{idx}_mixed", f"{block_type}_{idx}_conv"} <= names
    assert "block8_9_ac" in names and "block8_10_ac" not in names  # the last block is linear
    assert {"mixed_5b", "mixed_6a", "mixed_7a", "conv_7b", "conv_7b_bn", "conv_7b_ac"} <= names
    assert small_model.layers[-1].name == "conv_7b_ac"


def test_residual_projection_is_biased_and_restores_width(small_model):
    # (concatenated branch width, stage width): keras' RESIDUAL_BRANCHES sums and its stage comments.
    widths = {"block35": (128, 320), "block17": (384, 1088), "block8": (448, 2080)}
    for block_type, (mixed, width) in widths.items():
        conv = small_model.get_layer(f"{block_type}_1_conv")
        assert conv.use_bias and conv.filters == width and conv.kernel_size == (1, 1)
        assert small_model.get_layer(f"{block_type}_1_mixed").output.shape[-1] == mixed
    assert small_model.output_shape == (None, 1, 1, 1536)


def test_parameter_count_of_the_trunk(small_model):
    # The classifier adds 1536 x 1000 + 1000 to the trunk's count (keras: avg_pool + Dense predictions); the full
    # model's count is checked by test_models.py in the slow lane (782 layers).
    assert small_model.count_params() + 1536 * 1000 + 1000 == inception_resnet_v2.SPEC.params == 55_873_736


def test_preprocess_input_is_tf_mode():
    x = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    np.testing.assert_allclose(inception_resnet_v2.preprocess_input(x.copy()), [[[[-1.0, 0.0, 1.0]]]])
