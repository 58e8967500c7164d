"""Export to deployment formats: TensorFlow Lite (``keras_archs.export.tflite``) with labels and a model card.

Example:
    >>> from keras_archs.export import to_tflite, verify_tflite  # doctest: +SKIP
"""

from keras_archs.export.tflite import (
    DEFAULT_CALIBRATION_STEPS,
    IO_DTYPES,
    LABEL_SETS,
    MODES,
    PREPROCESSING_MODES,
    TensorInfo,
    TFLiteConversionError,
    TFLiteExport,
    TFLiteVerification,
    add_cli_parser,
    card_path_for,
    dequantize_output,
    describe_preprocessing,
    interpreter_class,
    labels_path_for,
    quantize_input,
    resolve_labels,
    run_export,
    to_tflite,
    verify_tflite,
)

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
