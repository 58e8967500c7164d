"""Keras model -> TensorFlow Lite for phones: convert, verify in the LiteRT interpreter, ship labels and a model card.

* :func:`to_tflite` writes ``<stem>.tflite`` with builtin ops only (``TFLITE_BUILTINS`` / ``TFLITE_BUILTINS_INT8``;
  never ``SELECT_TF_OPS``: Android builds without Flex), plus ``<stem>.labels.txt`` (one class name per line, in output
  order) and ``<stem>.json`` (input shape/dtype/normalisation, int8 scale and zero point, labels, mode, bytes,
  sha256). Modes: ``"float32"``, ``"float16"`` (fp16 weights), ``"dynamic"`` (int8 weights, float activations) and
  ``"int8"`` (full integer, calibrated on ``representative_data``; I/O ``int8``, ``uint8`` or ``float32``).
* :func:`verify_tflite` runs the file in ``ai_edge_litert`` (``tf.lite.Interpreter`` when LiteRT is not installed) and
  compares it with the Keras model: max/mean abs difference of the outputs, top-1 agreement, accuracy given labels.
* :func:`add_cli_parser` registers ``keras-archs export``.

Conversion route, measured here (TF 2.21, Keras 3.15, 2 CPU cores): a batch-``batch_size`` ``tf.function`` of
``model(x, training=False)`` given to ``TFLiteConverter.from_concrete_functions``, with the ``tf.Variable``s behind the
Keras variables held by a ``tf.Module`` so that the converter freezes them into constants. It gives the same ops and
outputs as ``model.export()`` to a SavedModel followed by ``from_saved_model`` (files differ by 12 bytes of signature
names) in about half the time: SqueezeNet 1.1 at 224 1.4 s vs 2.7 s, MobileNet 2.9 s vs 6.0 s, InceptionResNetV2 at
75 px 38 s vs 73 s. Handing the Keras model itself to the converter as the trackable object does not work: the
variables then stay ``VAR_HANDLE``/``READ_VARIABLE`` ops that nothing initialises, and the outputs are NaN.

Example:
    >>> import keras_archs
    >>> from keras_archs.export import to_tflite, verify_tflite
    >>> model = keras_archs.SqueezeNet(version="1.1", weights="fashion_mnist")  # doctest: +SKIP
    >>> result = to_tflite(model, "fmnist_int8.tflite", mode="int8", io_dtype="uint8",
    ...                    representative_data=train_images, labels="fashion_mnist")  # doctest: +SKIP
    >>> verify_tflite(result.path, model, (test_images, test_labels)).tflite_accuracy  # doctest: +SKIP
    0.9386
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import itertools
import json
import math
import os
import pathlib
import re
import tempfile
import time
import warnings
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

__all__ = [
    "DEFAULT_CALIBRATION_STEPS",
    "IO_DTYPES",
    "LABEL_SETS",
    "MODES",
    "PREPROCESSING_MODES",
    "TFLiteConversionError",
    "TFLiteExport",
    "TFLiteVerification",
    "TensorInfo",
    "add_cli_parser",
    "card_path_for",
    "dequantize_output",
    "describe_preprocessing",
    "interpreter_class",
    "labels_path_for",
    "quantize_input",
    "resolve_labels",
    "run_export",
    "to_tflite",
    "verify_tflite",
]

MODES = ("float32", "float16", "dynamic", "int8")
IO_DTYPES = ("int8", "uint8", "float32")
PREPROCESSING_MODES = ("caffe", "squeezenet_caffe", "tf", "torch", "raw")
LABEL_SETS = ("imagenet", "fashion_mnist", "cifar10")
# Calibration samples for full-integer quantisation. The TFLite post-training quantisation guide suggests "around
# 100-500" representative samples; 200 calibrate SqueezeNet on Fashion-MNIST to within 0.2 points of float accuracy
# (docs/benchmarks.md).
DEFAULT_CALIBRATION_STEPS = 200
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# Ops that only move data between integer and float; they do not count as float computation in an int8 model.
_BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE", "DELEGATE"})
# Converter message for an op without builtin kernel (TF 2.21: "'tf.Igamma' op is neither a custom op nor a flex op").
_UNSUPPORTED_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")


class TFLiteConversionError(ValueError):
    """The model cannot be converted with builtin TFLite ops only.

    Attributes:
        ops: The TensorFlow ops without a builtin kernel (e.g. ``("Igamma",)``); empty when the converter failed for
            another reason (its message is in the error text).
    """

    def __init__(self, message: str, ops: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.ops = tuple(ops)


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """An input or output tensor of a ``.tflite`` file, as the interpreter reports it.

    Attributes:
        name: Tensor name in the flatbuffer.
        shape: Static shape, batch dimension first.
        dtype: NumPy dtype name ("float32", "int8", "uint8").
        scale: Quantisation scale for int8/uint8 tensors (``real = scale * (q - zero_point)``), else None.
        zero_point: Quantisation zero point for int8/uint8 tensors, else None.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> "TensorInfo":
        scale, zero_point = detail["quantization"]
        quantized = scale != 0.0
        return cls(
            name=str(detail["name"]),
            shape=tuple(int(d) for d in detail["shape"]),
            dtype=np.dtype(detail["dtype"]).name,
            scale=float(scale) if quantized else None,
            zero_point=int(zero_point) if quantized else None,
        )


