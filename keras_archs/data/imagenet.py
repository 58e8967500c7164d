"""ImageNet-1k (ILSVRC2012): 1,281,167 training and 50,000 validation images of 1,000 classes.

Two on-disk forms are read, and both feed the same decoding (the JPEG bytes are decoded here, never by the reader):

* TFRecord shards ``train-*-of-*`` / ``validation-*-of-*`` of ``tf.train.Example`` records with ``image/encoded``
  (the JPEG bytes) and ``image/class/label`` (``int64``, 1..1000, 0 being reserved for "background"; we subtract 1).
  This is the layout written by TensorFlow's ``build_imagenet_data.py`` (models/research/inception, also used by the
  TPU ResNet reference), typically 1024 training and 128 validation shards. Other features are ignored.
* A prepared ``tensorflow_datasets`` ``imagenet2012``, read with ``tfds.decode.SkipDecoding()`` so the ``image``
  feature stays the encoded bytes; its ``label`` is already 0..999.

Sources, tried in this order:

1. ``data_dir``, when given (and nothing else): TFRecord shards directly in it; then ``imagenet2012`` prepared by
   tfds under it (``data_dir`` as tfds' data directory).
2. ``imagenet2012`` prepared in tfds' default data directory (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).

Nothing is downloaded: ImageNet's licence requires a manual download (https://image-net.org), after which
``tfds build imagenet2012 --manual_dir=...`` prepares it.

Preprocessing (``keras_archs.data.augment``): training, with ``augment=True``, is the fused random-area crop
(8%-100% of the area, aspect ratio 3/4-4/3) + flip, resized to the model size; evaluation is the centre crop of 0.875
of the shorter side, resized. ``crops=5`` or ``crops=10`` gives multi-crop evaluation instead
(``keras_archs.data.multicrop``): the shorter side is resized to ``size / 0.875`` (256 for 224) and each image
becomes a stack of crops.
"""

from __future__ import annotations

import os
import pathlib
import struct
from typing import Any

import tensorflow as tf

from keras_archs.data import augment as augment_lib
from keras_archs.data import multicrop, pipeline, sources

__all__ = [
    "SPLITS",
    "DEFAULT_SIZE",
    "DEFAULT_SHUFFLE_BUFFER",
    "TFRECORD_FEATURES",
    "check_tfrecord_framing",
    "find_tfrecords",
    "parse_tfrecord",
    "imagenet",
]

SPLITS = ("train", "validation")
DEFAULT_SIZE = 224  # without for_model / image_size
DEFAULT_SHUFFLE_BUFFER = 1024  # records (~110 kB each): ~110 MB of JPEG bytes per pipeline
TFRECORD_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
}
NUM_CLASSES = 1000
_READ_BUFFER = 8 << 20  # bytes of read-ahead per TFRecord file
_HINT = (
    "pass data_dir= a directory holding the TFRecord shards train-*-of-* / validation-*-of-* (features "
    "image/encoded and image/class/label 1..1000, as written by build_imagenet_data.py), or prepare tfds' "
    "imagenet2012 (`pip install tensorflow-datasets`, download the ILSVRC2012 tarballs from https://image-net.org, "
    "then `tfds build imagenet2012 --manual_dir=DIR`) and pass its data_dir (or use tfds' default one)."
)


def find_tfrecords(directory: str | os.PathLike, split: str) -> list[str]:
    """The TFRecord shards ``{split}-NNNNN-of-NNNNN`` in ``directory``, sorted by name (empty if none).

    Example:
        >>> find_tfrecords("/nonexistent", "train")
        []
    """
    split = pipeline.check_split(split, SPLITS)
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return []
    return sorted(os.fspath(path) for path in directory.glob(f"{split}-*-of-*") if path.is_file())


# A TFRecord is a sequence of [uint64 length, uint32 masked CRC-32C of the length, data, uint32 masked CRC-32C of the
# data], little-endian (tensorflow/core/lib/io/record_writer.cc): 16 bytes of framing per record.
_RECORD_HEADER = 12
_RECORD_FRAMING = 16


