"""Xception-specific tests; the registry-wide suite (test_models.py) covers build, params, parity, common errors."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
from keras.src.applications import xception as keras_xception

from keras_archs import registry
from keras_archs.applications import xception


def test_entry_flow_and_unnamed_pooling(built):
    # Every layer's class and get_config() equal keras' (with the top): test_models.py's parity test. Here, without
    # it: keras' xception.py creates the pooling layer unnamed, so a fresh session calls it "global_average_pooling2d".
    ours = built("Xception", fresh_names=True, include_top=False, input_shape=(71, 71, 3), pooling="avg")
    # The entry flow's first block starts from the stem's activated output: no "block2_sepconv1_act".
    names = {layer.name for layer in ours.layers}
    assert "block2_sepconv2_act" in names and "block2_sepconv1_act" not in names
    assert ours.layers[-1].name == "global_average_pooling2d"


def test_smallest_input_gives_3x3_features(built):
    model = built("Xception", include_top=False, input_shape=(71, 71, 3))
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