@dataclasses.dataclass(frozen=True)
class TFLiteExport:
    """What :func:`to_tflite` wrote.

    Attributes:
        path: The ``.tflite`` file.
        bytes: Its size in bytes.
        sha256: Its sha256 (hex).
        mode: "float32", "float16", "dynamic" or "int8".
        io_dtype: dtype of the model's input and output tensors.
        input: The input tensor (shape with the batch dimension, dtype, int8 scale/zero point).
        output: The output tensor.
        labels_path: The labels file, or None when the output is not a class vector.
        card_path: The JSON card.
        float_ops: For ``mode="int8"``: builtin ops that still compute in float32 (no int8 kernel, e.g. ``POW`` in the
            Caffe LRN), empty when the model is integer-only; None for the float modes.
        calibration_examples: Examples the int8 calibration used (0 for other modes).
        seconds: Conversion wall time.
    """

    path: pathlib.Path
    bytes: int
    sha256: str
    mode: str
    io_dtype: str
    input: TensorInfo
    output: TensorInfo
    labels_path: pathlib.Path | None
    card_path: pathlib.Path
    float_ops: tuple[str, ...] | None
    calibration_examples: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (paths as strings)."""
        data = dataclasses.asdict(self)
        for key in ("path", "labels_path", "card_path"):
            data[key] = None if data[key] is None else str(data[key])
        return data


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


# --- sidecar names -----------------------------------------------------------------------------------------------


def _stem(path: pathlib.Path) -> pathlib.Path:
    return path.with_suffix("")


def labels_path_for(path: str | os.PathLike) -> pathlib.Path:
    """``model.tflite`` -> ``model.labels.txt`` (beside it)."""
    base = _stem(pathlib.Path(path))
    return base.with_name(base.name + ".labels.txt")


def card_path_for(path: str | os.PathLike) -> pathlib.Path:
    """``model.tflite`` -> ``model.json`` (beside it)."""
    return _stem(pathlib.Path(path)).with_suffix(".json")


# --- argument checks ---------------------------------------------------------------------------------------------


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"Expected `{name}` to be one of {', '.join(map(repr, choices))}. Received: {name}={value!r}")
    return value


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Expected `{name}` to be a positive integer. Received: {name}={value!r}")
    return int(value)


def _check_io_dtype(mode: str, io_dtype: Any) -> str:
    if io_dtype is None:
        return "int8" if mode == "int8" else "float32"
    _check_choice("io_dtype", io_dtype, IO_DTYPES)
    if mode != "int8" and io_dtype != "float32":
        raise ValueError(
            f"io_dtype={io_dtype!r} needs mode='int8' (integer inputs need a fully quantised model); mode={mode!r} "
            "accepts only io_dtype='float32' (or None)."
        )
    return io_dtype


def _check_tflite_path(path: Any) -> pathlib.Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"Expected `path` to be a str or os.PathLike. Received: path={path!r} of type {type(path).__name__}"
        )
    target = pathlib.Path(path)
    if target.suffix.lower() != ".tflite":
        raise ValueError(
            "Expected `path` to end with '.tflite' (the labels and card files are named after it). "
            f"Received: path={str(path)!r}"
        )
    return target


def _model_io(model: Any) -> tuple[tuple[int, ...], str, str]:
    """(example shape without the batch axis, input dtype, input name) of a single-input, single-output model."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected `model` to be a keras.Model. Received: model of type {type(model).__name__}")
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    if not inputs or not outputs or len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"to_tflite converts models with exactly one input and one output (functional models). Received: model "
            f"{model.name!r} with {len(inputs or [])} input(s) and {len(outputs or [])} output(s)."
        )
    shape = tuple(inputs[0].shape[1:])
    if any(dim is None for dim in shape):
        raise ValueError(
            f"A .tflite for phones needs a fixed input size. Received: model {model.name!r} with input shape "
            f"{tuple(inputs[0].shape)}; build it with input_shape=(height, width, channels)."
        )
    name = re.sub(r"\W", "_", str(inputs[0].name)) or "input"
    return tuple(int(d) for d in shape), str(inputs[0].dtype), name


# --- labels and preprocessing ------------------------------------------------------------------------------------


def _label_set(name: str) -> list[str]:
    if name == "imagenet":
        from keras_archs import imagenet_utils

        return [label for _, label in imagenet_utils.class_names()]
    if name == "fashion_mnist":
        return list(importlib.import_module("keras_archs.data.fashion_mnist").CLASS_NAMES)
    return list(importlib.import_module("keras_archs.data.cifar").CIFAR10_CLASS_NAMES)


def resolve_labels(labels: Any, num_classes: int | None) -> tuple[list[str] | None, str | None]:
    """The class names to ship, in output order, and where they came from.

    Args:
        labels: None (1000 outputs: the ImageNet names of ``keras_archs.imagenet_utils``; other class vectors: the class
            indices "0", "1", ...), a label set name (one of :data:`LABEL_SETS`), the path of a text file with one
            name per line, or a sequence of names.
        num_classes: Length of the model's class vector; None when the output is not a class vector.

    Returns:
        ``(names, source)``; ``(None, None)`` when there is no class vector and no ``labels``.

    Raises:
        ValueError: If the number of names differs from ``num_classes``, a name is empty or holds a line break, or
            the output is not a class vector but ``labels`` were given.
        TypeError: If ``labels`` is none of the accepted types.

    Example:
        >>> resolve_labels("fashion_mnist", 10)[0][:2]
        ['T-shirt/top', 'Trouser']
        >>> resolve_labels(None, 3)
        (['0', '1', '2'], 'class indices (no names given)')
    """
    if labels is None:
        if num_classes is None:
            return None, None
        if num_classes == 1000:
            return _label_set("imagenet"), "imagenet"
        return [str(i) for i in range(num_classes)], "class indices (no names given)"
    if isinstance(labels, str) and labels in LABEL_SETS:
        names, source = _label_set(labels), labels
    elif isinstance(labels, (str, os.PathLike)):
        path = pathlib.Path(labels)
        if not path.is_file():
            raise ValueError(
                f"Expected `labels` to be one of {', '.join(map(repr, LABEL_SETS))}, a file with one class name per "
                f"line, or a sequence of names. Received: labels={str(labels)!r} (no such file)"
            )
        names, source = path.read_text(encoding="utf-8").splitlines(), f"file {path.name}"
        while names and not names[-1].strip():
            names.pop()
    elif isinstance(labels, Sequence) and all(isinstance(name, str) for name in labels):
        names, source = list(labels), "given"
    else:
        raise TypeError(
            f"Expected `labels` to be None, a label set name, a path or a sequence of str. Received: labels of type "
            f"{type(labels).__name__}"
        )
    if num_classes is None:
        raise ValueError(f"`labels` were given but the model's output is not a class vector (labels source: {source}).")
    if len(names) != num_classes:
        raise ValueError(f"The model has {num_classes} outputs but `labels` ({source}) has {len(names)} names.")
    bad = [name for name in names if not name.strip() or "\n" in name or "\r" in name]
    if bad:
        raise ValueError(f"Class names must be non-empty single lines. Received: {bad[0]!r} in labels ({source}).")
    return names, source


