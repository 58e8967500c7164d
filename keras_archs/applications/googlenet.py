"""GoogLeNet / Inception v1 (Szegedy et al. 2015, "Going Deeper with Convolutions", CVPR, arXiv:1409.4842).

The original network of the paper's Table 1, not torchvision's later variant (which adds BatchNormalization and uses
3x3 instead of 5x5 convolutions in the "5x5" branch): a 7x7/2 conv, max-pool, LRN, 1x1 and 3x3 convs, LRN, max-pool,
nine Inception modules (3a-5b) with the widths of Table 1's rows, average pooling, dropout 0.4 and a linear layer.
Every conv has a bias and a ReLU; there is no BatchNormalization, so every parameter is trainable: 6,998,552 with
1000 classes, without the auxiliary classifiers.

Where the paper leaves details open they come from Caffe's ``bvlc_googlenet`` (BVLC model zoo
``train_val.prototxt``), the reference re-implementation:

* Layer names are Caffe's with "/" replaced by "_" (``conv1_7x7_s2``, ``inception_3a_5x5_reduce`` ...), the Inception
  branches created in the prototxt's order; the classifier keeps keras' name ``predictions``.
* LRN: the paper's Fig. 3 has "LocalRespNorm" after pool1 and after conv2; its parameters are Caffe's (local_size 5,
  alpha 1e-4, beta 0.75), the layer is :class:`~keras_archs.applications._blocks.LocalResponseNormalization`.
* Pooling rounds output sizes up (Caffe), which Table 1's sizes need: 112 -> 56 -> 28 -> 14 -> 7 at 224 (Keras'
  rounding down would give 55 -> 27 -> 13 -> 6). See ``_blocks.max_pool``.
* conv1 pads 3 pixels on every side (an explicit ``ZeroPadding2D``; Keras' "same" would pad 2 before and 3 after).

The final "avg pool 7x7" is a global average pool: the same operation at 224 (7x7 grid), and the classifier then fits
any input size (as torchvision's adaptive pool does).

Auxiliary classifiers (``aux_logits=True``; Sec. 5): on the outputs of 4a and 4d, average pool 5x5/3, 1x1 conv 128
+ ReLU, fc 1024 + ReLU, dropout 0.7, linear classifier. They are extra model outputs for training only; the paper adds
their losses to the total loss with weight :data:`AUX_LOSS_WEIGHT` (0.3).

No weights are published in a form this package can verify: ``weights`` defaults to None and "imagenet" raises.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import keras
from keras import layers

from keras_archs import imagenet_utils, registry
from keras_archs.applications import _assembly, _blocks, _validation
from keras_archs.applications._blocks import CaffeConv, LocalResponseNormalization
from keras_archs.applications._validation import KerasArguments

__all__ = ["GoogLeNet", "InceptionV1", "AUX_LOSS_WEIGHT", "INCEPTION_MODULES", "preprocess_input", "decode_predictions"]

# --- constants ------------------------------------------------------------------------------------------------------

# Szegedy et al. 2015, Sec. 5: "the losses of the auxiliary classifiers were weighted by 0.3". Use as
# model.compile(loss=[loss, loss, loss], loss_weights=[1.0, AUX_LOSS_WEIGHT, AUX_LOSS_WEIGHT]).
AUX_LOSS_WEIGHT = 0.3
DROPOUT_RATE = 0.4  # Table 1 ("dropout (40%)") and Sec. 5
AUX_DROPOUT_RATE = 0.7  # Sec. 5 ("A dropout layer with 70% ratio of dropped outputs")
AUX_POOL_SIZE, AUX_POOL_STRIDES = 5, 3  # Sec. 5 ("5x5 filter size and stride 3")
AUX_CONV_FILTERS = 128  # Sec. 5 ("1x1 convolution with 128 filters")
AUX_FC_UNITS = 1024  # Sec. 5 ("fully connected layer with 1024 units")
AUX_ENDPOINTS = ("4a", "4d")  # Sec. 5: on top of the output of Inception (4a) and (4d)
# Smallest input with aux_logits=True: the aux pool needs a 5x5 grid at 4a (measured; 14x14 at 224).
AUX_MIN_SIZE = 79

# Stem (Table 1 rows "convolution" to "max pool" before 3a; Caffe pads/strides): conv1 7x7/2 pad 3, conv2 1x1
# reduce then 3x3 pad 1.
CONV1 = CaffeConv(64, 7, strides=2, padding=3)
CONV2_REDUCE = CaffeConv(64, 1)
CONV2 = CaffeConv(192, 3, padding=1)


class InceptionRow(NamedTuple):
    """A row of Szegedy et al. 2015, Table 1: filters of each branch of an Inception module (Fig. 2b)."""

    name: str
    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool_proj: int

    @property
    def width(self) -> int:
        return self.n1x1 + self.n3x3 + self.n5x5 + self.pool_proj


# Table 1 columns "#1x1", "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5", "pool proj"; "pool" marks the 3x3/2 max-pools
# between the 28x28, 14x14 and 7x7 stages.
INCEPTION_MODULES = (
    InceptionRow("3a", 64, 96, 128, 16, 32, 32),
    InceptionRow("3b", 128, 128, 192, 32, 96, 64),
    "pool3",
    InceptionRow("4a", 192, 96, 208, 16, 48, 64),
    InceptionRow("4b", 160, 112, 224, 24, 64, 64),
    InceptionRow("4c", 128, 128, 256, 24, 64, 64),
    InceptionRow("4d", 112, 144, 288, 32, 64, 64),
    InceptionRow("4e", 256, 160, 320, 32, 128, 128),
    "pool4",
    InceptionRow("5a", 256, 160, 320, 32, 128, 128),
    InceptionRow("5b", 384, 192, 384, 48, 128, 128),
)


# --- blocks ---------------------------------------------------------------------------------------------------------


def _relu_conv(filters: int, kernel: int, name: str) -> layers.Conv2D:
    return layers.Conv2D(filters, kernel, padding="same", activation="relu", name=name)


def inception_module(x: Any, row: InceptionRow) -> Any:
    """Fig. 2b: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3/1 max-pool -> 1x1, concatenated as ``inception_{name}_output``."""
    prefix = f"inception_{row.name}"
    branch1 = _relu_conv(row.n1x1, 1, f"{prefix}_1x1")(x)
    branch3 = _relu_conv(row.n3x3_reduce, 1, f"{prefix}_3x3_reduce")(x)
    branch3 = _relu_conv(row.n3x3, 3, f"{prefix}_3x3")(branch3)
    branch5 = _relu_conv(row.n5x5_reduce, 1, f"{prefix}_5x5_reduce")(x)
    branch5 = _relu_conv(row.n5x5, 5, f"{prefix}_5x5")(branch5)
    pool = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{prefix}_pool")(x)
    pool = _relu_conv(row.pool_proj, 1, f"{prefix}_pool_proj")(pool)
    return layers.Concatenate(axis=_blocks.channel_axis(), name=f"{prefix}_output")([branch1, branch3, branch5, pool])


def _classifier(x: Any, classes: int, classifier_activation: Any) -> Any:
    x = layers.GlobalAveragePooling2D(name="pool5_7x7_s1")(x)
    x = layers.Dropout(DROPOUT_RATE, name="pool5_drop_7x7_s1")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def auxiliary_classifier(x: Any, classes: int, classifier_activation: Any, name: str) -> Any:
    """Sec. 5's side classifier (Caffe ``loss1``/``loss2``): 5x5/3 avg pool, 1x1 conv 128, fc 1024, dropout 0.7, fc."""
    x = layers.AveragePooling2D(AUX_POOL_SIZE, strides=AUX_POOL_STRIDES, name=f"{name}_ave_pool")(x)
    x = layers.Conv2D(AUX_CONV_FILTERS, 1, activation="relu", name=f"{name}_conv")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(AUX_FC_UNITS, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(AUX_DROPOUT_RATE, name=f"{name}_drop_fc")(x)
    return layers.Dense(classes, activation=classifier_activation, name=f"{name}_predictions")(x)


AUXILIARY_HEADS = tuple(
    _assembly.AuxiliaryHead(
        f"inception_{endpoint}_output",
        functools.partial(auxiliary_classifier, name=f"aux{number}"),
        AUX_POOL_SIZE,
        AUX_MIN_SIZE,
    )
    for number, endpoint in enumerate(AUX_ENDPOINTS, start=1)
)

# --- trunk ----------------------------------------------------------------------------------------------------------


def googlenet_features(img_input: Any, modules: tuple[InceptionRow | str, ...] = INCEPTION_MODULES) -> Any:
    """The stem of Table 1 (with Caffe's LRNs and ceil pooling) and the Inception ``modules`` (by default 3a-5b)."""
    x = _blocks.caffe_conv(img_input, CONV1, name="conv1_7x7_s2")
    x = _blocks.max_pool(x, ceil_mode=True, name="pool1_3x3_s2")
    x = LocalResponseNormalization(axis=_blocks.channel_axis(), name="pool1_norm1")(x)
    x = _blocks.caffe_conv(x, CONV2_REDUCE, name="conv2_3x3_reduce")
    x = _blocks.caffe_conv(x, CONV2, name="conv2_3x3")
    x = LocalResponseNormalization(axis=_blocks.channel_axis(), name="conv2_norm2")(x)
    x = _blocks.max_pool(x, ceil_mode=True, name="pool2_3x3_s2")
    for item in modules:
        x = (
            _blocks.max_pool(x, ceil_mode=True, name=f"{item}_3x3_s2")
            if isinstance(item, str)
            else inception_module(x, item)
        )
    return x


def build_googlenet(
    spec: registry.ModelSpec,
    arguments: KerasArguments,
    *,
    modules: tuple[InceptionRow | str, ...] = INCEPTION_MODULES,
    aux_logits: bool = False,
) -> keras.Model:
    """The family builder: ``spec``'s checks and sizes, the trunk of ``modules``, the classifier, then the auxiliary
    classifiers (layers created after the main network, which loads ``weights`` exactly as without them)."""
    _validation.check_aux_logits(aux_logits, arguments.include_top)
    model = _assembly.build(spec, arguments, functools.partial(googlenet_features, modules=modules), top=_classifier)
    if not aux_logits:
        return model
    return _assembly.with_auxiliary_outputs(model, AUXILIARY_HEADS, arguments.classes, arguments.classifier_activation)


# --- specs ----------------------------------------------------------------------------------------------------------

SPEC = registry.ModelSpec(
    name="GoogLeNet",
    family="googlenet",
    default_size=224,  # Table 1: 224x224 receptive field
    min_size=31,  # smallest input that builds (measured): the four stride-2 pools need a 16x16 conv1 output
    preprocessing="caffe",
    paper="Szegedy et al. 2015, Going Deeper with Convolutions (CVPR), arXiv:1409.4842",
    params=6_998_552,  # count_params(), measured; no aux heads
    trainable_params=6_998_552,  # no BatchNormalization: every parameter is trainable
    layers=90,  # len(model.layers), measured
    aliases=("InceptionV1",),
    published_accuracy=registry.PublishedAccuracy.torchvision(
        "GoogLeNet_Weights.IMAGENET1K_V1",
        69.778,
        "weights ported from the paper's model, with batch norm; Szegedy et al. 2015 report top-5 error only",
    ),
)

# --- constructors ---------------------------------------------------------------------------------------------------


@registry.register(SPEC)
def GoogLeNet(
    include_top: bool = True,
    weights: Any = None,
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "googlenet",
    aux_logits: bool = False,
    include_preprocessing: bool = False,
) -> keras.Model:
    """Instantiates GoogLeNet (Inception v1) as in Szegedy et al. 2015, Table 1 (also exported as ``InceptionV1``).

    Args:
        include_top: Whether to include the classifier (global average pool, dropout 0.4, ``predictions``).
        weights: ``None`` (random initialisation) or the path of a weights file for the network *without*
            auxiliary classifiers (``.weights.h5``, legacy ``.h5`` by layer order, ``.keras``); with
            ``aux_logits=True`` it is loaded into the main network and the auxiliary classifiers start random (to
            restore a checkpoint of the whole model with its auxiliary classifiers, call ``model.load_weights``).
            No ImageNet weights are published in a verifiable form: "imagenet" raises.
        input_tensor: Optional Keras tensor to use as image input.
        input_shape: Optional shape tuple (default 224x224x3; at least 31x31, 79x79 with ``aux_logits``).
        pooling: With ``include_top=False``: ``None`` (the 4D inception 5b output), ``"avg"`` or ``"max"``.
        classes: Number of classes of the classifier(s).
        classifier_activation: Activation of ``predictions`` (and of the auxiliary classifiers).
        name: Model name.
        aux_logits: Add the two auxiliary classifiers of Sec. 5 (on 4a and 4d) as extra outputs: the model returns
            ``[main, aux1, aux2]``. For training; weight their losses by :data:`AUX_LOSS_WEIGHT`. Their flatten size
            (4x4x128 at 224) depends on the input size. Drop them for inference with
            ``keras.Model(model.inputs, model.outputs[0])`` (shares the weights).
        include_preprocessing: False (default, as keras.applications): the model takes ``preprocess_input``'s
            output. True: it takes RGB pixels 0..255 and normalises them inside (mode "caffe"), with an
            ``ImagePreprocessing`` layer that has no weights (weight files load unchanged).

    Returns:
        A ``keras.Model``. Preprocess inputs with :func:`preprocess_input` ("caffe").

    Raises:
        ValueError: ``weights="imagenet"``; ``aux_logits=True`` without ``include_top`` or with an input smaller than
            79x79; invalid ``weights``, ``classes``, ``input_shape``, ``pooling`` (keras.applications' messages).
        TypeError: ``include_top`` or ``aux_logits`` is not a bool.

    Example:
        >>> from keras_archs.applications.googlenet import GoogLeNet
        >>> model = GoogLeNet(aux_logits=True, classes=10)
        >>> [tuple(output.shape) for output in model.outputs]
        [(None, 10), (None, 10), (None, 10)]
    """
    return build_googlenet(SPEC, _assembly.ModelArguments.of(locals()), aux_logits=aux_logits)


InceptionV1 = GoogLeNet


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """ "caffe" mode: RGB -> BGR, minus the ImageNet mean pixel, no scaling (bvlc_googlenet subtracts 104, 117, 123).

    Args:
        x: RGB images in [0, 255], 3D or 4D, NumPy array or tensor.
        data_format: "channels_last" / "channels_first"; None uses ``keras.config.image_data_format()``.

    Returns:
        The preprocessed images.
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


# --- small variants for the test-suite (not registered; see _assembly.SmallVariant) ------------------------------

# Both pools between stages, one Inception module per stage and the two the auxiliary classifiers attach to.
SMALL_MODULES = tuple(
    item for item in INCEPTION_MODULES if isinstance(item, str) or item.name in {"3a", "4a", "4d", "5b"}
)
SMALL_VARIANTS = {
    "one_module_per_stage": _assembly.small_variant(
        lambda arguments: build_googlenet(SPEC, arguments, modules=SMALL_MODULES), 31, "googlenet_small"
    )
}
