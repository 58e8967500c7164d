"""Xception (Chollet 2017, "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR, arXiv:1610.02357).

The network is the paper's Fig. 5: a two-convolution stem, an entry flow of three downsampling residual blocks, a
middle flow of eight identity residual blocks and an exit flow of one downsampling block plus two separable
convolutions. Layer names, order and hyper-parameters follow keras' ``keras/src/applications/xception.py`` (3.15), so
keras' weight files load by layer order and the models are interchangeable.

Weights (``weights="imagenet"``): keras' own ImageNet training ("These weights are trained by ourselves and are
released under the MIT license", keras ``docs/templates/applications.md``).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from keras_archs import imagenet_utils, registry
from keras_archs.applications import _assembly, _blocks, _validation
from keras_archs.applications._validation import KerasArguments

# --- constants ------------------------------------------------------------------------------------------------------

# keras/src/applications/xception.py: WEIGHTS_PATH / WEIGHTS_PATH_NO_TOP and the md5 hashes passed to get_file.
BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
WEIGHTS_FNAME = "xception_weights_tf_dim_ordering_tf_kernels.h5"
WEIGHTS_MD5 = "0a58e3b7378bc2990ea3b43d5981f1f6"
WEIGHTS_FNAME_NO_TOP = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_MD5_NO_TOP = "b0042744bf5b25fce3cb969f33bebb97"

DEFAULT_SIZE = 299  # Chollet 2017, Sec. 4.3 (299x299 inputs); keras' default_size
MIN_SIZE = 71  # keras' min_size in xception.py (a 71x71 input leaves 3x3 features; keras' choice, not a hard limit)

# The architecture as rows of data (Chollet 2017, Fig. 5; filter counts and layer order as in keras' xception.py).
# Stem, block 1: plain 3x3 convolutions ('valid' padding, no bias) as (filters, stride).
STEM = ((32, 2), (64, 1))
# Entry flow, blocks 2-4, and the first exit-flow block, 13: downsampling residual blocks, each row is
# (filters of the two separable convolutions, whether a ReLU precedes the first one). Block 2 has no leading ReLU
# because its input is the stem's already activated output; the other blocks start from a residual sum.
ENTRY_FLOW = (((128, 128), False), ((256, 256), True), ((728, 728), True))
EXIT_FLOW = (((728, 1024), True),)
# Middle flow, blocks 5-12: identity residual blocks of three 728-filter separable convolutions.
MIDDLE_FLOW = ((728, 728, 728),) * 8
# Exit flow, block 14: separable convolutions followed (not preceded) by BN + ReLU, no residual.
EXIT_CONVS = (1536, 2048)

# --- blocks ---------------------------------------------------------------------------------------------------------


def _conv_bn_relu(x: Any, conv: layers.Layer, prefix: str) -> Any:
    """``conv`` (named ``prefix``), then BN ``{prefix}_bn`` and ReLU ``{prefix}_act``: the stem and the last convs."""
    x = layers.BatchNormalization(axis=_blocks.channel_axis(negative=True), name=f"{prefix}_bn")(conv(x))
    return layers.Activation("relu", name=f"{prefix}_act")(x)


def _separable_unit(x: Any, filters: int, prefix: str, relu_first: bool = True) -> Any:
    """[ReLU ->] 3x3 SeparableConv2D ('same', no bias) -> BN; layers ``{prefix}_act``, ``{prefix}``, ``{prefix}_bn``."""
    if relu_first:
        x = layers.Activation("relu", name=f"{prefix}_act")(x)
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=prefix)(x)
    return layers.BatchNormalization(axis=_blocks.channel_axis(negative=True), name=f"{prefix}_bn")(x)


def downsampling_block(x: Any, filters: tuple[int, ...], relu_first: bool, block_id: int) -> Any:
    """Residual block that halves the resolution: separable units, 3x3/2 max-pool, plus a strided 1x1 projection.

    The projection (an unnamed Conv2D + BN in keras) is created before the main branch, as in keras, because the
    legacy h5 weight files are matched by layer order.
    """
    residual = layers.Conv2D(filters[-1], (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    residual = layers.BatchNormalization(axis=_blocks.channel_axis(negative=True))(residual)
    for index, width in enumerate(filters, start=1):
        x = _separable_unit(x, width, f"block{block_id}_sepconv{index}", relu_first=relu_first or index > 1)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block_id}_pool")(x)
    return layers.add([x, residual])


def identity_block(x: Any, filters: tuple[int, ...], block_id: int) -> Any:
    """Middle-flow residual block: ReLU -> separable conv -> BN, repeated, added to the block's input."""
    residual = x
    for index, width in enumerate(filters, start=1):
        x = _separable_unit(x, width, f"block{block_id}_sepconv{index}")
    return layers.add([x, residual])


# --- trunk ----------------------------------------------------------------------------------------------------------