def _normalising_layer(model: Any) -> Any:
    """The Rescaling layer right after the input (``raw_pixel_model``), or None."""
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if layers and isinstance(layers[0], keras.layers.Rescaling):
        return layers[0]
    return None


def _affine_constants(mode: str) -> tuple[list[float], list[float]]:
    """Per-channel (mean, std) on the 0..255 scale such that ``preprocess(x) = (x[order] - mean) / std``."""
    from keras_archs.data import pipeline

    # Probed from the preprocessing itself, so the card cannot drift from it. It computes in float32: 4 decimals are
    # exact for every mode's constants (at most 3 decimals on the 0..255 scale).
    black = np.asarray(pipeline.preprocess(np.zeros((1, 3), np.float32), mode), np.float64)[0]
    white = np.asarray(pipeline.preprocess(np.full((1, 3), 255.0, np.float32), mode), np.float64)[0]
    std = 255.0 / (white - black)
    mean = -black * std
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


def describe_preprocessing(preprocessing: str | None, model: Any = None) -> dict[str, Any]:
    """What the model expects as input, for the card.

    Args:
        preprocessing: A registry preprocessing mode ("caffe", "squeezenet_caffe", "tf", "torch"), "raw" (pixels
            0..255 go in as they are), or None: "raw" when ``model`` normalises inside (a ``Rescaling`` layer right
            after its input, as the Fashion-MNIST models of ``keras_archs.train``), else unknown.
        model: The Keras model, to find such a layer.

    Returns:
        A dict with ``mode``, ``description`` and, where known, ``channel_order``, ``mean``/``std`` (0..255 scale, in
        the model's channel order) and the ``value_range`` of the model's input.

    Raises:
        ValueError: If ``preprocessing`` is not one of :data:`PREPROCESSING_MODES` or None.

    Example:
        >>> card = describe_preprocessing("tf")
        >>> card["mean"], card["std"], card["value_range"]
        ([127.5, 127.5, 127.5], [127.5, 127.5, 127.5], [-1.0, 1.0])
    """
    if preprocessing is not None:
        _check_choice("preprocessing", preprocessing, PREPROCESSING_MODES)
    layer = _normalising_layer(model) if model is not None else None
    if preprocessing is None and layer is None:
        return {"mode": None, "description": "unknown: pass preprocessing= (e.g. the registry's mode) to record it"}
    if preprocessing in (None, "raw"):
        description = "raw pixels 0..255, fed as they are"
        if layer is not None:
            scale, offset = float(layer.scale), float(layer.offset)
            description = (
                f"raw pixels 0..255; the model normalises inside (Rescaling layer {layer.name!r}: "
                f"x * {scale:.6g} {'-' if offset < 0 else '+'} {abs(offset):.6g})"
            )
        return {"mode": "raw", "description": description, "value_range": [0.0, 255.0]}
    mean, std = _affine_constants(preprocessing)
    order = "BGR" if "caffe" in preprocessing else "RGB"
    low = min((0.0 - m) / s for m, s in zip(mean, std))
    high = max((255.0 - m) / s for m, s in zip(mean, std))
    return {
        "mode": preprocessing,
        "description": "RGB pixels 0..255"
        + (", channels reversed to BGR" if order == "BGR" else "")
        + f", then (x - mean) / std per channel (mean and std in {order} order)",
        "channel_order": order,
        "mean": mean,
        "std": std,
        "value_range": [round(low, 4), round(high, 4)],
    }


# --- representative data -----------------------------------------------------------------------------------------


def _as_inputs(element: Any) -> tuple[np.ndarray, Any]:
    """(inputs, labels or None) of one element of a dataset / iterable: an array or an ``(x, y[, w])`` tuple."""
    if isinstance(element, (tuple, list)) and element and not isinstance(element[0], (int, float)):
        return np.asarray(element[0]), (np.asarray(element[1]) if len(element) > 1 else None)
    if isinstance(element, Mapping):
        raise TypeError("Dataset elements must be arrays or (x, y) tuples, not dicts.")
    return np.asarray(element), None


def _batched(name: str, x: np.ndarray, example_shape: tuple[int, ...]) -> np.ndarray:
    """``x`` as a batch of examples of ``example_shape`` (a single example gets a batch axis)."""
    if tuple(x.shape) == example_shape:
        return x[None]
    if tuple(x.shape[1:]) != example_shape:
        raise ValueError(
            f"`{name}` must hold inputs of shape {example_shape} (one example) or (batch, *{example_shape}) for this "
            f"model. Received an element of shape {tuple(x.shape)}"
        )
    return x


def _iter_batches(name: str, data: Any, example_shape: tuple[int, ...]) -> Iterator[tuple[np.ndarray, Any]]:
    """(batch, labels or None) pairs from an array, an ``(x, y)`` tuple of arrays, a dataset or an iterable."""
    if data is None:
        raise ValueError(f"`{name}` is None; pass an array, a tf.data.Dataset or an iterable of batches.")
    if isinstance(data, np.ndarray) or (hasattr(data, "shape") and hasattr(data, "dtype")):
        yield _batched(name, np.asarray(data), example_shape), None
        return
    labelled = isinstance(data, tuple) and len(data) == 2
    if labelled and np.ndim(data[0]) == len(example_shape) + 1 and np.ndim(data[1]) <= 2:
        yield _batched(name, np.asarray(data[0]), example_shape), np.asarray(data[1])
        return
    if isinstance(data, (str, bytes, Mapping)) or not isinstance(data, Iterable):
        raise TypeError(
            f"Expected `{name}` to be an array, a tf.data.Dataset or an iterable of batches (arrays or (x, y) tuples). "
            f"Received: {name} of type {type(data).__name__}"
        )
    for element in data:
        x, y = _as_inputs(element)
        yield _batched(name, x, example_shape), y


