"""Keras model -> ``.tflite`` with builtin ops only, TFLite metadata inside, written with its labels and card
(:func:`to_tflite`).

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

With ``metadata=True`` (the default) the file is made for a phone's classifier API (MediaPipe Tasks'
ImageClassifier, the TFLite Task Library): the model is wrapped to take RGB pixels 0..255 with its preprocessing (and a
grey conversion for a 1-channel model) inside (``keras_archs.export.mobile``), a uint8 input of an int8 file holds the
pixels themselves (scale 1, zero point 0), and the metadata (name, description, version, licence of the weights,
image input, normalization, labels) is embedded (``keras_archs.export.metadata``).

Steps of :func:`to_tflite`: check arguments -> [wrap for mobile] -> convert to bytes -> [embed metadata] -> inspect
them in the interpreter -> card -> write ``.tflite`` + labels + card as one set (``keras_archs._files.write_set``, the
card last).
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
from keras_archs._backend import require_tensorflow
from keras_archs.export import _arguments, _flatbuffer, _litert, card, mobile
from keras_archs.export import metadata as metadata_lib
from keras_archs.export._litert import TensorInfo
from keras_archs.export.calibration import DEFAULT_CALIBRATION_STEPS, RepresentativeData

__all__ = ["IO_DTYPES", "MODES", "TFLiteConversionError", "TFLiteExport", "to_tflite"]

MODES = ("float32", "float16", "dynamic", "int8")
IO_DTYPES = ("int8", "uint8", "float32")
# Ops that only move data between integer and float; they do not count as float computation in an int8 model.
_BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE", "DELEGATE"})
# Converter message for an op without builtin kernel (TF 2.21: "'tf.Igamma' op is neither a custom op nor a flex op").
_UNSUPPORTED_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
# The model-level metadata fields a caller may set (metadata_schema.fbs ModelMetadata).
_MODEL_INFO_KEYS = ("name", "description", "version", "author", "license")


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
        metadata: The TFLite metadata embedded in the file (nested dicts, ``keras_archs.export.metadata``), or None.
        keras_model: The Keras model that was converted: with metadata, ``model`` wrapped to take RGB pixels 0..255
            (``keras_archs.export.mobile.mobile_model``), else ``model`` itself. Not part of :meth:`as_dict`.
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
    metadata: dict[str, Any] | None = None
    keras_model: Any = dataclasses.field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (paths as strings; without ``keras_model``)."""
        data = {
            field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.name != "keras_model"
        }
        data["input"], data["output"] = dataclasses.asdict(self.input), dataclasses.asdict(self.output)
        for key in ("path", "labels_path", "card_path"):
            data[key] = None if data[key] is None else str(data[key])
        return data


def _check_io_dtype(mode: str, io_dtype: Any, metadata: bool) -> str:
    if io_dtype is None:
        return ("uint8" if metadata else "int8") if mode == "int8" else "float32"
    _arguments.check_choice("io_dtype", io_dtype, IO_DTYPES)
    if mode != "int8" and io_dtype != "float32":
        raise ValueError(
            f"io_dtype={io_dtype!r} needs mode='int8' (integer inputs need a fully quantised model); mode={mode!r} "
            "accepts only io_dtype='float32' (or None)."
        )
    if metadata and io_dtype == "int8":
        raise ValueError(
            "MediaPipe's ImageClassifier and the Task Library take uint8 or float32 images, not int8 (mediapipe "
            "1.2.2: 'Requested one of these types: uint8/float32'). Received: io_dtype='int8' with metadata=True; use "
            "io_dtype='uint8' (the default with metadata) or metadata=False."
        )
    return io_dtype


def _check_metadata(metadata: Any, batch_size: int, model_info: Any) -> bool:
    if not isinstance(metadata, bool):
        raise TypeError(f"Expected `metadata` to be True or False. Received: metadata={metadata!r}")
    if metadata and batch_size != 1:
        raise ValueError(
            f"metadata=True describes a file for MediaPipe / the Task Library, which run batch 1. Received: "
            f"batch_size={batch_size}; pass metadata=False for another batch size."
        )
    if model_info is not None:
        if not metadata:
            raise ValueError("`model_info` fills the embedded metadata; it needs metadata=True.")
        unknown = set(model_info) - set(_MODEL_INFO_KEYS) if isinstance(model_info, dict) else None
        if unknown is None or unknown or not all(isinstance(v, str) for v in model_info.values()):
            raise ValueError(
                f"Expected `model_info` to be a dict of str with keys among {', '.join(_MODEL_INFO_KEYS)}. "
                f"Received: model_info={model_info!r}"
            )
    return metadata


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


