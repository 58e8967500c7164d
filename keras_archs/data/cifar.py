"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html): 60,000 32x32 colour
images, 50,000 for training and 10,000 for testing.

Both distributed formats are read, each as the extracted directory or as the ``.tar.gz`` itself:

* binary (``cifar-10-binary.tar.gz`` -> ``cifar-10-batches-bin/data_batch_{1..5}.bin``, ``test_batch.bin``;
  ``cifar-100-binary.tar.gz`` -> ``cifar-100-binary/train.bin``, ``test.bin``): fixed-size records, read with NumPy.
  A CIFAR-10 record is 1 label byte + 3,072 pixel bytes; a CIFAR-100 record is 1 coarse-label byte, 1 fine-label
  byte, 3,072 pixel bytes. Pixels are channel-major: 1,024 red, 1,024 green, 1,024 blue, each row-major 32x32.
* python (``cifar-10-python.tar.gz`` -> ``cifar-10-batches-py/data_batch_{1..5}``, ``test_batch``;
  ``cifar-100-python.tar.gz`` -> ``cifar-100-python/train``, ``test``): Python 2 pickles of dicts with bytes keys
  (``b"data"``: ``uint8`` ``(N, 3072)`` in the same pixel order; ``b"labels"``, or ``b"fine_labels"`` and
  ``b"coarse_labels"``). This package never unpickles anything itself: these files are read by Keras' own reader
  (``keras.src.datasets.cifar.load_batch``, the one behind ``keras.datasets.cifar10.load_data``), whose restricted
  unpickler only accepts NumPy array reconstruction.

Sources, tried in this order (binary before python at each place):

1. ``data_dir``, when given (and nothing else): the batch files themselves, the extracted directory inside it, the
   tarball inside it, or ``data_dir`` being the tarball; then a prepared ``tensorflow_datasets`` dataset under it.
2. ``$KERAS_HOME/datasets`` (default ``~/.keras/datasets``), the cache of ``keras.datasets.cifar10.load_data()``
   (Keras 3 extracts to ``cifar-10-batches-py-target/cifar-10-batches-py``; older Keras to ``cifar-10-batches-py``).
3. A prepared ``tensorflow_datasets`` ``cifar10`` / ``cifar100`` in tfds' default data directory.
4. A ``tensorflow_datasets`` download (``download=True``, only when tfds is installed; tfds reads the binary
   tarballs). Offline it fails after tfds' retries (minutes); ``download=False`` fails fast instead.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import pathlib
import tarfile
import tempfile
import zlib
from typing import Any

import numpy as np
import tensorflow as tf

from keras_archs import _files, class_names
from keras_archs.data import augment as augment_lib
from keras_archs.data import pipeline, sources

__all__ = [
    "SPLITS",
    "LABEL_MODES",
    "CIFAR10_CLASS_NAMES",
    "read_binary_batch",
    "read_python_batch",
    "load_arrays",
    "cifar10",
    "cifar100",
]

SPLITS = ("train", "test")
LABEL_MODES = ("fine", "coarse")
IMAGE_SIZE = 32
PIXEL_BYTES = 3 * IMAGE_SIZE * IMAGE_SIZE  # 3,072: 1,024 per channel, R then G then B
# https://www.cs.toronto.edu/~kriz/cifar.html, in label order; kept in keras_archs.class_names, which export reads too.
CIFAR10_CLASS_NAMES = class_names.CIFAR10


@dataclasses.dataclass(frozen=True)
class _Layout:
    """How one CIFAR variant is laid out on disk, in both formats."""

    name: str
    tfds_name: str
    bin_dir: str
    bin_archive: str
    bin_files: dict
    py_dir: str
    py_archive: str
    py_files: dict
    keras_target: str  # Keras 3 get_file(fname=..., extract=True) directory under ~/.keras/datasets
    label_bytes: int  # label bytes before the pixels of a binary record

    def label_offset(self, label_mode: str) -> int:
        return 1 if (self.label_bytes == 2 and label_mode == "fine") else 0

    def num_classes(self, label_mode: str) -> int:
        if self.label_bytes == 1:
            return 10
        return 100 if label_mode == "fine" else 20

    def python_label_key(self, label_mode: str) -> str:
        return "labels" if self.label_bytes == 1 else f"{label_mode}_labels"


