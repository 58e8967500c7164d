"""Command-line arguments -> objects, once for every command: models, datasets as arrays, photos, class names.

Models (:func:`load_model`): a registry name (``keras-archs list``) built with ``--weights`` (a tag such as
``imagenet`` / ``fashion_mnist``, a weights file, or ``none``), ``--model-arg KEY=VALUE`` and ``--input-size``; a
``.keras`` file; a ``.kadc`` Deep Compression archive.

Data (:func:`model_inputs`, :func:`fashion_mnist_arrays`, :func:`photos`): ``fashion_mnist`` (the idx files, through
``keras_archs.data.fashion_mnist.load_arrays``), a folder of images (centre crop, resize, the model's normalisation), a
folder of ImageNet TFRecord shards, scikit-image's sample photos.

Everything heavy (TensorFlow, the model zoo, the datasets) is imported inside the functions, so that parsing the
command line (``--help``, ``--version``) loads none of it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
from typing import Any, Sequence

import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "LABEL_SETS",
    "ModelSource",
    "add_model_arguments",
    "center_square",
    "check_output_file",
    "check_output_folder",
    "class_names",
    "fashion_mnist_arrays",
    "load_model",
    "model_arg",
    "model_inputs",
    "photos",
    "positive_int",
    "preprocess",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# --labels NAME: the label sets of keras_archs.class_names (a literal so that --help loads nothing; tests/test_cli.py
# checks it against class_names.LABEL_SETS).
LABEL_SETS = ("imagenet", "fashion_mnist", "cifar10")
# Evaluation centre crop: 224 of 256 (keras_archs.data.augment.EVAL_CROP_FRACTION; Szegedy et al. 2015 / Keras).
_CENTER_CROP = 0.875
_SAMPLE_PHOTOS = ("chelsea", "coffee", "rocket")  # scikit-image's sample photos (skimage.data)


@dataclasses.dataclass
class ModelSource:
    """A model built or loaded from a command-line argument, and what is known about it.

    Attributes:
        model: The ``keras.Model``.
        description: Where it came from, for messages and cards ("SqueezeNet1_1 (registry), weights=fashion_mnist").
        spec: The registry's ``ModelSpec`` for a registry name, else None.
        weights: The weights tag or path a registry model was built with (None: random; "default": the
            constructor's default).
    """

    model: Any
    description: str
    spec: Any = None
    weights: str | None = None


def positive_int(text: str) -> int:
    """argparse type: a positive integer.

    Example:
        >>> positive_int("3")
        3
        >>> positive_int("0")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: expected a positive integer (1, 2, ...), got '0'
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer (1, 2, ...), got {text!r}")
    return value


def check_output_file(path: str, suffixes: Sequence[str], argument: str = "--out") -> pathlib.Path:
    """Checks a file the command will write, before any work: its extension, its folder (exists, writable), and that
    it is not a folder itself.

    Raises:
        ValueError: Wrong extension.
        FileNotFoundError: The folder does not exist.
        IsADirectoryError: ``path`` is a folder.
        PermissionError: The folder is not writable.
    """
    target = pathlib.Path(path)
    if not target.name.lower().endswith(tuple(suffixes)):
        raise ValueError(f"{argument} must end in {' or '.join(suffixes)}. Received: {argument} {path}")
    if target.is_dir():
        raise IsADirectoryError(f"{argument} {path} is a folder; give a file name ending in {' or '.join(suffixes)}.")
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{argument} {path}: the folder {str(folder)!r} does not exist; create it first.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{argument} {path}: the folder {str(folder)!r} is not writable.")
    return target


def check_output_folder(path: str, argument: str = "--out") -> pathlib.Path:
    """Checks a folder the command will create or fill, before any work: an existing folder must be writable; a new
    one needs a writable folder above it.

    Raises:
        NotADirectoryError: ``path`` or a folder above it is a file.
        PermissionError: The folder (or the existing one above it) is not writable.
    """
    target = pathlib.Path(path)
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"{argument} {path}: {str(existing)!r} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{argument} {path}: {str(existing)!r} is not writable.")
    return target


def model_arg(text: str) -> tuple[str, object]:
    """argparse type of ``--model-arg KEY=VALUE``: VALUE as JSON when it parses (0.3, true, [1, 2]), else a string.

    Example:
        >>> model_arg("dropout_rate=0.3"), model_arg("version=1.1"), model_arg("block=B(3,3)")
        (('dropout_rate', 0.3), ('version', 1.1), ('block', 'B(3,3)'))
    """
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"--model-arg takes KEY=VALUE (e.g. dropout_rate=0.3). Received: {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_model_arguments(parser: argparse.ArgumentParser, *, input_size: bool = False) -> None:
    """Adds ``MODEL``, ``--weights``, ``--model-arg`` (and ``--input-size``) as :func:`load_model` reads them."""
    parser.add_argument("model", help="registry name (keras-archs list), a .keras file or a .kadc archive")
    parser.add_argument(
        "--weights",
        default=None,
        metavar="TAG|PATH|none",
        help="registry models: weights tag (imagenet, fashion_mnist), weights file, or 'none' (random); "
        "default: the constructor's default",
    )
    parser.add_argument(
        "--model-arg",
        type=model_arg,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="registry models: a constructor argument (repeatable), e.g. alpha=0.5",
    )
    if input_size:
        parser.add_argument("--input-size", type=positive_int, default=None, help="registry models: square input size")


