"""``include_preprocessing`` on every registry constructor, the ImagePreprocessing / GreyFromRGB layers, and the
ModelOrigin record a constructor leaves on its model (what ``keras_archs.export`` reads)."""

from __future__ import annotations

import inspect
import shutil

import keras
import numpy as np
import pytest

import keras_archs
from keras_archs import applications
from keras_archs.applications import _assembly, squeezenet
from keras_archs.applications.preprocessing import (
    MODES,
    SQUEEZENET_CAFFE_MEAN_BGR,
    GreyFromRGB,
    ImagePreprocessing,
)
from keras_archs.data import preprocessing as data_preprocessing
from keras_archs.export import mobile
from tests.conftest import SMALL_VARIANTS, randomize_weights

PIXELS = np.random.default_rng(0).uniform(0, 255, (2, 9, 7, 3)).astype(np.float32)


# --- the layers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_the_layer_is_preprocess_input_to_the_last_bit(mode, data_format):
    x = PIXELS if data_format == "channels_last" else np.transpose(PIXELS, (0, 3, 1, 2)).copy()
    expected = data_preprocessing.preprocess_input(PIXELS.copy(), mode)  # the pipelines' eager form
    if data_format == "channels_first":
        expected = np.transpose(expected, (0, 3, 1, 2))
    layer = ImagePreprocessing(mode, data_format=data_format)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)
    assert layer.get_config()["mode"] == mode and not layer.weights


def test_the_layer_table_is_the_data_pipelines_and_the_squeezenet_mean_is_everywhere_the_same():
    assert MODES == data_preprocessing.MODES
    assert SQUEEZENET_CAFFE_MEAN_BGR == squeezenet.CAFFE_BGR_MEAN == data_preprocessing.SQUEEZENET_CAFFE_MEAN_BGR
    assert {spec.preprocessing for spec in applications.all_specs()} <= set(MODES)


def test_layer_argument_errors():
    with pytest.raises(ValueError, match=r"Expected `mode` to be one of .*Received: mode='inception'"):
        ImagePreprocessing("inception")
    with pytest.raises(ValueError, match=r"Received: data_format='nhwc'"):
        ImagePreprocessing("tf", data_format="nhwc")


def test_grey_from_rgb_is_bt601_luma_and_gives_back_a_grey_pixel():
    grey = np.asarray(GreyFromRGB()(PIXELS))
    np.testing.assert_allclose(grey[..., 0], PIXELS @ np.array([0.299, 0.587, 0.114]), rtol=1e-6)
    levels = np.arange(256, dtype=np.float32).reshape(1, 16, 16, 1)
    np.testing.assert_allclose(np.asarray(GreyFromRGB()(np.repeat(levels, 3, -1))), levels, atol=1e-4)


# --- include_preprocessing on the constructors --------------------------------------------------------------------


def test_every_registered_constructor_takes_include_preprocessing_last_defaulting_to_false():
    for spec in applications.all_specs():
        parameters = inspect.signature(spec.builder).parameters
        assert "include_preprocessing" in parameters, spec.name
        assert parameters["include_preprocessing"].default is False, spec.name


# One cheap variant per preprocessing mode in the default lane; every family's in the slow lane.
_DEFAULT_LANE_VARIANTS = {"squeezenet:1.0", "cifar_resnet:basic_a", "alexnet:caffe", "alexnet:torchvision"}


@pytest.mark.parametrize(
    "variant",
    [v if v in _DEFAULT_LANE_VARIANTS else pytest.param(v, marks=pytest.mark.slow) for v in sorted(SMALL_VARIANTS)],
)
def test_with_the_layer_a_model_on_pixels_equals_the_model_on_preprocessed_pixels(variant):
    """Every family's small variant (every block type and custom layer): the same weights give the same outputs."""
    small = SMALL_VARIANTS[variant]
    keras.utils.set_random_seed(0)
    plain = small.build(input_shape=(small.size, small.size, 3), classifier_activation=None)
    inside = small.build(
        input_shape=(small.size, small.size, 3), classifier_activation=None, include_preprocessing=True
    )
    spec = applications.get_spec(mobile.origin(plain).model)  # resnet / alexnet: the mode depends on the variant
    randomize_weights(plain, seed=1)
    inside.set_weights(plain.get_weights())  # the layer has no weights: the two weight lists line up
    assert isinstance(inside.layers[1], ImagePreprocessing) and inside.layers[1].mode == spec.preprocessing
    pixels = np.random.default_rng(2).uniform(0, 255, (2, small.size, small.size, 3)).astype(np.float32)
    expected = np.asarray(plain(data_preprocessing.preprocess_input(pixels.copy(), spec.preprocessing), training=False))
    np.testing.assert_allclose(np.asarray(inside(pixels, training=False)), expected, rtol=1e-5, atol=1e-5)
    assert inside.count_params() == plain.count_params()


def test_include_preprocessing_must_be_a_bool():
    with pytest.raises(TypeError, match=r"`include_preprocessing` must be True or False. Received: "):
        keras_archs.ResNet50(weights=None, include_preprocessing=1)
    with pytest.raises(TypeError, match=r"include_preprocessing='yes'"):
        keras_archs.SqueezeNet(weights=None, include_preprocessing="yes")


@pytest.fixture(scope="module")
def squeezenet_pair(dc_net_path):
    """SqueezeNet 1.0 with the Deep Compression weights, with and without the layer."""
    return (
        keras_archs.SqueezeNet(weights=dc_net_path),
        keras_archs.SqueezeNet(weights=dc_net_path, include_preprocessing=True),
    )


