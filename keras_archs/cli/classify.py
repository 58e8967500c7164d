"""``keras-archs classify``: photos through an ImageNet classifier (default: SqueezeNet 1.0, Deep Compression
weights)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from keras_archs.cli import _sources
from keras_archs.cli.models import table
from keras_archs.export import PREPROCESSING_MODES


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from keras_archs import imagenet_utils
    from keras_archs.export import _arguments

    images = _sources.photos(args.image)  # the files first: a bad one fails before any model is built or downloaded
    started = time.perf_counter()
    source = _sources.load_model(args.model, args.weights, args.model_arg)
    loaded = time.perf_counter() - started
    mode = args.preprocessing or (source.spec.preprocessing if source.spec is not None else None)
    if mode is None:
        raise ValueError(f"--preprocessing is needed for MODEL={args.model!r} (a file: the registry mode is unknown).")
    (height, width, channels), _, _ = _arguments.model_io(source.model)
    classes = source.model.outputs[0].shape[-1]
    if channels != 3 or height != width or classes != imagenet_utils.NUM_CLASSES:
        raise ValueError(
            f"classify needs an ImageNet classifier (square RGB input, {imagenet_utils.NUM_CLASSES} outputs). "
            f"Received: {source.description} with input {(height, width, channels)} and {classes} outputs."
        )
    print(f"{source.description}: {source.model.count_params():,} params, built and loaded in {loaded:.2f} s")
    batch = np.stack([_sources.center_square(image, height) for _, image in images])
    started = time.perf_counter()
    probabilities = np.asarray(source.model(_sources.preprocess(batch, mode), training=False))
    elapsed = time.perf_counter() - started
    rows = []
    for (name, _), top5 in zip(images, imagenet_utils.decode_predictions(probabilities, top=5)):
        rows.append([name, *(f"{label} {score:.2f}" for _, label, score in top5[:3])])
    print(table(rows, ["photo", "top-1", "top-2", "top-3"]))
    print(f"{len(images)} photos classified in {elapsed:.2f} s on CPU")
    return 0


def register(commands: Any) -> None:
    """Adds ``classify`` to the ``keras-archs`` subparsers."""
    parser = commands.add_parser(
        "classify",
        help="classify photos with an ImageNet model (default SqueezeNet 1.0, Deep Compression weights)",
        description="Centre square of each photo, resized to the model's input, normalised as the registry says; "
        "prints the top-3 ImageNet classes. Without --image: scikit-image's sample photos.",
    )
    parser.add_argument(
        "model", nargs="?", default="SqueezeNet1_0", help="registry name, .keras or .kadc (default SqueezeNet1_0)"
    )
    parser.add_argument(
        "--weights", default="imagenet", metavar="TAG|PATH", help="'imagenet' (download, hash-checked) or a file"
    )
    parser.add_argument("--model-arg", type=_sources.model_arg, action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--preprocessing",
        choices=[mode for mode in PREPROCESSING_MODES if mode != "raw"],
        default=None,
        help="input normalisation (default: the registry's)",
    )
    parser.add_argument("--image", action="append", default=[], metavar="PATH", help="photo to classify (repeatable)")
    parser.set_defaults(run=run)
