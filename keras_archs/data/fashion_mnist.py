"""Fashion-MNIST (Xiao et al. 2017, arXiv:1708.07747): 70,000 28x28 grey images of 10 clothing classes.

Sources, tried in this order (the first that has both files of the split wins):

1. ``data_dir``, when given (and nothing else): a directory holding the idx files, or its ``fashion-mnist/``
   subdirectory; then a prepared ``tensorflow_datasets`` ``fashion_mnist`` under ``data_dir``.
2. ``/usr/share/datasets/fashion-mnist``: Debian's ``dataset-fashion-mnist`` package
   (``apt-get install dataset-fashion-mnist``).
3. ``$KERAS_HOME/datasets/fashion-mnist`` (default ``~/.keras/datasets/fashion-mnist``): the cache of
   ``keras.datasets.fashion_mnist.load_data()``.
4. A prepared ``tensorflow_datasets`` ``fashion_mnist`` in tfds' default data directory.
5. A ``tensorflow_datasets`` download (``download=True``, only when tfds is installed). Offline it fails, after
   tfds' retries (minutes); its error is part of the message. ``download=False`` fails fast instead.

Files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``, each gzip-compressed (``.gz``) or not. They are parsed here with NumPy (:func:`read_idx`)
rather than through tfds: the gzip headers of Debian's ``.gz`` files were rewritten at package build time (no
original-file-name field, modification time = the Debian changelog date, 2020-06-05), so each file is exactly
``len(name) + 1`` bytes shorter than upstream's (``train-images-idx3-ubyte.gz``: 26,421,856 vs 26,421,880 bytes), its
sha256 differs from the one tfds pins, and tfds rejects it as a ``manual_dir``. The decompressed idx data has
upstream's published properties (60,000 / 10,000 examples, 6,000 / 1,000 per class, first labels 9, 0, 0, 3 /
9, 2, 1, 1).

idx format (LeCun et al., http://yann.lecun.com/exdb/mnist/): big-endian; a 4-byte magic ``0x00 0x00 <type> <ndim>``
(type ``0x08`` = unsigned byte), then ``ndim`` 4-byte dimensions, then the data. Labels: magic ``0x00000801``,
dimension ``N``; images: magic ``0x00000803``, dimensions ``N, 28, 28``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pathlib
import zlib
from typing import Any

import numpy as np
import tensorflow as tf

from keras_archs import class_names
from keras_archs.data import augment as augment_lib
from keras_archs.data import pipeline, sources

__all__ = [
    "DEBIAN_DIR",
    "LABEL_MAGIC",
    "IMAGE_MAGIC",
    "CLASS_NAMES",
    "NUM_EXAMPLES",
    "SPLITS",
    "VALIDATION_PER_CLASS",
    "ARRAY_DTYPES",
    "read_idx",
    "load_arrays",
    "fashion_mnist",
    "validation_mask",
]

DEBIAN_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
LABEL_MAGIC = 0x00000801  # unsigned byte, 1 dimension
IMAGE_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
SPLITS = ("train", "test", "validation", "train_without_validation")
# Xiao et al. 2017, Sec. 2 (train, test); the other two are this package's partition of "train" (below).
NUM_EXAMPLES = {"train": 60_000, "test": 10_000, "validation": 6_000, "train_without_validation": 54_000}
_FILE_PREFIX = {"train": "train", "test": "t10k"}
# The validation split: 600 of each class's 6,000 training images (10 %, stratified), held out from fitting so that
# every choice (epochs, recipe, fine-tuning, early stopping) is made on it and the test split is read once at the end.
# Which 600: those whose SHA-256 of (label byte, 784 pixel bytes) is smallest. The choice depends on the images
# alone, so it is the same whatever order a source stores them in (tfds shuffles), needs no index file, and is fixed
# for ever; it is no more "random" than a seeded permutation and has no seed to forget.
VALIDATION_PER_CLASS = 600
_DERIVED_SPLITS = ("validation", "train_without_validation")
# Xiao et al. 2017, Table 1 (label order of the files); kept in keras_archs.class_names, which export reads too.
CLASS_NAMES = class_names.FASHION_MNIST
_HINT = (
    "install Debian's package (`sudo apt-get install dataset-fashion-mnist`, files in "
    "/usr/share/datasets/fashion-mnist), "
    "or pass data_dir= a directory holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte "
    "and t10k-labels-idx1-ubyte (.gz or not; from https://github.com/zalandoresearch/fashion-mnist), "
    "or run keras.datasets.fashion_mnist.load_data() once while online, "
    "or `pip install tensorflow-datasets && tfds build fashion_mnist`."
)


def _read_bytes(path: pathlib.Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise sources.DatasetCorruptError(
            f"Cannot read idx file {path}: {type(error).__name__}: {error}. The file is truncated or not a valid "
            "gzip stream; re-install or re-download it."
        ) from error


def read_idx(path: str | os.PathLike, magic: int) -> np.ndarray:
    """Reads one idx file (``.gz`` or raw) into a ``uint8`` array, checking its header.

    Args:
        path: The file; a ``.gz`` suffix means gzip-compressed.
        magic: The expected magic number: :data:`LABEL_MAGIC` (``0x00000801``) or :data:`IMAGE_MAGIC`
            (``0x00000803``); its low byte is the number of dimensions.

    Returns:
        A read-only ``uint8`` array of the dimensions in the header.

    Raises:
        DatasetCorruptError: If the file cannot be decompressed, is shorter than its header, has another magic number,
            or its size does not match the dimensions in the header.
        FileNotFoundError: If ``path`` does not exist.

    Example:
        >>> import gzip, os, tempfile, numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte.gz")
        >>> with gzip.open(path, "wb") as f:
        ...     _ = f.write(np.array([0x801, 3], ">u4").tobytes() + bytes([9, 0, 3]))
        >>> read_idx(path, LABEL_MAGIC)
        array([9, 0, 3], dtype=uint8)
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"idx file {path} does not exist.")
    data = _read_bytes(path)
    ndim = magic & 0xFF
    header_size = 4 * (1 + ndim)
    if len(data) < header_size:
        raise sources.DatasetCorruptError(
            f"idx file {path} is {len(data)} bytes long, shorter than its {header_size}-byte header."
        )
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise sources.DatasetCorruptError(
            f"idx file {path} has magic number 0x{found:08x}; expected 0x{magic:08x} "
            f"({'labels' if magic == LABEL_MAGIC else 'images'}: unsigned bytes, {ndim} dimension(s)). "
            "The file is corrupt or is not this kind of idx file."
        )
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header_size + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise sources.DatasetCorruptError(
            f"idx file {path} holds {len(data)} bytes (decompressed), but its header {dims} needs {expected}. "
            "The file is truncated or corrupt; re-install or re-download it."
        )
    array = np.frombuffer(data, np.uint8, offset=header_size).reshape(dims)
    return array