def _configure(converter: Any, mode: str, io_dtype: str, representative: Any, sparse: bool = False) -> None:
    import tensorflow as tf

    ops = tf.lite.OpsSet
    converter.target_spec.supported_ops = [ops.TFLITE_BUILTINS_INT8 if mode == "int8" else ops.TFLITE_BUILTINS]
    # EXPERIMENTAL_SPARSITY: constant tensors with enough zeros are stored in TFLite's sparse format (CSR per
    # dimension, schema.fbs SparsityParameters) and densified by a DENSIFY op when the interpreter prepares the graph.
    sparsity = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else []
    if mode == "float32":
        converter.optimizations = sparsity
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT, *sparsity]
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
    cls, name = _litert.interpreter_class()
    interpreter = cls(model_content=content)
    try:
        interpreter.allocate_tensors()  # prepares every kernel (and the default XNNPACK delegate) as an app would
    except RuntimeError as error:
        raise TFLiteConversionError(
            f"The converted {model_name!r} (mode={mode!r}) does not run in the {name} interpreter with its default "
            f"CPU delegate: {str(error).strip()}"
        ) from error
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


def _metadata_for(
    record: dict[str, Any],
    names: tuple[list[str] | None, str | None],
    file_input: dict[str, Any],
    tensors_shape: tuple[int, ...],
    settings: dict[str, Any],
    model_info: dict[str, str] | None,
) -> dict[str, Any]:
    """The image classifier metadata of the file (defaults from the model record; ``model_info`` overrides)."""
    title = record["registry_name"] or record["model"]
    classes, source = names
    weights, weights_source = record["weights"], record["weights_source"]
    described_weights = f"{weights} ({weights_source})" if weights else (weights_source or "not recorded")
    what = f"{len(classes)} classes" + (f" ({source})" if source else "") if classes is not None else "features"
    info = {
        "name": title,
        "description": " ".join(
            part
            for part in (
                f"{title}: image classifier, {what}.",
                f"Architecture: {record['paper']}." if record["paper"] else "",
                f"Weights: {described_weights}.",
                f"Input: {file_input['description']}.",
                f"Converted by keras_archs {record['keras_archs']} ({settings['mode']}, {settings['io_dtype']} I/O).",
            )
            if part
        ),
        "version": f"keras_archs {record['keras_archs']}, {settings['mode']}",
        "author": (weights_source or "") if weights else "",
        "license": record["license"],
        **(model_info or {}),
    }
    return metadata_lib.image_classifier_metadata(
        **info,
        image_size=tensors_shape[1:3],
        channels=3,
        input_dtype=settings["io_dtype"],
        labels=classes,
    )


