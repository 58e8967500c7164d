"""The normalisation modes of keras_archs.data.preprocessing: every registered model's mode is implemented, and the
eager form is what each family's own preprocess_input does."""

from __future__ import annotations

import numpy as np
import pytest

from keras_archs import applications, imagenet_utils
from keras_archs.applications import squeezenet
from keras_archs.data import preprocessing


def test_every_registered_model_has_a_mode_the_pipelines_implement():
    specs = applications.all_specs()
    assert len(specs) > 20
    assert {spec.preprocessing for spec in specs} == set(preprocessing.MODES)  # no mode unused, none missing


@pytest.mark.parametrize(
    "mode, keras_kwargs",
    [
        ("caffe", {"mode": "caffe"}),
        ("tf", {"mode": "tf"}),
        ("torch", {"mode": "torch"}),
        ("squeezenet_caffe", {"mode": "caffe", "mean": (104, 117, 123)}),
    ],
)
def test_eager_and_in_graph_forms_agree_with_preprocess_input(mode, keras_kwargs):
    images = np.random.default_rng(0).uniform(0, 255, size=(2, 4, 5, 3)).astype(np.float32)
    expected = imagenet_utils.preprocess_input(images.copy(), data_format="channels_last", **keras_kwargs)
    np.testing.assert_array_equal(preprocessing.preprocess_input(images.copy(), mode), expected)
    np.testing.assert_allclose(preprocessing.preprocess(images, mode).numpy(), expected, rtol=1e-5, atol=1e-4)


def test_the_mode_of_a_spec_not_the_family_module_decides():
    # One module can hold models with different modes (ResNet18: torch, ResNet50: caffe, ResNet50V2: tf), so code
    # that normalises for a model reads spec.preprocessing; squeezenet.preprocess_input is its spec's mode.
    modes = {name: applications.get_spec(name).preprocessing for name in ("ResNet18", "ResNet50", "ResNet50V2")}
    assert modes == {"ResNet18": "torch", "ResNet50": "caffe", "ResNet50V2": "tf"}
    images = np.random.default_rng(1).uniform(0, 255, size=(1, 3, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        squeezenet.preprocess_input(images.copy()), preprocessing.preprocess_input(images.copy(), "squeezenet_caffe")
    )


def test_squeezenet_caffe_mean_is_squeezenets():
    # The same constant lives in applications/squeezenet.py until both read it from one place (imagenet_utils).
    assert preprocessing.SQUEEZENET_CAFFE_MEAN_BGR == tuple(squeezenet.CAFFE_BGR_MEAN)


def test_mode_errors_name_the_accepted_modes():
    assert preprocessing.check_mode(None) is None
    with pytest.raises(ValueError, match=r"one of caffe, squeezenet_caffe, tf, torch. Received: mode=None"):
        preprocessing.check_mode(None, allow_none=False)
    with pytest.raises(ValueError, match=r"Received: mode='raw'"):
        preprocessing.preprocess_input(np.zeros((1, 3), np.float32), "raw")
