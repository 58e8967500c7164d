"""Argument checks shared by the export modules, and what a model must look like to go to TFLite."""

from __future__ import annotations

import os
import pathlib
import re
import warnings
from typing import Any, Sequence

import numpy as np

from keras_archs import registry

# The registry's preprocessing modes (ModelSpec.preprocessing) and "raw" (pixels 0..255 as they are). The registry
# imports no TensorFlow, so `keras-archs --help` still loads none.
PREPROCESSING_MODES = (*registry.PREPROCESSING_MODES, "raw")


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a ValueError naming the argument, the value and the choices."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"Expected `{name}` to be one of {', '.join(map(repr, choices))}. Received: {name}={value!r}")
    return value


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an int if it is a positive integer (bools refused), else a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Expected `{name}` to be a positive integer. Received: {name}={value!r}")
    return int(value)


def check_tflite_path(path: Any) -> pathlib.Path:
    """``path`` as a Path ending in ``.tflite`` (the labels and card files are named after it)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"Expected `path` to be a str or os.PathLike. Received: path={path!r} of type {type(path).__name__}"
        )
    target = pathlib.Path(path)
    if target.suffix.lower() != ".tflite":
        raise ValueError(
            "Expected `path` to end with '.tflite' (the labels and card files are named after it). "
            f"Received: path={str(path)!r}"
        )
    return target


def model_io(model: Any) -> tuple[tuple[int, ...], str, str]:
    """(example shape without the batch axis, input dtype, input name) of a single-input, single-output model.

    Raises:
        TypeError: ``model`` is not a ``keras.Model``.
        ValueError: It has several inputs or outputs (or none: a subclassed model never called), or a variable input
            size.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected `model` to be a keras.Model. Received: model of type {type(model).__name__}")
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    if not inputs or not outputs or len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"TFLite export takes models with exactly one input and one output (functional models). Received: model "
            f"{model.name!r} with {len(inputs or [])} input(s) and {len(outputs or [])} output(s)."
        )
    shape = tuple(inputs[0].shape[1:])
    if any(dim is None for dim in shape):
        raise ValueError(
            f"A .tflite for phones needs a fixed input size. Received: model {model.name!r} with input shape "
            f"{tuple(inputs[0].shape)}; build it with input_shape=(height, width, channels)."
        )
    name = re.sub(r"\W", "_", str(inputs[0].name)) or "input"
    return tuple(int(d) for d in shape), str(inputs[0].dtype), name


def call_model(model: Any, x: Any) -> Any:
    """``model(x, training=False)``, without Keras' warning for models whose input structure is a one-element list."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match", category=UserWarning)
        return model(x, training=False)
