"""MobileNet v1 (Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications", arXiv:1704.04861).

A strided 3x3 convolution followed by 13 depthwise-separable blocks (3x3 depthwise conv, BN, ReLU6, 1x1 pointwise
conv, BN, ReLU6). ``alpha`` (the paper's width multiplier) scales every layer's filters; ``depth_multiplier`` is the
number of depthwise filters per input channel. Layer names, order and hyper-parameters follow keras'
``keras/src/applications/mobilenet.py`` (3.15), so keras' weight files load by layer order.

Weights (``weights="imagenet"``): keras publishes 16 models, alpha in {0.25, 0.5, 0.75, 1.0} x input size in
{128, 160, 192, 224}, each with and without top, ported from TensorFlow-Slim's MobileNet v1 checkpoints and released
under the Apache License 2.0 (keras ``docs/templates/applications.md``). keras' ``get_file`` calls carry no hash for
them, so none is pinned here; ``keras_archs.weights`` checks the files' HDF5 structure instead.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from typing import Any

import keras
from keras import layers

from keras_archs import imagenet_utils, registry
from keras_archs.applications import _assembly, _blocks, _validation
from keras_archs.applications._validation import KerasArguments

# --- constants ------------------------------------------------------------------------------------------------------

# keras/src/applications/mobilenet.py: BASE_WEIGHT_PATH, the file-name pattern "mobilenet_%s_%d_tf[_no_top].h5" and the
# spelling of alpha in it.
BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
_ALPHA_IN_FNAME = {0.25: "2_5", 0.50: "5_0", 0.75: "7_5", 1.0: "1_0"}
PRETRAINED_ALPHAS = tuple(_ALPHA_IN_FNAME)
PRETRAINED_ROWS = (128, 160, 192, 224)

DEFAULT_SIZE = 224  # Howard et al. 2017, Sec. 4 (224x224 baseline); keras' default when no published size is asked
MIN_SIZE = 32  # keras' min_size in mobilenet.py (five stride-2 stages)

# The architecture as rows of data (Howard et al. 2017, Table 1): the stem's filters (3x3, stride 2), then the 13
# depthwise-separable blocks as (pointwise filters, stride of the depthwise conv). Table 1 prints "s2" for the last
# 1024-filter block, but the released models (TF-Slim, keras) use stride 1 there, as the table's own output size 7x7
# implies.
_STEM_FILTERS = 32
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *((512, 1),) * 5, (1024, 2), (1024, 1))

# keras' messages for the checks it makes with weights="imagenet" (mobilenet.py, verbatim; the missing space after
# "one of" is keras').
_DEPTH_MULTIPLIER_MESSAGE = (
    "If imagenet weights are being loaded, depth multiplier must be 1.  Received depth_multiplier={depth_multiplier}"
)
_ALPHA_MESSAGE = (
    "If imagenet weights are being loaded, alpha can be one of`0.25`, `0.50`, `0.75` or `1.0` only.  "
    "Received alpha={alpha}"
)
_ROWS_WARNING = (
    "`input_shape` is undefined or non-square, or `rows` is not in [128, 160, 192, 224]. "
    "Weights for input shape (224, 224) will be loaded as the default."
)


# --- blocks ---------------------------------------------------------------------------------------------------------


def conv_block(x: Any, filters: int, alpha: float, strides: tuple[int, int]) -> Any:
    """The stem: 3x3 convolution ('same', no bias) with ``int(filters * alpha)`` filters, BN, ReLU6."""
    x = layers.Conv2D(int(filters * alpha), (3, 3), padding="same", use_bias=False, strides=strides, name="conv1")(x)
    x = layers.BatchNormalization(axis=_blocks.channel_axis(negative=True), name="conv1_bn")(x)
    return layers.ReLU(6.0, name="conv1_relu")(x)


def depthwise_separable_block(
    x: Any, filters: int, alpha: float, depth_multiplier: int, strides: tuple[int, int], block_id: int
) -> Any:
    """3x3 depthwise conv -> BN -> ReLU6 -> 1x1 conv with ``int(filters * alpha)`` filters -> BN -> ReLU6.

    A strided block pads one row and column at the bottom/right and convolves 'valid' (keras' choice, matching
    TF-Slim's 'SAME' padding for even input sizes, so the ported weights see the same pixels).
    """
    if strides == (1, 1):
        padding = "same"
    else:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
        padding = "valid"
    x = layers.DepthwiseConv2D(
        (3, 3),
        padding=padding,
        depth_multiplier=depth_multiplier,
        strides=strides,
        use_bias=False,
        name=f"conv_dw_{block_id}",
    )(x)
    x = layers.BatchNormalization(axis=_blocks.channel_axis(negative=True), name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(
        int(filters * alpha), (1, 1), padding="same", use_bias=False, strides=(1, 1), name=f"conv_pw_{block_id}"
    )(x)
    x = layers.BatchNormalization(axis=_blocks.channel_axis(negative=True), name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def _classifier(x: Any, classes: int, classifier_activation: Any, *, dropout: float) -> Any:
    """keras' MobileNet top: a 1x1 convolution on the pooled features instead of a Dense layer (same weights up to
    shape), as in TF-Slim, whose checkpoints the ImageNet weights come from."""
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)  # unnamed in keras
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
    x = layers.Reshape((classes,), name="reshape_2")(x)
    return layers.Activation(classifier_activation, name="predictions")(x)


# --- trunk ----------------------------------------------------------------------------------------------------------


def mobilenet_features(img_input: Any, alpha: float, depth_multiplier: int) -> Any:
    """The stem and the 13 depthwise-separable blocks of Table 1, ``alpha`` times as wide."""
    x = conv_block(img_input, _STEM_FILTERS, alpha, strides=(2, 2))
    for block_id, (filters, stride) in enumerate(_BLOCKS, start=1):
        x = depthwise_separable_block(x, filters, alpha, depth_multiplier, (stride, stride), block_id)
    return x


def _default_size(input_shape: Any) -> int:
    """keras' rule: a square ``input_shape`` of a published size is its own default size; anything else gets 224."""
    if input_shape is None:
        return DEFAULT_SIZE
    shape = tuple(input_shape)
    spatial = shape[1:3] if keras.backend.image_data_format() == "channels_first" else shape[:2]
    # A shape too short to hold rows and cols gets 224 here and keras' "three integers" error from obtain_input_shape
    # (keras itself fails with an IndexError on it).
    if len(spatial) == 2 and spatial[0] == spatial[1] and spatial[0] in PRETRAINED_ROWS:
        return spatial[0]
    return DEFAULT_SIZE


