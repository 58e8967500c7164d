"""keras_archs.export.card: class names and the input normalisation written beside a .tflite."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_archs import applications, imagenet_utils
from keras_archs.export import PREPROCESSING_MODES, card, describe_preprocessing, resolve_labels


def test_resolve_labels(tmp_path):
    assert resolve_labels(None, None) == (None, None)
    names, source = resolve_labels(None, 1000)
    assert names[0] == "tench" and source == "imagenet"
    assert resolve_labels("imagenet", 1000, source="ILSVRC2012")[1] == "ILSVRC2012"
    assert resolve_labels(None, 3) == (["0", "1", "2"], "class indices (no names given)")
    (tmp_path / "names.txt").write_text("cat\ndog\n\n")
    assert resolve_labels(tmp_path / "names.txt", 2) == (["cat", "dog"], "file names.txt")
    assert resolve_labels(("a", "b"), 2, source="toy") == (["a", "b"], "toy")
    with pytest.raises(ValueError, match="single lines"):
        resolve_labels(["a\nb", "c"], 2)
    with pytest.raises(ValueError, match="no such file"):
        resolve_labels("no_such_labels.txt", 2)
    with pytest.raises(ValueError, match=r"3 outputs but `labels` \(given\) has 2 names"):
        resolve_labels(["a", "b"], 3)
    with pytest.raises(ValueError, match="not a class vector"):
        resolve_labels(["a"], None)
    with pytest.raises(TypeError, match="Received: labels of type int"):
        resolve_labels(7, 2)


def test_describe_preprocessing_matches_preprocess_input():
    torch = describe_preprocessing("torch")
    assert torch["channel_order"] == "RGB"
    np.testing.assert_allclose(torch["mean"], [123.675, 116.28, 103.53], rtol=1e-5)
    np.testing.assert_allclose(torch["std"], [58.395, 57.12, 57.375], rtol=1e-5)
    assert describe_preprocessing("caffe")["mean"] == pytest.approx([103.939, 116.779, 123.68])
    assert describe_preprocessing("squeezenet_caffe")["mean"] == [104.0, 117.0, 123.0]
    assert describe_preprocessing(None)["mode"] is None
    # the card's affine form reproduces preprocess_input on real pixel values, for every mode
    pixels = np.random.default_rng(0).uniform(0, 255, (5, 3)).astype(np.float32)
    for mode in ("caffe", "tf", "torch"):
        described = describe_preprocessing(mode)
        ordered = pixels[:, ::-1] if described["channel_order"] == "BGR" else pixels
        affine = (ordered - np.array(described["mean"])) / np.array(described["std"])
        expected = imagenet_utils.preprocess_input(pixels.copy(), "channels_last", mode=mode)
        np.testing.assert_allclose(affine, expected, rtol=1e-4, atol=1e-3)


def test_raw_pixels_and_a_normalising_layer():
    inputs = keras.Input((28, 28, 1), name="pixels")
    x = keras.layers.Rescaling(1 / 90.0, offset=-0.8, name="normalize")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    described = describe_preprocessing(None, model)
    assert described["mode"] == "raw" and described["value_range"] == [0.0, 255.0]
    assert "Rescaling layer 'normalize': x * 0.0111111 - 0.8" in described["description"]
    assert card.normalising_layer(model).name == "normalize"


def test_the_preprocessing_modes_are_the_registrys_and_the_pipelines():
    """card.PREPROCESSING_MODES is the registry's list + "raw"; every spec records one of them."""
    from keras_archs.data import preprocessing

    assert set(PREPROCESSING_MODES) == {*preprocessing.MODES, "raw"}
    assert {spec.preprocessing for spec in applications.all_specs()} <= set(PREPROCESSING_MODES)
    assert set(imagenet_utils.MODES) <= set(PREPROCESSING_MODES)
