"""Keras model -> ``.tflite`` with builtin ops only, written with its labels and card (:func:`to_tflite`).

Builtin ops only (``TFLITE_BUILTINS`` / ``TFLITE_BUILTINS_INT8``), never ``SELECT_TF_OPS``: Android builds ship
without Flex. Modes: ``"float32"``, ``"float16"`` (fp16 weights), ``"dynamic"`` (int8 weights, float activations) and
``"int8"`` (full integer, calibrated on representative data; I/O ``int8``, ``uint8`` or ``float32``).

Conversion route: a batch-``batch_size`` ``tf.function`` of ``model(x, training=False)`` given to
``TFLiteConverter.from_concrete_functions``, with the ``tf.Variable``s behind the Keras variables held by a
``tf.Module`` so that the converter freezes them into constants. It gives the same ops and outputs as
``model.export()`` to a SavedModel followed by ``from_saved_model`` in about half the time (docs/benchmarks.md,
``benchmarks/tflite_latency.py --conversion-route``). Handing the Keras model itself to the converter as the trackable
object does not work: the variables then stay ``VAR_HANDLE``/``READ_VARIABLE`` ops that nothing initialises, and the
outputs are NaN.

Steps of :func:`to_tflite`: check arguments -> convert to bytes -> inspect them in the interpreter -> card -> write
``.tflite`` + labels + card as one set (``keras_archs._files.write_set``, the card last).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import re
import time
from typing import Any, Sequence

from keras_archs import _files
from keras_archs.export import _arguments, _litert, card
from keras_archs.export._litert import TensorInfo
from keras_archs.export.calibration import DEFAULT_CALIBRATION_STEPS, RepresentativeData

__all__ = ["IO_DTYPES", "MODES", "TFLiteConversionError", "TFLiteExport", "to_tflite"]

MODES = ("float32", "float16", "dynamic", "int8")
IO_DTYPES = ("int8", "uint8", "float32")
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


def _check_io_dtype(mode: str, io_dtype: Any) -> str:
    if io_dtype is None:
        return "int8" if mode == "int8" else "float32"
    _arguments.check_choice("io_dtype", io_dtype, IO_DTYPES)
    if mode != "int8" and io_dtype != "float32":
        raise ValueError(
            f"io_dtype={io_dtype!r} needs mode='int8' (integer inputs need a fully quantised model); mode={mode!r} "
            "accepts only io_dtype='float32' (or None)."
        )
    return io_dtype


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
        return _arguments.call_model(model, x)

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


def _inspect(content: bytes, mode: str, model_name: str) -> tuple[TensorInfo, TensorInfo, tuple[str, ...] | None]:
    cls, _ = _litert.interpreter_class()
    interpreter = cls(model_content=content)
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    ops = _litert.op_names(interpreter)
    if ops is not None and any(name in ("VAR_HANDLE", "READ_VARIABLE") for name, _ in ops):
        raise TFLiteConversionError(
            f"TFLite conversion of {model_name!r} left variables unfrozen (VAR_HANDLE ops): its call reads a variable "
            "that model.variables does not list."
        )
    float_ops = None
    if mode == "int8" and ops is not None:
        float_ops = tuple(sorted({name for name, types in ops if name not in _BOUNDARY_OPS and "float32" in types}))
    return TensorInfo.from_detail(inputs[0]), TensorInfo.from_detail(outputs[0]), float_ops


def _check_io_types(tensors: tuple, io_dtype: str, model_name: str, mode: str) -> None:
    """The file's real input and output dtypes must be the ones asked for (the card records ``io_dtype``)."""
    found = {"input": tensors[0].dtype, "output": tensors[1].dtype}
    wrong = {name: dtype for name, dtype in found.items() if dtype != io_dtype}
    if wrong:
        raise TFLiteConversionError(
            f"TFLite conversion of {model_name!r} (mode={mode!r}) asked for {io_dtype} input and output but the file "
            f"has {', '.join(f'{name} {dtype}' for name, dtype in wrong.items())}; it was not written."
        )


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
    labels_source: str | None = None,
    preprocessing: str | None = None,
    source: str | None = None,
) -> TFLiteExport:
    """Converts a Keras model to a ``.tflite`` file (builtin ops only), with a labels file and a JSON card beside it.

    Args:
        model: A single-input, single-output ``keras.Model`` with a fixed input size (TensorFlow backend).
        path: Output path, ending with ``.tflite``. ``<stem>.labels.txt`` and ``<stem>.json`` are written beside it.
            Missing parent directories are created once conversion succeeded. The three files are written as one set
            (``keras_archs._files.write_set``): the card is removed first and committed last, so a card on disk always
            describes the ``.tflite`` beside it; nothing is left behind when conversion fails.
        mode: ``"float32"``; ``"float16"`` (fp16 weights, half the size); ``"dynamic"`` (int8 weights, float
            activations); ``"int8"`` (full integer, calibrated on ``representative_data``).
        representative_data: Model inputs for ``mode="int8"`` (exactly what the model takes, preprocessing applied):
            an array ``(N, *input_shape)``, a ``tf.data.Dataset`` or any iterable of batches or single examples;
            ``(x, y)`` elements of a labelled dataset are accepted (``x`` is used). Batches are split into examples.
        io_dtype: dtype of the model's input and output: for ``mode="int8"`` ``"int8"`` (default), ``"uint8"`` or
            ``"float32"`` (float I/O around int8 internals); other modes accept only ``"float32"`` (default).
        calibration_steps: Most examples of ``representative_data`` used for calibration.
        batch_size: Batch dimension of the ``.tflite`` input (1 for phones).
        labels: Class names: see :func:`keras_archs.export.resolve_labels` (None: the label set of the model's
            weights tag, e.g. ``weights="fashion_mnist"``; else ImageNet names for 1000 outputs, else indices; a label
            set name such as ``"imagenet"`` or ``"fashion_mnist"``; a file; a sequence of names).
        labels_source: Where the names come from, for the card (e.g. "fashion_mnist"); default from ``labels``.
        preprocessing: What the input expects, for the card: see :func:`keras_archs.export.describe_preprocessing`.
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
        >>> model = keras_archs.get_model("CifarResNet20", weights=None)  # doctest: +SKIP
        >>> result = to_tflite(model, "/tmp/resnet20.tflite", mode="dynamic")  # doctest: +SKIP
        >>> result.input.shape, result.labels_path.name  # doctest: +SKIP
        ((1, 32, 32, 3), 'resnet20.labels.txt')
    """
    started = time.perf_counter()
    target = _arguments.check_tflite_path(path)
    mode = _arguments.check_choice("mode", mode, MODES)
    io_dtype = _check_io_dtype(mode, io_dtype)
    calibration_steps = _arguments.check_positive_int("calibration_steps", calibration_steps)
    batch_size = _arguments.check_positive_int("batch_size", batch_size)
    if mode == "int8" and representative_data is None:
        raise ValueError(
            "mode='int8' needs `representative_data` (typical model inputs, ~100-500 examples) to calibrate the "
            "activation ranges. Received: representative_data=None. Use mode='dynamic' for int8 weights without it."
        )
    if mode != "int8" and representative_data is not None:
        raise ValueError(f"`representative_data` is only used with mode='int8'. Received: mode={mode!r} with data.")
    example_shape, dtype, input_name = _arguments.model_io(model)
    output_shape = tuple(model.outputs[0].shape[1:])
    if labels is None:  # a model built with a dataset's weights tag ("fashion_mnist") is labelled with its classes
        labels = card.default_labels(model)
    names = card.resolve_labels(labels, output_shape[0] if len(output_shape) == 1 else None, labels_source)
    card_preprocessing = card.describe_preprocessing(preprocessing, model)

    calibration = RepresentativeData(representative_data, example_shape, dtype, calibration_steps, batch_size)
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
    _check_io_types(tensors, io_dtype, model.name, mode)
    digest = hashlib.sha256(content).hexdigest()
    settings = {"mode": mode, "io_dtype": io_dtype, "batch_size": batch_size, "calibration_examples": calibration.count}
    card_data = card.build_card(model, target, content, digest, settings, tensors, names, card_preprocessing, source)

    target.parent.mkdir(parents=True, exist_ok=True)
    files: dict[pathlib.Path, bytes] = {target: content}
    labels_path = card.labels_path_for(target) if names[0] is not None else None
    if labels_path is not None:
        files[labels_path] = ("\n".join(names[0]) + "\n").encode("utf-8")
    card_path = card.card_path_for(target)
    files[card_path] = (json.dumps(card_data, indent=2) + "\n").encode("utf-8")
    # Labels and card describe the .tflite: removed first, committed last; an old labels file of a model that had a
    # class vector does not stay beside a new file without one.
    stale = [] if labels_path is not None else [card.labels_path_for(target)]
    _files.write_set(files, describing=[path for path in (labels_path, card_path) if path is not None], remove=stale)
    return TFLiteExport(
        path=target,
        bytes=len(content),
        sha256=digest,
        mode=mode,
        io_dtype=io_dtype,
        input=tensors[0],
        output=tensors[1],
        labels_path=labels_path,
        card_path=card_path,
        float_ops=tensors[2],
        calibration_examples=calibration.count,
        seconds=time.perf_counter() - started,
    )
