"""Tests for keras_archs.imagenet (preprocessing and class-name decoding)."""

import hashlib
import importlib.resources
import json

import keras
import numpy as np
import pytest
from keras import ops
from keras.applications import imagenet_utils as keras_imagenet

from keras_archs import imagenet_utils

MODES = ("caffe", "tf", "torch")
FORMATS = ("channels_last", "channels_first")
RANKS = (3, 4)

WELL_KNOWN = {
    0: ("n01440764", "tench"),
    1: ("n01443537", "goldfish"),
    2: ("n01484850", "great_white_shark"),
    281: ("n02123045", "tabby"),
    285: ("n02124075", "Egyptian_cat"),
    967: ("n07920052", "espresso"),
    999: ("n15075141", "toilet_tissue"),
}

KERAS_CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"


def _json_path():
    return importlib.resources.files("keras_archs") / "resources" / "imagenet_class_index.json"


def _images(rank, data_format, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    spatial = (5, 4)
    if data_format == "channels_first":
        shape = (3,) + spatial
    else:
        shape = spatial + (3,)
    if rank == 4:
        shape = (2,) + shape
    return (rng.random(shape) * 255.0).astype(dtype)


def _errors_of(fn, *args, **kwargs):
    with pytest.raises(ValueError) as excinfo:
        fn(*args, **kwargs)
    return str(excinfo.value)


# ---------------------------------------------------------------------------
# preprocess_input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_preprocess_numpy_matches_keras(mode, data_format, rank, dtype):
    x = _images(rank, data_format, dtype)
    ours_in, keras_in = x.copy(), x.copy()
    ours = imagenet_utils.preprocess_input(ours_in, data_format=data_format, mode=mode)
    expected = keras_imagenet.preprocess_input(keras_in, data_format=data_format, mode=mode)
    assert isinstance(ours, np.ndarray)
    assert ours.dtype == expected.dtype == np.dtype(dtype)
    assert ours.shape == x.shape
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    # Float input is overwritten in place exactly as Keras does it.
    np.testing.assert_allclose(ours_in, keras_in, rtol=0, atol=1e-6)
    assert not np.array_equal(ours_in, x)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["uint8", "int32", "int64"])
def test_preprocess_numpy_integer_input(mode, dtype):
    x = _images(4, "channels_last", dtype)
    original = x.copy()
    ours = imagenet_utils.preprocess_input(x, mode=mode)
    expected = keras_imagenet.preprocess_input(x.copy(), mode=mode)
    assert ours.dtype == expected.dtype == np.dtype(keras.config.floatx())
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(x, original)  # integer input left untouched


@pytest.mark.parametrize("mode", MODES)
def test_preprocess_numpy_float16_matches_keras(mode):
    x = _images(4, "channels_last", "float16")
    ours = imagenet_utils.preprocess_input(x.copy(), mode=mode)
    expected = keras_imagenet.preprocess_input(x.copy(), mode=mode)
    assert ours.dtype == expected.dtype == np.float16
    np.testing.assert_array_equal(ours, expected)


def test_preprocess_numpy_read_only_input_is_not_modified():
    x = _images(4, "channels_last")
    x.flags.writeable = False
    out = imagenet_utils.preprocess_input(x, mode="torch")
    expected = keras_imagenet.preprocess_input(x.copy(), mode="torch")
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("rank", RANKS)
def test_preprocess_tensor_matches_keras(mode, data_format, rank):
    x = _images(rank, data_format)
    ours = imagenet_utils.preprocess_input(ops.convert_to_tensor(x), data_format=data_format, mode=mode)
    expected = keras_imagenet.preprocess_input(ops.convert_to_tensor(x), data_format=data_format, mode=mode)
    assert not isinstance(ours, np.ndarray)
    assert keras.backend.standardize_dtype(ours.dtype) == "float32"
    assert tuple(ours.shape) == x.shape
    np.testing.assert_allclose(
        ops.convert_to_numpy(ours),
        ops.convert_to_numpy(expected),
        rtol=0,
        atol=1e-6,
    )
    # Numpy and tensor paths agree with each other too.
    np.testing.assert_allclose(
        ops.convert_to_numpy(ours),
        imagenet_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode),
        rtol=0,
        atol=1e-6,
    )


