"""VGG16 and VGG19 (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR, arXiv:1409.1556), layer for layer the networks of ``keras.applications`` (keras 3.15 ``vgg16.py``/``vgg19.py``),
so keras' weight files load unchanged.

Both are one builder, :func:`_vgg`, fed the number of 3x3 convs per block: configurations D (VGG16) and E (VGG19) of
the paper's Table 1. Every conv is 3x3, stride 1, "same" padding, ReLU; each block ends in a 2x2/2 max-pool; the
classifier is two 4096-unit ReLU layers and the class layer. Following keras, there is no dropout in the classifier
(the paper trains with dropout 0.5 on fc1/fc2) and the global pooling layers of ``include_top=False`` are unnamed.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import keras
from keras import layers

from keras_archs import imagenet_utils, registry
from keras_archs.applications import _common

# Weight files: keras 3.15 keras/src/applications/vgg16.py and vgg19.py (WEIGHTS_PATH, WEIGHTS_PATH_NO_TOP, and the
# file_hash passed to get_file: md5, with top then without).
BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/"
WEIGHTS_HASHES = {
    "vgg16": ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
    "vgg19": ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"),
}

# Output channels of blocks 1..5 (Simonyan & Zisserman 2015, Table 1: conv3-64 ... conv3-512).
BLOCK_WIDTHS = (64, 128, 256, 512, 512)
# Width of the two hidden fully connected layers (ibid., Table 1: FC-4096).
FC_UNITS = 4096


def vgg_block(x: Any, filters: int, convs: int, name: str) -> Any:
    """``convs`` 3x3 ReLU convs (``{name}_conv1..N``), then a 2x2/2 max-pool ``{name}_pool``."""
    for index in range(1, convs + 1):
        x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"{name}_conv{index}")(x)
    return layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"{name}_pool")(x)


def _classifier(x: Any, classes: int, classifier_activation: Any) -> Any:
    """Flatten, fc1 and fc2 (4096, ReLU), ``predictions`` (keras' names)."""
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(FC_UNITS, activation="relu", name="fc1")(x)
    x = layers.Dense(FC_UNITS, activation="relu", name="fc2")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def _vgg(
    spec_name: str,
    include_top: bool,
    weights: Any,
    input_tensor: Any,
    input_shape: Any,
    pooling: Any,
    classes: Any,
    classifier_activation: Any,
    name: str,
) -> keras.Model:
    """The family builder: validation, the five conv blocks of the model's row in :data:`_MODELS`, head, weights."""
    spec = registry.get_spec(spec_name)
    input_shape = _common.validate_arguments(
        spec=spec,
        messages=_common.RESNET_MESSAGES,  # vgg16.py/vgg19.py use the same wording as resnet.py
        weights=weights,
        include_top=include_top,
        classes=classes,
        input_shape=input_shape,
        pooling=pooling,
        classifier_activation=classifier_activation,
    )
    img_input = _common.image_input(input_tensor, input_shape)
    x = img_input
    for index, (filters, convs) in enumerate(zip(BLOCK_WIDTHS, _MODELS[spec.name].convs_per_block), start=1):
        x = vgg_block(x, filters, convs, name=f"block{index}")
    return _common.assemble(
        spec=spec,
        img_input=img_input,
        input_tensor=input_tensor,
        features=x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        top=_classifier,
        name=name,
        weights=weights,
        named_pooling=False,  # keras' vgg16/vgg19 create GlobalAverage/MaxPooling2D without a name
    )


def VGG16(
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "vgg16",
) -> keras.Model:
    """Instantiates VGG16 (configuration D: 13 convs, 3 fully connected layers)."""
    args = (include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name)
    return _vgg("VGG16", *args)


def VGG19(
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "vgg19",
) -> keras.Model:
    """Instantiates VGG19 (configuration E: 16 convs, 3 fully connected layers)."""
    args = (include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name)
    return _vgg("VGG19", *args)


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """keras' ``vgg16``/``vgg19.preprocess_input``: mode "caffe" (RGB -> BGR, minus the ImageNet mean, no scaling).

    Args:
        x: Float array or tensor of RGB images in [0, 255], 3D or 4D.
        data_format: "channels_last" / "channels_first"; None uses ``keras.config.image_data_format()``.

    Returns:
        The preprocessed images.

    Raises:
        ValueError: If ``data_format`` is not one of the two formats.
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


_COMMON_DOC = """
    Same arguments, defaults and validation errors as ``keras.applications.{name}``; the layers, their names and order
    are keras', so keras' weight files (and files saved from keras' model) load unchanged. Inputs go through
    :func:`preprocess_input` ("caffe").

    Args:
        include_top: Whether to include the classifier (flatten, fc1, fc2, ``predictions``).
        weights: ``None`` (random initialisation), ``"imagenet"`` (keras' ImageNet weights, downloaded and
            md5-checked), or the path of a weights file (legacy ``.h5``, ``.weights.h5``).
        input_tensor: Optional Keras tensor to use as image input.
        input_shape: Optional shape tuple, only with ``include_top=False`` unless it is ``(224, 224, 3)``; 3 channels
            with ImageNet weights, at least 32x32.
        pooling: With ``include_top=False``: ``None`` (4D feature map), ``"avg"`` or ``"max"`` (global pooling).
        classes: Number of classes of the classifier (1000 with ImageNet weights and top).
        classifier_activation: Activation of ``predictions`` (``"softmax"`` or ``None`` with pretrained weights).
        name: Name of the model.

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: Invalid ``weights``, ``classes``, ``input_shape``, ``pooling`` or ``classifier_activation``
            (keras' messages for keras' checks).
        TypeError: ``include_top`` is not a bool.

    Example:
        >>> from keras_archs.applications.vgg import {name}
        >>> {name}(weights=None, include_top=False, input_shape=(64, 64, 3)).output_shape
        (None, 2, 2, 512)
"""


class _Row(NamedTuple):
    constructor: Callable[..., keras.Model]
    convs_per_block: tuple[int, ...]  # Simonyan & Zisserman 2015, Table 1
    weights_name: str  # keras' file name prefix and folder
    params: int  # count_params() of the default model, measured equal to keras.applications'


_MODELS = {
    "VGG16": _Row(VGG16, (2, 2, 3, 3, 3), "vgg16", 138_357_544),  # configuration D
    "VGG19": _Row(VGG19, (2, 2, 4, 4, 4), "vgg19", 143_667_240),  # configuration E
}


def _weight_entries(weights_name: str) -> tuple[registry.WeightEntry, ...]:
    entries = []
    for include_top, file_hash, suffix in zip((True, False), WEIGHTS_HASHES[weights_name], ("", "_notop")):
        fname = f"{weights_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
        entries.append(
            registry.WeightEntry(
                tag="imagenet",
                include_top=include_top,
                fname=fname,
                url=f"{BASE_WEIGHTS_PATH}{weights_name}/{fname}",
                file_hash=file_hash,
                source="keras.applications (storage.googleapis.com/tensorflow/keras-applications)",
                # Converted from the Oxford VGG release (robots.ox.ac.uk/~vgg/research/very_deep/), CC BY 4.0.
                license="CC-BY-4.0",
            )
        )
    return tuple(entries)


for _name, _row in _MODELS.items():
    _row.constructor.__doc__ += _COMMON_DOC.format(name=_name)
    registry.register(
        registry.ModelSpec(
            name=_name,
            family="vgg",
            builder=_row.constructor,
            default_size=224,  # keras' obtain_input_shape(default_size=224, min_size=32) in vgg16.py/vgg19.py
            min_size=32,
            preprocessing="caffe",
            paper="Simonyan & Zisserman 2015, Very Deep Convolutional Networks for Large-Scale Image Recognition "
            "(ICLR), arXiv:1409.1556",
            params=_row.params,
            weights=_weight_entries(_row.weights_name),
        )
    )
