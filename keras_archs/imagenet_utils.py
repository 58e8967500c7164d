"""ImageNet-1k input preprocessing and prediction decoding.

This module offers the two helpers every ImageNet classifier in
`keras_archs` needs:

* `preprocess_input`: the "caffe", "tf" and "torch" input normalisations used
  by the original Keras applications, with results matching
  `keras.applications.imagenet_utils.preprocess_input`.
* `decode_predictions`: turns a batch of 1000-way scores into
  `(wnid, name, score)` tuples, using a class list shipped with the package
  (no download needed).

The class list lives in `keras_archs/resources/imagenet_class_index.json` and
has the same format as the file Keras downloads on first use:

    https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json
    (md5 c2c37ea517e94d9795004a39431a14cb)

The shipped file is byte-for-byte identical to that one (same md5). It was
rebuilt offline from Apache-2.0 sources; see `CLASS_INDEX_SOURCE` and
`keras_archs/resources/README.md`.
"""

import functools
import importlib.resources
import json
import numbers

import keras
import numpy as np
from keras import ops

__all__ = [
    "CAFFE_MEAN_BGR",
    "CLASS_INDEX_SOURCE",
    "MODES",
    "TORCH_MEAN_RGB",
    "TORCH_STD_RGB",
    "NUM_CLASSES",
    "class_names",
    "decode_predictions",
    "preprocess_input",
]

NUM_CLASSES = 1000

# Keras' own copy of the class index, for reference only (never downloaded):
#   https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json
#   md5: c2c37ea517e94d9795004a39431a14cb
CLASS_INDEX_SOURCE = (
    "ImageNet-1k (ILSVRC2012) class index, in the format of Keras' "
    "imagenet_class_index.json (byte-identical, md5 "
    "c2c37ea517e94d9795004a39431a14cb). WordNet ids (index order = sorted "
    "wnids) from tensorflow-datasets 4.9.10, "
    "tensorflow_datasets/datasets/imagenet2012/labels.txt; class names from "
    "keras-hub 0.32.0, keras_hub/src/utils/imagenet/imagenet_utils.py "
    "(IMAGENET_NAMES). Both sources are Apache-2.0 licensed."
)

_CLASS_INDEX_RESOURCE = ("resources", "imagenet_class_index.json")

# Per-channel statistics of the ImageNet training set.
# "caffe": BGR order, on the 0-255 scale.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# "torch": RGB order, on the 0-1 scale.
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
TORCH_STD_RGB = (0.229, 0.224, 0.225)

MODES = ("caffe", "tf", "torch")
_DATA_FORMATS = ("channels_first", "channels_last")


# ---------------------------------------------------------------------------
# Class names
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _class_index():
    """Loads the shipped class index once, as a tuple of `(wnid, name)`."""
    resource = importlib.resources.files("keras_archs")
    for part in _CLASS_INDEX_RESOURCE:
        resource = resource / part
    raw = json.loads(resource.read_text(encoding="utf-8"))
    if len(raw) != NUM_CLASSES:
        raise RuntimeError(f"Corrupt ImageNet class index: expected {NUM_CLASSES} entries, found {len(raw)}.")
    return tuple((str(raw[str(i)][0]), str(raw[str(i)][1])) for i in range(NUM_CLASSES))


def class_names():
    """Returns the 1000 ImageNet-1k classes as `(wnid, name)` pairs.

    The list is ordered by class index (which is the sorted order of the
    WordNet ids), so `class_names()[i]` describes output unit `i` of an
    ImageNet classifier. The data is read from the package once and cached;
    each call returns a new list, so callers may modify it freely.

    Returns:
        A list of 1000 `(wnid, name)` tuples of strings, e.g.
        `("n01440764", "tench")`. Names follow the Keras style (words joined
        with underscores, e.g. `"great_white_shark"`).

    Example:

    >>> names = class_names()
    >>> len(names)
    1000
    >>> names[1]
    ('n01443537', 'goldfish')
    """
    return list(_class_index())


# ---------------------------------------------------------------------------
# preprocess_input
# ---------------------------------------------------------------------------


def _channel_axis(ndim, data_format):
    """Axis holding the colour channels, following Keras' convention."""
    if data_format == "channels_last":
        return ndim - 1
    # channels_first: a single image (C, H, W) or a batch (N, C, ...).
    return 0 if ndim == 3 else 1