def _find_file(directory: pathlib.Path, stem: str) -> pathlib.Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _split_files(directory: pathlib.Path, split: str) -> tuple[pathlib.Path, pathlib.Path] | str:
    """The (images, labels) files of ``split`` in ``directory``, or the reason they are not there."""
    if not directory.is_dir():
        return "directory does not exist"
    prefix = _FILE_PREFIX[split]
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    found = [_find_file(directory, stem) for stem in stems]
    missing = [stem + "[.gz]" for stem, path in zip(stems, found, strict=True) if path is None]
    if missing:
        return f"missing {', '.join(missing)}"
    return found[0], found[1]


def _check_arrays(images: np.ndarray, labels: np.ndarray, images_path: Any, labels_path: Any) -> None:
    if images.shape[1:] != IMAGE_SHAPE:
        raise sources.DatasetCorruptError(
            f"{images_path} holds images of {images.shape[1]}x{images.shape[2]}; Fashion-MNIST images are 28x28."
        )
    if images.shape[0] != labels.shape[0]:
        raise sources.DatasetCorruptError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds {labels.shape[0]} labels; "
            "the two files of a split must match."
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise sources.DatasetCorruptError(
            f"{labels_path} holds label {int(labels.max())}; Fashion-MNIST labels are 0..{NUM_CLASSES - 1}."
        )


