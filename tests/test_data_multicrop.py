"""1/5/10-crop stacks: shapes, the corner positions, the flips, and averaging predictions over crops."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_archs.data import multicrop


@pytest.fixture
def image():
    return np.random.default_rng(0).integers(0, 256, size=(10, 12, 3)).astype(np.float32)


@pytest.mark.parametrize("num_crops", [1, 5, 10])
def test_shapes(image, num_crops):
    assert tuple(multicrop.multi_crop(image, 6, num_crops).shape) == (num_crops, 6, 6, 3)


def test_corner_positions_and_flips(image):
    crops = multicrop.multi_crop(image, 6, 10).numpy()
    expected = [image[2:8, 3:9], image[0:6, 0:6], image[0:6, 6:12], image[4:10, 0:6], image[4:10, 6:12]]
    for index, window in enumerate(expected):
        np.testing.assert_array_equal(crops[index], window, err_msg=multicrop.CROP_NAMES[index])
        np.testing.assert_array_equal(crops[index + 5], window[:, ::-1], err_msg=multicrop.CROP_NAMES[index + 5])


def test_dynamic_shapes_inside_tf_function(image):
    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32)])
    def crop(x):
        return multicrop.multi_crop(x, 6, 5)

    np.testing.assert_array_equal(crop(image).numpy(), multicrop.multi_crop(image, 6, 5).numpy())


def test_argument_errors(image):
    with pytest.raises(ValueError, match=r"Expected `num_crops` to be one of 1, 5, 10. Received: num_crops=3"):
        multicrop.multi_crop(image, 6, 3)
    with pytest.raises(ValueError, match="at least 11x11"):
        multicrop.multi_crop(image, 11, 1)
    with pytest.raises(ValueError, match="crop_size"):
        multicrop.multi_crop(image, 0, 1)
    with pytest.raises(ValueError, match="batch, num_crops"):
        multicrop.average_predictions(lambda x: x, np.zeros((2, 8, 8, 3)))


def test_average_predictions_with_a_callable_and_a_keras_model():
    crops = np.random.default_rng(1).random((2, 10, 4, 4, 3)).astype(np.float32)
    means = multicrop.average_predictions(lambda x: x.mean(axis=(1, 2)), crops)
    np.testing.assert_allclose(means, crops.mean(axis=(1, 2, 3)), rtol=1e-6)
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.GlobalAveragePooling2D()])
    np.testing.assert_allclose(multicrop.average_predictions(model, crops), means, rtol=1e-5)