@dataclasses.dataclass
class _Calibration:
    """The converter's ``representative_dataset``: up to ``steps`` examples regrouped into batches of ``batch_size``.

    It counts the examples given, and keeps an error raised while reading ``data`` so that it reaches the caller as
    itself rather than wrapped in the converter's error.
    """

    data: Any
    example_shape: tuple[int, ...]
    dtype: str
    steps: int
    batch_size: int
    count: int = 0
    error: BaseException | None = None

    def __call__(self) -> Iterator[list[np.ndarray]]:
        try:
            batches = _iter_batches("representative_data", self.data, self.example_shape)
            examples = (example for batch, _ in batches for example in batch)
            limited = itertools.islice(examples, max(self.steps // self.batch_size, 1) * self.batch_size)
            while True:
                group = list(itertools.islice(limited, self.batch_size))
                if len(group) < self.batch_size:
                    return
                self.count += self.batch_size
                yield [np.stack(group).astype(self.dtype)]
        except (ValueError, TypeError) as error:
            self.error = error
            raise


# --- conversion --------------------------------------------------------------------------------------------------


def _call(model: Any, x: Any) -> Any:
    """``model(x, training=False)``, without Keras' warning for models whose input structure is a one-element list."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match", category=UserWarning)
        return model(x, training=False)


def _backing_variable(variable: Any) -> Any:
    import tensorflow as tf

    value = variable.value  # the TF backend's keras.Variable wraps a tf.Variable (outside an autocast scope)
    if not isinstance(value, tf.Variable):
        raise TypeError(f"Variable {variable.path!r} is not backed by a tf.Variable ({type(value).__name__}).")
    return value


def _make_converter(model: Any, batch_shape: tuple[int, ...], dtype: str, input_name: str) -> Any:
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"TFLite conversion needs the TensorFlow backend; Keras runs on {keras.backend.backend()!r}."
        )
    holder = tf.Module()
    # Tracked here, the variables are frozen into constants by the converter (see the module docstring).
    holder.frozen_variables = [_backing_variable(v) for v in model.variables]

    @tf.function(input_signature=[tf.TensorSpec(batch_shape, dtype, name=input_name)], autograph=False)
    def serve(x: Any) -> Any:
        return _call(model, x)

    return tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], holder)


def _configure(converter: Any, mode: str, io_dtype: str, representative: Any) -> None:
    import tensorflow as tf

    ops = tf.lite.OpsSet
    converter.target_spec.supported_ops = [ops.TFLITE_BUILTINS_INT8 if mode == "int8" else ops.TFLITE_BUILTINS]
    if mode == "float32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        converter.representative_dataset = representative
        converter.inference_input_type = tf.as_dtype(io_dtype)
        converter.inference_output_type = tf.as_dtype(io_dtype)


def _convert(converter: Any, model_name: str, mode: str) -> bytes:
    try:
        return converter.convert()
    except Exception as error:  # tf.lite raises ConverterError (tensorflow.lite.python.convert_phase), not public
        text = str(error)
        ops = sorted(set(_UNSUPPORTED_OP.findall(text)))
        if ops:
            raise TFLiteConversionError(
                f"Model {model_name!r} cannot be converted to TFLite (mode={mode!r}) with builtin ops only: "
                f"TensorFlow op(s) {', '.join(ops)} have no builtin TFLite kernel. SELECT_TF_OPS (Flex) is not used "
                "because Android apps ship without it; replace the layer that uses them.",
                ops,
            ) from error
        tail = " ".join(line.strip() for line in text.strip().splitlines()[-6:])
        raise TFLiteConversionError(f"TFLite conversion of {model_name!r} (mode={mode!r}) failed: {tail}") from error


def interpreter_class() -> tuple[type, str]:
    """The LiteRT interpreter class and its name: ``ai_edge_litert``'s, else ``tf.lite.Interpreter``.

    Example:
        >>> cls, name = interpreter_class()
        >>> name in ("ai_edge_litert", "tf.lite")
        True
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite"
    return Interpreter, "ai_edge_litert"


def _op_names(interpreter: Any) -> list[tuple[str, list[str]]] | None:
    """(op name, result dtype names) of every op, or None when this interpreter cannot list them."""
    details = getattr(interpreter, "_get_ops_details", None)  # private, but in both LiteRT and tf.lite
    if details is None:
        return None
    result = []
    for op in details():
        types = [np.dtype(t).name for t in op.get("result_types", []) if t is not np.object_]
        result.append((op["op_name"], types))
    return result


def _inspect(content: bytes, mode: str, model_name: str) -> tuple[TensorInfo, TensorInfo, tuple[str, ...] | None]:
    cls, _ = interpreter_class()
    interpreter = cls(model_content=content)
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    ops = _op_names(interpreter)
    if ops is not None and any(name in ("VAR_HANDLE", "READ_VARIABLE") for name, _ in ops):
        raise TFLiteConversionError(
            f"TFLite conversion of {model_name!r} left variables unfrozen (VAR_HANDLE ops): its call reads a variable "
            "that model.variables does not list."
        )
    float_ops = None
    if mode == "int8" and ops is not None:
        float_ops = tuple(sorted({name for name, types in ops if name not in _BOUNDARY_OPS and "float32" in types}))
    return TensorInfo.from_detail(inputs[0]), TensorInfo.from_detail(outputs[0]), float_ops


# --- writing -----------------------------------------------------------------------------------------------------


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_atomically(files: Mapping[pathlib.Path, bytes]) -> None:
    """Writes every file to a temporary name beside it, then renames them in order; nothing is left on failure."""
    temporaries: list[tuple[str, pathlib.Path]] = []
    replaced: list[pathlib.Path] = []
    try:
        for target, content in files.items():
            descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
            temporaries.append((temporary, target))
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
            os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp's files are owner-only
        for temporary, target in temporaries:
            os.replace(temporary, target)
            replaced.append(target)
    except BaseException:
        for temporary, _ in temporaries:
            if os.path.exists(temporary):
                os.remove(temporary)
        for target in replaced:  # sidecars of a .tflite that never appeared would describe another file
            target.unlink(missing_ok=True)
        raise


def _tensor_card(info: TensorInfo) -> dict[str, Any]:
    card: dict[str, Any] = {"name": info.name, "shape": list(info.shape), "dtype": info.dtype}
    if info.scale is not None:
        card["quantization"] = {
            "scale": info.scale,
            "zero_point": info.zero_point,
            "formula": "real = scale * (q - zero_point); q = round(real / scale) + zero_point, clipped to the dtype",
        }
    return card


def _card(
    model: Any,
    target: pathlib.Path,
    content: bytes,
    digest: str,
    settings: Mapping[str, Any],
    tensors: tuple,
    labels: tuple,
    preprocessing: Mapping[str, Any],
    source: str | None,
) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    input_info, output_info, float_ops = tensors
    names, labels_source = labels
    input_card = {**_tensor_card(input_info), "preprocessing": dict(preprocessing)}
    return {
        "format": "tflite",
        "file": target.name,
        "bytes": len(content),
        "sha256": digest,
        **settings,
        "source": {"model": model.name, "from": source, "params": int(model.count_params())},
        "input": input_card,
        "output": _tensor_card(output_info),
        "labels": None
        if names is None
        else {
            "file": labels_path_for(target).name,
            "count": len(names),
            "source": labels_source,
            "order": "line i (0-based) names output unit i",
        },
        "float_ops": None if float_ops is None else list(float_ops),
        "converter": {"tensorflow": tf.__version__, "keras": keras.__version__, "ops": "builtins only (no Flex)"},
    }


def to_tflite(
    model: Any,
    path: str | os.PathLike,
    mode: str = "float32",
    representative_data: Any = None,
    io_dtype: str | None = None,
    *,
    calibration_steps: int = DEFAULT_CALIBRATION_STEPS,
    batch_size: int = 1,
    labels: Any = None,
    preprocessing: str | None = None,
    source: str | None = None,
) -> TFLiteExport:
    """Converts a Keras model to a ``.tflite`` file (builtin ops only), with a labels file and a JSON card beside it.

    Args:
        model: A single-input, single-output ``keras.Model`` with a fixed input size (TensorFlow backend).
        path: Output path, ending with ``.tflite``. ``<stem>.labels.txt`` and ``<stem>.json`` are written beside it.
            Missing parent directories are created. All three appear only once conversion succeeded (temporary files
            + ``os.replace``); nothing is left behind on failure.
        mode: ``"float32"``; ``"float16"`` (fp16 weights, half the size); ``"dynamic"`` (int8 weights, float
            activations); ``"int8"`` (full integer, calibrated on ``representative_data``).
        representative_data: Model inputs for ``mode="int8"`` (exactly what the model takes, preprocessing applied):
            an array ``(N, *input_shape)``, a ``tf.data.Dataset`` or any iterable of batches or single examples;
            ``(x, y)`` elements of a labelled dataset are accepted (``x`` is used). Batches are split into examples.
        io_dtype: dtype of the model's input and output: for ``mode="int8"`` ``"int8"`` (default), ``"uint8"`` or
            ``"float32"`` (float I/O around int8 internals); other modes accept only ``"float32"`` (default).
        calibration_steps: Most examples of ``representative_data`` used for calibration.
        batch_size: Batch dimension of the ``.tflite`` input (1 for phones).
        labels: Class names: see :func:`resolve_labels` (None: ImageNet names for 1000 outputs, else indices).
        preprocessing: What the input expects, for the card: see :func:`describe_preprocessing`.
        source: Free text naming where the model came from (registry name and weights tag, a file), for the card.

    Returns:
        A :class:`TFLiteExport` (path, bytes, sha256, mode, input/output details incl. int8 scale and zero point,
        labels and card paths, float ops left in an int8 model).

    Raises:
        TypeError: If ``model`` is not a keras.Model or ``path``/``labels``/``representative_data`` have wrong types.
        ValueError: For an unknown ``mode``/``io_dtype``/``preprocessing``, ``mode="int8"`` without
            ``representative_data`` (or with data of the wrong shape, or empty), ``representative_data`` with another
            mode, a path not ending in ``.tflite``, labels that do not fit, a model with several inputs/outputs or a
            variable input size.
        TFLiteConversionError: If an op has no builtin TFLite kernel (its ``ops`` names them) or the converter fails.
        OSError: If the files cannot be written.

    Example:
        >>> import keras_archs
        >>> model = keras_archs.get_model("CifarResNet20", weights=None)
        >>> result = to_tflite(model, "/tmp/resnet20.tflite", mode="dynamic", labels="cifar10")  # doctest: +SKIP
        >>> result.input.shape, result.labels_path.name  # doctest: +SKIP
        ((1, 32, 32, 3), 'resnet20.labels.txt')
    """
    started = time.perf_counter()
    target = _check_tflite_path(path)
    mode = _check_choice("mode", mode, MODES)
    io_dtype = _check_io_dtype(mode, io_dtype)
    calibration_steps = _check_positive_int("calibration_steps", calibration_steps)
    batch_size = _check_positive_int("batch_size", batch_size)
    if mode == "int8" and representative_data is None:
        raise ValueError(
            "mode='int8' needs `representative_data` (typical model inputs, ~100-500 examples) to calibrate the "
            "activation ranges. Received: representative_data=None. Use mode='dynamic' for int8 weights without it."
        )
    if mode != "int8" and representative_data is not None:
        raise ValueError(f"`representative_data` is only used with mode='int8'. Received: mode={mode!r} with data.")
    example_shape, dtype, input_name = _model_io(model)
    output_shape = tuple(model.outputs[0].shape[1:])
    names = resolve_labels(labels, output_shape[0] if len(output_shape) == 1 else None)
    card_preprocessing = describe_preprocessing(preprocessing, model)

    calibration = _Calibration(representative_data, example_shape, dtype, calibration_steps, batch_size)
    converter = _make_converter(model, (batch_size, *example_shape), dtype, input_name)
    _configure(converter, mode, io_dtype, calibration)
    empty = f"`representative_data` gave no examples (at least batch_size={batch_size} are needed to calibrate)."
    try:
        content = _convert(converter, model.name, mode)
    except TFLiteConversionError:
        if calibration.error is not None:
            raise calibration.error from None
        if mode == "int8" and calibration.count == 0:
            raise ValueError(empty) from None
        raise
    if mode == "int8" and calibration.count == 0:
        raise ValueError(empty)
    tensors = _inspect(content, mode, model.name)
    digest = hashlib.sha256(content).hexdigest()
    settings = {"mode": mode, "io_dtype": io_dtype, "batch_size": batch_size, "calibration_examples": calibration.count}
    card = _card(model, target, content, digest, settings, tensors, names, card_preprocessing, source)

    target.parent.mkdir(parents=True, exist_ok=True)
    files: dict[pathlib.Path, bytes] = {}
    if names[0] is not None:
        files[labels_path_for(target)] = ("\n".join(names[0]) + "\n").encode("utf-8")
    files[card_path_for(target)] = (json.dumps(card, indent=2) + "\n").encode("utf-8")
    files[target] = content  # last: a .tflite on disk means its sidecars are there too
    _write_atomically(files)
    return TFLiteExport(
        path=target,
        bytes=len(content),
        sha256=digest,
        mode=mode,
        io_dtype=io_dtype,
        input=tensors[0],
        output=tensors[1],
        labels_path=labels_path_for(target) if names[0] is not None else None,
        card_path=card_path_for(target),
        float_ops=tensors[2],
        calibration_examples=calibration.count,
        seconds=time.perf_counter() - started,
    )


# --- verification ------------------------------------------------------------------------------------------------


def quantize_input(x: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """``x`` in the dtype of an interpreter input: ``round(x / scale) + zero_point``, clipped, for int8/uint8 inputs.

    Args:
        x: Float model inputs.
        detail: The input's entry of ``interpreter.get_input_details()``.

    Returns:
        An array of the input's dtype (float inputs: ``x`` cast).

    Example:
        >>> quantize_input(np.array([0.0, 0.5, 9.0]), {"dtype": np.uint8, "quantization": (0.5, 2)})
        array([ 2,  3, 20], dtype=uint8)
    """
    dtype = np.dtype(detail["dtype"])
    if dtype.kind not in "iu":
        return x.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """Float32 values of an interpreter output: ``scale * (q - zero_point)`` for int8/uint8 outputs.

    Example:
        >>> dequantize_output(np.array([0, 128, 192], np.uint8), {"dtype": np.uint8, "quantization": (1 / 256, 0)})
        array([0.  , 0.5 , 0.75], dtype=float32)
    """
    if np.dtype(detail["dtype"]).kind not in "iu":
        return y.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return (y.astype(np.float32) - zero_point) * scale


class _TFLiteRunner:
    """Runs a static-batch ``.tflite`` on batches of any size (chunks, the last one zero-padded)."""

    def __init__(self, path: pathlib.Path, num_threads: int | None) -> None:
        cls, self.name = interpreter_class()
        self.interpreter = cls(model_path=str(path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.batch = int(self.input["shape"][0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        outputs = []
        for start in range(0, len(x), self.batch):
            chunk = x[start : start + self.batch]
            padded = np.zeros((self.batch, *chunk.shape[1:]), np.float32)
            padded[: len(chunk)] = chunk
            self.interpreter.set_tensor(self.input["index"], quantize_input(padded, self.input))
            self.interpreter.invoke()
            result = dequantize_output(self.interpreter.get_tensor(self.output["index"]), self.output)
            outputs.append(result[: len(chunk)])
        return np.concatenate(outputs)


def _class_ids(labels: np.ndarray, n: int, classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == classes:
        labels = labels.argmax(axis=1)  # one-hot
    labels = labels.reshape(-1)
    if len(labels) != n:
        raise ValueError(f"`labels` must hold one class per example: {n} examples, {len(labels)} labels.")
    return labels.astype(np.int64)


def verify_tflite(
    path: str | os.PathLike,
    model: Any,
    data: Any,
    labels: Any = None,
    *,
    max_examples: int | None = None,
    num_threads: int | None = None,
    keras_batch_size: int = 256,
) -> TFLiteVerification:
    """Runs a ``.tflite`` in the LiteRT interpreter and compares it with the Keras model on the same inputs.

    Inputs are quantised with the file's input scale and zero point for int8/uint8 I/O, outputs dequantised.

    Args:
        path: The ``.tflite`` file (e.g. ``to_tflite(...).path``).
        model: The Keras model it was converted from.
        data: Model inputs: an array ``(N, *input_shape)`` (or one example), an ``(x, y)`` tuple of arrays, a
            ``tf.data.Dataset`` or an iterable of batches; elements may be ``(x, y)`` tuples, whose ``y`` (class ids
            or one-hot) give the accuracy.
        labels: Class ids (or one-hot rows) for an array ``data``, for the accuracy.
        max_examples: Compare at most this many examples.
        num_threads: Interpreter threads (None: its default).
        keras_batch_size: Batch size of the Keras forward passes.

    Returns:
        A :class:`TFLiteVerification`: examples, max/mean abs difference, top-1 agreement, accuracies with labels.

    Raises:
        ValueError: If ``data`` holds no examples or has the wrong shape, labels do not fit, or ``max_examples`` is
            not a positive integer.
        TypeError: If ``data`` is of an unsupported type, or ``labels`` come with a non-array ``data``.
        OSError: If ``path`` cannot be read.

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
        max_examples = _check_positive_int("max_examples", max_examples)
    example_shape, dtype, _ = _model_io(model)
    if labels is not None and not hasattr(data, "shape"):
        raise TypeError(
            "`labels` goes with an array `data`; a dataset or iterable carries its labels as (x, y) elements. "
            f"Received: data of type {type(data).__name__} with labels."
        )
    runner = _TFLiteRunner(path, num_threads)
    batches = (
        _iter_batches("data", data, example_shape)
        if labels is None
        else iter([(_batched("data", np.asarray(data), example_shape), np.asarray(labels))])
    )
    totals = {"n": 0, "max": 0.0, "sum": 0.0, "values": 0, "agree": 0, "tfl": 0, "keras": 0, "labelled": 0}
    for x, y in batches:
        if max_examples is not None:
            x = x[: max_examples - totals["n"]]
        if not len(x):
            break
        x = x.astype(dtype)
        reference = np.concatenate(
            [np.asarray(_call(model, x[i : i + keras_batch_size])) for i in range(0, len(x), keras_batch_size)]
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


# --- command line ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Source:
    """A model loaded for the command line and what is known about it."""

    model: Any
    description: str
    spec: Any = None
    weights: str | None = None


def _load_archive_model(path: pathlib.Path) -> Any:
    try:
        compress = importlib.import_module("keras_archs.compress")
    except ImportError:
        compress = None
    load = getattr(compress, "load", None)
    if load is None:
        raise ValueError(
            f"MODEL={str(path)!r} is a .kadc archive, which needs keras_archs.compress.load; this installation does "
            "not have it yet. Decompress it to a .keras file first, or pass a registry name."
        )
    return load(path)


def _load_source(model: str, weights: str | None, input_size: int | None) -> _Source:
    """A registry name (built with ``weights``/``input_size``), a ``.keras`` file or a ``.kadc`` archive."""
    import keras

    import keras_archs.applications  # noqa: F401  (registers the custom layers .keras files may hold)
    from keras_archs import registry

    path = pathlib.Path(model)
    if path.suffix.lower() in (".keras", ".kadc"):
        if weights is not None or input_size is not None:
            raise ValueError(f"--weights/--input-size apply to registry names, not to the file MODEL={model!r}.")
        if not path.is_file():
            raise FileNotFoundError(f"MODEL file {model!r} does not exist.")
        if path.suffix.lower() == ".kadc":
            return _Source(_load_archive_model(path), f"archive {path.name}")
        return _Source(keras.saving.load_model(path, compile=False), f"file {path.name}")
    if path.exists():
        raise ValueError(f"Cannot read MODEL={model!r}: accepted files are .keras and .kadc; or pass a registry name.")
    spec = registry.get_spec(model)
    kwargs: dict[str, Any] = {}
    if weights is not None:
        kwargs["weights"] = None if weights.lower() == "none" else weights
    if input_size is not None:
        kwargs["input_shape"] = (input_size, input_size, 3)
    built = spec.build(**kwargs)
    tag = kwargs.get("weights", "default")
    return _Source(built, f"{spec.name} (registry), weights={tag}", spec, None if tag is None else str(tag))


def _preprocessing_for(source: _Source, given: str | None) -> str | None:
    if given is not None or source.spec is None or _normalising_layer(source.model) is not None:
        return given
    return source.spec.preprocessing


def _fashion_mnist_split(split: str, example_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    if example_shape != (28, 28, 1):
        raise ValueError(
            f"--representative fashion_mnist needs a 28x28x1 model input; this model takes {example_shape}."
        )
    images, labels, _ = importlib.import_module("keras_archs.data.fashion_mnist").load_arrays(split)
    return images.astype(np.float32), labels  # raw pixels 0..255, as the project's Fashion-MNIST models take


def _load_image_files(
    directory: pathlib.Path, example_shape: tuple[int, ...], mode: str | None, limit: int
) -> np.ndarray:
    """Images of ``directory``: centre crop (0.875 of the shorter side), resize, then ``mode``'s normalisation."""
    import keras
    import tensorflow as tf

    from keras_archs.data import pipeline

    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)[:limit]
    height, width, channels = example_shape
    images = []
    for file in files:
        image = np.asarray(keras.utils.load_img(file, color_mode="grayscale" if channels == 1 else "rgb"), np.float32)
        side = int(min(image.shape[:2]) * 0.875)  # the evaluation centre crop, 224/256 (keras_archs.data.augment)
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        crop = image[top : top + side, left : left + side]
        images.append(tf.image.resize(crop, (height, width), antialias=True).numpy())
    batch = np.stack(images)
    return batch if mode in (None, "raw") else np.asarray(pipeline.preprocess(batch, mode))


def _tfrecord_images(directory: pathlib.Path, split: str, example_shape: tuple[int, ...], mode: str | None, limit: int):
    from keras_archs import data as data_lib
    from keras_archs.data import pipeline

    dataset = data_lib.imagenet(
        split,
        batch_size=min(limit, 64),
        data_dir=directory,
        image_size=example_shape[0],
        shuffle=split == "train",
        seed=0,
    )
    images, labels = [], []
    for x, y in dataset.take(math.ceil(limit / min(limit, 64))):
        images.append(x.numpy() if mode in (None, "raw") else np.asarray(pipeline.preprocess(x, mode)))
        labels.append(y.numpy())
    return np.concatenate(images)[:limit], np.concatenate(labels)[:limit]


def _cli_data(args: argparse.Namespace, source: _Source, mode: str | None, purpose: str, limit: int):
    """(inputs, labels or None, description) for calibration (``purpose="calibrate"``) or ``--verify``."""
    example_shape = _model_io(source.model)[0]
    choice = args.representative
    if choice is None and purpose == "verify" and source.weights == "fashion_mnist":
        choice = "fashion_mnist"
    if choice == "fashion_mnist":
        split = "train" if purpose == "calibrate" else "test"
        images, labels = _fashion_mnist_split(split, example_shape)
        if purpose == "calibrate":  # a seeded sample over the whole split, every class represented
            pick = np.random.default_rng(0).permutation(len(images))[:limit]
            return images[pick], None, f"Fashion-MNIST train, {len(pick)} random images"
        return images[:limit], labels[:limit], f"Fashion-MNIST test, first {min(limit, len(images))} images"
    if choice is not None:
        directory = pathlib.Path(choice)
        if not directory.is_dir():
            raise ValueError(
                f"--representative takes 'fashion_mnist' or a directory of images or ImageNet TFRecord shards. "
                f"Received: {choice!r}"
            )
        if any(p.suffix.lower() in _IMAGE_SUFFIXES for p in directory.iterdir()):
            images = _load_image_files(directory, example_shape, mode, limit)
            return images, None, f"{len(images)} images of {directory}"
        images, labels = _tfrecord_images(
            directory, "train" if purpose == "calibrate" else "validation", example_shape, mode, limit
        )
        return images, (None if purpose == "calibrate" else labels), f"ImageNet TFRecords in {directory}"
    if purpose == "calibrate":
        return None, None, "none"
    pixels = np.random.default_rng(0).uniform(0, 255, (limit, *example_shape)).astype(np.float32)
    if mode not in (None, "raw") and example_shape[-1] == 3:
        from keras_archs.data import pipeline

        pixels = np.asarray(pipeline.preprocess(pixels, mode))
    return pixels, None, f"{limit} random images (no labels)"


def run_export(args: argparse.Namespace) -> int:
    """``keras-archs export``: converts, writes the files, optionally verifies; prints a summary. Returns 0."""
    source = _load_source(args.model, args.weights, args.input_size)
    preprocessing = _preprocessing_for(source, args.preprocessing)
    labels = args.labels
    if labels is None and source.weights in LABEL_SETS:
        labels = source.weights
    representative, _, calibration = (None, None, "none")
    if args.mode == "int8":
        representative, _, calibration = _cli_data(args, source, preprocessing, "calibrate", args.calibration_steps)
    result = to_tflite(
        source.model,
        args.out,
        mode=args.mode,
        representative_data=representative,
        io_dtype=args.io_dtype,
        calibration_steps=args.calibration_steps,
        batch_size=args.batch_size,
        labels=labels,
        preprocessing=preprocessing,
        source=source.description,
    )
    print(
        f"wrote {result.path} ({result.bytes:,} bytes, mode {result.mode}, I/O {result.io_dtype}, "
        f"input {result.input.shape}, {result.seconds:.1f} s)"
    )
    if result.input.scale is not None:
        print(f"input quantisation: scale {result.input.scale:.6g}, zero point {result.input.zero_point}")
    if args.mode == "int8":
        left = f"; float ops left: {', '.join(result.float_ops)}" if result.float_ops else ""
        print(f"calibrated on {calibration}{left}")
    print(f"card {result.card_path}" + (f", labels {result.labels_path}" if result.labels_path else ""))
    if args.verify:
        data, truth, description = _cli_data(args, source, preprocessing, "verify", args.verify)
        check = verify_tflite(result.path, source.model, data, truth)
        accuracy = ""
        if check.tflite_accuracy is not None:
            accuracy = f", accuracy tflite {check.tflite_accuracy:.4f} vs keras {check.keras_accuracy:.4f}"
        print(
            f"verified on {description} ({check.interpreter}): top-1 agreement {check.top1_agreement:.4f}, "
            f"max |diff| {check.max_abs_diff:.3g}, mean |diff| {check.mean_abs_diff:.3g}{accuracy}"
        )
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_cli_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers ``keras-archs export`` on ``subparsers`` (``parser.add_subparsers()``); ``args.run(args)`` runs it.

    Example:
        >>> import argparse
        >>> parser = argparse.ArgumentParser(prog="keras-archs")
        >>> _ = add_cli_parser(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["export", "SqueezeNet1_1", "--out", "s.tflite", "--mode", "dynamic"])
        >>> args.mode, args.run.__name__
        ('dynamic', 'run_export')
    """
    parser = subparsers.add_parser(
        "export",
        help="convert a model to TensorFlow Lite (.tflite + labels + card)",
        description="Convert to .tflite with builtin ops only; <stem>.labels.txt and <stem>.json go beside it.",
    )
    parser.add_argument("model", help="registry name (keras-archs list), or a .keras / .kadc file")
    parser.add_argument("--out", required=True, help="output .tflite path")
    parser.add_argument("--mode", choices=MODES, default="float32")
    parser.add_argument(
        "--weights",
        default=None,
        metavar="TAG|PATH",
        help="registry models: weights tag (imagenet, fashion_mnist), weights file, or 'none' "
        "(random); default: the constructor's default",
    )
    parser.add_argument("--input-size", type=_positive_int, default=None, help="registry models: square input size")
    parser.add_argument(
        "--representative",
        default=None,
        metavar="fashion_mnist|DIR",
        help="int8 calibration data: 'fashion_mnist' (train split), a directory of images, or of "
        "ImageNet TFRecord shards",
    )
    parser.add_argument("--calibration-steps", type=_positive_int, default=DEFAULT_CALIBRATION_STEPS)
    parser.add_argument("--io-dtype", choices=IO_DTYPES, default=None, help="int8 mode: input/output dtype")
    parser.add_argument("--batch-size", type=_positive_int, default=1)
    parser.add_argument(
        "--labels", default=None, help=f"file with one class name per line, or one of {', '.join(LABEL_SETS)}"
    )
    parser.add_argument(
        "--preprocessing",
        choices=PREPROCESSING_MODES,
        default=None,
        help="input normalisation for the card and image data (default: the registry's)",
    )
    parser.add_argument(
        "--verify",
        type=_positive_int,
        default=None,
        metavar="N",
        help="compare with Keras on N examples (Fashion-MNIST test, the image directory, or random)",
    )
    parser.set_defaults(run=run_export)
    return parser
