"""MobileNet-specific tests: alpha / depth_multiplier / rows / dropout / default name / keras' warning.

The registry-wide suite in test_models.py covers the default build, parameter count, weight parity and the common
argument errors.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from keras.src.applications import mobilenet as keras_mobilenet
from keras.src.utils import file_utils as keras_file_utils

import keras_archs.weights
from keras_archs import registry
from keras_archs.applications import mobilenet
from tests.conftest import assert_input_sensitive, forward, randomize_weights


def _error(constructor, **kwargs) -> str:
    with pytest.raises(ValueError) as excinfo:
        constructor(**kwargs)
    return str(excinfo.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(weights="imagenet", depth_multiplier=2),
        dict(weights="imagenet", alpha=0.3),
        dict(weights="imagenet", alpha=0.3, depth_multiplier=2),  # depth_multiplier is checked first
        dict(weights="imagenet", alpha=0.3, classifier_activation="relu"),  # alpha before the activation
        dict(weights="imagenet", alpha=0.3, include_top=False, pooling="mean"),  # keras' checks before ours
        dict(weights="imagenet", alpha=0, include_top=False),  # keras' alpha message, not ours
        dict(weights=None, alpha=0, include_top=False, input_shape=(16, 16, 3)),  # size check before ours
        dict(weights="imagenet", input_shape=(200, 200, 3)),  # not a published size: the default stays 224
        dict(weights="imagenet", input_shape=(160, 192, 3)),  # non-square: the default stays 224
        dict(weights="imagenet", input_shape=(128, 128)),  # a 128 square becomes the default size, rank is wrong
    ],
)
def test_keras_checks_and_order(kwargs):
    assert _error(mobilenet.MobileNet, **kwargs) == _error(keras.applications.MobileNet, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha=0), "alpha=0"),
        (dict(alpha=-1.0), r"alpha=-1\.0"),
        (dict(alpha=0.02), r"1/32.*alpha=0\.02"),  # keras fails deep inside Conv2D (filters=0)
        (dict(alpha=float("nan")), "alpha=nan"),
        (dict(alpha="1.0"), "alpha='1.0'"),
        (dict(depth_multiplier=0), "depth_multiplier=0"),
        (dict(depth_multiplier=1.0), r"depth_multiplier=1\.0"),  # keras fails building the kernel shape
        (dict(depth_multiplier=True), "depth_multiplier=True"),
        (dict(dropout=1.0), r"dropout=1\.0"),  # keras accepts it: every activation dropped in training
        (dict(dropout=-0.1), r"dropout=-0\.1"),
        (dict(dropout="0.5"), "dropout='0.5'"),
    ],
)
def test_values_outside_the_model_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mobilenet.MobileNet(weights=None, input_shape=(32, 32, 3), **kwargs)


def test_dropout_is_only_checked_with_top():
    model = mobilenet.MobileNet(weights=None, include_top=False, input_shape=(32, 32, 3), alpha=0.25, dropout=1.5)
    assert model.output_shape == (None, 1, 1, 256)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(include_top=False),  # rows=None -> "mobilenet_1.00_None", as keras
        dict(input_shape=(96, 96, 3), alpha=0.75),
        dict(input_shape=(160, 160, 3), alpha=0.5, include_top=False),
        dict(name="custom"),
    ],
)
def test_default_name_matches_keras(kwargs):
    kwargs = dict(dict(weights=None, alpha=0.25), **kwargs)
    assert mobilenet.MobileNet(**kwargs).name == keras.applications.MobileNet(**kwargs).name


@pytest.fixture
def offline_imagenet(monkeypatch):
    """Records which ImageNet file keras and we would load, without downloading anything."""
    seen = {}

    def keras_get_file(fname, origin, **kwargs):
        seen["keras_file"] = (fname, origin)
        return fname

    def keras_load_weights(model, path, *args, **kwargs):
        seen["keras_name"] = model.name

    def our_load_into(model, weights, *, spec, include_top, variant=None, **kwargs):
        seen["ours"] = (model.name, spec.find_weights(weights, include_top, **dict(variant or {})))

    monkeypatch.setattr(keras_file_utils, "get_file", keras_get_file)
    monkeypatch.setattr(keras.Model, "load_weights", keras_load_weights)
    monkeypatch.setattr(keras_archs.weights, "load_into", our_load_into)
    return seen


def _warnings_of(constructor, **kwargs) -> list[tuple[str, str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        constructor(**kwargs)
    return [(str(w.message), w.filename) for w in caught if "input_shape" in str(w.message)]


@pytest.mark.parametrize(
    "input_shape, alpha, include_top, warns",
    [
        ((128, 128, 3), 0.25, True, False),
        ((192, 192, 3), 0.5, False, False),
        ((100, 100, 3), 0.75, False, True),  # no published size: keras warns and loads the 224 file
        (None, 1.0, False, True),
        ((160, 128, 3), 0.25, False, True),  # non-square
    ],
)
def test_imagenet_file_name_and_warning_match_keras(offline_imagenet, input_shape, alpha, include_top, warns):
    kwargs = dict(weights="imagenet", input_shape=input_shape, alpha=alpha, include_top=include_top)
    ours = _warnings_of(mobilenet.MobileNet, **kwargs)
    theirs = _warnings_of(keras.applications.MobileNet, **kwargs)
    assert ours == theirs and len(ours) == int(warns)
    assert all(filename == __file__ for _, filename in ours)  # stacklevel points at the caller, as keras'
    name, entry = offline_imagenet["ours"]
    assert name == offline_imagenet["keras_name"]
    assert (entry.fname, entry.url) == offline_imagenet["keras_file"]
    assert dict(entry.variant)["alpha"] == alpha


def test_weight_entries_cover_every_published_file():
    spec = registry.get_spec("MobileNet")
    assert len(spec.weights) == 4 * 4 * 2 == len({entry.fname for entry in spec.weights})
    for entry in spec.weights:
        assert entry.url == keras_mobilenet.BASE_WEIGHT_PATH + entry.fname
        assert entry.file_hash is None  # keras publishes none; keras_archs.weights checks the HDF5 structure
    entry = spec.find_weights("imagenet", False, alpha=0.5, rows=160)
    assert entry.fname == "mobilenet_5_0_160_tf_no_top.h5"
    assert spec.find_weights("imagenet", True, alpha=0.5, rows=100) is None


def test_width_and_depth_multipliers_match_keras_weights(tmp_path):
    kwargs = dict(weights=None, input_shape=(32, 32, 3), alpha=0.5, depth_multiplier=2, classes=5)
    theirs = keras.applications.MobileNet(classifier_activation=None, **kwargs)
    randomize_weights(theirs, seed=1)
    theirs.save_weights(tmp_path / "m.weights.h5")
    ours = mobilenet.MobileNet(classifier_activation=None, **kwargs)
    assert ours.get_layer("conv_dw_1").kernel.shape == (3, 3, 16, 2)
    assert ours.count_params() == theirs.count_params()
    ours.load_weights(tmp_path / "m.weights.h5")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(forward(ours, x), assert_input_sensitive(theirs, x), rtol=1e-5, atol=1e-5)


def test_preprocess_input_is_keras_tf_mode():
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(
        mobilenet.preprocess_input(x.copy()), keras.applications.mobilenet.preprocess_input(x.copy()), rtol=1e-6
    )
