"""``keras-archs demo``: the shipped Fashion-MNIST SqueezeNet through Deep Compression and int8 TFLite
(:mod:`keras_archs.demo`)."""

from __future__ import annotations

import argparse
from typing import Any

from keras_archs.cli import _sources


def run(args: argparse.Namespace) -> int:
    from keras_archs import demo

    _sources.check_output_folder(args.out)  # before any work
    dc_weights = None if args.no_imagenet else args.dc_weights
    demo.run_demo(
        args.out, train_limit=args.train_limit, epochs=args.epochs, dc_weights=dc_weights, test_limit=args.test_limit
    )
    return 0


def register(commands: Any) -> None:
    """Adds ``demo`` to the ``keras-archs`` subparsers."""
    parser = commands.add_parser(
        "demo", help="Fashion-MNIST SqueezeNet: evaluate, deep-compress, TFLite int8, table + plot"
    )
    parser.add_argument("--out", default="demo_output", help="directory for the archive, .tflite, results and plot")
    parser.add_argument(
        "--train-limit", type=_sources.positive_int, default=12000, help="training images of the short fine-tune"
    )
    parser.add_argument("--epochs", type=_sources.positive_int, default=2, help="epochs of the short fine-tune")
    parser.add_argument(
        "--test-limit",
        type=_sources.positive_int,
        default=None,
        metavar="N",
        help="evaluate on the first N test images (default: all 10,000)",
    )
    parser.add_argument(
        "--dc-weights", default=None, help="Deep Compression SqueezeNet 1.0 .net (or 'imagenet') to re-compress too"
    )
    parser.add_argument("--no-imagenet", action="store_true", help="skip the ImageNet SqueezeNet part")
    parser.set_defaults(run=run)