@pytest.mark.parametrize("mode", MODES)
def test_preprocess_integer_tensor_is_cast_to_floatx(mode):
    # Keras itself mishandles integer tensors (truncated means in caffe mode,
    # dtype errors in tf/torch modes); we cast to floatx first, which gives
    # Keras' result for the same values given as floats.
    x = np.round(_images(4, "channels_last")).astype("int32")
    ours = imagenet_utils.preprocess_input(ops.convert_to_tensor(x), mode=mode)
    expected = keras_imagenet.preprocess_input(ops.convert_to_tensor(x.astype("float32")), mode=mode)
    assert keras.backend.standardize_dtype(ours.dtype) == keras.config.floatx()
    np.testing.assert_allclose(
        ops.convert_to_numpy(ours),
        ops.convert_to_numpy(expected),
        rtol=0,
        atol=1e-6,
    )


@pytest.mark.parametrize("mode", MODES)
def test_preprocess_symbolic_input(mode):
    inputs = keras.Input((5, 4, 3))
    outputs = imagenet_utils.preprocess_input(inputs, mode=mode)
    assert tuple(outputs.shape) == (None, 5, 4, 3)
    model = keras.Model(inputs, outputs)
    x = _images(4, "channels_last")
    np.testing.assert_allclose(
        ops.convert_to_numpy(model(x)),
        keras_imagenet.preprocess_input(x.copy(), mode=mode),
        rtol=0,
        atol=1e-4,
    )


def test_preprocess_default_data_format_is_global_setting():
    x = _images(4, "channels_first")
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        ours = imagenet_utils.preprocess_input(x.copy())
        expected = keras_imagenet.preprocess_input(x.copy())
    finally:
        keras.config.set_image_data_format(previous)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)


def test_preprocess_list_input():
    x = _images(3, "channels_last")
    out = imagenet_utils.preprocess_input(x.tolist(), mode="torch")
    expected = keras_imagenet.preprocess_input(x.astype("float64"), mode="torch")
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("as_tensor", [False, True])
def test_preprocess_custom_caffe_mean(data_format, as_tensor):
    mean_bgr = (104.0, 117.0, 123.0)  # Caffe SqueezeNet mean
    x = _images(4, data_format)
    inputs = ops.convert_to_tensor(x) if as_tensor else x.copy()
    out = ops.convert_to_numpy(
        imagenet_utils.preprocess_input(inputs, data_format=data_format, mode="caffe", mean=mean_bgr)
    )
    axis = -1 if data_format == "channels_last" else 1
    shape = [1, 1, 1, 1]
    shape[axis] = 3
    expected = np.flip(x, axis=axis) - np.array(mean_bgr, "float32").reshape(shape)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


def test_preprocess_invalid_mean():
    x = _images(4, "channels_last")
    with pytest.raises(ValueError, match="only supported with mode='caffe'"):
        imagenet_utils.preprocess_input(x, mode="torch", mean=(1, 2, 3))
    with pytest.raises(ValueError, match="Received: mean="):
        imagenet_utils.preprocess_input(x, mode="caffe", mean=(1, 2))
    with pytest.raises(ValueError, match="Received: mean="):
        imagenet_utils.preprocess_input(x, mode="caffe", mean="abc")


@pytest.mark.parametrize("bad_mode", ["pytorch", "", None, "CAFFE"])
def test_preprocess_invalid_mode_message_matches_keras(bad_mode):
    x = _images(4, "channels_last")
    ours = _errors_of(imagenet_utils.preprocess_input, x.copy(), mode=bad_mode)
    theirs = _errors_of(keras_imagenet.preprocess_input, x.copy(), mode=bad_mode)
    assert ours == theirs
    assert ours.startswith("Expected mode to be one of `caffe`, `tf` or `torch`.")


@pytest.mark.parametrize("bad_format", ["channels_middle", "NHWC", ""])
def test_preprocess_invalid_data_format_message_matches_keras(bad_format):
    x = _images(4, "channels_last")
    ours = _errors_of(imagenet_utils.preprocess_input, x.copy(), data_format=bad_format)
    theirs = _errors_of(keras_imagenet.preprocess_input, x.copy(), data_format=bad_format)
    assert ours == theirs
    assert ours.startswith("Expected data_format to be one of `channels_first` or `channels_last`.")


@pytest.mark.parametrize("mode", ["caffe", "torch"])
def test_preprocess_wrong_channel_count(mode):
    x = np.zeros((1, 4, 4, 4), "float32")
    with pytest.raises(ValueError, match="3 colour channels"):
        imagenet_utils.preprocess_input(x, mode=mode)
    with pytest.raises(ValueError, match="3 colour channels"):
        imagenet_utils.preprocess_input(ops.convert_to_tensor(x), mode=mode)


# ---------------------------------------------------------------------------
# Class index data
# ---------------------------------------------------------------------------


