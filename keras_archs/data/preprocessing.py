"""The normalisation modes a ``ModelSpec`` records (``spec.preprocessing``), eager and in-graph.

A mode names what a model expects of RGB pixels on the 0..255 scale. Three are keras.applications' modes of
``keras_archs.imagenet_utils.preprocess_input``; one is this package's own:

* ``"caffe"``: RGB -> BGR, minus the ImageNet BGR mean (``imagenet_utils.CAFFE_MEAN_BGR``), no scaling;
* ``"squeezenet_caffe"``: the same with Caffe SqueezeNet's mean (104, 117, 123) (DESIGN.md §4: the ``mean_value`` of
  the SqueezeNet Caffe model the published weights were trained with);
* ``"tf"``: scale to [-1, 1];
* ``"torch"``: scale to [0, 1], minus the ImageNet RGB mean, over its standard deviation.

:data:`MODES` is the list of them, :func:`preprocess_input` the eager form (NumPy or tensors, exactly
``imagenet_utils.preprocess_input`` with the mode's arguments) and :func:`preprocess` the in-graph form for
``tf.data`` pipelines (same results, tested).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from keras_archs import imagenet_utils, registry

__all__ = ["MODES", "SQUEEZENET_CAFFE_MEAN_BGR", "check_mode", "preprocess", "preprocess_input"]

SQUEEZENET_CAFFE_MEAN_BGR = registry.SQUEEZENET_CAFFE_MEAN_BGR
# Mode -> keyword arguments of keras_archs.imagenet_utils.preprocess_input (the registry's one table).
_PREPROCESS_INPUT_ARGUMENTS = registry.PREPROCESSING
MODES = registry.PREPROCESSING_MODES


def check_mode(mode: Any, allow_none: bool = True) -> str | None:
    """Returns ``mode`` if it is one of :data:`MODES` (or None when allowed), else raises a ValueError.

    Example:
        >>> check_mode("tf")
        'tf'
    """
    if (mode is None and allow_none) or (isinstance(mode, str) and mode in MODES):
        return mode
    accepted = ", ".join(MODES) + (" or None" if allow_none else "")
    raise ValueError(f"Expected `mode` to be one of {accepted}. Received: mode={mode!r}")


def preprocess_input(images: Any, mode: str) -> Any:
    """``keras_archs.imagenet_utils.preprocess_input`` for a registry mode (``channels_last``).

    Floating-point NumPy arrays are overwritten, as ``preprocess_input`` does; pass a copy to keep them.

    Raises:
        ValueError: ``mode`` is not one of :data:`MODES`.

    Example:
        >>> import numpy as np
        >>> preprocess_input(np.full((1, 1, 1, 3), 255.0, np.float32), "squeezenet_caffe")[0, 0, 0].tolist()
        [151.0, 138.0, 132.0]
    """
    mode = check_mode(mode, allow_none=False)
    return imagenet_utils.preprocess_input(images, data_format="channels_last", **_PREPROCESS_INPUT_ARGUMENTS[mode])


def preprocess(images: tf.Tensor, mode: str | None) -> tf.Tensor:
    """Normalises RGB images on the 0..255 scale for a model, with TensorFlow ops (usable inside ``tf.data``).

    Same results as :func:`preprocess_input` ``(x, mode)`` with ``channels_last`` data.

    Args:
        images: A tensor ``(..., height, width, 3)`` of any real dtype, values in 0..255, RGB.
        mode: One of :data:`MODES`, or None (cast to float32 only).

    Returns:
        A float32 tensor of the same shape.

    Raises:
        ValueError: If ``mode`` is not one of these.

    Example:
        >>> import tensorflow as tf
        >>> preprocess(tf.constant([[255.0, 255.0, 255.0]]), "tf").numpy().tolist()
        [[1.0, 1.0, 1.0]]
    """
    mode = check_mode(mode)
    x = tf.cast(images, tf.float32)
    if mode is None:
        return x
    arguments = _PREPROCESS_INPUT_ARGUMENTS[mode]
    if arguments["mode"] == "tf":
        return x / 127.5 - 1.0
    if arguments["mode"] == "torch":
        mean = tf.constant(imagenet_utils.TORCH_MEAN_RGB, tf.float32)
        return (x / 255.0 - mean) / tf.constant(imagenet_utils.TORCH_STD_RGB, tf.float32)
    mean = arguments.get("mean", imagenet_utils.CAFFE_MEAN_BGR)
    return tf.reverse(x, axis=[-1]) - tf.constant(mean, tf.float32)
