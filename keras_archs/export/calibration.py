"""Representative data for full-integer quantisation, and the batch iteration that verification shares.

The caller hands over model inputs (preprocessing applied): an array, an ``(x, y)`` pair of arrays, a
``tf.data.Dataset`` or any iterable of batches or single examples. Where such data comes from (Fashion-MNIST, a folder
of photos, ImageNet shards) is the command line's business (``keras_archs.cli._sources``), not this package's.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

__all__ = ["DEFAULT_CALIBRATION_STEPS", "PIXEL_RANGE", "RepresentativeData", "check_pixels", "iter_batches"]

# Calibration samples for full-integer quantisation. The TFLite post-training quantisation guide suggests "around
# 100-500" representative samples; 200 calibrate SqueezeNet on Fashion-MNIST to within 0.2 points of float accuracy
# (docs/benchmarks.md).
DEFAULT_CALIBRATION_STEPS = 200
# What a file with TFLite metadata takes (keras_archs.export.mobile): pixels on the 0..255 scale.
PIXEL_RANGE = (0.0, 255.0)


def _as_inputs(element: Any) -> tuple[np.ndarray, Any]:
    """(inputs, labels or None) of one element of a dataset / iterable: an array or an ``(x, y[, w])`` tuple."""
    if isinstance(element, (tuple, list)) and element and not isinstance(element[0], (int, float)):
        return np.asarray(element[0]), (np.asarray(element[1]) if len(element) > 1 else None)
    if isinstance(element, Mapping):
        raise TypeError("Dataset elements must be arrays or (x, y) tuples, not dicts.")
    return np.asarray(element), None


def batched(name: str, x: np.ndarray, example_shape: tuple[int, ...], grey_to_rgb: bool = False) -> np.ndarray:
    """``x`` as a batch of examples of ``example_shape`` (a single example gets a batch axis).

    With ``grey_to_rgb`` (an RGB file made from a model trained on 1-channel images), 1-channel images are accepted
    for a 3-channel ``example_shape`` and repeated on the three channels (R = G = B = grey).
    """
    if grey_to_rgb and example_shape[-1:] == (3,) and x.shape[-1:] == (1,) and x.ndim >= len(example_shape):
        x = np.repeat(x, 3, axis=-1)
    if tuple(x.shape) == example_shape:
        return x[None]
    if tuple(x.shape[1:]) != example_shape:
        raise ValueError(
            f"`{name}` must hold inputs of shape {example_shape} (one example) or (batch, *{example_shape}) for this "
            f"model. Received an element of shape {tuple(x.shape)}"
        )
    return x


def check_pixels(name: str, x: np.ndarray) -> np.ndarray:
    """``x`` if its values lie in :data:`PIXEL_RANGE`, else a ValueError saying that the file takes raw pixels."""
    if x.size and (float(np.min(x)) < PIXEL_RANGE[0] or float(np.max(x)) > PIXEL_RANGE[1]):
        raise ValueError(
            f"`{name}` must hold pixels 0..255 (RGB, or grey for a model trained on 1-channel images): a .tflite with "
            "metadata takes camera pixels and normalises inside. Received values in "
            f"[{float(np.min(x)):.4g}, {float(np.max(x)):.4g}] (already preprocessed?); pass the images before "
            "preprocessing, or metadata=False to convert the model as it is."
        )
    return x


def iter_batches(
    name: str, data: Any, example_shape: tuple[int, ...], grey_to_rgb: bool = False
) -> Iterator[tuple[np.ndarray, Any]]:
    """(batch, labels or None) pairs from an array, an ``(x, y)`` tuple of arrays, a dataset or an iterable.

    Args:
        name: The argument's name, for error messages.
        data: See the module docstring.
        example_shape: One example's shape (the model input without the batch axis).
        grey_to_rgb: Accept 1-channel images for a 3-channel ``example_shape`` (see :func:`batched`).

    Raises:
        ValueError: ``data`` is None or an element has the wrong shape.
        TypeError: ``data`` is of another type (a str, a dict, a number...).

    Example:
        >>> [x.shape for x, _ in iter_batches("data", np.zeros((5, 2)), (2,))]
        [(5, 2)]
    """
    if data is None:
        raise ValueError(f"`{name}` is None; pass an array, a tf.data.Dataset or an iterable of batches.")
    if isinstance(data, np.ndarray) or (hasattr(data, "shape") and hasattr(data, "dtype")):
        yield batched(name, np.asarray(data), example_shape, grey_to_rgb), None
        return
    labelled = isinstance(data, tuple) and len(data) == 2
    if labelled and np.ndim(data[0]) == len(example_shape) + 1 and np.ndim(data[1]) <= 2:
        yield batched(name, np.asarray(data[0]), example_shape, grey_to_rgb), np.asarray(data[1])
        return
    if isinstance(data, (str, bytes, Mapping)) or not isinstance(data, Iterable):
        raise TypeError(
            f"Expected `{name}` to be an array, a tf.data.Dataset or an iterable of batches (arrays or (x, y) tuples). "
            f"Received: {name} of type {type(data).__name__}"
        )
    for element in data:
        x, y = _as_inputs(element)
        yield batched(name, x, example_shape, grey_to_rgb), y


@dataclasses.dataclass
class RepresentativeData:
    """The converter's ``representative_dataset``: up to ``steps`` examples regrouped into batches of ``batch_size``.

    It counts the examples given, and keeps an error raised while reading ``data`` so that it reaches the caller as
    itself rather than wrapped in the converter's error.

    Attributes:
        data: The caller's representative data (module docstring).
        example_shape: One example's shape.
        dtype: The model's input dtype.
        steps: Most examples used (whole batches only).
        batch_size: The batch dimension of the ``.tflite`` input.
        pixels: The converted model takes pixels 0..255 (a file with metadata): values outside are refused
            (:func:`check_pixels`), and 1-channel images are repeated to RGB for an RGB input (:func:`batched`).
        count: Examples handed to the converter so far.
        error: A ValueError/TypeError raised while reading ``data``, or None.
    """

    data: Any
    example_shape: tuple[int, ...]
    dtype: str
    steps: int
    batch_size: int
    pixels: bool = False
    count: int = 0
    error: BaseException | None = None

    def __call__(self) -> Iterator[list[np.ndarray]]:
        try:
            batches = iter_batches("representative_data", self.data, self.example_shape, grey_to_rgb=self.pixels)
            if self.pixels:
                batches = ((check_pixels("representative_data", batch), y) for batch, y in batches)
            examples = (example for batch, _ in batches for example in batch)
            limited = itertools.islice(examples, max(self.steps // self.batch_size, 1) * self.batch_size)
            while True:
                group = list(itertools.islice(limited, self.batch_size))
                if len(group) < self.batch_size:
                    return
                batch = np.stack(group).astype(self.dtype)
                if batch.dtype.kind == "f" and not np.all(np.isfinite(batch)):
                    # NaN calibrates a range of NaN: the converter then writes a float32-input file that outputs
                    # garbage (issue #13).
                    bad = self.count + int(np.flatnonzero(~np.isfinite(batch).reshape(len(batch), -1).all(1))[0])
                    raise ValueError(
                        f"`representative_data` holds non-finite values (NaN or infinity), first in example {bad}: "
                        "calibration needs finite model inputs."
                    )
                self.count += self.batch_size
                yield [batch]
        except (ValueError, TypeError) as error:
            self.error = error
            raise