def test_class_index_json_format():
    raw = json.loads(_json_path().read_text(encoding="utf-8"))
    assert list(raw) == [str(i) for i in range(1000)]
    wnids = [raw[str(i)][0] for i in range(1000)]
    assert len(set(wnids)) == 1000
    assert wnids == sorted(wnids)
    for wnid, name in raw.values():
        assert len(wnid) == 9 and wnid[0] == "n" and wnid[1:].isdigit()
        assert name and " " not in name


def test_class_index_json_is_keras_file():
    data = _json_path().read_bytes()
    assert hashlib.md5(data).hexdigest() == KERAS_CLASS_INDEX_MD5


def test_class_names_well_known_entries():
    names = imagenet_utils.class_names()
    assert len(names) == 1000
    assert all(isinstance(pair, tuple) and len(pair) == 2 for pair in names)
    for index, pair in WELL_KNOWN.items():
        assert names[index] == pair
    # A fresh list each call: mutating it does not affect the cache.
    names.clear()
    assert len(imagenet_utils.class_names()) == 1000


def test_class_index_source_constant():
    src = imagenet_utils.CLASS_INDEX_SOURCE
    assert "tensorflow-datasets 4.9.10" in src
    assert "keras-hub 0.32.0" in src
    assert "Apache-2.0" in src


# ---------------------------------------------------------------------------
# decode_predictions
# ---------------------------------------------------------------------------


def _one_hot(indices):
    preds = np.zeros((len(indices), 1000), "float32")
    preds[np.arange(len(indices)), indices] = 1.0
    return preds


def test_decode_one_hot_well_known():
    indices = list(WELL_KNOWN)
    decoded = imagenet_utils.decode_predictions(_one_hot(indices), top=1)
    assert len(decoded) == len(indices)
    for index, result in zip(indices, decoded):
        assert len(result) == 1
        wnid, name, score = result[0]
        assert (wnid, name) == WELL_KNOWN[index]
        assert score == 1.0


def test_decode_sorted_scores_and_tensor_input():
    rng = np.random.default_rng(1)
    preds = rng.random((3, 1000)).astype("float32")
    for inputs in (preds, ops.convert_to_tensor(preds), preds.tolist()):
        decoded = imagenet_utils.decode_predictions(inputs, top=7)
        assert len(decoded) == 3
        for row, result in zip(preds, decoded):
            assert len(result) == 7
            order = np.argsort(-row)[:7]
            names = imagenet_utils.class_names()
            assert [r[:2] for r in result] == [names[i] for i in order]
            scores = [float(r[2]) for r in result]
            assert scores == sorted(scores, reverse=True)
            np.testing.assert_allclose(scores, row[order])


def test_decode_matches_keras(monkeypatch):
    # Feed Keras the shipped index (byte-identical to its own file) so that it
    # does not try to download anything.
    from keras.src.applications import imagenet_utils as keras_src

    raw = json.loads(_json_path().read_text(encoding="utf-8"))
    monkeypatch.setattr(keras_src, "CLASS_INDEX", raw)
    rng = np.random.default_rng(2)
    preds = np.concatenate([rng.random((2, 1000)), _one_hot([3, 500])])
    preds = preds.astype("float32")
    for top in (1, 5, 1000):
        ours = imagenet_utils.decode_predictions(preds, top=top)
        theirs = keras_imagenet.decode_predictions(preds, top=top)
        assert ours == theirs
        assert type(ours[0][0][2]) is type(theirs[0][0][2])


@pytest.mark.parametrize("shape", [(1000,), (2, 999), (2, 1001), (1, 1, 1000), (0,)])
def test_decode_bad_shape_message_matches_keras(shape):
    preds = np.zeros(shape, "float32")
    ours = _errors_of(imagenet_utils.decode_predictions, preds)
    theirs = _errors_of(keras_imagenet.decode_predictions, preds)
    assert ours == theirs
    assert ours.endswith(f"Received array with shape: {shape}")


def test_decode_bad_shape_tensor():
    with pytest.raises(ValueError, match=r"shape: \(2, 10\)"):
        imagenet_utils.decode_predictions(ops.zeros((2, 10)))


@pytest.mark.parametrize("top", [0, -1, 1001, 2.0, "5", None, True])
def test_decode_bad_top(top):
    with pytest.raises(ValueError, match=f"Received: top={top!r}"):
        imagenet_utils.decode_predictions(_one_hot([0]), top=top)


def test_decode_top_accepts_numpy_integer():
    decoded = imagenet_utils.decode_predictions(_one_hot([1]), top=np.int64(1000))
    assert len(decoded[0]) == 1000
    assert decoded[0][0][:2] == ("n01443537", "goldfish")
