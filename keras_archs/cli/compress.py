"""``keras-archs compress`` (Deep Compression archive, :func:`keras_archs.compress.deep_compress`) and
``keras-archs decompress`` (archive -> ``.keras``)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from keras_archs.cli import _sources


def run_compress(args: argparse.Namespace) -> int:
    from keras_archs import compress

    _sources.check_output_file(args.out, (".kadc",))  # before any work
    source = _sources.load_model(args.model, args.weights, args.model_arg)
    train = val = test = None
    if args.data:
        # Fit on the training images minus the validation split, choose and report on "validation", read "test" once
        # after compressing (keras_archs.data.fashion_mnist.SPLITS).
        train = _sources.fashion_mnist_arrays("train_without_validation", args.train_limit)
        val = _sources.fashion_mnist_arrays("validation", args.eval_limit)
        test = _sources.fashion_mnist_arrays("test", args.eval_limit)
    started = time.perf_counter()
    result = compress.deep_compress(
        source.model,
        recipe=args.recipe,
        train_data=train,
        val_data=val,
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    result.metadata["command"] = args.command_line
    if test is not None:
        from keras_archs.compress.training_data import evaluate_accuracy

        result.metadata["splits"] = {"fit": "train_without_validation", "validation": "validation", "final": "test"}
        result.metadata["test_accuracy_before"] = evaluate_accuracy(source.model, test)
        result.metadata["test_accuracy_after"] = evaluate_accuracy(result.model, test)
    written = result.save(args.out)
    print(result.report_table())
    print(
        f"{args.out}: {written:,} bytes (model float32: {4 * source.model.count_params():,} bytes), "
        f"{time.perf_counter() - started:.1f} s"
    )
    if val is not None:
        metadata = result.metadata
        print(
            f"validation accuracy: {metadata['val_accuracy_before']:.4f} before, "
            f"{metadata['val_accuracy_after']:.4f} after compression ({len(val[0]):,} validation images); "
            f"test accuracy (read once, after): {metadata['test_accuracy_before']:.4f} before, "
            f"{metadata['test_accuracy_after']:.4f} after ({len(test[0]):,} test images)"
        )
    return 0


def run_decompress(args: argparse.Namespace) -> int:
    from keras_archs import _files

    _sources.check_output_file(args.out, (".keras",))  # before any work
    if not args.archive.endswith(".kadc"):
        raise ValueError(f"ARCHIVE must be a .kadc file. Received: {args.archive!r}")
    started = time.perf_counter()
    model = _sources.load_model(args.archive).model
    decoded = time.perf_counter() - started
    with _files.atomic_path(args.out) as temporary:
        model.save(temporary)
    print(f"{args.archive} -> {args.out}: {model.name}, {model.count_params():,} params, decoded in {decoded:.2f} s")
    return 0


def register(commands: Any) -> None:
    """Adds ``compress`` and ``decompress`` to the ``keras-archs`` subparsers."""
    compressing = commands.add_parser("compress", help="Deep Compression: prune, share weights, Huffman-code")
    _sources.add_model_arguments(compressing)
    compressing.add_argument("--out", required=True, help="archive to write (.kadc)")
    compressing.add_argument("--recipe", default=None, help="compression recipe (default: the model's)")
    compressing.add_argument("--data", default=None, choices=("fashion_mnist",), help="fine-tune on this dataset")
    compressing.add_argument(
        "--epochs", type=_sources.positive_int, default=None, help="fine-tuning epochs (default: the recipe's)"
    )
    compressing.add_argument("--batch-size", type=_sources.positive_int, default=128)
    compressing.add_argument(
        "--train-limit", type=_sources.positive_int, default=None, help="training examples used (subset)"
    )
    compressing.add_argument(
        "--eval-limit",
        "--test-limit",
        dest="eval_limit",
        type=_sources.positive_int,
        default=None,
        help="validation and test examples for the accuracies (first N of each; default all)",
    )
    compressing.set_defaults(run=run_compress)

    decompressing = commands.add_parser("decompress", help="archive (.kadc) -> Keras model (.keras)")
    decompressing.add_argument("archive", help="a .kadc file")
    decompressing.add_argument("--out", required=True, help=".keras file to write")
    decompressing.set_defaults(run=run_decompress)
