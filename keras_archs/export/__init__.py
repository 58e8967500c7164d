"""Export to TensorFlow Lite for phones: convert, embed TFLite metadata, verify in the LiteRT interpreter, ship labels
and a model card.

Modules, one job each:

* :mod:`.convert`: :func:`to_tflite` (builtin ops only; float32 / float16 / dynamic / int8) writing
  ``<stem>.tflite`` + ``<stem>.labels.txt`` + ``<stem>.json`` as one set;
* :mod:`.mobile`: the model as a phone feeds it (:func:`mobile_model`: RGB pixels 0..255 in, its preprocessing and a
  grey conversion inside);
* :mod:`.metadata`: the TFLite metadata MediaPipe Tasks and the Task Library read (labels, normalization, licence),
  written and read with the ``flatbuffers`` runtime (:func:`read_metadata`);
* :mod:`.card`: the labels file and the JSON card (:func:`resolve_labels`, :func:`describe_preprocessing`);
* :mod:`.calibration`: representative data for int8 (:data:`DEFAULT_CALIBRATION_STEPS`);
* :mod:`.verify`: :func:`verify_tflite`, the file against the Keras model in the interpreter;
* :mod:`._litert`: the interpreter class, int8 input quantisation exactly as the interpreter does it, a batch runner
  (shared with ``keras_archs.compress.qat``); :mod:`._flatbuffer`: rewriting a ``.tflite`` flatbuffer.

It takes any single-input Keras model and the arrays to calibrate or verify with; it imports neither
``keras_archs.data`` nor ``keras_archs.compress`` (``keras-archs export``, in ``keras_archs.cli``, turns arguments into
models and arrays). Importing it loads NumPy only; TensorFlow loads when a function needs it.

Example:
    >>> import keras_archs  # doctest: +SKIP
    >>> from keras_archs.export import to_tflite, verify_tflite
    >>> from keras_archs.data.fashion_mnist import CLASS_NAMES, load_arrays  # doctest: +SKIP
    >>> model = keras_archs.SqueezeNet(version="1.1", weights="fashion_mnist")  # doctest: +SKIP
    >>> train_images = load_arrays("train")[0][:200].astype("float32")  # doctest: +SKIP
    >>> result = to_tflite(model, "fmnist_int8.tflite", mode="int8",
    ...                    representative_data=train_images, labels=CLASS_NAMES)  # doctest: +SKIP
    >>> result.input.shape, result.input.dtype, result.metadata["name"]  # RGB pixels for MediaPipe  # doctest: +SKIP
    ((1, 28, 28, 3), 'uint8', 'SqueezeNet1_1')
    >>> verify_tflite(result.path, model, (test_images, test_labels)).tflite_accuracy  # doctest: +SKIP
    0.9386
"""

from keras_archs.export._litert import TensorInfo, dequantize_output, interpreter_class, quantize_input
from keras_archs.export.calibration import DEFAULT_CALIBRATION_STEPS
from keras_archs.export.card import (
    LABEL_SETS,
    PREPROCESSING_MODES,
    card_path_for,
    describe_preprocessing,
    labels_path_for,
    resolve_labels,
)
from keras_archs.export.convert import IO_DTYPES, MODES, TFLiteConversionError, TFLiteExport, to_tflite
from keras_archs.export.metadata import read as read_metadata
from keras_archs.export.mobile import input_preprocessing, mobile_model
from keras_archs.export.verify import TFLiteVerification, verify_tflite

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
    "card_path_for",
    "dequantize_output",
    "describe_preprocessing",
    "input_preprocessing",
    "interpreter_class",
    "labels_path_for",
    "mobile_model",
    "quantize_input",
    "read_metadata",
    "resolve_labels",
    "to_tflite",
    "verify_tflite",
]
