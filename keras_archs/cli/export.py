"""``keras-archs export``: a model to ``.tflite`` + labels + card (:func:`keras_archs.export.to_tflite`), optionally
verified in the LiteRT interpreter (:func:`keras_archs.export.verify_tflite`).

By default the file carries TFLite metadata and takes RGB pixels 0..255 with the model's preprocessing inside (what
MediaPipe's ImageClassifier on Android runs); the calibration and verification images are then pixels too.
``--no-metadata`` converts the model as it is (its own input, preprocessed images).
"""

from __future__ import annotations

import argparse
from typing import Any

from keras_archs.cli import _sources
from keras_archs.export import DEFAULT_CALIBRATION_STEPS, IO_DTYPES, MODES, PREPROCESSING_MODES


def _preprocessing_for(source: _sources.ModelSource, given: str | None, metadata: bool) -> str | None:
    """What the model's input expects: --preprocessing, else what the model says (the record a registry constructor
    leaves, a normalising layer inside), else the registry's mode for a registry name.

    Raises:
        ValueError: With metadata, when it stays unknown (a .keras file or archive without a normalising layer).
    """
    from keras_archs.export import input_preprocessing

    known = given if given is not None else input_preprocessing(source.model)
    if known is None and source.spec is not None:
        known = source.spec.preprocessing
    if known is None and metadata:
        raise ValueError(
            f"The input normalisation of {source.description} is unknown, and the file with metadata takes RGB pixels "
            f"0..255 with it inside: pass --preprocessing ({', '.join(PREPROCESSING_MODES)}; 'raw' for a model "
            "that takes pixels 0..255), or --no-metadata to convert the model as it is."
        )
    return known


def run(args: argparse.Namespace) -> int:
    from keras_archs.export import to_tflite, verify_tflite

    _sources.check_output_file(args.out, (".tflite",))  # before any work
    source = _sources.load_model(args.model, args.weights, args.model_arg, args.input_size)
    metadata = not args.no_metadata
    preprocessing = _preprocessing_for(source, args.preprocessing, metadata)
    data_mode = None if metadata else preprocessing  # a file with metadata takes pixels
    labels_choice = args.labels
    if labels_choice is None and source.weights in _sources.LABEL_SETS:
        labels_choice = source.weights  # weights="fashion_mnist": the Fashion-MNIST class names
    labels, labels_source = _sources.class_names(labels_choice)
    representative, calibration = None, "none"
    if args.mode == "int8":
        representative, _, calibration = _sources.model_inputs(
            args.representative, source, data_mode, "calibrate", args.calibration_steps
        )
    result = to_tflite(
        source.model,
        args.out,
        mode=args.mode,
        representative_data=representative,
        io_dtype=args.io_dtype,
        calibration_steps=args.calibration_steps,
        batch_size=args.batch_size,
        labels=labels,
        labels_source=labels_source,
        preprocessing=preprocessing,
        source=source.description,
        metadata=metadata,
        sparse=args.sparse,
    )
    print(
        f"wrote {result.path} ({result.bytes:,} bytes, mode {result.mode}{', sparse' if args.sparse else ''}, "
        f"I/O {result.io_dtype}, "
        f"input {result.input.shape}, {result.seconds:.1f} s)"
    )
    if result.input.scale is not None:
        print(f"input quantisation: scale {result.input.scale:.6g}, zero point {result.input.zero_point}")
    if args.mode == "int8":
        left = f"; float ops left: {', '.join(result.float_ops)}" if result.float_ops else ""
        print(f"calibrated on {calibration}{left}")
    print(f"card {result.card_path}" + (f", labels {result.labels_path}" if result.labels_path else ""))
    if result.metadata is not None:
        print(
            f"metadata: {result.metadata['name']}, licence {result.metadata['license']!r}; input RGB 0..255 "
            f"({'preprocessing ' + repr(preprocessing) + ' inside' if preprocessing != 'raw' else 'as it is'})"
            + (", labels inside" if result.labels_path else "")
        )
    if args.verify:
        data, truth, description = _sources.model_inputs(args.representative, source, data_mode, "verify", args.verify)
        check = verify_tflite(result.path, source.model, data, truth, preprocessing=preprocessing)
        accuracy = ""
        if check.tflite_accuracy is not None:
            accuracy = f", accuracy tflite {check.tflite_accuracy:.4f} vs keras {check.keras_accuracy:.4f}"
        print(
            f"verified on {description} ({check.interpreter}): top-1 agreement {check.top1_agreement:.4f}, "
            f"max |diff| {check.max_abs_diff:.3g}, mean |diff| {check.mean_abs_diff:.3g}{accuracy}"
        )
    return 0


def register(commands: Any) -> None:
    """Adds ``export`` to the ``keras-archs`` subparsers."""
    parser = commands.add_parser(
        "export",
        help="convert a model to TensorFlow Lite (.tflite with metadata + labels + card)",
        description="Convert to .tflite with builtin ops only; <stem>.labels.txt and <stem>.json go beside it. By "
        "default the file takes RGB pixels 0..255 (preprocessing inside) and carries TFLite metadata for MediaPipe's "
        "ImageClassifier and the TFLite Task Library (docs/android.md).",
    )
    _sources.add_model_arguments(parser, input_size=True)
    parser.add_argument("--out", required=True, help="output .tflite path")
    parser.add_argument("--mode", choices=MODES, default="float32")
    parser.add_argument(
        "--representative",
        default=None,
        metavar="fashion_mnist|DIR",
        help="int8 calibration (and --verify) data: 'fashion_mnist', a directory of images, or of ImageNet TFRecord "
        "shards",
    )
    parser.add_argument("--calibration-steps", type=_sources.positive_int, default=DEFAULT_CALIBRATION_STEPS)
    parser.add_argument(
        "--io-dtype",
        choices=IO_DTYPES,
        default=None,
        help="int8 mode: input/output dtype (default uint8 with metadata, int8 with --no-metadata)",
    )
    parser.add_argument("--batch-size", type=_sources.positive_int, default=1)
    parser.add_argument(
        "--labels",
        default=None,
        help=f"file with one class name per line, or one of {', '.join(_sources.LABEL_SETS)} "
        "(default: from the weights tag, ImageNet names for 1000 outputs, else class indices)",
    )
    parser.add_argument(
        "--preprocessing",
        choices=PREPROCESSING_MODES,
        default=None,
        help="what the model's input expects (default: what the model says, else the registry's mode); with "
        "metadata it goes inside the file, without it the image data are normalised with it",
    )
    parser.add_argument(
        "--sparse",
        action="store_true",
        help="store pruned weights in TFLite's sparse format (smaller file, densified when the app loads it)",
    )
    parser.add_argument(
        "--no-metadata",
        action="store_true",
        help="convert the model as it is: no TFLite metadata, no preprocessing inside, the model's own input",
    )
    parser.add_argument(
        "--verify",
        type=_sources.positive_int,
        default=None,
        metavar="N",
        help="compare with Keras on N examples (Fashion-MNIST test, the image directory, or random)",
    )
    parser.set_defaults(run=run)
