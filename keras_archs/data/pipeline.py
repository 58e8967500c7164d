"""The parts every dataset pipeline shares: argument checks, model-specific sizes and normalisation, sharding,
seeded shuffling and per-example random seeds, batching.

The order of a pipeline is fixed (and the same for every dataset):

1. examples (indices into in-memory arrays, or TFRecord files / records) ->
2. ``Dataset.shard(num_shards, shard_index)``, before anything random, so that the shards of every worker partition
   the data whatever their seeds ->
3. ``shuffle`` (seeded) ->
4. a per-example seed for the stateless random ops of the augmentation (``Dataset.random``, seeded, new values each
   epoch) ->
5. decode + augment + resize, per example, in parallel, order preserved ->
6. ``batch`` ->
7. normalisation for the model (:func:`keras_archs.data.preprocessing.preprocess`), on whole batches ->
8. ``prefetch``.

With ``seed`` set, two pipelines built with the same arguments give the same batches, epoch after epoch (each epoch
differs from the previous one, deterministically).

Distributed training: ``tf.distribute`` strategies call a dataset function once per input pipeline with a
``tf.distribute.InputContext``; :func:`for_input_context` turns it into this package's shard arguments::

    def dataset_fn(ctx):
        return keras_archs.data.cifar10("train", augment=True, seed=0, **for_input_context(ctx, global_batch_size=256))

    dist_ds = strategy.distribute_datasets_from_function(dataset_fn)
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from typing import Any, Callable, Sequence

import tensorflow as tf

from keras_archs.data.preprocessing import check_mode, preprocess

__all__ = [
    "PipelineConfig",
    "check_bool",
    "check_data_dir",
    "check_int",
    "check_split",
    "make_config",
    "model_input",
    "for_input_context",
    "per_example_seeds",
    "transform_and_batch",
    "from_arrays",
]

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """The validated arguments of a dataset function.

    Attributes:
        split: The split (already checked against the dataset's splits).
        batch_size: Examples per batch.
        image_size: Output height and width; None keeps the dataset's native size.
        mode: Normalisation mode (one of ``keras_archs.data.preprocessing.MODES``); None leaves pixel values on the
            0..255 scale.
        augment: Whether to apply the paper's training augmentation.
        erasing: Whether to apply random erasing (Zhong et al. 2017).
        shuffle: Whether to shuffle.
        seed: Seed of the shuffle and of the augmentation; None is non-deterministic.
        num_shards: Number of input pipelines the data is split among.
        shard_index: Which of them this pipeline is.
        drop_remainder: Whether to drop the last, smaller batch.
        shuffle_buffer: Shuffle buffer size; None means the dataset's default.
        for_model: The registry name the size and mode came from, if any.
    """

    split: str
    batch_size: int
    image_size: int | None
    mode: str | None
    augment: bool
    erasing: bool
    shuffle: bool
    seed: int | None
    num_shards: int
    shard_index: int
    drop_remainder: bool
    shuffle_buffer: int | None
    for_model: str | None


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> int | None:
    """Returns ``value`` if it is an integer >= ``minimum`` (or None when allowed), else raises a ValueError."""
    if value is None and allow_none:
        return None
    if not _is_int(value) or value < minimum:
        accepted = f"an integer >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"Expected `{name}` to be {accepted}. Received: {name}={value!r}")
    return int(value)


def check_bool(name: str, value: Any, allow_none: bool = False) -> bool | None:
    """Returns ``value`` if it is a bool (or None when allowed), else raises a TypeError."""
    if value is None and allow_none:
        return None
    if not isinstance(value, bool):
        accepted = "True or False" + (" (or None)" if allow_none else "")
        raise TypeError(
            f"Expected `{name}` to be {accepted}. Received: {name}={value!r} of type {type(value).__name__}"
        )
    return value


def check_split(split: Any, splits: Sequence[str]) -> str:
    """Returns ``split`` if it is one of ``splits``, else raises a ValueError naming the accepted values."""
    if not isinstance(split, str) or split not in splits:
        raise ValueError(f"Expected `split` to be one of {', '.join(map(repr, splits))}. Received: split={split!r}")
    return split


def check_data_dir(data_dir: Any) -> str | None:
    """Returns ``data_dir`` as a string path (or None); raises TypeError for anything else."""
    if data_dir is None:
        return None
    if not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(
            "Expected `data_dir` to be a path (str or os.PathLike) or None. "
            f"Received: data_dir={data_dir!r} of type {type(data_dir).__name__}"
        )
    return os.fspath(data_dir)


def model_input(for_model: str | None, image_size: int | None) -> tuple[int | None, str | None]:
    """The input size and normalisation mode of the registered model ``for_model``.

    Args:
        for_model: A registry name or alias (``"ResNet50"``, ``"squeezenet"``), or None.
        image_size: Explicit size, overriding the model's ``default_size``.

    Returns:
        ``(size, mode)``: ``(image_size, None)`` without a model.

    Raises:
        TypeError: If ``for_model`` is not a string.
        ValueError: If no model has that name (the message lists the registered names), or ``image_size`` is not a
            positive integer.
    """
    image_size = check_int("image_size", image_size, 1, allow_none=True)
    if for_model is None:
        return image_size, None
    from keras_archs import applications  # importing it fills the registry (every family); only with for_model

    if not isinstance(for_model, str):
        raise TypeError(
            f"Expected `for_model` to be a registered model name or None. Received: for_model={for_model!r} "
            f"of type {type(for_model).__name__}"
        )
    spec = applications.get_spec(for_model)
    try:
        check_mode(spec.preprocessing, allow_none=False)
    except ValueError as error:
        raise ValueError(
            f"Model {spec.name!r} records preprocessing={spec.preprocessing!r}, which the data pipelines do not "
            f"implement: {error}"
        ) from None
    return (image_size if image_size is not None else spec.default_size), spec.preprocessing


def make_config(
    *,
    split: Any,
    splits: Sequence[str],
    batch_size: Any,
    for_model: Any,
    image_size: Any,
    augment: Any,
    erasing: Any,
    shuffle: Any,
    seed: Any,
    num_shards: Any,
    shard_index: Any,
    drop_remainder: Any,
    shuffle_buffer: Any,
) -> PipelineConfig:
    """Checks the arguments every dataset function shares and resolves ``for_model``; see :class:`PipelineConfig`.

    Raises:
        ValueError: For a value out of range (message: argument, value received, what is accepted).
        TypeError: For a value of the wrong type.
    """
    split = check_split(split, splits)
    batch_size = check_int("batch_size", batch_size, 1)
    image_size, mode = model_input(for_model, image_size)
    augment = check_bool("augment", augment)
    erasing = check_bool("erasing", erasing)
    shuffle = check_bool("shuffle", shuffle, allow_none=True)
    if seed is not None and not _is_int(seed):
        raise TypeError(
            f"Expected `seed` to be an integer or None. Received: seed={seed!r} of type {type(seed).__name__}"
        )
    num_shards = check_int("num_shards", num_shards, 1)
    shard_index = check_int("shard_index", shard_index, 0)
    if shard_index >= num_shards:
        raise ValueError(
            f"Expected `shard_index` to be in [0, num_shards - 1] = [0, {num_shards - 1}]. "
            f"Received: shard_index={shard_index}, num_shards={num_shards}"
        )
    drop_remainder = check_bool("drop_remainder", drop_remainder)
    shuffle_buffer = check_int("shuffle_buffer", shuffle_buffer, 1, allow_none=True)
    return PipelineConfig(
        split=split,
        batch_size=batch_size,
        image_size=image_size,
        mode=mode,
        augment=augment,
        erasing=erasing,
        shuffle=(split == "train") if shuffle is None else shuffle,
        seed=None if seed is None else int(seed),
        num_shards=num_shards,
        shard_index=shard_index,
        drop_remainder=drop_remainder,
        shuffle_buffer=shuffle_buffer,
        for_model=for_model,
    )


def for_input_context(input_context: tf.distribute.InputContext, global_batch_size: int | None = None) -> dict:
    """The shard arguments (and per-replica batch size) for one input pipeline of a ``tf.distribute`` strategy.

    Args:
        input_context: The ``tf.distribute.InputContext`` that ``strategy.distribute_datasets_from_function`` passes
            to the dataset function.
        global_batch_size: Optional global batch size; when given, the result also holds ``batch_size``, the
            per-replica batch size (``input_context.get_per_replica_batch_size``).

    Returns:
        ``{"num_shards": ..., "shard_index": ...}`` (plus ``"batch_size"``), to pass as ``**kwargs`` to
        ``fashion_mnist``, ``cifar10``, ``cifar100`` or ``imagenet``.

    Raises:
        TypeError: If ``input_context`` is not a ``tf.distribute.InputContext``.

    Example:
        >>> import tensorflow as tf
        >>> ctx = tf.distribute.InputContext(num_input_pipelines=4, input_pipeline_id=1, num_replicas_in_sync=4)
        >>> for_input_context(ctx, global_batch_size=256)
        {'num_shards': 4, 'shard_index': 1, 'batch_size': 64}
    """
    if not isinstance(input_context, tf.distribute.InputContext):
        raise TypeError(
            "Expected `input_context` to be a tf.distribute.InputContext. "
            f"Received: input_context={input_context!r} of type {type(input_context).__name__}"
        )
    kwargs = {"num_shards": input_context.num_input_pipelines, "shard_index": input_context.input_pipeline_id}
    if global_batch_size is not None:
        kwargs["batch_size"] = input_context.get_per_replica_batch_size(global_batch_size)
    return kwargs


def per_example_seeds(seed: int | None) -> tf.data.Dataset:
    """An endless dataset of ``int64[2]`` seeds for stateless random ops, new values each epoch.

    With ``seed`` set the sequence (epoch after epoch) is reproducible; with None it is not.
    """
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2, drop_remainder=True)


def transform_and_batch(
    dataset: tf.data.Dataset,
    config: PipelineConfig,
    transform: Callable[..., tuple[tf.Tensor, tf.Tensor]],
    *,
    with_seeds: bool,
) -> tf.data.Dataset:
    """Steps 4-8 of the pipeline: seeds, ``transform`` per example, batch, normalise, prefetch.

    Args:
        dataset: Sharded and shuffled examples.
        config: The pipeline's arguments.
        transform: ``(*example, seed=None) -> (image, label)``.
        with_seeds: Whether to pass ``transform`` a per-example seed (needed by random augmentation).
    """
    if with_seeds:
        dataset = tf.data.Dataset.zip((dataset, per_example_seeds(config.seed)))
        dataset = dataset.map(lambda example, seed: transform(*_as_tuple(example), seed), num_parallel_calls=AUTOTUNE)
    else:
        dataset = dataset.map(lambda *example: transform(*example), num_parallel_calls=AUTOTUNE)
    dataset = dataset.batch(config.batch_size, drop_remainder=config.drop_remainder, num_parallel_calls=AUTOTUNE)
    if config.mode is not None:
        mode = config.mode
        dataset = dataset.map(lambda images, labels: (preprocess(images, mode), labels), num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)


def _as_tuple(example: Any) -> tuple:
    return tuple(example) if isinstance(example, tuple) else (example,)


def from_arrays(
    images: Any,
    labels: Any,
    config: PipelineConfig,
    transform: Callable[..., tf.Tensor],
    *,
    with_seeds: bool,
) -> tf.data.Dataset:
    """A pipeline over in-memory arrays: indices are sharded and shuffled (cheap), examples gathered afterwards.

    Without random augmentation the indices are batched first and whole batches gathered and transformed at once
    (several times faster than one ``map`` call per example).

    Args:
        images: ``uint8`` array ``(N, height, width, channels)``.
        labels: Integer array ``(N,)``.
        config: The pipeline's arguments; the default shuffle buffer is the whole shard (a full shuffle).
        transform: ``(image, seed=None) -> image``; without seeds it is also called on whole batches
            ``(batch, height, width, channels)``, so it must then accept both.
        with_seeds: Whether to pass ``transform`` a per-example seed.
    """
    images = tf.convert_to_tensor(images)
    labels = tf.cast(tf.convert_to_tensor(labels), tf.int32)
    count = int(images.shape[0])
    indices = tf.data.Dataset.range(count).shard(config.num_shards, config.shard_index)
    if config.shuffle:
        shard_size = len(range(config.shard_index, count, config.num_shards))
        buffer = config.shuffle_buffer or max(shard_size, 1)
        indices = indices.shuffle(buffer, seed=config.seed, reshuffle_each_iteration=True)

    if with_seeds:

        def example(index, seed):
            return transform(tf.gather(images, index), seed), tf.gather(labels, index)

        return transform_and_batch(indices, config, example, with_seeds=True)

    mode = config.mode

    def batch(batch_indices):
        batch_images = transform(tf.gather(images, batch_indices))
        if mode is not None:  # without a model the images keep their dtype (uint8 Fashion-MNIST stays uint8)
            batch_images = preprocess(batch_images, mode)
        return batch_images, tf.gather(labels, batch_indices)

    batches = indices.batch(config.batch_size, drop_remainder=config.drop_remainder)
    return batches.map(batch, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