def load_model(
    model: str,
    weights: str | None = None,
    model_args: Sequence[tuple[str, Any]] = (),
    input_size: int | None = None,
) -> ModelSource:
    """A model from a registry name (built with ``weights`` / ``model_args`` / ``input_size``), a ``.keras`` file or
    a ``.kadc`` archive.

    Raises:
        FileNotFoundError: A ``.keras`` / ``.kadc`` path that does not exist.
        ValueError: Options that only apply to registry names given with a file, another kind of file, or an unknown
            registry name (the registry's message lists how to find the names).
    """
    path = pathlib.Path(model)
    suffix = path.suffix.lower()
    if suffix in (".keras", ".kadc"):
        if weights is not None or model_args or input_size is not None:
            raise ValueError(
                f"--weights/--model-arg/--input-size apply to registry names, not to the file MODEL={model!r}."
            )
        if not path.is_file():
            raise FileNotFoundError(f"MODEL file {model!r} does not exist.")
        if suffix == ".kadc":
            from keras_archs import compress

            return ModelSource(compress.load(path), f"archive {path.name}")
        from keras_archs import (
            applications,  # noqa: F401  (registers the custom layers a .keras file may hold)
            weights,
        )

        return ModelSource(weights.load_model_file(path), f"file {path.name}")
    if path.exists() or os.sep in model:
        raise ValueError(
            f"Cannot read MODEL={model!r}: accepted files are .keras and .kadc (an existing file); or pass a registry "
            "name (keras-archs list)."
        )
    from keras_archs import applications

    spec = applications.get_spec(model)
    kwargs: dict[str, Any] = dict(model_args)
    if weights is not None:
        kwargs["weights"] = None if weights.lower() == "none" else weights
    if input_size is not None:
        kwargs["input_shape"] = (input_size, input_size, 3)
    try:
        built = spec.build(**kwargs)
    except ValueError as error:
        if weights is None or "`weights` argument" not in str(error):
            raise
        raise ValueError(
            f"{error} On the command line: --weights none (random initialisation), imagenet or a project tag "
            f"({', '.join(spec.weight_tags) or 'none for this model'}), or the path of a weights file."
        ) from error
    tag = kwargs.get("weights", "default")
    extra = "".join(f", {key}={value!r}" for key, value in model_args)
    return ModelSource(built, f"{spec.name} (registry), weights={tag}{extra}", spec, None if tag is None else str(tag))


