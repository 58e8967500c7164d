"""1-, 5- and 10-crop evaluation: one image becomes a stack of crops, and a model's predictions are averaged over them.

The 10 crops are the centre and the four corner patches of the image and their horizontal reflections (Krizhevsky
et al. 2012, Sec. 4.1; "the standard 10-crop testing" of He et al. 2016, Sec. 3.4; Simonyan & Zisserman 2015, Sec.
3.2 use them as multi-crop evaluation). The 5 crops are the first five of those, the 1 crop the centre.

Order of the stack (:data:`CROP_NAMES`): centre, top-left, top-right, bottom-left, bottom-right, then the same five
flipped left-right. Typical use: resize the shorter side to 256, crop 224 (``keras_archs.data.imagenet(...,
crops=10)`` does it), run the model on every crop, average the softmax outputs (:func:`average_predictions`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["CROP_NAMES", "NUM_CROPS", "crop_offsets", "multi_crop", "average_predictions"]

CROP_NAMES = (
    "center",
    "top_left",
    "top_right",
    "bottom_left",
    "bottom_right",
    "center_flipped",
    "top_left_flipped",
    "top_right_flipped",
    "bottom_left_flipped",
    "bottom_right_flipped",
)
NUM_CROPS = (1, 5, 10)


def _check_num_crops(num_crops: Any) -> int:
    if isinstance(num_crops, bool) or num_crops not in NUM_CROPS:
        raise ValueError(f"Expected `num_crops` to be one of 1, 5, 10. Received: num_crops={num_crops!r}")
    return int(num_crops)


def crop_offsets(height: Any, width: Any, crop_size: int) -> list[tuple[Any, Any]]:
    """``(offset_y, offset_x)`` of the centre, top-left, top-right, bottom-left and bottom-right crops.

    Args:
        height: Image height (int or scalar tensor).
        width: Image width (int or scalar tensor).
        crop_size: Side of the square crops.

    Returns:
        Five ``(offset_y, offset_x)`` pairs, in :data:`CROP_NAMES` order.

    Example:
        >>> crop_offsets(256, 320, 224)
        [(16, 48), (0, 0), (0, 96), (32, 0), (32, 96)]
    """
    bottom, right = height - crop_size, width - crop_size
    return [(bottom // 2, right // 2), (0, 0), (0, right), (bottom, 0), (bottom, right)]


def multi_crop(image: Any, crop_size: int, num_crops: int = 10) -> tf.Tensor:
    """Turns one image into a stack of ``num_crops`` square crops.

    Args:
        image: ``(height, width, channels)`` tensor or array, both sides at least ``crop_size``.
        crop_size: Side of the crops.
        num_crops: 1 (centre), 5 (centre + corners) or 10 (those and their horizontal flips).

    Returns:
        A tensor ``(num_crops, crop_size, crop_size, channels)``, in :data:`CROP_NAMES` order, dtype of ``image``.

    Raises:
        ValueError: If ``num_crops`` is not 1, 5 or 10, ``crop_size`` is not a positive integer, or (for statically
            known shapes) the image is smaller than ``crop_size``.

    Example:
        >>> import numpy as np
        >>> crops = multi_crop(np.zeros((256, 256, 3), "float32"), 224, num_crops=10)
        >>> tuple(crops.shape)
        (10, 224, 224, 3)
    """
    num_crops = _check_num_crops(num_crops)
    if isinstance(crop_size, bool) or not isinstance(crop_size, (int, np.integer)) or crop_size < 1:
        raise ValueError(f"Expected `crop_size` to be a positive integer. Received: crop_size={crop_size!r}")
    image = tf.convert_to_tensor(image)
    static = image.shape
    if static.rank != 3:
        raise ValueError(f"Expected one image (height, width, channels). Received input with shape: {tuple(static)}")
    if static[0] is not None and static[1] is not None and min(static[0], static[1]) < crop_size:
        raise ValueError(
            f"Expected an image at least {crop_size}x{crop_size} for crop_size={crop_size}. "
            f"Received input with shape: {tuple(static)}"
        )
    shape = tf.shape(image)
    height = static[0] if static[0] is not None else shape[0]
    width = static[1] if static[1] is not None else shape[1]
    offsets = crop_offsets(height, width, crop_size)[: min(num_crops, 5)]
    crops = [image[y : y + crop_size, x : x + crop_size] for y, x in offsets]
    if num_crops == 10:
        crops += [tf.reverse(crop, axis=[1]) for crop in crops]
    return tf.stack(crops)


def average_predictions(model: Any, crops: Any, batch_size: int | None = None) -> np.ndarray:
    """Runs ``model`` on every crop and averages its outputs over the crops of each image.

    Args:
        model: A Keras model (its ``predict`` is used) or any callable mapping a batch of images to a batch of
            predictions (e.g. ``lambda x: model(x, training=False)``).
        crops: Array or tensor ``(batch, num_crops, height, width, channels)``, as made by :func:`multi_crop` and
            batched (``keras_archs.data.imagenet(..., crops=10)`` yields these).
        batch_size: Passed to ``model.predict``; None uses its default.

    Returns:
        A NumPy array ``(batch, ...)``: the mean over the crops of the model's outputs.

    Raises:
        ValueError: If ``crops`` is not 5-dimensional.

    Example:
        >>> import numpy as np
        >>> crops = np.ones((2, 10, 8, 8, 3), "float32")
        >>> average_predictions(lambda x: x.mean(axis=(1, 2)), crops).shape
        (2, 3)
    """
    shape = tuple(crops.shape)
    if len(shape) != 5:
        raise ValueError(
            f"Expected crops of shape (batch, num_crops, height, width, channels). Received input with shape: {shape}"
        )
    flat = np.reshape(np.asarray(crops), (-1,) + shape[2:])
    if hasattr(model, "predict"):
        outputs = model.predict(flat, batch_size=batch_size, verbose=0)
    else:
        outputs = model(flat)
    outputs = np.asarray(outputs)
    return outputs.reshape((shape[0], shape[1]) + outputs.shape[1:]).mean(axis=1)
