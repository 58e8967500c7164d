"""keras_archs: classic CNN architectures for Keras 3, keras.applications-compatible, with real weights.

Importing the package loads neither TensorFlow nor Keras: the constructors (``keras_archs.ResNet50`` ...),
``list_models`` / ``get_model`` and the subpackages (``data``, ``compress``, ``export``, ``train``, ...) are loaded on
first attribute access (PEP 562).

Example:
    >>> import keras_archs
    >>> model = keras_archs.SqueezeNet(weights=None)
    >>> model.count_params()
    1248424
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

__version__ = "0.1.0"

# Public constructor -> family module under keras_archs.applications (importing any family imports them all).
_CONSTRUCTORS = {
    "AlexNet": "alexnet",
    "CifarResNet": "cifar_resnet",
    "GoogLeNet": "googlenet",
    "InceptionV1": "googlenet",
    "InceptionResNetV2": "inception_resnet_v2",
    "InceptionV3": "inception_v3",
    "InceptionV4": "inception_v4",
    "MobileNet": "mobilenet",
    "ResNet18": "resnet",
    "ResNet34": "resnet",
    "ResNet50": "resnet",
    "ResNet101": "resnet",
    "ResNet152": "resnet",
    "ResNet50V2": "resnet",
    "ResNet101V2": "resnet",
    "ResNet152V2": "resnet",
    "SqueezeNet": "squeezenet",
    "VGG16": "vgg",
    "VGG19": "vgg",
    "WideResNet": "wide_resnet",
    "Xception": "xception",
}
# Registry look-ups, from keras_archs.applications (importing it fills the registry).
_LOOKUPS = ("list_models", "get_model")
# Subpackages and modules loaded on attribute access (those present in this installation).
_SUBMODULES = tuple(
    name
    for name in (
        "analysis",
        "applications",
        "cli",
        "compress",
        "data",
        "export",
        "imagenet_utils",
        "registry",
        "saved_models",
        "train",
        "weights",
    )
    if importlib.util.find_spec(f"{__name__}.{name}") is not None
)

__all__ = [*_CONSTRUCTORS, *_LOOKUPS, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _CONSTRUCTORS:
        value = getattr(importlib.import_module(f"keras_archs.applications.{_CONSTRUCTORS[name]}"), name)
    elif name in _LOOKUPS:
        value = getattr(importlib.import_module("keras_archs.applications"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"keras_archs.{name}")
    else:
        raise AttributeError(f"module 'keras_archs' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