def _prepare(model: Any, metadata: bool, preprocessing: str | None) -> tuple[Any, dict[str, Any]]:
    """(the model to convert, the card's description of its input): ``model`` wrapped for mobile with metadata."""
    if not metadata:
        return model, card.describe_preprocessing(preprocessing, model)
    converted = mobile.mobile_model(model, preprocessing)  # raises for non-images and unknown preprocessing
    channels = _arguments.model_io(model)[0][-1]
    return converted, card.describe_file_input(mobile.input_preprocessing(model, preprocessing), channels)


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
    metadata: bool = True,
    sparse: bool = False,
    calibration_steps: int = DEFAULT_CALIBRATION_STEPS,
    batch_size: int = 1,
    labels: Any = None,
    labels_source: str | None = None,
    preprocessing: str | None = None,
    source: str | None = None,
    model_info: dict[str, str] | None = None,
) -> TFLiteExport:
    """Converts a Keras model to a ``.tflite`` file (builtin ops only), with a labels file and a JSON card beside it.

    With ``metadata=True`` (the default) the file is ready for an Android app's classifier API (MediaPipe Tasks'
    ImageClassifier, the TFLite Task Library): it takes RGB pixels 0..255 (float32, or uint8 for ``mode="int8"``)
    with the model's preprocessing inside (module docstring), and carries TFLite metadata with the labels.

    Args:
        model: A single-input, single-output ``keras.Model`` with a fixed input size (TensorFlow backend); with
            ``metadata=True``, on images ``(height, width, 1 or 3)`` whose preprocessing is known (``preprocessing``,
            a registry constructor's record, or a normalising layer inside: ``keras_archs.export.mobile``).
        path: Output path, ending with ``.tflite``. ``<stem>.labels.txt`` and ``<stem>.json`` are written beside it.
            Missing parent directories are created once conversion succeeded. The three files are written as one set
            (``keras_archs._files.write_set``): the card is removed first and committed last, so a card on disk always
            describes the ``.tflite`` beside it; nothing is left behind when conversion fails.
        mode: ``"float32"``; ``"float16"`` (fp16 weights, half the size); ``"dynamic"`` (int8 weights, float
            activations); ``"int8"`` (full integer, calibrated on ``representative_data``).
        representative_data: Inputs of the converted model for ``mode="int8"``: an array ``(N, *input_shape)``, a
            ``tf.data.Dataset`` or any iterable of batches or single examples; ``(x, y)`` elements of a labelled
            dataset are accepted (``x`` is used). Batches are split into examples. With ``metadata=True``: RGB pixels
            0..255 (grey images for a model trained on 1-channel images are repeated to RGB); without: what ``model``
            takes (preprocessing applied).
        io_dtype: dtype of the model's input and output: for ``mode="int8"`` ``"uint8"`` (default with metadata:
            the input holds the pixels, scale 1 and zero point 0), ``"int8"`` (default without; no classifier API
            takes it) or ``"float32"`` (float I/O around int8 internals); other modes accept only ``"float32"``.
        metadata: Wrap the preprocessing in and embed TFLite metadata (see above); False converts ``model`` as it is.
        sparse: Store weights with enough zeros (pruned models: the Deep Compression SqueezeNet is 66 % zeros) in
            TFLite's sparse format (converter optimisation ``EXPERIMENTAL_SPARSITY``); the interpreter densifies them
            once when it prepares the graph, so only the file gets smaller (docs/benchmarks.md).
        calibration_steps: Most examples of ``representative_data`` used for calibration.
        batch_size: Batch dimension of the ``.tflite`` input (1 for phones; only 1 with metadata).
        labels: Class names: see :func:`keras_archs.export.resolve_labels` (None: the label set of the model's
            weights tag, e.g. ``weights="fashion_mnist"``; else ImageNet names for 1000 outputs, else indices; a label
            set name such as ``"imagenet"`` or ``"fashion_mnist"``; a file; a sequence of names).
        labels_source: Where the names come from, for the card and metadata (e.g. "fashion_mnist"); default from
            ``labels``.
        preprocessing: What ``model``'s input expects ("raw" pixels 0..255, or a registry mode): see
            :func:`keras_archs.export.describe_preprocessing`. Default: what the model says.
        source: Free text naming where the model came from (registry name and weights tag, a file), for the card.
        model_info: Overrides of the embedded model metadata: any of "name", "description", "version", "author",
            "license" (defaults: the registry record of the model and its weights, ``card.model_record``).

    Returns:
        A :class:`TFLiteExport` (path, bytes, sha256, mode, input/output details incl. int8 scale and zero point,
        labels and card paths, float ops left in an int8 model, the metadata, the converted Keras model).

    Raises:
        TypeError: If ``model`` is not a keras.Model or ``path``/``labels``/``representative_data``/``metadata`` have
            wrong types.
        ValueError: For an unknown ``mode``/``io_dtype``/``preprocessing``, ``mode="int8"`` without
            ``representative_data`` (or with data of the wrong shape, or empty), ``representative_data`` with another
            mode, a path not ending in ``.tflite``, labels that do not fit, a model with several inputs/outputs or a
            variable input size; with metadata: a model that does not take images or whose preprocessing is unknown,
            ``io_dtype="int8"``, ``batch_size`` other than 1, data that are not pixels 0..255.
        TFLiteConversionError: If an op has no builtin TFLite kernel (its ``ops`` names them), the converter fails,
            or the file does not run in the interpreter (e.g. ``mode="dynamic"`` with ``sparse=True``: XNNPACK has no
            kernel for sparse hybrid convolutions).
        OSError: If the files cannot be written.

    Example:
        >>> import keras_archs
        >>> model = keras_archs.get_model("CifarResNet20", weights=None)  # doctest: +SKIP
        >>> result = to_tflite(model, "/tmp/resnet20.tflite", mode="dynamic")  # doctest: +SKIP
        >>> result.input.shape, result.labels_path.name, result.metadata["license"]  # doctest: +SKIP
        ((1, 32, 32, 3), 'resnet20.labels.txt', 'none (random initialisation)')
    """
    require_tensorflow("keras_archs.export.to_tflite (TFLite conversion)")
    started = time.perf_counter()
    target = _arguments.check_tflite_path(path)
    mode = _arguments.check_choice("mode", mode, MODES)
    calibration_steps = _arguments.check_positive_int("calibration_steps", calibration_steps)
    batch_size = _arguments.check_positive_int("batch_size", batch_size)
    metadata = _check_metadata(metadata, batch_size, model_info)
    if not isinstance(sparse, bool):
        raise TypeError(f"Expected `sparse` to be True or False. Received: sparse={sparse!r}")
    io_dtype = _check_io_dtype(mode, io_dtype, metadata)
    if mode == "int8" and representative_data is None:
        raise ValueError(
            "mode='int8' needs `representative_data` (typical model inputs, ~100-500 examples) to calibrate the "
            "activation ranges. Received: representative_data=None. Use mode='dynamic' for int8 weights without it."
        )
    if mode != "int8" and representative_data is not None:
        raise ValueError(f"`representative_data` is only used with mode='int8'. Received: mode={mode!r} with data.")
    _arguments.model_io(model)  # type and shape errors name the caller's model
    converted, input_card = _prepare(model, metadata, preprocessing)
    example_shape, dtype, input_name = _arguments.model_io(converted)
    output_shape = tuple(converted.outputs[0].shape[1:])
    if labels is None:  # a model built with a dataset's weights tag ("fashion_mnist") is labelled with its classes
        labels = card.default_labels(model)
    names = card.resolve_labels(labels, output_shape[0] if len(output_shape) == 1 else None, labels_source)

    calibration = RepresentativeData(
        representative_data, example_shape, dtype, calibration_steps, batch_size, pixels=metadata
    )
    batch_shape = (batch_size, *example_shape)
    content = _convert_with(converted, calibration, (mode, io_dtype, sparse), batch_shape, dtype, input_name)
    settings = {
        "mode": mode,
        "io_dtype": io_dtype,
        "sparse": sparse,
        "batch_size": batch_size,
        "calibration_examples": calibration.count,
    }
    record = card.model_record(model, source)
    embedded = None
    if metadata:
        embedded = _metadata_for(record, names, input_card, (batch_size, *example_shape), settings, model_info)
        files = {} if names[0] is None else {metadata_lib.LABELS_FILE: _labels_bytes(names[0])}
        edits = [_flatbuffer.pin_input_quantization(1.0, 0)] if io_dtype == "uint8" else []
        content = metadata_lib.embed(content, embedded, files, edits)
    tensors = _inspect(content, mode, model.name)
    _check_io_types(tensors, io_dtype, model.name, mode)
    digest = hashlib.sha256(content).hexdigest()
    card_data = card.build_card(target, content, digest, settings, tensors, names, input_card, record, embedded)
    labels_path = _write(target, content, names[0], card_data)
    return TFLiteExport(
        path=target,
        bytes=len(content),
        sha256=digest,
        mode=mode,
        io_dtype=io_dtype,
        input=tensors[0],
        output=tensors[1],
        labels_path=labels_path,
        card_path=card.card_path_for(target),
        float_ops=tensors[2],
        calibration_examples=calibration.count,
        seconds=time.perf_counter() - started,
        metadata=embedded,
        keras_model=converted,
    )