def test_real_weights_load_unchanged_with_the_layer(squeezenet_pair, rcmalli_h5_path):
    plain, inside = squeezenet_pair
    crops = np.random.default_rng(3).uniform(0, 255, (3, 227, 227, 3)).astype(np.float32)
    expected = np.asarray(plain(squeezenet.preprocess_input(crops.copy()), training=False))
    np.testing.assert_array_equal(np.asarray(inside(crops, training=False)), expected)
    # keras' legacy .h5 by layer order (rcmalli's SqueezeNet 1.1 without top)
    kwargs = dict(version="1.1", include_top=False, weights=rcmalli_h5_path, input_shape=(64, 64, 3))
    h5_plain = keras_archs.SqueezeNet(**kwargs)
    h5_inside = keras_archs.SqueezeNet(**kwargs, include_preprocessing=True)
    pixels = crops[:, :64, :64]
    np.testing.assert_array_equal(
        np.asarray(h5_inside(pixels)), np.asarray(h5_plain(squeezenet.preprocess_input(pixels.copy())))
    )


def test_keras_files_round_trip_and_keras3_weights_load_across(tmp_path):
    keras.utils.set_random_seed(0)
    kwargs = dict(version="1.1", weights=None, input_shape=(48, 48, 3), classes=7, classifier_activation=None)
    plain = keras_archs.SqueezeNet(**kwargs)
    randomize_weights(plain, seed=5)
    plain.save_weights(tmp_path / "plain.weights.h5")
    pixels = np.random.default_rng(6).uniform(0, 255, (2, 48, 48, 3)).astype(np.float32)
    expected = np.asarray(plain(squeezenet.preprocess_input(pixels.copy())))
    inside = keras_archs.SqueezeNet(
        **{**kwargs, "weights": str(tmp_path / "plain.weights.h5")}, include_preprocessing=True
    )
    np.testing.assert_allclose(np.asarray(inside(pixels)), expected, rtol=1e-6, atol=1e-6)
    inside.save(tmp_path / "inside.keras")  # the layer is registered: plain keras.saving reads the file back
    loaded = keras.saving.load_model(tmp_path / "inside.keras")
    assert isinstance(loaded.layers[1], ImagePreprocessing) and loaded.layers[1].mode == "squeezenet_caffe"
    np.testing.assert_allclose(np.asarray(loaded(pixels)), expected, rtol=1e-6, atol=1e-6)
    # the loaded file has no origin record, but its first layer says it takes pixels
    assert mobile.origin(loaded) is None and mobile.input_preprocessing(loaded) == "raw"


# --- the origin record --------------------------------------------------------------------------------------------


def test_origin_of_tags_files_and_random_weights(squeezenet_pair, dc_net_path, tmp_path):
    plain, inside = squeezenet_pair
    record = mobile.origin(plain)
    assert isinstance(record, _assembly.ModelOrigin) and record.model == "SqueezeNet1_0"
    # a path is recognised by its hash as the registry's Deep Compression file: its licence is known
    assert record.weights == dc_net_path.name and record.weights_license == "BSD-2-Clause"
    assert "identical to the registry's 'imagenet' file" in record.weights_source
    assert record.preprocessing == "squeezenet_caffe" and mobile.origin(inside).preprocessing == "raw"
    renamed = tmp_path / "my_weights.net"
    shutil.copy(dc_net_path, renamed)
    assert mobile.origin(keras_archs.SqueezeNet(weights=renamed)).weights_license == "BSD-2-Clause"
    random = mobile.origin(keras_archs.SqueezeNet(weights=None, version="1.1", input_shape=(32, 32, 3), classes=3))
    assert random.weights is None and random.weights_license.startswith("none")
    shipped = mobile.origin(keras_archs.SqueezeNet(weights="fashion_mnist"))
    assert shipped.weights == "fashion_mnist" and shipped.preprocessing == "raw" and shipped.weights_license
    saved = tmp_path / "other.weights.h5"
    keras_archs.SqueezeNet(weights=None, version="1.1", input_shape=(32, 32, 3), classes=3).save_weights(saved)
    other = mobile.origin(keras_archs.SqueezeNet(weights=saved, version="1.1", input_shape=(32, 32, 3), classes=3))
    assert other.weights == "other.weights.h5" and other.weights_license == "unknown (weights from a file)"


def test_the_card_of_squeezenet_from_a_weights_file_knows_its_preprocessing(squeezenet_pair):
    """The issue's case: SqueezeNet(weights=<path>) exported without being told its preprocessing (what to_tflite's
    card and metadata are made of, without a conversion)."""
    from keras_archs.export import card

    described = card.describe_preprocessing(None, squeezenet_pair[0])
    assert described["mode"] == "squeezenet_caffe" and described["mean"] == [104.0, 117.0, 123.0]
    assert card.describe_preprocessing(None, squeezenet_pair[1])["mode"] == "raw"  # the layer inside
    assert (
        "ImagePreprocessing layer, mode 'squeezenet_caffe'"
        in card.describe_preprocessing(None, squeezenet_pair[1])["description"]
    )
    record = card.model_record(squeezenet_pair[0], None)
    assert record["registry_name"] == "SqueezeNet1_0" and record["license"] == "BSD-2-Clause"
    assert record["weights"] == "compressed_SqueezeNet.net" and record["paper"].startswith("Iandola et al. 2016")
