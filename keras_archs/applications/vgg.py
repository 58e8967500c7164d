"""VGG16 and VGG19 (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR, arXiv:1409.1556), layer for layer the networks of ``keras.applications`` (keras 3.15 ``vgg16.py``/``vgg19.py``),
so keras' weight files load unchanged.

Both are one builder, :func:`build_vgg`, fed the number of 3x3 convs per block: configurations D (VGG16) and E
(VGG19) of the paper's Table 1. Every conv is 3x3, stride 1, "same" padding, ReLU; each block ends in a 2x2/2
max-pool; the classifier is two 4096-unit ReLU layers and the class layer. Following keras, there is no dropout in the
classifier (the paper trains with dropout 0.5 on fc1/fc2) and the global pooling layers of ``include_top=False`` are
unnamed.
"""

from __future__ import annotations

import functools
from typing import Any

import keras
from keras import layers

from keras_archs import imagenet_utils, registry
from keras_archs.applications import _assembly
from keras_archs.applications._validation import KerasArguments

# --- constants ------------------------------------------------------------------------------------------------------

# Weight files: keras 3.15 keras/src/applications/vgg16.py and vgg19.py (WEIGHTS_PATH, WEIGHTS_PATH_NO_TOP, and the
# file_hash passed to get_file: md5, with top then without).
BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/"
WEIGHTS_HASHES = {
    "vgg16": ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
    "vgg19": ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"),
}
# Converted from the Oxford VGG release (robots.ox.ac.uk/~vgg/research/very_deep/), CC BY 4.0.
WEIGHTS_LICENSE = "CC-BY-4.0"

# Output channels of blocks 1..5 (Simonyan & Zisserman 2015, Table 1: conv3-64 ... conv3-512).
BLOCK_WIDTHS = (64, 128, 256, 512, 512)
# Width of the two hidden fully connected layers (ibid., Table 1: FC-4096).
FC_UNITS = 4096
# 3x3 convs per block (ibid., Table 1): configuration D (VGG16) and E (VGG19).
CONVS_PER_BLOCK = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}

# --- blocks ---------------------------------------------------------------------------------------------------------


def vgg_block(x: Any, filters: int, convs: int, name: str) -> Any:
    """``convs`` 3x3 ReLU convs (``{name}_conv1..N``), then a 2x2/2 max-pool ``{name}_pool``."""
    for index in range(1, convs + 1):
        x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"{name}_conv{index}")(x)
    return layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"{name}_pool")(x)


def _classifier(x: Any, classes: int, classifier_activation: Any, fc_units: int = FC_UNITS) -> Any:
    """Flatten, fc1 and fc2 (``fc_units``, ReLU), ``predictions`` (keras' names)."""
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(fc_units, activation="relu", name="fc1")(x)
    x = layers.Dense(fc_units, activation="relu", name="fc2")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


# --- trunk ----------------------------------------------------------------------------------------------------------


def vgg_features(img_input: Any, convs_per_block: tuple[int, ...]) -> Any:
    """The five conv blocks ``block1`` ... ``block5`` with ``convs_per_block`` convs each."""
    x = img_input
    for index, (filters, convs) in enumerate(zip(BLOCK_WIDTHS, convs_per_block), start=1):
        x = vgg_block(x, filters, convs, name=f"block{index}")
    return x


def build_vgg(
    spec: registry.ModelSpec, convs_per_block: tuple[int, ...], arguments: KerasArguments, fc_units: int = FC_UNITS
) -> keras.Model:
    """The family builder: ``spec``'s checks (keras' resnet.py wording, which vgg16.py/vgg19.py share) and weights,
    the conv blocks, keras' classifier (fc1/fc2 ``fc_units`` wide) or its unnamed global pooling."""
    return _assembly.build(
        spec,
        arguments,
        functools.partial(vgg_features, convs_per_block=convs_per_block),
        top=functools.partial(_classifier, fc_units=fc_units),
        named_pooling=False,  # keras' vgg16/vgg19 create GlobalAverage/MaxPooling2D without a name
    )


# --- specs ----------------------------------------------------------------------------------------------------------


def _spec(depth: int, params: int, layers: int) -> registry.ModelSpec:
    weights_name = f"vgg{depth}"
    fname = f"{weights_name}_weights_tf_dim_ordering_tf_kernels"
    top, notop = WEIGHTS_HASHES[weights_name]
    return registry.ModelSpec(
        name=f"VGG{depth}",
        family="vgg",
        default_size=224,  # keras' obtain_input_shape(default_size=224, min_size=32) in vgg16.py/vgg19.py
        min_size=32,
        preprocessing="caffe",
        paper="Simonyan & Zisserman 2015, Very Deep Convolutional Networks for Large-Scale Image Recognition "
        "(ICLR), arXiv:1409.1556",
        params=params,
        layers=layers,
        weights=_assembly.keras_weight_entries(
            f"{BASE_WEIGHTS_PATH}{weights_name}/",
            ((True, f"{fname}.h5", top), (False, f"{fname}_notop.h5", notop)),
            license=WEIGHTS_LICENSE,
        ),
    )


# params: count_params() of the default model, measured equal to keras.applications'; layers: len(model.layers).
SPECS = {spec.name: spec for spec in (_spec(16, 138_357_544, 23), _spec(19, 143_667_240, 26))}

# --- constructors ---------------------------------------------------------------------------------------------------

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


def _constructor(spec: registry.ModelSpec, depth: int, summary: str) -> Any:
    """The public constructor of ``spec``: keras' signature, :func:`build_vgg` with the model's configuration."""
    constructor = _assembly.keras_constructor(
        functools.partial(build_vgg, spec, CONVS_PER_BLOCK[depth]),
        constructor_name=spec.name,
        module=__name__,
        default_weights="imagenet",
        default_name=spec.name.lower(),
        doc=f"Instantiates {spec.name} ({summary}).\n" + _COMMON_DOC.format(name=spec.name),
    )
    return registry.register(spec)(constructor)


VGG16 = _constructor(SPECS["VGG16"], 16, "configuration D: 13 convs, 3 fully connected layers")
VGG19 = _constructor(SPECS["VGG19"], 19, "configuration E: 16 convs, 3 fully connected layers")


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


# --- small variants for the test-suite (not registered; see _assembly.SmallVariant) ------------------------------

# One conv per block, 256-unit fc1/fc2 (the 4096-unit ones hold 19M parameters at 32x32).
SMALL_VARIANTS = {
    "one_conv_per_block": _assembly.small_variant(
        lambda arguments: build_vgg(SPECS["VGG16"], (1, 1, 1, 1, 1), arguments, fc_units=256), 32, "vgg_small"
    )
}