def _check_channels(shape, data_format):
    """Returns the channel axis after checking that it holds 3 channels."""
    ndim = len(shape)
    min_ndim = 3 if data_format == "channels_first" else 1
    if ndim < min_ndim:
        raise ValueError(
            f"Expected an image or a batch of images with at least {min_ndim} "
            f"dimensions for data_format={data_format}. Received input with "
            f"shape: {tuple(shape)}"
        )
    axis = _channel_axis(ndim, data_format)
    channels = shape[axis]
    if channels is not None and channels != 3:
        raise ValueError(
            "Expected 3 colour channels on axis "
            f"{axis} (data_format={data_format}). Received input with shape: "
            f"{tuple(shape)}"
        )
    return axis


def _broadcast_shape(ndim, axis):
    shape = [1] * ndim
    shape[axis] = 3
    return tuple(shape)


def _check_mean(mean, mode):
    if mean is None:
        return None
    if mode != "caffe":
        raise ValueError(f"A custom `mean` is only supported with mode='caffe'. Received: mode={mode}")
    try:
        values = tuple(mean)
    except TypeError:
        values = None
    if (
        values is None
        or len(values) != 3
        or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
    ):
        raise ValueError(f"Expected `mean` to be a sequence of 3 numbers (BGR order). Received: mean={mean!r}")
    return tuple(float(v) for v in values)


def _preprocess_numpy(x, data_format, mode, mean):
    # Non-float arrays are converted to a new array of the default float type;
    # float arrays keep their dtype and are updated in place (like Keras).
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(keras.config.floatx())
    elif not x.flags.writeable:
        x = x.copy()

    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x

    axis = _check_channels(x.shape, data_format)
    bshape = _broadcast_shape(x.ndim, axis)
    if mode == "torch":
        x /= 255.0
        x -= np.asarray(TORCH_MEAN_RGB, dtype=x.dtype).reshape(bshape)
        x /= np.asarray(TORCH_STD_RGB, dtype=x.dtype).reshape(bshape)
        return x

    # caffe: RGB -> BGR as a view (so the caller's array is still updated in
    # place, as in Keras), then subtract the BGR mean.
    x = np.flip(x, axis=axis)
    x -= np.asarray(mean, dtype=x.dtype).reshape(bshape)
    return x


def _preprocess_tensor(x, data_format, mode, mean):
    dtype = keras.backend.standardize_dtype(x.dtype)
    if not keras.backend.is_float_dtype(dtype):
        dtype = keras.config.floatx()
        x = ops.cast(x, dtype)

    if mode == "tf":
        return ops.subtract(ops.divide(x, 127.5), 1.0)

    axis = _check_channels(tuple(x.shape), data_format)
    bshape = _broadcast_shape(len(x.shape), axis)

    def constant(values):
        return ops.convert_to_tensor(np.asarray(values, dtype="float64").reshape(bshape), dtype=dtype)

    if mode == "torch":
        x = ops.divide(x, 255.0)
        x = ops.subtract(x, constant(TORCH_MEAN_RGB))
        return ops.divide(x, constant(TORCH_STD_RGB))

    x = ops.flip(x, axis=axis)
    return ops.subtract(x, constant(mean))


