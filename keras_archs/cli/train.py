"""``keras-archs train``: a registry model trained with its paper recipe (:func:`keras_archs.train.train`).

``--backend`` picks the Keras backend for this run (it must be chosen before Keras is imported, so it is applied here,
before the training module loads). ``--strategy multiworker`` reads ``TF_CONFIG`` (or the Slurm job step) and is
created before TensorFlow runs anything; docs/distributed.md has the recipes.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from typing import Any

from keras_archs.cli import _sources

# keras_archs.train.loop.DATASETS / STRATEGIES, as literals so that `keras-archs --help` loads no TensorFlow
# (tests/test_cli.py checks that they agree).
DATASETS = ("fashion_mnist", "cifar10", "cifar100", "imagenet")
STRATEGIES = ("mirrored", "multiworker", "tpu")
BACKENDS = ("tensorflow", "jax", "torch")


def select_backend(backend: str | None) -> None:
    """Makes ``backend`` the Keras backend of this process (KERAS_BACKEND), before Keras is imported.

    Raises:
        ValueError: Keras is already imported with another backend (a process has one backend for its lifetime).
    """
    if backend is None:
        return
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise ValueError(
                f"--backend {backend} must be chosen before Keras is imported; this process already runs Keras on "
                f"{current!r}. Run `KERAS_BACKEND={backend} keras-archs train ...` or `keras-archs train --backend "
                f"{backend} ...` in a fresh process."
            )
        return
    os.environ["KERAS_BACKEND"] = backend


def _remove_if_empty(folder: pathlib.Path) -> None:
    """Removes ``folder`` if it holds folders only (what a run that failed before its first file leaves)."""
    if not folder.is_dir() or any(path.is_file() or path.is_symlink() for path in folder.rglob("*")):
        return
    for directory in sorted(folder.rglob("*"), key=lambda path: len(path.parts), reverse=True) + [folder]:
        os.rmdir(directory)


def _topmost_missing(folder: pathlib.Path) -> pathlib.Path | None:
    """The highest of ``folder`` and its parents that does not exist yet (``None`` when ``folder`` exists)."""
    folder = folder.absolute()
    if folder.exists():
        return None
    while not folder.parent.exists():
        folder = folder.parent
    return folder


def run(args: argparse.Namespace) -> int:
    select_backend(args.backend)
    from keras_archs.train import train

    out = _sources.check_output_folder(args.out)
    topmost_new = _topmost_missing(out)
    try:
        result = _train(train, args)
    except BaseException:
        if topmost_new is not None:  # missing data, a bad recipe...: no empty run folder (nor its new parents) left
            _remove_if_empty(topmost_new)
        raise
    evaluated = "whole test split" if result.eval_limit is None else f"first {result.eval_limit:,} test examples"
    where = f"model and logs in {result.out_dir}" if result.is_chief else "the chief writes the model and logs"
    print(
        f"test accuracy {result.test_accuracy:.4f} (loss {result.test_loss:.4f}, {evaluated}) after {result.epochs} "
        f"epochs on {result.replicas} replica(s), {result.seconds / 60:.1f} min; {where}"
    )
    return 0


def _train(train: Any, args: argparse.Namespace) -> Any:
    return train(
        args.model,
        args.data,
        out_dir=args.out,
        epochs=args.epochs,
        recipe=args.recipe,
        batch_size=args.batch_size,
        resume=args.resume,
        strategy=args.strategy,
        mixed_precision=args.mixed_precision,
        model_kwargs=dict(args.model_arg),
        data_dir=args.data_dir,
        seed=args.seed,
        train_limit=args.train_limit,
        eval_limit=args.eval_limit,
        augment=args.augment,
        shuffle=args.shuffle,
        command=args.command_line,
        verbose=1 if sys.stdout.isatty() else 2,  # a progress bar on a terminal; one plain line per epoch in a log
    )


def register(commands: Any) -> None:
    """Adds ``train`` to the ``keras-archs`` subparsers."""
    parser = commands.add_parser("train", help="train a model with its paper recipe")
    parser.add_argument("model", help="registry name (keras-archs list)")
    parser.add_argument("--data", default="fashion_mnist", choices=DATASETS)
    parser.add_argument(
        "--epochs", type=_sources.positive_int, default=None, help="default: the recipe's; the schedule stretches"
    )
    parser.add_argument("--out", required=True, help="output directory (checkpoints, logs, model.keras)")
    parser.add_argument("--recipe", default=None, help="recipe name (default: by model family and dataset)")
    parser.add_argument(
        "--batch-size",
        type=_sources.positive_int,
        default=None,
        help="global batch, split among all replicas; the learning rate scales linearly with it (default: recipe's)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=None,
        help="tf.distribute strategy; multiworker reads TF_CONFIG or the Slurm job step (docs/distributed.md)",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="Keras backend for this run (default: KERAS_BACKEND, else tensorflow)",
    )
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--model-arg", type=_sources.model_arg, action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-limit", type=_sources.positive_int, default=None, help="training examples per epoch (smoke runs)"
    )
    parser.add_argument(
        "--eval-limit",
        type=_sources.positive_int,
        default=None,
        metavar="N",
        help="evaluate on the first N test images, each epoch and at the end (smoke runs)",
    )
    parser.add_argument(
        "--no-augment",
        dest="augment",
        action="store_const",
        const=False,
        default=None,
        help="no training augmentation (default: the recipe's)",
    )
    parser.add_argument(
        "--no-shuffle", dest="shuffle", action="store_false", help="keep the split's order (reproducibility checks)"
    )
    parser.set_defaults(run=run)