def check_tfrecord_framing(path: str | os.PathLike) -> int:
    """Walks the record headers of a TFRecord file; returns its number of records.

    TensorFlow's reader (2.21) crashes the whole process (a segmentation fault, no exception) on a record whose
    length field, with a valid CRC, asks for more than a few hundred GB: a 12-byte crafted shard is enough (issue #13's
    fuzz battery, tests/test_fuzz_formats.py). Every length must fit in the rest of the file, which this checks from
    the headers alone (one 12-byte read per record: about a second for ImageNet's 1.28M training records).

    Raises:
        DatasetCorruptError: A record's header is cut short or its length runs past the end of the file.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "validation-00000-of-00001")
        >>> with tf.io.TFRecordWriter(path) as writer:
        ...     writer.write(b"abc")
        >>> check_tfrecord_framing(path)
        1
    """
    size = os.path.getsize(path)
    position = records = 0
    descriptor = os.open(path, os.O_RDONLY)
    try:
        while position < size:
            header = os.pread(descriptor, _RECORD_HEADER, position)
            if len(header) < _RECORD_HEADER:
                raise sources.DatasetCorruptError(
                    f"TFRecord file {os.fspath(path)} ends inside the header of record {records} (offset {position}): "
                    "the file is truncated; re-copy it."
                )
            (length,) = struct.unpack_from("<Q", header)
            if length > size - position - _RECORD_FRAMING:
                raise sources.DatasetCorruptError(
                    f"TFRecord file {os.fspath(path)}: record {records} (offset {position}) claims {length} bytes, "
                    f"more than the {max(size - position - _RECORD_FRAMING, 0)} left in the file: the file is "
                    "truncated or damaged; re-copy it."
                )
            position += _RECORD_FRAMING + length
            records += 1
    finally:
        os.close(descriptor)
    return records


