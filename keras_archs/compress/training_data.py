"""The data the compression stages take: ``(x, y)`` arrays or a ``tf.data.Dataset`` of ``(x, y)`` batches.

The fine-tuning stages of :func:`~keras_archs.compress.deep_compress` call ``fit`` on either form, the compensated
quantizer wants the first few input images, and :func:`evaluate_accuracy` measures top-1 accuracy on either form.
These helpers are the one place that tells the two forms apart.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

__all__ = ["evaluate_accuracy", "first_inputs", "fit", "default_loss", "steps_per_epoch"]


def first_inputs(data: Any, count: int) -> np.ndarray:
    """Up to ``count`` input examples from a dataset of (x, y) batches, an (x, y) tuple, or an array.

    Raises:
        ValueError: The data holds no example.
    """
    if isinstance(data, tuple) and len(data) >= 1 and isinstance(data[0], np.ndarray):
        return np.asarray(data[0][:count])
    if isinstance(data, np.ndarray):
        return data[:count]
    taken, total = [], 0
    for batch in data:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = np.asarray(x)
        taken.append(x)
        total += len(x)
        if total >= count:
            break
    if not taken:
        raise ValueError("The calibration / training data is empty.")
    return np.concatenate(taken)[:count]


def fit(
    trainer: Any,
    train_data: Any,
    val_data: Any,
    epochs: int,
    batch_size: int,
    callbacks: list,
    verbose: int | str,
    steps_per_epoch: int | None,
) -> None:
    """``trainer.fit`` on arrays (shuffled, ``batch_size``) or on a dataset (its own batches, ``steps_per_epoch``)."""
    if isinstance(train_data, tuple):
        trainer.fit(
            train_data[0],
            train_data[1],
            batch_size=batch_size,
            epochs=epochs,
            validation_data=val_data,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=True,
        )
    else:
        trainer.fit(
            train_data,
            epochs=epochs,
            validation_data=val_data,
            callbacks=callbacks,
            verbose=verbose,
            steps_per_epoch=steps_per_epoch,
        )


def steps_per_epoch(train_data: Any, batch_size: int, steps: int | None) -> int:
    """Optimizer steps in one epoch: ``steps`` when given, else the array length / ``batch_size`` or the dataset's
    cardinality.

    Raises:
        ValueError: A dataset of unknown length (e.g. repeated) and no ``steps``.
    """
    if steps:
        return int(steps)
    if isinstance(train_data, tuple):
        return math.ceil(len(train_data[0]) / batch_size)
    cardinality = int(train_data.cardinality()) if hasattr(train_data, "cardinality") else -1
    if cardinality <= 0:
        raise ValueError("train_data has no known length (e.g. a repeated tf.data.Dataset): pass steps_per_epoch.")
    return cardinality


def default_loss(train_data: Any) -> str:
    """Sparse or categorical cross-entropy, from the shape of the first labels (one-hot rows mean categorical)."""
    y = train_data[1] if isinstance(train_data, tuple) else next(iter(train_data))[1]
    y = np.asarray(y)
    return "categorical_crossentropy" if y.ndim >= 2 and y.shape[-1] > 1 else "sparse_categorical_crossentropy"


def evaluate_accuracy(model: Any, data: Any, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on ``data`` ((x, y) arrays or a dataset of (x, y) batches).

    Labels may be class indices or one-hot rows. The model is called as ``model(x, training=False)``.

    Raises:
        ValueError: The data holds no example.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x)])
        >>> evaluate_accuracy(model, (np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1, 1])))
        0.5
    """
    correct = total = 0
    batches = (
        [(data[0][i : i + batch_size], data[1][i : i + batch_size]) for i in range(0, len(data[0]), batch_size)]
        if isinstance(data, tuple)
        else data
    )
    for x, y in batches:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The structure of `inputs`")  # named-input models
            predicted = np.argmax(np.asarray(model(x, training=False)), axis=-1)
        y = np.asarray(y)
        labels = np.argmax(y, axis=-1) if y.ndim >= 2 and y.shape[-1] > 1 else y.reshape(-1)
        correct += int(np.sum(predicted == labels))
        total += len(labels)
    if not total:
        raise ValueError("evaluate_accuracy: the data is empty.")
    return correct / total