def _read_dir(files: tuple[pathlib.Path, pathlib.Path]) -> tuple[np.ndarray, np.ndarray]:
    images_path, labels_path = files
    images = read_idx(images_path, IMAGE_MAGIC)
    labels = read_idx(labels_path, LABEL_MAGIC)
    _check_arrays(images, labels, images_path, labels_path)
    return images[..., None], labels


def validation_mask(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Which of the 60,000 training examples form the ``"validation"`` split (see :data:`VALIDATION_PER_CLASS`).

    Args:
        images: The training images, uint8, ``(N, 28, 28)`` or ``(N, 28, 28, 1)``, in any order.
        labels: Their labels ``(N,)``, 0..9.

    Returns:
        A boolean ``(N,)`` mask, True for the examples of the validation split: per class, the
        :data:`VALIDATION_PER_CLASS` examples with the smallest SHA-256 of (label byte, pixel bytes), or all of the
        class's examples when it has fewer.

    Raises:
        ValueError: ``images`` is not uint8 or its length differs from ``labels``'.
    """
    images = np.asarray(images)
    labels = np.asarray(labels).reshape(-1)
    if images.dtype != np.uint8 or len(images) != len(labels):
        raise ValueError(
            "validation_mask takes the uint8 training images and their labels, of the same length. Received: "
            f"images of dtype {images.dtype} and length {len(images)}, {len(labels)} labels."
        )
    flat = np.ascontiguousarray(images.reshape(len(images), -1))
    keys = np.array(
        [hashlib.sha256(bytes([int(label) & 0xFF]) + row.tobytes()).digest() for label, row in zip(labels, flat)],
        dtype="S32",
    )
    mask = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        chosen = members[np.argsort(keys[members], kind="stable")[:VALIDATION_PER_CLASS]]
        mask[chosen] = True
    return mask


def _read_tfds(builder: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds

    data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    return np.asarray(data["image"], np.uint8), np.asarray(data["label"])


ARRAY_DTYPES = ("uint8", "float32")


def load_arrays(
    split: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    *,
    limit: int | None = None,
    dtype: str = "uint8",
) -> tuple[np.ndarray, np.ndarray, str]:
    """Finds and reads one split of Fashion-MNIST into memory: the one way this package gets Fashion-MNIST arrays.

    Args:
        split: ``"train"`` (60,000 examples), ``"test"`` (10,000), ``"validation"`` (6,000 of the training images,
            600 per class: :func:`validation_mask`) or ``"train_without_validation"`` (the other 54,000). Fit on
            ``"train_without_validation"``, choose on ``"validation"``, report ``"test"`` once.
        data_dir: Directory holding the idx files (or a tfds data directory); None searches the default places
            (module docstring).
        download: Whether, as the last resort, to download with ``tensorflow_datasets`` (only when ``data_dir`` is
            None).
        limit: Keep only the first ``limit`` examples of the split, in file order (None: all).
        dtype: ``"uint8"`` (the stored pixels) or ``"float32"`` (the same values 0..255 as floats, not normalised:
            what the project's Fashion-MNIST models take).

    Returns:
        ``(images, labels, source)``: images ``(N, 28, 28, 1)`` of ``dtype`` — with the channel axis, as Keras
        models take them — values 0..255; ``int64`` labels ``(N,)`` in 0..9 (:data:`CLASS_NAMES`); and a description
        of where they were read from. ``uint8`` images read from idx files are read-only views of the file's bytes
        (copy them before writing into them).

    Raises:
        DatasetNotFoundError: If no source has the split; the message lists every place looked and how to fix it.
        DatasetCorruptError: If the files found are not valid idx files of Fashion-MNIST.
        ValueError: If ``split`` is not one of :data:`SPLITS`, ``limit`` is not a positive integer or ``dtype`` is not
            one of :data:`ARRAY_DTYPES`.

    Example:
        >>> images, labels, source = load_arrays("test")  # doctest: +SKIP
        >>> images.shape, images.dtype.name, labels[:3].tolist()  # doctest: +SKIP
        ((10000, 28, 28, 1), 'uint8', [9, 2, 1])
    """
    split = pipeline.check_split(split, SPLITS)
    data_dir = pipeline.check_data_dir(data_dir)
    limit = pipeline.check_int("limit", limit, 1, allow_none=True)
    if dtype not in ARRAY_DTYPES:
        raise ValueError(f"Expected `dtype` to be one of 'uint8', 'float32'. Received: dtype={dtype!r}")
    if split in _DERIVED_SPLITS:
        images, labels, source = _find_and_read("train", data_dir, download, None)
        keep = validation_mask(images, labels)
        if split == "train_without_validation":
            keep = ~keep
        images, labels = images[keep], labels[keep]
        source = f"{split} split of the training images ({source})"
    else:
        images, labels, source = _find_and_read(split, data_dir, download, limit)
    images, labels = images[:limit], labels[:limit]
    if dtype != "uint8":
        images = images.astype(dtype)
    return images, labels.astype(np.int64), source


def _find_and_read(
    split: str, data_dir: str | None, download: bool, limit: int | None
) -> tuple[np.ndarray, np.ndarray, str]:
    log = sources.SearchLog("Fashion-MNIST", split)
    if data_dir is not None:
        directories = [(pathlib.Path(data_dir), "data_dir"), (pathlib.Path(data_dir) / "fashion-mnist", "data_dir")]
    else:
        directories = [
            (DEBIAN_DIR, "Debian package dataset-fashion-mnist"),
            (sources.keras_datasets_dir() / "fashion-mnist", "keras.datasets.fashion_mnist cache"),
        ]
    for directory, label in directories:
        files = _split_files(directory, split)
        if isinstance(files, str):
            log.miss(f"{directory} ({label})", files)
            continue
        images, labels = _read_dir(files)
        return images, labels, f"idx files {files[0]}, {files[1]}"
    builder = sources.prepared_tfds_builder("fashion_mnist", log, data_dir)
    if builder is None and data_dir is None:
        if download:
            builder = sources.download_tfds_builder("fashion_mnist", log)
        else:
            log.miss("tensorflow_datasets download", "skipped (download=False)")
    if builder is None:
        raise log.error(_HINT)
    images, labels = _read_tfds(builder, split if limit is None else f"{split}[:{limit}]")
    return images, labels, f"tensorflow_datasets fashion_mnist in {builder.data_dir}"


def _transform(config: pipeline.PipelineConfig):
    """The per-example function: augment at 28x28, then (for a model) resize and make RGB."""

    def transform(image, seed=None):
        if config.augment:
            image = augment_lib.fashion_mnist_train(image, augment_lib.split_seed(seed, 2)[0])
        if config.image_size is not None and config.image_size != IMAGE_SHAPE[0]:
            image = tf.image.resize(image, [config.image_size, config.image_size], method="bilinear")
        if config.mode is not None:  # registry models take RGB
            image = tf.image.grayscale_to_rgb(tf.cast(image, tf.float32))
        elif config.image_size is not None:
            image = tf.cast(image, tf.float32)
        if config.erasing:
            image = augment_lib.random_erasing(image, augment_lib.split_seed(seed, 2)[1])
        return image

    return transform


def fashion_mnist(
    split: str,
    batch_size: int = 128,
    for_model: str | None = None,
    augment: bool = False,
    shuffle: bool | None = None,
    seed: int | None = None,
    data_dir: str | os.PathLike | None = None,
    num_shards: int = 1,
    shard_index: int = 0,
    drop_remainder: bool = False,
    *,
    image_size: int | None = None,
    erasing: bool = False,
    shuffle_buffer: int | None = None,
    download: bool = True,
) -> tf.data.Dataset:
    """Fashion-MNIST as a ``tf.data.Dataset`` of ``(images, labels)`` batches.

    Without ``for_model`` (and ``image_size``) images are the raw ``uint8`` ``(28, 28, 1)`` pixels. With
    ``for_model`` they are resized to the model's ``default_size`` (or ``image_size``), made RGB (grey copied to 3
    channels) and normalised as the model expects (``float32``). Labels are ``int32`` class indices
    (:data:`CLASS_NAMES`).

    Args:
        split: One of :data:`SPLITS` (``"train"``, ``"test"``, ``"validation"``, ``"train_without_validation"``;
            see :func:`load_arrays`).
        batch_size: Examples per batch.
        for_model: A registered model name (``keras_archs.list_models()``): input size and normalisation from its
            ``ModelSpec``.
        augment: Random flip + translation up to 10% (``keras_archs.data.augment.fashion_mnist_train``).
        shuffle: Whether to shuffle; None means True for "train", False for "test". The whole shard is shuffled.
        seed: Makes shuffling and augmentation reproducible.
        data_dir: Where the idx files are; None searches the default places (module docstring).
        num_shards: Split the data among this many input pipelines (``Dataset.shard``, before shuffling).
        shard_index: This pipeline's shard, in ``[0, num_shards)``. See ``for_input_context`` for ``tf.distribute``.
        drop_remainder: Drop the last, smaller batch.
        image_size: Output size, overriding the model's; alone, it resizes without normalising (``float32``, 1
            channel, values 0..255).
        erasing: Random erasing (Zhong et al. 2017), after the resize.
        shuffle_buffer: Shuffle buffer size; None shuffles the whole shard.
        download: Allow a ``tensorflow_datasets`` download as the last resort (offline, tfds retries for minutes
            before failing: pass False to fail fast).

    Returns:
        A ``tf.data.Dataset`` of ``(images, labels)``: images ``(batch, size, size, channels)``, labels ``(batch,)``.

    Raises:
        DatasetNotFoundError: If no source has the data (the message lists every place looked and how to fix it).
        DatasetCorruptError: If the files found are not valid Fashion-MNIST idx files.
        ValueError: If an argument is out of range (``split``, ``batch_size``, ``shard_index``, unknown ``for_model``).
        TypeError: If an argument has the wrong type.

    Example:
        >>> ds = fashion_mnist("test", batch_size=32)  # doctest: +SKIP
        >>> images, labels = next(iter(ds))  # doctest: +SKIP
        >>> images.shape, images.dtype.name  # doctest: +SKIP
        (TensorShape([32, 28, 28, 1]), 'uint8')
        >>> ds = fashion_mnist("train", for_model="SqueezeNet1_1", augment=True, seed=0)  # doctest: +SKIP
    """
    config = pipeline.make_config(
        split=split,
        splits=SPLITS,
        batch_size=batch_size,
        for_model=for_model,
        image_size=image_size,
        augment=augment,
        erasing=erasing,
        shuffle=shuffle,
        seed=seed,
        num_shards=num_shards,
        shard_index=shard_index,
        drop_remainder=drop_remainder,
        shuffle_buffer=shuffle_buffer,
    )
    images, labels, _ = load_arrays(config.split, data_dir, download=pipeline.check_bool("download", download))
    with_seeds = config.augment or config.erasing
    return pipeline.from_arrays(images, labels, config, _transform(config), with_seeds=with_seeds)