_CIFAR10 = _Layout(
    name="CIFAR-10",
    tfds_name="cifar10",
    bin_dir="cifar-10-batches-bin",
    bin_archive="cifar-10-binary.tar.gz",
    bin_files={"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)},
    py_dir="cifar-10-batches-py",
    py_archive="cifar-10-python.tar.gz",
    py_files={"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
    keras_target="cifar-10-batches-py-target",
    label_bytes=1,
)
_CIFAR100 = _Layout(
    name="CIFAR-100",
    tfds_name="cifar100",
    bin_dir="cifar-100-binary",
    bin_archive="cifar-100-binary.tar.gz",
    bin_files={"train": ("train.bin",), "test": ("test.bin",)},
    py_dir="cifar-100-python",
    py_archive="cifar-100-python.tar.gz",
    py_files={"train": ("train",), "test": ("test",)},
    keras_target="cifar-100-python-target",
    label_bytes=2,
)


def _hint(layout: _Layout) -> str:
    return (
        f"pass data_dir= a directory holding {layout.bin_archive} or {layout.py_archive} (or their extracted "
        f"{layout.bin_dir}/ or {layout.py_dir}/ directories), from https://www.cs.toronto.edu/~kriz/cifar.html; "
        f"or run keras.datasets.{layout.tfds_name}.load_data() once while online (it fills ~/.keras/datasets); "
        f"or `pip install tensorflow-datasets && tfds build {layout.tfds_name}`."
    )


def read_binary_batch(
    data: bytes, label_bytes: int, label_offset: int, source: Any = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Parses the records of one CIFAR binary batch file.

    Args:
        data: The file's bytes.
        label_bytes: Label bytes per record: 1 (CIFAR-10) or 2 (CIFAR-100: coarse, then fine).
        label_offset: Which label byte to return (CIFAR-100: 0 coarse, 1 fine).
        source: The file's name, for error messages.

    Returns:
        ``(images, labels)``: ``uint8`` ``(N, 32, 32, 3)`` and ``uint8`` ``(N,)``.

    Raises:
        DatasetCorruptError: If the size is not a positive multiple of the record size.

    Example:
        >>> import numpy as np
        >>> record = bytes([7]) + bytes(3072)
        >>> images, labels = read_binary_batch(record * 2, label_bytes=1, label_offset=0)
        >>> images.shape, labels.tolist()
        ((2, 32, 32, 3), [7, 7])
    """
    record = label_bytes + PIXEL_BYTES
    if len(data) == 0 or len(data) % record:
        raise sources.DatasetCorruptError(
            f"CIFAR binary batch {source} is {len(data)} bytes long, not a positive multiple of the {record}-byte "
            f"record ({label_bytes} label byte(s) + {PIXEL_BYTES} pixel bytes). The file is truncated or is not a "
            "CIFAR binary batch of this variant; re-extract or re-download it."
        )
    records = np.frombuffer(data, np.uint8).reshape(-1, record)
    images = records[:, label_bytes:].reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), records[:, label_offset].copy()


def _keras_load_batch():
    # Keras' own CIFAR reader (restricted unpickler: NumPy arrays only). Private module path; a missing one is a
    # miss of the python-format source, not a reason to unpickle here.
    from keras.src.datasets.cifar import load_batch

    return load_batch


def read_python_batch(path: str | os.PathLike, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads one CIFAR python batch file with Keras' reader (``keras.src.datasets.cifar.load_batch``).

    Args:
        path: The batch file (``data_batch_1``, ``test_batch``, ``train``, ``test``).
        label_key: ``"labels"`` (CIFAR-10), ``"fine_labels"`` or ``"coarse_labels"`` (CIFAR-100).

    Returns:
        ``(images, labels)``: ``uint8`` ``(N, 32, 32, 3)`` and ``int64`` ``(N,)``.

    Raises:
        DatasetCorruptError: If Keras' reader refuses the file (not a pickle of plain data and NumPy arrays), or it
            lacks ``label_key`` / ``data``, or the data has the wrong size.
    """
    load_batch = _keras_load_batch()
    try:
        data, labels = load_batch(os.fspath(path), label_key=label_key)
    except (OSError, MemoryError):
        raise
    except Exception as error:  # refused global, truncated stream, missing key, wrong size: not a valid batch
        raise sources.DatasetCorruptError(
            f"CIFAR python batch {path} could not be read by Keras' restricted reader: {type(error).__name__}: "
            f"{error}. Expected a Python 2 pickle of a dict with bytes keys b'data' (uint8, N x 3072) and "
            f"b'{label_key}'; re-extract or re-download it."
        ) from error
    images = np.asarray(data, np.uint8).transpose(0, 2, 3, 1)  # load_batch gives (N, 3, 32, 32)
    labels = np.asarray(labels, np.int64)
    if labels.shape != (images.shape[0],):
        raise sources.DatasetCorruptError(
            f"CIFAR python batch {path} has {images.shape[0]} images but labels of shape {labels.shape}."
        )
    return np.ascontiguousarray(images), labels


_GZIP_MAGIC = b"\x1f\x8b"


def _check_gzip_stream(path: pathlib.Path) -> None:
    """Reads a gzip-compressed tarball to its end, where gzip checks its CRC-32 and length.

    ``tarfile`` stops reading at the tar end marker, before the gzip trailer, so a damaged tarball whose deflate
    stream still inflates would be read without its checksum ever being compared (issue #13's fuzz battery found
    such files loading other pixels). One extra pass over the stream (~1 s for CIFAR-10's 163 MB) makes the checksum
    count.
    """
    with open(path, "rb") as handle:
        if handle.read(2) != _GZIP_MAGIC:
            return
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise sources.DatasetCorruptError(
            f"CIFAR archive {path} fails its gzip check ({type(error).__name__}: {error}): the file is truncated or "
            "damaged; re-download it."
        ) from error


class _Container:
    """A directory or a tarball holding batch files, addressed by base name."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self._tar = None
        self._members: dict[str, tarfile.TarInfo] = {}

    def missing(self, names: tuple[str, ...]) -> str | None:
        """Why the container cannot serve ``names``, or None if it can."""
        if self.path.is_dir():
            absent = [name for name in names if not (self.path / name).is_file()]
            return f"missing {', '.join(absent)}" if absent else None
        if not self.path.is_file():
            return "does not exist"
        _check_gzip_stream(self.path)
        try:
            self._tar = tarfile.open(self.path, "r:*")
            self._members = {pathlib.PurePosixPath(m.name).name: m for m in self._tar.getmembers() if m.isfile()}
        except (tarfile.TarError, OSError, EOFError) as error:
            raise sources.DatasetCorruptError(
                f"CIFAR archive {self.path} cannot be read as a tar file: {type(error).__name__}: {error}. "
                "Re-download it."
            ) from error
        absent = [name for name in names if name not in self._members]
        return f"archive lacks {', '.join(absent)}" if absent else None

    def read(self, name: str) -> bytes:
        if self._tar is None:
            return (self.path / name).read_bytes()
        return self._tar.extractfile(self._members[name]).read()

    def local_path(self, name: str, scratch: str) -> str:
        """A file path for ``name`` (extracted into ``scratch`` from a tarball), for readers that need a path."""
        if self._tar is None:
            return os.fspath(self.path / name)
        target = os.path.join(scratch, name)
        _files.write_bytes(target, self.read(name))
        return target

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()


def _candidates(layout: _Layout, data_dir: str | None) -> list[tuple[str, pathlib.Path, str]]:
    """``(format, path, label)`` of every place to look, in order."""
    if data_dir is not None:
        root = pathlib.Path(data_dir)
        if root.is_file():
            return [("bin", root, "data_dir (archive)"), ("py", root, "data_dir (archive)")]
        roots = [(root, "data_dir")]
    else:
        cache = sources.keras_datasets_dir()
        roots = [(cache, "Keras cache"), (cache / layout.keras_target, "Keras cache (keras.datasets, Keras 3)")]
    places = []
    for fmt, directory, archive in (
        ("bin", layout.bin_dir, layout.bin_archive),
        ("py", layout.py_dir, layout.py_archive),
    ):
        for root, label in roots:
            for path in (root, root / directory, root / archive):
                places.append((fmt, path, label))
    if data_dir is None:  # Keras 3 keeps the downloaded tarball beside the extracted directory, without extension
        places.append(("py", cache / f"{layout.keras_target}_archive", "Keras cache (keras.datasets, Keras 3)"))
    return places


def _read_container(layout, fmt, container, split, label_mode) -> tuple[np.ndarray, np.ndarray]:
    names = layout.bin_files[split] if fmt == "bin" else layout.py_files[split]
    parts = []
    if fmt == "bin":
        for name in names:
            parts.append(
                read_binary_batch(
                    container.read(name),
                    layout.label_bytes,
                    layout.label_offset(label_mode),
                    f"{container.path}:{name}",
                )
            )
    else:
        with tempfile.TemporaryDirectory(prefix="keras_archs_cifar_") as scratch:
            for name in names:
                parts.append(
                    read_python_batch(container.local_path(name, scratch), layout.python_label_key(label_mode))
                )
    images = np.concatenate([part[0] for part in parts])
    labels = np.concatenate([part[1] for part in parts])
    classes = layout.num_classes(label_mode)
    if labels.size and labels.max() >= classes:
        raise sources.DatasetCorruptError(
            f"{layout.name} data in {container.path} holds label {int(labels.max())}; {label_mode!r} labels are "
            f"0..{classes - 1}. Is this the right CIFAR variant?"
        )
    return images, labels


def _read_tfds(builder: Any, split: str, label_mode: str) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds

    data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    key = "coarse_label" if label_mode == "coarse" else "label"
    return np.asarray(data["image"], np.uint8), np.asarray(data[key], np.int64)


def load_arrays(
    name: str,
    split: str,
    label_mode: str = "fine",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Finds and reads one split of CIFAR-10 or CIFAR-100 into memory.

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        split: ``"train"`` or ``"test"``.
        label_mode: CIFAR-100 only: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
        data_dir: Where the data is (module docstring); None searches the default places.
        download: Whether, as the last resort, to download with ``tensorflow_datasets`` (only when ``data_dir`` is
            None).

    Returns:
        ``(images, labels, source)``: ``uint8`` ``(N, 32, 32, 3)``, integer ``(N,)``, where they were read from.

    Raises:
        DatasetNotFoundError: If no source has the split; the message lists every place looked and how to fix it.
        DatasetCorruptError: If a file found is not valid CIFAR data.
        ValueError: For an unknown ``name``, ``split`` or ``label_mode``.

    Example:
        >>> images, labels, source = load_arrays("cifar10", "test", data_dir="/data/cifar")  # doctest: +SKIP
        >>> images.shape  # doctest: +SKIP
        (10000, 32, 32, 3)
    """
    layouts = {"cifar10": _CIFAR10, "cifar100": _CIFAR100}
    if name not in layouts:
        raise ValueError(f"Expected `name` to be one of 'cifar10', 'cifar100'. Received: name={name!r}")
    layout = layouts[name]
    split = pipeline.check_split(split, SPLITS)
    if label_mode not in LABEL_MODES:
        raise ValueError(f"Expected `label_mode` to be one of 'fine', 'coarse'. Received: label_mode={label_mode!r}")
    data_dir = pipeline.check_data_dir(data_dir)
    log = sources.SearchLog(layout.name, split)
    for fmt, path, label in _candidates(layout, data_dir):
        place = f"{path} ({label}, {'binary' if fmt == 'bin' else 'python'} format)"
        names = layout.bin_files[split] if fmt == "bin" else layout.py_files[split]
        container = _Container(path)
        try:
            reason = container.missing(names)
            if reason is None and fmt == "py":
                try:
                    _keras_load_batch()
                except ImportError as error:
                    reason = f"the python format needs Keras' reader keras.src.datasets.cifar.load_batch ({error})"
            if reason is not None:
                log.miss(place, reason)
                continue
            images, labels = _read_container(layout, fmt, container, split, label_mode)
            return images, labels, place
        finally:
            container.close()
    builder = sources.prepared_tfds_builder(layout.tfds_name, log, data_dir)
    if builder is None and data_dir is None:
        if download:
            builder = sources.download_tfds_builder(layout.tfds_name, log)
        else:
            log.miss("tensorflow_datasets download", "skipped (download=False)")
    if builder is None:
        raise log.error(_hint(layout))
    images, labels = _read_tfds(builder, split, label_mode)
    return images, labels, f"tensorflow_datasets {layout.tfds_name} in {builder.data_dir}"


def _transform(config: pipeline.PipelineConfig):
    def transform(image, seed=None):
        if config.augment:
            image = augment_lib.cifar_train(image, augment_lib.split_seed(seed, 2)[0])
        image = tf.cast(image, tf.float32)
        if config.image_size is not None and config.image_size != IMAGE_SIZE:
            image = tf.image.resize(image, [config.image_size, config.image_size], method="bilinear")
        if config.erasing:
            image = augment_lib.random_erasing(image, augment_lib.split_seed(seed, 2)[1])
        return image

    return transform


def _dataset(name, split, label_mode, data_dir, download, **kwargs) -> tf.data.Dataset:
    config = pipeline.make_config(split=split, splits=SPLITS, **kwargs)
    download = pipeline.check_bool("download", download)
    images, labels, _ = load_arrays(name, config.split, label_mode, data_dir, download)
    with_seeds = config.augment or config.erasing
    transform = _transform(config)
    return pipeline.from_arrays(images, labels, config, transform, with_seeds=with_seeds)


_COMMON_ARGS_DOC = """
        batch_size: Examples per batch.
        for_model: A registered model name (``keras_archs.list_models()``): input size and normalisation from its
            ``ModelSpec`` (e.g. ``"CifarResNet20"``: 32x32, "tf" scaling; an ImageNet model: resized to its size).
        augment: Pad 4 (reflect) + random 32x32 crop + random flip (``keras_archs.data.augment.cifar_train``).
        shuffle: Whether to shuffle; None means True for "train", False for "test". The whole shard is shuffled.
        seed: Makes shuffling and augmentation reproducible.
        data_dir: Where the data is; None searches the default places (module docstring).
        num_shards: Split the data among this many input pipelines (``Dataset.shard``, before shuffling).
        shard_index: This pipeline's shard, in ``[0, num_shards)``. See ``for_input_context`` for ``tf.distribute``.
        drop_remainder: Drop the last, smaller batch.
        image_size: Output size, overriding the model's (alone: resize only, values stay 0..255).
        erasing: Random erasing (Zhong et al. 2017), after the crop/flip and the resize.
        shuffle_buffer: Shuffle buffer size; None shuffles the whole shard.
        download: Allow a ``tensorflow_datasets`` download as the last resort (offline, tfds retries for minutes
            before failing: pass False to fail fast).

    Returns:
        A ``tf.data.Dataset`` of ``(images, labels)``: ``float32`` images ``(batch, size, size, 3)`` (values 0..255
        without ``for_model``), ``int32`` labels ``(batch,)``.

    Raises:
        DatasetNotFoundError: If no source has the data (the message lists every place looked and how to fix it).
        DatasetCorruptError: If a file found is not valid CIFAR data.
        ValueError: If an argument is out of range (``split``, ``batch_size``, ``shard_index``, unknown ``for_model``).
        TypeError: If an argument has the wrong type.
"""


def cifar10(
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
    return _dataset(
        "cifar10",
        split,
        "fine",
        data_dir,
        download,
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


def cifar100(
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
    label_mode: str = "fine",
    image_size: int | None = None,
    erasing: bool = False,
    shuffle_buffer: int | None = None,
    download: bool = True,
) -> tf.data.Dataset:
    if label_mode not in LABEL_MODES:
        raise ValueError(f"Expected `label_mode` to be one of 'fine', 'coarse'. Received: label_mode={label_mode!r}")
    return _dataset(
        "cifar100",
        split,
        label_mode,
        data_dir,
        download,
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


_EXAMPLE = """
    Example:
        >>> ds = {name}("train", data_dir="/data/cifar", for_model="MobileNet", image_size=32,  # doctest: +SKIP
        ...             augment=True, seed=0)
        >>> images, labels = next(iter(ds))  # doctest: +SKIP
        >>> images.shape  # doctest: +SKIP
        TensorShape([128, 32, 32, 3])
"""
# The two functions share most of their documentation: each docstring is assigned whole, from the shared parts.
cifar10.__doc__ = (
    """CIFAR-10 as a ``tf.data.Dataset`` of ``(images, labels)`` batches (labels: :data:`CIFAR10_CLASS_NAMES`).

    Args:
        split: ``"train"`` (50,000) or ``"test"`` (10,000)."""
    + _COMMON_ARGS_DOC
    + _EXAMPLE.format(name="cifar10")
)
cifar100.__doc__ = (
    """CIFAR-100 as a ``tf.data.Dataset`` of ``(images, labels)`` batches.

    Args:
        split: ``"train"`` (50,000) or ``"test"`` (10,000).
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses)."""
    + _COMMON_ARGS_DOC
    + _EXAMPLE.format(name="cifar100")
)
