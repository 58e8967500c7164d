"""Xception-specific tests; the registry-wide suite (test_models.py) covers build, params, parity, common errors."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
from keras.src.applications import xception as keras_xception

from keras_archs import registry
from keras_archs.applications import xception


def _fresh(constructor, **kwargs) -> keras.Model:
    # keras names unnamed layers from a process-wide counter ("conv2d_7"); a fresh session numbers both models alike.
    keras.backend.clear_session()
    return constructor(**kwargs)


@pytest.fixture(scope="module")
def twins():
    kwargs = dict(weights=None, include_top=False, input_shape=(71, 71, 3), pooling="avg")
    return _fresh(xception.Xception, **kwargs), _fresh(keras.applications.Xception, **kwargs)


def test_every_layer_has_keras_class_name_and_config(twins):
    ours, theirs = twins
    assert len(ours.layers) == len(theirs.layers)
    for mine, reference in zip(ours.layers, theirs.layers):
        assert type(mine) is type(reference)
        assert mine.get_config() == reference.get_config()  # names, filters, strides, BN axis/epsilon, use_bias, ...
    # The entry flow's first block starts from the stem's activated output: no "block2_sepconv1_act".
    names = {layer.name for layer in ours.layers}
    assert "block2_sepconv2_act" in names and "block2_sepconv1_act" not in names
    assert ours.layers[-1].name == theirs.layers[-1].name == "global_average_pooling2d"  # unnamed, as in keras


def test_smallest_input_gives_3x3_features():
    model = xception.Xception(weights=None, include_top=False, input_shape=(71, 71, 3))
    assert model.output_shape == (None, 3, 3, 2048)
    with pytest.raises(ValueError) as ours:
        xception.Xception(weights=None, include_top=False, input_shape=(70, 71, 3))
    with pytest.raises(ValueError) as theirs:
        keras.applications.Xception(weights=None, include_top=False, input_shape=(70, 71, 3))
    assert str(ours.value) == str(theirs.value)


def test_weight_entries_are_keras_files():
    spec = registry.get_spec("Xception")
    source = inspect.getsource(keras_xception)
    top, notop = spec.find_weights("imagenet", True), spec.find_weights("imagenet", False)
    assert (top.url, notop.url) == (keras_xception.WEIGHTS_PATH, keras_xception.WEIGHTS_PATH_NO_TOP)
    for entry in (top, notop):
        assert entry.url.endswith("/" + entry.fname)
        assert f'"{entry.fname}"' in source and f'file_hash="{entry.file_hash}"' in source
    assert spec.preprocessing == "tf" and spec.default_size == 299 and spec.min_size == 71


def test_preprocess_input_is_keras_tf_mode():
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(
        xception.preprocess_input(x.copy()), keras.applications.xception.preprocess_input(x.copy()), rtol=1e-6
    )