def xception_features(img_input: Any, middle_flow: tuple[tuple[int, ...], ...] = MIDDLE_FLOW) -> Any:
    """Stem, entry flow, ``middle_flow`` (keras' eight identity blocks by default) and exit flow."""
    x = img_input
    for index, (filters, stride) in enumerate(STEM, start=1):
        prefix = f"block1_conv{index}"
        conv = layers.Conv2D(filters, (3, 3), strides=(stride, stride), use_bias=False, name=prefix)
        x = _conv_bn_relu(x, conv, prefix)
    block_id = 2
    for filters, relu_first in ENTRY_FLOW:
        x = downsampling_block(x, filters, relu_first, block_id)
        block_id += 1
    for filters in middle_flow:
        x = identity_block(x, filters, block_id)
        block_id += 1
    for filters, relu_first in EXIT_FLOW:
        x = downsampling_block(x, filters, relu_first, block_id)
        block_id += 1
    for index, filters in enumerate(EXIT_CONVS, start=1):
        prefix = f"block{block_id}_sepconv{index}"
        conv = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=prefix)
        x = _conv_bn_relu(x, conv, prefix)
    return x


def build_xception(
    spec: registry.ModelSpec, arguments: KerasArguments, middle_flow: tuple[tuple[int, ...], ...] = MIDDLE_FLOW
) -> keras.Model:
    """The family builder: ``spec``'s checks (keras' xception.py wording) and weights, the trunk (``middle_flow``:
    other block counts give shallower variants), keras' head or its unnamed global pooling."""
    return _assembly.build(
        spec,
        arguments,
        lambda img_input: xception_features(img_input, middle_flow),
        messages=_validation.XCEPTION_MESSAGES,
        named_pooling=False,  # keras' xception.py leaves the no-top pooling layer unnamed
    )


# --- specs ----------------------------------------------------------------------------------------------------------

SPEC = registry.ModelSpec(
    name="Xception",
    family="xception",
    default_size=DEFAULT_SIZE,
    min_size=MIN_SIZE,
    preprocessing="tf",
    paper="Chollet 2017, Xception: Deep Learning with Depthwise Separable Convolutions (CVPR), arXiv:1610.02357",
    params=22_910_480,  # count_params() of Xception(weights=None), equal to keras.applications.Xception's
    layers=134,  # len(model.layers), measured
    weights=_assembly.keras_weight_entries(
        BASE_WEIGHTS_PATH,
        ((True, WEIGHTS_FNAME, WEIGHTS_MD5), (False, WEIGHTS_FNAME_NO_TOP, WEIGHTS_MD5_NO_TOP)),
        license="MIT",
    ),
    published_accuracy=registry.PublishedAccuracy.keras_applications(79.0),
)

# --- constructors ---------------------------------------------------------------------------------------------------


@registry.register(SPEC)
def Xception(
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "xception",
    include_preprocessing: bool = False,
) -> keras.Model:
    """Instantiates Xception, a drop-in replacement for ``keras.applications.Xception``.

    Args:
        include_top: Whether to include the classifier (global average pooling "avg_pool" and Dense "predictions").
        weights: ``None`` (random initialisation), ``"imagenet"``, or the path of a weights file (legacy ``.h5`` by
            layer order, ``.weights.h5``, ``.keras``).
        input_tensor: Optional Keras tensor to use as image input.
        input_shape: Optional shape tuple, e.g. ``(150, 150, 3)``; must be ``(299, 299, 3)`` with ``include_top=True``
            and ImageNet weights; height and width at least 71.
        pooling: ``None``, ``"avg"`` or ``"max"``: global pooling of the features when ``include_top=False``.
        classes: Number of classes (1000 with ImageNet weights and top).
        classifier_activation: Activation of "predictions"; only ``"softmax"`` or ``None`` with pretrained weights.
        name: Model name.
        include_preprocessing: False (default, as keras.applications): the model takes ``preprocess_input``'s
            output. True: it takes RGB pixels 0..255 and normalises them inside (mode "tf"), with an
            ``ImagePreprocessing`` layer that has no weights (weight files load unchanged).

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: Invalid argument values, with keras.applications' messages in keras' order; then an unknown
            ``pooling`` or non-positive ``classes``, which keras accepts silently.

    Example:
        >>> from keras_archs.applications.xception import Xception
        >>> Xception(weights=None, include_top=False, input_shape=(71, 71, 3)).output_shape
        (None, 3, 3, 2048)
    """
    return build_xception(SPEC, _assembly.ModelArguments.of(locals()))


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """ "tf" preprocessing, as keras' ``xception.preprocess_input``: scales pixels from [0, 255] to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


# --- small variants for the test-suite (not registered; see _assembly.SmallVariant) ------------------------------

SMALL_VARIANTS = {
    "one_middle_block": _assembly.small_variant(
        lambda arguments: build_xception(SPEC, arguments, MIDDLE_FLOW[:1]), 71, "xception_small"
    )
}