def _labels_bytes(names: Sequence[str]) -> bytes:
    return ("\n".join(names) + "\n").encode("utf-8")


def _convert_with(
    model: Any,
    calibration: RepresentativeData,
    options: tuple[str, str, bool],
    batch_shape: tuple[int, ...],
    dtype: str,
    input_name: str,
) -> bytes:
    """The converted bytes (``options``: mode, io_dtype, sparse); errors met while reading the representative data
    reach the caller as themselves."""
    mode, io_dtype, sparse = options
    converter = _make_converter(model, batch_shape, dtype, input_name)
    _configure(converter, mode, io_dtype, calibration, sparse)
    empty = f"`representative_data` gave no examples (at least batch_size={batch_shape[0]} are needed to calibrate)."
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
    return content


def _write(target: pathlib.Path, content: bytes, names: list[str] | None, card_data: dict) -> pathlib.Path | None:
    """Writes the ``.tflite``, its labels and its card as one set (the card last); returns the labels path."""
    target.parent.mkdir(parents=True, exist_ok=True)
    files: dict[pathlib.Path, bytes] = {target: content}
    labels_path = card.labels_path_for(target) if names is not None else None
    if labels_path is not None:
        files[labels_path] = _labels_bytes(names)
    card_path = card.card_path_for(target)
    files[card_path] = (json.dumps(card_data, indent=2) + "\n").encode("utf-8")
    # Labels and card describe the .tflite: removed first, committed last; an old labels file of a model that had a
    # class vector does not stay beside a new file without one.
    stale = [] if labels_path is not None else [card.labels_path_for(target)]
    _files.write_set(files, describing=[path for path in (labels_path, card_path) if path is not None], remove=stale)
    return labels_path
