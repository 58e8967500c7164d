"""``keras-archs export``: a model to ``.tflite`` + labels + card (:func:`keras_archs.export.to_tflite`), optionally
verified in the LiteRT interpreter (:func:`keras_archs.export.verify_tflite`)."""

from __future__ import annotations

import argparse
from typing import Any

from keras_archs.cli import _sources
from keras_archs.export import DEFAULT_CALIBRATION_STEPS, IO_DTYPES, MODES, PREPROCESSING_MODES


def _preprocessing_for(source: _sources.ModelSource, given: str | None) -> str | None:
    """The --preprocessing given, else the registry's mode for a registry model that does not normalise inside."""
    from keras_archs.export import card

    if given is not None or source.spec is None or card.normalising_layer(source.model) is not None:
        return given
    return source.spec.preprocessing


def run(args: argparse.Namespace) -> int:
    from keras_archs.export import to_tflite, verify_tflite

    _sources.check_output_file(args.out, (".tflite",))  # before any work
    source = _sources.load_model(args.model, args.weights, args.model_arg, args.input_size)
    preprocessing = _preprocessing_for(source, args.preprocessing)
    labels_choice = args.labels
    if labels_choice is None and source.weights in _sources.LABEL_SETS:
        labels_choice = source.weights  # weights="fashion_mnist": the Fashion-MNIST class names
    labels, labels_source = _sources.class_names(labels_choice)
    representative, calibration = None, "none"
    if args.mode == "int8":
        representative, _, calibration = _sources.model_inputs(
            args.representative, source, preprocessing, "calibrate", args.calibration_steps
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
        data, truth, description = _sources.model_inputs(
            args.representative, source, preprocessing, "verify", args.verify
        )
        check = verify_tflite(result.path, source.model, data, truth)
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
        help="convert a model to TensorFlow Lite (.tflite + labels + card)",
        description="Convert to .tflite with builtin ops only; <stem>.labels.txt and <stem>.json go beside it.",
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
    parser.add_argument("--io-dtype", choices=IO_DTYPES, default=None, help="int8 mode: input/output dtype")
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
        help="input normalisation for the card and image data (default: the registry's)",
    )
    parser.add_argument(
        "--verify",
        type=_sources.positive_int,
        default=None,
        metavar="N",
        help="compare with Keras on N examples (Fashion-MNIST test, the image directory, or random)",
    )
    parser.set_defaults(run=run)