def preprocess_input(x, data_format=None, mode="caffe", mean=None):
    """Preprocesses an image or a batch of images for an ImageNet model.

    Gives the same results as
    `keras.applications.imagenet_utils.preprocess_input`, plus an optional
    custom `mean` for the "caffe" mode.

    Args:
        x: A NumPy array or a backend tensor (symbolic Keras tensors work
            too), holding one image (3D) or a batch of images (4D) with 3
            colour channels in RGB order and values in `[0, 255]`. Floating
            point NumPy arrays are overwritten with the result (call
            `numpy.copy(x)` first to avoid this); other NumPy arrays are
            converted to `keras.config.floatx()` first. Integer tensors are
            cast to `keras.config.floatx()`. Python lists are converted with
            `numpy.asarray`.
        data_format: `"channels_last"` or `"channels_first"`. `None` means
            `keras.config.image_data_format()`.
        mode: One of:
            - `"caffe"`: convert RGB to BGR, then subtract the ImageNet mean of
              each channel (`mean`, in BGR order), without scaling.
            - `"tf"`: scale values to `[-1, 1]` (`x / 127.5 - 1`).
            - `"torch"`: scale values to `[0, 1]`, then subtract the ImageNet
              mean `(0.485, 0.456, 0.406)` and divide by the standard
              deviation `(0.229, 0.224, 0.225)` of each channel (RGB order).
            Defaults to `"caffe"`.
        mean: Optional sequence of 3 numbers, in BGR order and on the
            `[0, 255]` scale, replacing the default "caffe" mean
            `(103.939, 116.779, 123.68)`. For example, SqueezeNet's Caffe
            weights use `(104, 117, 123)`. Only valid with `mode="caffe"`.

    Returns:
        The preprocessed images, same shape as `x`: a NumPy array for NumPy
        input (floating point input keeps its dtype, other input becomes
        `keras.config.floatx()`), else a tensor of the same floating point
        dtype as `x` (or `keras.config.floatx()` for integer input). In
        "caffe" mode the channels of the result are in BGR order.

    Raises:
        ValueError: If `mode` or `data_format` is unknown, if `mean` is
            given with a mode other than "caffe" or is not 3 numbers, or if
            (for "caffe" and "torch" modes) the channel axis does not hold
            3 channels.

    Example:

    >>> import numpy as np
    >>> image = np.full((1, 2, 2, 3), 255.0, dtype="float32")
    >>> preprocess_input(image.copy(), mode="tf")[0, 0, 0]
    array([1., 1., 1.], dtype=float32)
    >>> bgr = preprocess_input(image.copy(), mode="caffe")[0, 0, 0]
    >>> [round(float(v), 3) for v in bgr]
    [151.061, 138.221, 131.32]
    """
    if mode not in MODES:
        raise ValueError(f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}")
    if data_format is None:
        data_format = keras.config.image_data_format()
    elif data_format not in _DATA_FORMATS:
        raise ValueError(
            "Expected data_format to be one of `channels_first` or "
            f"`channels_last`. Received: data_format={data_format}"
        )
    mean = _check_mean(mean, mode)
    if mean is None:
        mean = CAFFE_MEAN_BGR

    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if isinstance(x, np.ndarray):
        return _preprocess_numpy(x, data_format, mode, mean)
    return _preprocess_tensor(x, data_format, mode, mean)


# ---------------------------------------------------------------------------
# decode_predictions
# ---------------------------------------------------------------------------


def _check_top(top):
    if isinstance(top, bool) or not isinstance(top, numbers.Integral) or not 1 <= top <= NUM_CLASSES:
        raise ValueError(f"Expected `top` to be an integer between 1 and {NUM_CLASSES}. Received: top={top!r}")
    return int(top)


def decode_predictions(preds, top=5):
    """Decodes the predictions of an ImageNet-1k classifier.

    Same output as `keras.applications.imagenet_utils.decode_predictions`,
    but uses the class index shipped with this package instead of
    downloading it.

    Args:
        preds: A NumPy array or a backend tensor (or a nested list) of shape
            `(samples, 1000)` holding class scores or probabilities.
        top: Integer, how many of the best guesses to return per sample,
            between 1 and 1000. Defaults to `5`.

    Returns:
        A list with one entry per sample, each a list of `top` tuples
        `(wnid, name, score)` sorted by score, highest first. `score` is a
        NumPy scalar of the input's dtype.

    Raises:
        ValueError: If `preds` is not of shape `(samples, 1000)`, or if `top`
            is not an integer between 1 and 1000.

    Example:

    >>> import numpy as np
    >>> preds = np.zeros((1, 1000), dtype="float32")
    >>> preds[0, 285] = 0.9
    >>> preds[0, 281] = 0.1
    >>> [(w, n, float(s)) for w, n, s in decode_predictions(preds, top=2)[0]]
    [('n02124075', 'Egyptian_cat', 0.8999999761581421), \
('n02123045', 'tabby', 0.10000000149011612)]
    """
    if not hasattr(preds, "shape"):
        preds = np.asarray(preds)
    shape = tuple(preds.shape)
    if len(shape) != 2 or shape[1] != NUM_CLASSES:
        raise ValueError(
            "`decode_predictions` expects a batch of predictions "
            "(i.e. a 2D array of shape (samples, 1000)). "
            f"Received array with shape: {shape}"
        )
    top = _check_top(top)
    if not isinstance(preds, np.ndarray):
        preds = ops.convert_to_numpy(preds)

    index = _class_index()
    results = []
    for row in preds:
        # Same tie-breaking as Keras: the last `top` entries of the default
        # argsort, reversed, then a stable sort on the score.
        best = row.argsort()[::-1][:top]
        entries = [index[i] + (row[i],) for i in best]
        entries.sort(key=lambda entry: entry[2], reverse=True)
        results.append(entries)
    return results
