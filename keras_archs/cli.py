"""The ``keras-archs`` console script.

Commands: ``list`` (registered models), ``info NAME`` (one model's facts and weight files), ``demo`` (the shipped
Fashion-MNIST SqueezeNet through Deep Compression and int8 TFLite, :mod:`keras_archs.demo`), ``classify`` (real photos
with the ImageNet SqueezeNet 1.0 from its Deep Compression weights), ``train`` (a paper recipe), ``compress`` /
``decompress`` (Deep Compression archives), ``export`` (TFLite).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from typing import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _cmd_list(args: argparse.Namespace) -> int:
    from keras_archs import registry

    pretrained = args.pretrained if args.pretrained is not None else False
    names = registry.list_models(args.pattern, pretrained=pretrained)
    rows = []
    for name in names:
        spec = registry.get_spec(name)
        rows.append([name, spec.family, f"{spec.params:,}", f"{spec.default_size}", ", ".join(spec.weight_tags) or "-"])
    print(_table(rows, ["model", "family", "params", "input", "weights"]))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from keras_archs import registry

    spec = registry.get_spec(args.name)
    print(f"{spec.name}  (family: {spec.family})")
    if spec.aliases:
        print(f"aliases:        {', '.join(spec.aliases)}")
    print(f"paper:          {spec.paper}")
    print(f"params:         {spec.params:,} (count_params() with top, 1000 classes)")
    print(f"input size:     {spec.default_size}x{spec.default_size} default, {spec.min_size} minimum")
    print(f"preprocessing:  {spec.preprocessing}")
    if spec.build_kwargs:
        print(f"built with:     {', '.join(f'{k}={v!r}' for k, v in spec.build_kwargs.items())}")
    if not spec.weights:
        print("weights:        none published (weights=None, or a path)")
    for entry in spec.weights:
        variant = "".join(f", {k}={v}" for k, v in entry.variant)
        print(f"weights:        {entry.tag!r}, include_top={entry.include_top}{variant}")
        print(f"  file:         {entry.fname}")
        print(f"  url:          {entry.url}")
        print(f"  hash:         {entry.file_hash or 'none published (HDF5 structure checked instead)'}")
        if entry.source:
            print(f"  source:       {entry.source}" + (f" ({entry.license})" if entry.license else ""))
    return 0


def _demo_images(paths: Sequence[str]) -> list[tuple[str, object]]:
    import numpy as np

    if paths:
        import keras

        return [(os.path.basename(p), np.asarray(keras.utils.load_img(p), np.float32)) for p in paths]
    try:
        import skimage.data
    except ImportError as error:  # pragma: no cover - depends on the install
        raise SystemExit(
            "keras-archs demo: no --image given and scikit-image (sample photos) is not installed; "
            "pip install 'keras_archs[test]' or pass --image PATH."
        ) from error
    return [(name, getattr(skimage.data, name)().astype(np.float32)) for name in ("chelsea", "coffee", "rocket")]


def _center_square(image, size: int):
    import numpy as np
    from keras import ops

    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = image[top : top + side, left : left + side, :3]
    return np.asarray(ops.image.resize(crop[None], (size, size), antialias=True))[0]


def _cmd_classify(args: argparse.Namespace) -> int:
    import numpy as np

    from keras_archs.applications import squeezenet

    started = time.perf_counter()
    model = squeezenet.SqueezeNet(weights=args.weights)
    loaded = time.perf_counter() - started
    print(
        f"SqueezeNet 1.0 with Deep Compression ImageNet weights ({args.weights}): "
        f"{model.count_params():,} params, built and decoded in {loaded:.2f} s"
    )
    images = _demo_images(args.image)
    batch = np.stack([_center_square(image, squeezenet.DEFAULT_SIZE) for _, image in images])
    started = time.perf_counter()
    probabilities = model.predict(squeezenet.preprocess_input(batch), verbose=0)
    elapsed = time.perf_counter() - started
    rows = []
    for (name, _), top5 in zip(images, squeezenet.decode_predictions(probabilities, top=5)):
        rows.append([name, *(f"{label} {score:.2f}" for _, label, score in top5[:3])])
    print(_table(rows, ["photo", "top-1", "top-2", "top-3"]))
    print(f"{len(images)} photos classified in {elapsed:.2f} s on CPU")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from keras_archs import demo

    dc_weights = None if args.no_imagenet else args.dc_weights
    demo.run_demo(args.out, train_limit=args.train_limit, epochs=args.epochs, dc_weights=dc_weights)
    return 0


def _model_arg(text: str) -> tuple[str, object]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"--model-arg takes KEY=VALUE (e.g. dropout_rate=0.3). Received: {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a bare string such as version=1.1 -> "1.1"


def _cmd_train(args: argparse.Namespace) -> int:
    from keras_archs.train import train

    result = train(
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
        command="keras-archs " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    print(
        f"test accuracy {result.test_accuracy:.4f} (loss {result.test_loss:.4f}) after {result.epochs} epochs, "
        f"{result.seconds / 60:.1f} min; model and logs in {result.out_dir}"
    )
    return 0


def _load_model(name_or_path: str, weights: str | None, model_args: dict):
    """A model from a registry name (with ``weights``), a ``.keras`` file or a ``.kadc`` archive."""
    import keras

    if name_or_path.endswith(".kadc"):
        from keras_archs import compress

        return compress.load(name_or_path)
    if name_or_path.endswith(".keras") or os.path.sep in name_or_path:
        if not os.path.exists(name_or_path):
            raise ValueError(f"MODEL {name_or_path!r} is neither a registry name nor an existing .keras/.kadc file.")
        return keras.saving.load_model(name_or_path)
    from keras_archs import registry

    kwargs = dict(model_args)
    if weights is not None:
        kwargs["weights"] = weights
    return registry.get_model(name_or_path, **kwargs)


def _labelled_arrays(data: str, split: str, limit: int | None = None):
    import importlib

    import numpy as np

    if data != "fashion_mnist":
        raise ValueError(
            f"--data for compression fine-tuning accepts 'fashion_mnist' (raw-pixel arrays). Received: {data!r}"
        )
    images, labels, _ = importlib.import_module("keras_archs.data.fashion_mnist").load_arrays(split)
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images.astype(np.float32), labels.astype(np.int64)


def _cmd_compress(args: argparse.Namespace) -> int:
    from keras_archs import compress

    if not args.out.endswith(".kadc"):
        raise ValueError(f"--out must end in .kadc (the archive extension). Received: {args.out!r}")
    model = _load_model(args.model, args.weights, dict(args.model_arg))
    train = val = None
    if args.data:
        train = _labelled_arrays(args.data, "train", args.train_limit)
        val = _labelled_arrays(args.data, "test")
    started = time.perf_counter()
    result = compress.deep_compress(
        model,
        recipe=args.recipe,
        train_data=train,
        val_data=val,
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    result.metadata["command"] = "keras-archs " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    written = result.save(args.out)
    print(result.report_table())
    print(
        f"{args.out}: {written:,} bytes (model float32: {4 * model.count_params():,} bytes), "
        f"{time.perf_counter() - started:.1f} s"
    )
    if val is not None:
        print(
            f"test accuracy: {result.metadata['val_accuracy_before']:.4f} before, "
            f"{result.metadata['val_accuracy_after']:.4f} after compression"
        )
    return 0


def _cmd_decompress(args: argparse.Namespace) -> int:
    from keras_archs import compress

    if not args.out.endswith(".keras"):
        raise ValueError(f"--out must end in .keras. Received: {args.out!r}")
    started = time.perf_counter()
    model = compress.load(args.archive)
    decoded = time.perf_counter() - started
    model.save(args.out)
    print(f"{args.archive} -> {args.out}: {model.name}, {model.count_params():,} params, decoded in {decoded:.2f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keras-archs", description="Classic CNN architectures for Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="list registered models")
    listing.add_argument("pattern", nargs="?", default=None, help="shell-style pattern, e.g. 'resnet*'")
    listing.add_argument(
        "--pretrained",
        nargs="?",
        const=True,
        default=None,
        metavar="TAG",
        help="only models with weights (optionally with this tag)",
    )
    listing.set_defaults(run=_cmd_list)

    info = commands.add_parser("info", help="show one model's facts and weight files")
    info.add_argument("name")
    info.set_defaults(run=_cmd_info)

    demo = commands.add_parser(
        "demo", help="Fashion-MNIST SqueezeNet: evaluate, deep-compress, TFLite int8, table + plot"
    )
    demo.add_argument("--out", default="demo_output", help="directory for the archive, .tflite, results and plot")
    demo.add_argument("--train-limit", type=int, default=12000, help="training images of the short fine-tune")
    demo.add_argument("--epochs", type=int, default=2, help="epochs of the short fine-tune")
    demo.add_argument(
        "--dc-weights", default=None, help="Deep Compression SqueezeNet 1.0 .net (or 'imagenet') to re-compress too"
    )
    demo.add_argument("--no-imagenet", action="store_true", help="skip the ImageNet SqueezeNet part")
    demo.set_defaults(run=_cmd_demo)

    classify = commands.add_parser("classify", help="classify photos with ImageNet SqueezeNet 1.0 (DC weights)")
    classify.add_argument("--weights", default="imagenet", help="'imagenet' (download, hash-checked) or a .net path")
    classify.add_argument("--image", action="append", default=[], help="photo to classify (repeatable)")
    classify.set_defaults(run=_cmd_classify)

    training = commands.add_parser("train", help="train a model with its paper recipe")
    training.add_argument("model", help="registry name (keras-archs list)")
    training.add_argument(
        "--data", default="fashion_mnist", choices=("fashion_mnist", "cifar10", "cifar100", "imagenet")
    )
    training.add_argument("--epochs", type=int, default=None, help="default: the recipe's; the schedule stretches")
    training.add_argument("--out", required=True, help="output directory (checkpoints, logs, model.keras)")
    training.add_argument("--recipe", default=None, help="recipe name (default: by model family and dataset)")
    training.add_argument("--batch-size", type=int, default=None)
    training.add_argument("--resume", action="store_true", help="continue the run in --out")
    training.add_argument("--strategy", choices=("mirrored", "multiworker", "tpu"), default=None)
    training.add_argument("--mixed-precision", action="store_true")
    training.add_argument("--model-arg", type=_model_arg, action="append", default=[], metavar="KEY=VALUE")
    training.add_argument("--data-dir", default=None)
    training.add_argument("--seed", type=int, default=0)
    training.add_argument("--train-limit", type=int, default=None, help="examples per epoch (smoke runs)")
    training.set_defaults(run=_cmd_train)

    compressing = commands.add_parser("compress", help="Deep Compression: prune, share weights, Huffman-code")
    compressing.add_argument("model", help="registry name, .keras file or .kadc archive")
    compressing.add_argument("--out", required=True, help="archive to write (.kadc)")
    compressing.add_argument("--weights", default=None, help="weights for a registry model ('imagenet', a tag, a path)")
    compressing.add_argument("--recipe", default=None, help="compression recipe (default: the model's)")
    compressing.add_argument("--data", default=None, choices=("fashion_mnist",), help="fine-tune on this dataset")
    compressing.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default: the recipe's)")
    compressing.add_argument("--batch-size", type=int, default=128)
    compressing.add_argument("--train-limit", type=int, default=None, help="training examples used (subset)")
    compressing.add_argument("--model-arg", type=_model_arg, action="append", default=[], metavar="KEY=VALUE")
    compressing.set_defaults(run=_cmd_compress)

    decompressing = commands.add_parser("decompress", help="archive (.kadc) -> Keras model (.keras)")
    decompressing.add_argument("archive")
    decompressing.add_argument("--out", required=True, help=".keras file to write")
    decompressing.set_defaults(run=_cmd_decompress)

    try:
        from keras_archs.export import tflite
    except ImportError:  # pragma: no cover - the export module ships with the package
        tflite = None
    if tflite is not None and hasattr(tflite, "add_cli_parser"):
        tflite.add_cli_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError) as error:
        print(f"keras-archs {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
