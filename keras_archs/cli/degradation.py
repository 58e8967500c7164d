"""``keras-archs degradation``: plain vs residual CIFAR networks with one budget, He et al. 2016's Fig. 6
(:func:`keras_archs.analysis.degradation.run_degradation`)."""

from __future__ import annotations

import argparse
from typing import Any

from keras_archs.cli import _sources

# keras_archs.analysis.degradation.DATASETS / DEPTHS, as literals so that `keras-archs --help` loads no TensorFlow
# (tests/test_degradation.py checks that they agree).
DATASETS = ("auto", "fashion_mnist", "cifar10")
DEPTHS = (20, 32, 44, 56, 110)


def run(args: argparse.Namespace) -> int:
    from keras_archs.analysis.degradation import run_degradation

    result = run_degradation(
        args.out,
        data=args.data,
        depths=args.depths,
        epochs=args.epochs,
        train_limit=args.train_limit,
        eval_limit=args.eval_limit,
        batch_size=args.batch_size,
        seed=args.seed,
        data_dir=args.data_dir,
        verbose=args.fit_verbose,
        command=args.command_line,
    )
    print(f"curves: {args.out}/degradation.json, plot: {args.out}/degradation.png ({len(result.networks)} networks)")
    return 0


def register(commands: Any) -> None:
    """Adds ``degradation`` to the ``keras-archs`` subparsers."""
    parser = commands.add_parser(
        "degradation",
        help="train plain and residual CIFAR nets with one budget; plot their errors (He et al. 2016, Fig. 6)",
        description="Plain-N vs ResNet-N (CifarResNetN, plain=True twins) trained with the cifar_resnet recipe, the "
        "same seed and budget; writes OUT/degradation.json (curves) and OUT/degradation.png. Re-running the same "
        "command continues an interrupted experiment.",
    )
    parser.add_argument("--out", required=True, help="output directory (one training run per network, JSON, PNG)")
    parser.add_argument(
        "--data", choices=DATASETS, default="auto", help="auto: cifar10 when its files are here, else fashion_mnist"
    )
    parser.add_argument("--depths", type=int, nargs="+", choices=DEPTHS, default=[20, 56], metavar="DEPTH")
    parser.add_argument("--epochs", type=_sources.positive_int, default=10)
    parser.add_argument(
        "--train-limit", type=_sources.positive_int, default=None, metavar="N", help="training images per epoch"
    )
    parser.add_argument(
        "--eval-limit", type=_sources.positive_int, default=None, metavar="N", help="first N held-out/test images"
    )
    parser.add_argument("--batch-size", type=_sources.positive_int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--fit-verbose", type=int, choices=(0, 1, 2), default=2, help="model.fit verbosity (2: one line per epoch)"
    )
    parser.set_defaults(run=run)