def _check_width_depth_dropout(alpha: Any, depth_multiplier: Any, dropout: Any, include_top: bool) -> None:
    """Our checks, after keras' own: values keras rejects only deep inside a layer (or not at all)."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha):
        raise ValueError(f"`alpha` (the width multiplier) must be a positive number. Received: alpha={alpha!r}")
    if int(_STEM_FILTERS * alpha) < 1:
        raise ValueError(
            f"`alpha` (the width multiplier) must be at least 1/{_STEM_FILTERS}, so that every layer keeps at least "
            f"one filter (int({_STEM_FILTERS} * alpha) >= 1). Received: alpha={alpha!r}"
        )
    if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, numbers.Integral) or depth_multiplier < 1:
        raise ValueError(
            "`depth_multiplier` (depthwise filters per input channel) must be a positive integer. "
            f"Received: depth_multiplier={depth_multiplier!r}"
        )
    if include_top and (isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1):
        raise ValueError(f"`dropout` must be a rate in [0, 1) when `include_top=True`. Received: dropout={dropout!r}")


def _validate(
    spec: registry.ModelSpec, arguments: KerasArguments, *, alpha: Any, depth_multiplier: Any, dropout: Any
) -> tuple[tuple, Any]:
    """Every check in keras' order (then ours); returns the input shape and the ``rows`` used in names and weights.

    ``_validation.validate_arguments`` cannot be used as one call: keras makes its alpha/depth_multiplier checks
    between the input-shape check and the activation check, so its parts are called in that order.
    """
    weights, include_top, classes = arguments.weights, arguments.include_top, arguments.classes
    _validation.check_weights_and_classes(
        weights, include_top, classes, spec=spec, messages=_validation.MOBILENET_MESSAGES
    )
    data_format = keras.backend.image_data_format()
    shape = _validation.obtain_input_shape(
        arguments.input_shape,
        default_size=_default_size(arguments.input_shape),
        min_size=spec.min_size,
        data_format=data_format,
        require_flatten=include_top,
        weights=weights,
    )
    rows, cols = shape[1:3] if data_format == "channels_first" else shape[0:2]
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError(_DEPTH_MULTIPLIER_MESSAGE.format(depth_multiplier=depth_multiplier))
        if alpha not in PRETRAINED_ALPHAS:
            raise ValueError(_ALPHA_MESSAGE.format(alpha=alpha))
        if rows != cols or rows not in PRETRAINED_ROWS:
            rows = DEFAULT_SIZE
            warnings.warn(_ROWS_WARNING, stacklevel=3)  # points at the caller of MobileNet(), as keras' does
    if include_top:
        _validation.validate_activation(arguments.classifier_activation, weights)
    _validation.check_extra_arguments(include_top, arguments.pooling, classes)
    _check_width_depth_dropout(alpha, depth_multiplier, dropout, include_top)
    return shape, rows


# --- specs ----------------------------------------------------------------------------------------------------------


def _weight_entry(alpha: float, rows: int, include_top: bool) -> registry.WeightEntry:
    fname = f"mobilenet_{_ALPHA_IN_FNAME[alpha]}_{rows}_tf{'' if include_top else '_no_top'}.h5"
    return registry.WeightEntry(
        tag="imagenet",
        include_top=include_top,
        fname=fname,
        url=BASE_WEIGHT_PATH + fname,
        file_hash=None,  # keras passes no file_hash for these files; see the module docstring
        variant=(("alpha", alpha), ("rows", rows)),
        source="keras.applications (storage.googleapis.com/tensorflow/keras-applications), ported from TF-Slim",
        license="Apache-2.0",
    )


SPEC = registry.ModelSpec(
    name="MobileNet",
    family="mobilenet",
    default_size=DEFAULT_SIZE,
    min_size=MIN_SIZE,
    preprocessing="tf",
    paper=(
        "Howard et al. 2017, MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications, "
        "arXiv:1704.04861"
    ),
    params=4_253_864,  # count_params() of MobileNet(weights=None), equal to keras.applications.MobileNet's
    layers=91,  # len(model.layers), measured
    weights=tuple(
        _weight_entry(alpha, rows, include_top)
        for alpha in PRETRAINED_ALPHAS
        for rows in PRETRAINED_ROWS
        for include_top in (True, False)
    ),
    published_accuracy=registry.PublishedAccuracy.keras_applications(70.4),
)

# --- constructors ---------------------------------------------------------------------------------------------------


@registry.register(SPEC)
def MobileNet(
    input_shape: Any = None,
    alpha: float = 1.0,
    depth_multiplier: int = 1,
    dropout: float = 1e-3,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
    include_preprocessing: bool = False,
) -> keras.Model:
    """Instantiates MobileNet v1, a drop-in replacement for ``keras.applications.MobileNet`` (same argument order).

    Args:
        input_shape: Optional shape tuple, e.g. ``(160, 160, 3)``; height and width at least 32. With
            ``include_top=True`` and ImageNet weights it must be square with a size in (128, 160, 192, 224).
        alpha: Width multiplier: every layer has ``int(filters * alpha)`` filters. ImageNet weights exist for
            0.25, 0.5, 0.75 and 1.0.
        depth_multiplier: Depthwise filters per input channel (1 with ImageNet weights).
        dropout: Dropout rate before the classifier, in [0, 1).
        include_top: Whether to include the classifier (pooling, dropout, 1x1 conv "conv_preds", "predictions").
        weights: ``None`` (random initialisation), ``"imagenet"``, or the path of a weights file (legacy ``.h5`` by
            layer order, ``.weights.h5``, ``.keras``).
        input_tensor: Optional Keras tensor to use as image input.
        pooling: ``None``, ``"avg"`` or ``"max"``: global pooling of the features when ``include_top=False``.
        classes: Number of classes (1000 with ImageNet weights and top).
        classifier_activation: Activation of "predictions"; only ``"softmax"`` or ``None`` with pretrained weights.
        name: Model name; default ``f"mobilenet_{alpha:0.2f}_{rows}"`` as in keras.
        include_preprocessing: False (default, as keras.applications): the model takes ``preprocess_input``'s
            output. True: it takes RGB pixels 0..255 and normalises them inside (mode "tf"), with an
            ``ImagePreprocessing`` layer that has no weights (weight files load unchanged).

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: Invalid argument values, with keras.applications' messages in keras' order; then an unknown
            ``pooling``, non-positive ``classes``, an ``alpha`` below 1/32, a ``depth_multiplier`` that is not a
            positive integer, or a ``dropout`` outside [0, 1) with ``include_top=True``.

    Warns:
        UserWarning: With ``weights="imagenet"`` and an input size without published weights (keras' warning); the
            224x224 weights are then loaded.

    Example:
        >>> from keras_archs.applications.mobilenet import MobileNet
        >>> model = MobileNet(alpha=0.25, weights=None, input_shape=(128, 128, 3))
        >>> model.name, model.count_params()
        ('mobilenet_0.25_128', 475544)
    """
    arguments = _assembly.ModelArguments.of(locals())
    shape, rows = _validate(SPEC, arguments, alpha=alpha, depth_multiplier=depth_multiplier, dropout=dropout)
    return _assembly.build(
        SPEC,
        arguments.replace(name=f"mobilenet_{alpha:0.2f}_{rows}" if name is None else name),
        functools.partial(mobilenet_features, alpha=alpha, depth_multiplier=depth_multiplier),
        top=functools.partial(_classifier, dropout=dropout),
        named_pooling=False,  # keras' mobilenet.py leaves the no-top pooling layer unnamed
        input_shape=shape,
        weight_variant={"alpha": alpha, "rows": rows},
    )


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """ "tf" preprocessing, as keras' ``mobilenet.preprocess_input``: scales pixels from [0, 255] to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


# --- small variants for the test-suite (not registered; see _assembly.SmallVariant) ------------------------------

SMALL_VARIANTS = {"alpha_0.25": _assembly.SmallVariant(functools.partial(MobileNet, alpha=0.25, weights=None), 32)}