def parse_tfrecord(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Parses one serialized ``tf.train.Example`` into ``(jpeg_bytes, label)``, label 0..999 (``int32``).

    Raises:
        tf.errors.InvalidArgumentError: (when run) if ``image/class/label`` is not in 1..1000.
    """
    features = tf.io.parse_single_example(serialized, TFRECORD_FEATURES)
    label = features["image/class/label"]
    checks = [
        tf.debugging.assert_greater_equal(
            label, tf.constant(1, tf.int64), message="image/class/label must be 1..1000 (0 is background)"
        ),
        tf.debugging.assert_less_equal(
            label, tf.constant(NUM_CLASSES, tf.int64), message="image/class/label must be 1..1000"
        ),
    ]
    with tf.control_dependencies(checks):
        label = tf.cast(label - 1, tf.int32)
    return features["image/encoded"], label


def _tfrecord_dataset(files: list[str], config: pipeline.PipelineConfig) -> tf.data.Dataset:
    """Shard (by file when there are enough files, else by record) before any shuffling, then shuffle."""
    file_level = len(files) >= config.num_shards
    files_ds = tf.data.Dataset.from_tensor_slices(files)
    if file_level:
        files_ds = files_ds.shard(config.num_shards, config.shard_index)
        if config.shuffle:
            files_ds = files_ds.shuffle(len(files), seed=config.seed, reshuffle_each_iteration=True)
    records = files_ds.interleave(
        lambda path: tf.data.TFRecordDataset(path, buffer_size=_READ_BUFFER),
        cycle_length=min(len(files), 16),
        num_parallel_calls=pipeline.AUTOTUNE,
        deterministic=True,
    )
    if not file_level:
        records = records.shard(config.num_shards, config.shard_index)
    if config.shuffle:
        records = records.shuffle(config.shuffle_buffer or DEFAULT_SHUFFLE_BUFFER, seed=config.seed)
    return records.map(parse_tfrecord, num_parallel_calls=pipeline.AUTOTUNE)


def _tfds_dataset(builder: Any, config: pipeline.PipelineConfig) -> tf.data.Dataset:
    import tensorflow_datasets as tfds

    examples = builder.as_dataset(
        split=config.split, decoders={"image": tfds.decode.SkipDecoding()}, shuffle_files=False
    )
    examples = examples.shard(config.num_shards, config.shard_index)
    if config.shuffle:
        examples = examples.shuffle(config.shuffle_buffer or DEFAULT_SHUFFLE_BUFFER, seed=config.seed)
    return examples.map(
        lambda example: (example["image"], tf.cast(example["label"], tf.int32)), num_parallel_calls=pipeline.AUTOTUNE
    )


def _find_source(split: str, data_dir: str | None) -> tuple[str, Any]:
    """``("tfrecord", files)`` or ``("tfds", builder)``; raises DatasetNotFoundError listing every place looked."""
    log = sources.SearchLog("ImageNet (ILSVRC2012)", split)
    if data_dir is not None:
        files = find_tfrecords(data_dir, split)
        if files:
            for path in files:  # before TensorFlow reads them: a crafted length crashes its reader
                check_tfrecord_framing(path)
            return "tfrecord", files
        reason = "directory does not exist" if not pathlib.Path(data_dir).is_dir() else f"no {split}-*-of-* files"
        log.miss(f"{data_dir} (data_dir, TFRecord shards)", reason)
    builder = sources.prepared_tfds_builder("imagenet2012", log, data_dir)
    if builder is not None:
        return "tfds", builder
    log.miss("tensorflow_datasets download of 'imagenet2012'", "not possible: ImageNet requires a manual download")
    raise log.error(_HINT)


def _resize_shorter_side(encoded: tf.Tensor, target: int) -> tf.Tensor:
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = target / tf.reduce_min(shape)
    new_shape = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), target)
    return tf.image.resize(image, new_shape, method="bilinear")


def _transform(config: pipeline.PipelineConfig, size: int, crops: int | None, crop_fraction: float):
    def transform(encoded, label, seed=None):
        if crops is not None:
            resized = _resize_shorter_side(encoded, int(round(size / crop_fraction)))
            image = tf.ensure_shape(multicrop.multi_crop(resized, size, crops), [crops, size, size, 3])
        elif config.augment:
            image = augment_lib.imagenet_train(encoded, size, augment_lib.split_seed(seed, 2)[0])
        else:
            image = augment_lib.imagenet_eval(encoded, size, crop_fraction)
        if config.erasing:
            image = augment_lib.random_erasing(image, augment_lib.split_seed(seed, 2)[1])
        return image, label

    return transform


def imagenet(
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
    crops: int | None = None,
    crop_fraction: float = augment_lib.EVAL_CROP_FRACTION,
) -> tf.data.Dataset:
    """ImageNet-1k as a ``tf.data.Dataset`` of ``(images, labels)`` batches.

    Args:
        split: ``"train"`` or ``"validation"``.
        batch_size: Examples per batch.
        for_model: A registered model name (``keras_archs.list_models()``): input size (``default_size``) and
            normalisation (its ``preprocessing`` mode) from its ``ModelSpec``.
        augment: The training augmentation (random-area crop + flip); False uses the evaluation centre crop.
        shuffle: Whether to shuffle; None means True for "train". Files are shuffled, then records in a buffer.
        seed: Makes shuffling and augmentation reproducible.
        data_dir: Where the TFRecord shards (or a tfds data directory) are; None uses tfds' default directory.
        num_shards: Split the data among this many input pipelines: by file when there are at least ``num_shards``
            files, else by record; always before shuffling.
        shard_index: This pipeline's shard, in ``[0, num_shards)``. See ``for_input_context`` for ``tf.distribute``.
        drop_remainder: Drop the last, smaller batch.
        image_size: Output size, overriding the model's; the default without a model is 224.
        erasing: Random erasing (Zhong et al. 2017) after the crop and resize (not with ``crops``).
        shuffle_buffer: Record shuffle buffer; None means :data:`DEFAULT_SHUFFLE_BUFFER`.
        crops: None (single centre crop, fused decode), or 1, 5 or 10 for multi-crop evaluation: images become
            ``(batch, crops, size, size, 3)`` (see ``keras_archs.data.multicrop.average_predictions``).
        crop_fraction: Crop side over the shorter image side for evaluation (0.875 = 224/256).

    Returns:
        A ``tf.data.Dataset`` of ``(images, labels)``: ``float32`` images ``(batch, size, size, 3)`` (values 0..255
        without ``for_model``), ``int32`` labels 0..999 ``(batch,)``.

    Raises:
        DatasetNotFoundError: If no source has the data (the message lists every place looked and how to fix it).
        ValueError: If an argument is out of range (``split``, ``crops``, ``crop_fraction``, unknown ``for_model``),
            or ``crops`` is combined with ``augment`` / ``erasing``.
        TypeError: If an argument has the wrong type.

    Example:
        >>> ds = imagenet("validation", data_dir="/data/imagenet/tfrecords", for_model="ResNet50")  # doctest: +SKIP
        >>> images, labels = next(iter(ds))  # doctest: +SKIP
        >>> images.shape  # doctest: +SKIP
        TensorShape([128, 224, 224, 3])
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
    if crops is not None:
        if isinstance(crops, bool) or crops not in multicrop.NUM_CROPS:
            raise ValueError(f"Expected `crops` to be None, 1, 5 or 10. Received: crops={crops!r}")
        if config.augment or config.erasing:
            raise ValueError(
                "Multi-crop evaluation (`crops`) cannot be combined with augment=True or erasing=True. "
                f"Received: crops={crops}, augment={config.augment}, erasing={config.erasing}"
            )
    if isinstance(crop_fraction, bool) or not isinstance(crop_fraction, (int, float)) or not 0 < crop_fraction <= 1:
        raise ValueError(
            f"Expected `crop_fraction` to be a number in (0, 1]. Received: crop_fraction={crop_fraction!r}"
        )
    kind, source = _find_source(config.split, pipeline.check_data_dir(data_dir))
    records = _tfrecord_dataset(source, config) if kind == "tfrecord" else _tfds_dataset(source, config)
    size = config.image_size or DEFAULT_SIZE
    with_seeds = config.augment or config.erasing
    transform = _transform(config, size, crops, float(crop_fraction))
    return pipeline.transform_and_batch(records, config, transform, with_seeds=with_seeds)
