"""Runs a ``.tflite`` in the LiteRT interpreter next to the Keras model it came from (:func:`verify_tflite`).

A file written with metadata (``to_tflite(..., metadata=True)``) takes RGB pixels 0..255 with the preprocessing
inside; it is verified on pixels, against the Keras model wrapped the same way (``keras_archs.export.mobile``), so the
model passed is the one given to ``to_tflite`` (or ``TFLiteExport.keras_model``, which is already wrapped).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import time
from typing import Any

import numpy as np

from keras_archs.export import _arguments
from keras_archs.export import metadata as metadata_lib
from keras_archs.export._litert import LiteRTRunner
from keras_archs.export.calibration import batched, check_pixels, iter_batches

__all__ = ["TFLiteVerification", "verify_tflite"]


@dataclasses.dataclass(frozen=True)
class TFLiteVerification:
    """What :func:`verify_tflite` measured.

    Attributes:
        path: The ``.tflite`` file run.
        examples: Examples compared.
        max_abs_diff: Largest absolute difference between TFLite (dequantised) and Keras outputs.
        mean_abs_diff: Mean absolute difference over all output values.
        top1_agreement: Fraction of examples whose arg-max class is the same in both.
        tflite_accuracy: Top-1 accuracy of the TFLite model against the labels; None without labels.
        keras_accuracy: Top-1 accuracy of the Keras model against the labels; None without labels.
        interpreter: "ai_edge_litert" or "tf.lite".
        seconds: Wall time of the comparison.
    """

    path: pathlib.Path
    examples: int
    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float
    tflite_accuracy: float | None
    keras_accuracy: float | None
    interpreter: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {**dataclasses.asdict(self), "path": str(self.path)}


def _class_ids(labels: np.ndarray, n: int, classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == classes:
        labels = labels.argmax(axis=1)  # one-hot
    labels = labels.reshape(-1)
    if len(labels) != n:
        raise ValueError(f"`labels` must hold one class per example: {n} examples, {len(labels)} labels.")
    return labels.astype(np.int64)


def takes_pixels(content: bytes) -> bool:
    """Whether a ``.tflite`` carries this package's image metadata: RGB pixels 0..255, normalization mean 0 / std 1
    (float input) or none (uint8 input)."""
    embedded, _ = metadata_lib.read(content)
    if embedded is None:
        return False
    try:
        image = embedded["subgraph_metadata"][0]["input_tensor_metadata"][0]
    except (KeyError, IndexError):
        return False
    units = image.get("process_units") or []
    identity = all(unit["options"] == ("NormalizationOptions", {"mean": [0.0], "std": [1.0]}) for unit in units)
    return identity and image.get("stats") == {"max": [255.0], "min": [0.0]}


def verify_tflite(
    path: str | os.PathLike,
    model: Any,
    data: Any,
    labels: Any = None,
    *,
    preprocessing: str | None = None,
    max_examples: int | None = None,
    num_threads: int | None = None,
    keras_batch_size: int = 256,
) -> TFLiteVerification:
    """Runs a ``.tflite`` in the LiteRT interpreter and compares it with the Keras model on the same inputs.

    Inputs are quantised with the file's input scale and zero point for int8/uint8 I/O (exactly as the interpreter's
    QUANTIZE kernel would), outputs dequantised. A file with metadata takes pixels (module docstring): ``data`` are
    then RGB pixels 0..255 (grey images for a model trained on 1-channel images, repeated to RGB), and ``model`` is
    wrapped as ``to_tflite`` wrapped it.

    Args:
        path: The ``.tflite`` file (e.g. ``to_tflite(...).path``).
        model: The Keras model it was converted from.
        data: Model inputs (pixels for a file with metadata): an array ``(N, *input_shape)`` (or one example), an
            ``(x, y)`` tuple of arrays, a ``tf.data.Dataset`` or an iterable of batches; elements may be ``(x, y)``
            tuples, whose ``y`` (class ids or one-hot) give the accuracy.
        labels: Class ids (or one-hot rows) for an array ``data``, for the accuracy.
        preprocessing: What ``model``'s input expects, when ``model`` does not say it (see ``to_tflite``); used to
            wrap it for a file with metadata.
        max_examples: Compare at most this many examples.
        num_threads: Interpreter threads (None: its default).
        keras_batch_size: Batch size of the Keras forward passes.

    Returns:
        A :class:`TFLiteVerification`: examples, max/mean abs difference, top-1 agreement, accuracies with labels.

    Raises:
        ValueError: If ``data`` holds no examples or has the wrong shape, labels do not fit, ``max_examples`` is
            not a positive integer; for a file with metadata, ``data`` that are not pixels 0..255 or a model whose
            preprocessing is unknown.
        TypeError: If ``data`` is of an unsupported type, or ``labels`` come with a non-array ``data``.
        FileNotFoundError: If ``path`` does not exist.

    Example:
        >>> result = verify_tflite("fmnist.tflite", model, (test_images, test_labels))  # doctest: +SKIP
        >>> result.top1_agreement, result.tflite_accuracy, result.keras_accuracy  # doctest: +SKIP
        (1.0, 0.939, 0.939)
    """
    started = time.perf_counter()
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No .tflite file at path={str(path)!r}")
    if max_examples is not None:
        max_examples = _arguments.check_positive_int("max_examples", max_examples)
    pixels = takes_pixels(path.read_bytes())
    if pixels:
        from keras_archs.export import mobile

        model = mobile.mobile_model(model, preprocessing)
    example_shape, dtype, _ = _arguments.model_io(model)
    if labels is not None and not hasattr(data, "shape"):
        raise TypeError(
            "`labels` goes with an array `data`; a dataset or iterable carries its labels as (x, y) elements. "
            f"Received: data of type {type(data).__name__} with labels."
        )
    runner = LiteRTRunner(model_path=path, num_threads=num_threads)
    batches = (
        iter_batches("data", data, example_shape, grey_to_rgb=pixels)
        if labels is None
        else iter([(batched("data", np.asarray(data), example_shape, pixels), np.asarray(labels))])
    )
    if pixels:
        batches = ((check_pixels("data", x), y) for x, y in batches)
    totals = {"n": 0, "max": 0.0, "sum": 0.0, "values": 0, "agree": 0, "tfl": 0, "keras": 0, "labelled": 0}
    for x, y in batches:
        if max_examples is not None:
            x = x[: max_examples - totals["n"]]
        if not len(x):
            break
        x = x.astype(dtype)
        reference = np.concatenate(
            [
                np.asarray(_arguments.call_model(model, x[i : i + keras_batch_size]))
                for i in range(0, len(x), keras_batch_size)
            ]
        )
        result = runner(x).reshape(reference.shape)
        difference = np.abs(result.astype(np.float64) - reference)
        totals["max"] = max(totals["max"], float(difference.max()))
        totals["sum"] += float(difference.sum())
        totals["values"] += difference.size
        flat_ref, flat_res = reference.reshape(len(x), -1), result.reshape(len(x), -1)
        totals["agree"] += int((flat_ref.argmax(1) == flat_res.argmax(1)).sum())
        if y is not None:
            ids = _class_ids(y[: len(x)] if np.ndim(y) else y, len(x), flat_ref.shape[1])
            totals["tfl"] += int((flat_res.argmax(1) == ids).sum())
            totals["keras"] += int((flat_ref.argmax(1) == ids).sum())
            totals["labelled"] += len(x)
        totals["n"] += len(x)
        if max_examples is not None and totals["n"] >= max_examples:
            break
    n = totals["n"]
    if n == 0:
        raise ValueError("`data` gave no examples to verify on.")
    labelled = totals["labelled"] == n
    return TFLiteVerification(
        path=path,
        examples=n,
        max_abs_diff=totals["max"],
        mean_abs_diff=totals["sum"] / max(totals["values"], 1),
        top1_agreement=totals["agree"] / n,
        tflite_accuracy=totals["tfl"] / n if labelled else None,
        keras_accuracy=totals["keras"] / n if labelled else None,
        interpreter=runner.name,
        seconds=time.perf_counter() - started,
    )