def fashion_mnist_arrays(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A Fashion-MNIST split as float32 raw pixels ``(N, 28, 28, 1)`` (what the project's models take) and int64
    labels, the first ``limit`` examples.

    Raises:
        keras_archs.data.DatasetNotFoundError: The files are not installed (its message says how to get them).
    """
    from keras_archs.data.fashion_mnist import load_arrays

    images, labels, _ = load_arrays(split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images.astype(np.float32), labels.astype(np.int64)


def class_names(choice: str | None) -> tuple[Any, str | None]:
    """``--labels``: a label set name -> (names, name); a path or None -> (itself, None) for ``to_tflite``."""
    if choice == "imagenet" or choice is None or choice not in LABEL_SETS:
        return choice, None
    from keras_archs import class_names as class_names_lib

    return class_names_lib.get(choice), choice


def preprocess(images: np.ndarray, mode: str | None) -> np.ndarray:
    """RGB 0..255 images normalised for a registry preprocessing mode (None or "raw": unchanged)."""
    if mode in (None, "raw"):
        return np.asarray(images, np.float32)
    from keras_archs.data import pipeline

    return np.asarray(pipeline.preprocess(np.asarray(images, np.float32), mode))


def center_square(image: np.ndarray, size: int, fraction: float = 1.0) -> np.ndarray:
    """The centre square of ``image`` (``fraction`` of the shorter side), resized to ``size`` x ``size``."""
    from keras import ops

    height, width = image.shape[:2]
    side = int(min(height, width) * fraction)
    top, left = (height - side) // 2, (width - side) // 2
    crop = np.asarray(image[top : top + side, left : left + side], np.float32)
    return np.asarray(ops.image.resize(crop[None], (size, size), antialias=True))[0]


def photos(paths: Sequence[str | os.PathLike], channels: int = 3) -> list[tuple[str, np.ndarray]]:
    """(name, RGB or grey 0..255 float32 image) of each file; without paths, scikit-image's sample photos.

    Raises:
        FileNotFoundError: A path does not exist.
        ValueError: No paths and scikit-image is not installed (``pip install 'keras_archs[test]'``).
    """
    if paths:
        import keras

        color_mode = "grayscale" if channels == 1 else "rgb"
        images = []
        for path in paths:
            if not pathlib.Path(path).is_file():
                raise FileNotFoundError(f"No image file at {str(path)!r}.")
            try:
                image = keras.utils.load_img(path, color_mode=color_mode)
            except Exception as error:  # noqa: BLE001 - PIL raises UnidentifiedImageError, OSError, SyntaxError...
                raise ValueError(
                    f"Cannot read {str(path)!r} as an image ({type(error).__name__}: {error}). Accepted: image files "
                    f"PIL reads ({', '.join(IMAGE_SUFFIXES)})."
                ) from error
            images.append((pathlib.Path(path).name, np.asarray(image)))
        return [(name, image.astype(np.float32)) for name, image in images]
    try:
        import skimage.data
    except ImportError as error:
        raise ValueError(
            "No --image given and scikit-image (the sample photos) is not installed: pip install 'keras_archs[test]' "
            "or pass --image PATH."
        ) from error
    return [(name, getattr(skimage.data, name)()[..., :3].astype(np.float32)) for name in _SAMPLE_PHOTOS]


def _image_folder(directory: pathlib.Path, example_shape: tuple[int, ...], mode: str | None, limit: int) -> np.ndarray:
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    height, width, channels = example_shape
    if height != width:
        raise ValueError(f"Image folders feed square model inputs; this model takes {example_shape}.")
    images = [center_square(image, height, _CENTER_CROP) for _, image in photos(files, channels)]
    batch = np.stack(images)
    if channels == 1:
        batch = batch.reshape(len(batch), height, width, 1)
    return preprocess(batch, mode) if channels == 3 else batch


def _tfrecord_images(directory: pathlib.Path, split: str, example_shape: tuple[int, ...], mode: str | None, limit: int):
    from keras_archs import data as data_lib

    batch = min(limit, 64)
    dataset = data_lib.imagenet(
        split, batch_size=batch, data_dir=directory, image_size=example_shape[0], shuffle=split == "train", seed=0
    )
    images, labels = [], []
    for x, y in dataset.take(math.ceil(limit / batch)):
        images.append(preprocess(x.numpy(), mode))
        labels.append(y.numpy())
    return np.concatenate(images)[:limit], np.concatenate(labels)[:limit]


def model_inputs(
    choice: str | None, source: ModelSource, preprocessing: str | None, purpose: str, limit: int
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(inputs, labels or None, description) for int8 calibration (``purpose="calibrate"``) or ``--verify``.

    ``choice``: "fashion_mnist" (train split, a seeded random sample, to calibrate; the first test images to
    verify), a folder of images, a folder of ImageNet TFRecord shards, or None (no calibration data; random images
    to verify, or Fashion-MNIST test images for a model with the fashion_mnist weights).
    """
    from keras_archs.export import _arguments

    example_shape = _arguments.model_io(source.model)[0]
    if choice is None and purpose == "verify" and source.weights == "fashion_mnist":
        choice = "fashion_mnist"
    if choice == "fashion_mnist":
        if example_shape != (28, 28, 1):
            raise ValueError(f"Fashion-MNIST data needs a 28x28x1 model input; this model takes {example_shape}.")
        if purpose == "calibrate":  # a seeded sample over the whole split, every class represented
            images, _ = fashion_mnist_arrays("train")
            pick = np.random.default_rng(0).permutation(len(images))[:limit]
            return images[pick], None, f"Fashion-MNIST train, {len(pick)} random images"
        images, labels = fashion_mnist_arrays("test", limit)
        return images, labels, f"Fashion-MNIST test, first {len(images)} images"
    if choice is not None:
        directory = pathlib.Path(choice)
        if not directory.is_dir():
            raise ValueError(
                "--representative takes 'fashion_mnist' or a directory of images or ImageNet TFRecord shards. "
                f"Received: {choice!r}"
            )
        if any(p.suffix.lower() in IMAGE_SUFFIXES for p in directory.iterdir()):
            images = _image_folder(directory, example_shape, preprocessing, limit)
            return images, None, f"{len(images)} images of {directory}"
        split = "train" if purpose == "calibrate" else "validation"
        images, labels = _tfrecord_images(directory, split, example_shape, preprocessing, limit)
        return images, (None if purpose == "calibrate" else labels), f"ImageNet TFRecords in {directory}"
    if purpose == "calibrate":
        return None, None, "none"
    pixels = np.random.default_rng(0).uniform(0, 255, (limit, *example_shape)).astype(np.float32)
    if example_shape[-1] == 3:
        pixels = preprocess(pixels, preprocessing)
    return pixels, None, f"{limit} random images (no labels)"
