"""Inception-v4 (Szegedy et al. 2017, "Inception-v4, Inception-ResNet and the Impact of Residual Connections on
Learning", AAAI, arXiv:1602.07261).

The network is data, in the step language of ``inception_v3`` (:class:`Conv`, :class:`Pool`, :class:`Split` steps in
branches; a module concatenates its branches): three stem convolutions and the three concatenating stem modules of
Fig. 3, 4x Inception-A (Fig. 4), Reduction-A (Fig. 7, Table 1: k=192, l=224, m=256, n=384), 7x Inception-B (Fig. 5),
Reduction-B (Fig. 8), 3x Inception-C (Fig. 6), then average pooling, dropout (keep 0.8, Fig. 9) and the classifier.

Where the paper leaves details open, the reference TF-slim implementation by the same group
(tensorflow/models, research/slim/nets/inception_v4.py, whose ``inception_v4_2016_09_09`` checkpoint is the published
ImageNet model) decides, so its variables map onto ours one to one and in the same order:

* every convolution is a conv (no bias) + BatchNormalization (no gamma, eps 1e-3) + ReLU unit, the ``conv_bn`` of
  keras' InceptionV3 (``inception_arg_scope``: ``batch_norm_scale=False``);
* paddings "same" except where Fig. 3-8 mark "V" (valid), giving 299 -> 35x35x384 -> 17x17x1024 -> 8x8x1536;
* the factorised 7x7 and 3x3 chains of Inception-B/C apply 7x1 before 1x7 (and 3x1 before 1x3) where Fig. 5/6 draw
  them the other way round; parameter counts are the same either way;
* branch order within each module is TF-slim's (Branch_0 ... Branch_3), conv layers are created branch by branch.

Not included: the auxiliary classifier TF-slim attaches to Mixed_6h for training (``create_aux_logits``), which the
paper does not describe for Inception-v4. No weights in a Keras-loadable format are published: ``weights="imagenet"``
raises; the TF-slim checkpoint has 1001 classes (background first) and would need a conversion script.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from keras_archs import registry
from keras_archs.applications import _assembly, _blocks
from keras_archs.applications._blocks import AVG_POOL, MAX_POOL, Branch, Conv, Split, reduction_a
from keras_archs.applications._validation import KerasArguments
from keras_archs.applications.inception_v3 import decode_predictions, preprocess_input

__all__ = ["InceptionV4", "preprocess_input", "decode_predictions"]

# --- constants ------------------------------------------------------------------------------------------------------

DEFAULT_SIZE = 299  # Szegedy et al. 2017, Fig. 9 (input 299x299x3)
# Measured: the valid convolutions and poolings of the stem and the reductions shrink 75x75 to a 1x1 grid; at 74 the
# 17x17 grid is 2x2 and Reduction-B's 3x3/2 valid convs fail (same bound as keras' Inception v3).
MIN_SIZE = 75
DROPOUT_RATE = 0.2  # Fig. 9 "Dropout (keep 0.8)"

# --- blocks ---------------------------------------------------------------------------------------------------------

# First three stem convolutions, 299x299x3 -> 147x147x64 (Fig. 3; TF-slim Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3).
STEM_CONVS: Branch = (Conv(32, 3, 2, "valid"), Conv(32, 3, 1, "valid"), Conv(64, 3))

# The rest of the stem: three concatenating modules (Fig. 3), each (name, branches).
STEM_MODULES: tuple[tuple[str, tuple[Branch, ...]], ...] = (
    # 147x147x64 -> 73x73x160: max pool | 3x3/2 conv.
    ("mixed_3a", ((MAX_POOL,), (Conv(96, 3, 2, "valid"),))),
    # 73x73x160 -> 71x71x192: 1x1-3x3 | 1x1-1x7-7x1-3x3 (TF-slim's 1x7 then 7x1; Fig. 3 draws 7x1 first).
    (
        "mixed_4a",
        (
            (Conv(64, 1), Conv(96, 3, 1, "valid")),
            (Conv(64, 1), Conv(64, (1, 7)), Conv(64, (7, 1)), Conv(96, 3, 1, "valid")),
        ),
    ),
    # 71x71x192 -> 35x35x384: 3x3/2 conv | max pool.
    ("mixed_5a", ((Conv(192, 3, 2, "valid"),), (MAX_POOL,))),
)

# Inception-A, 35x35x384 (Fig. 4).
INCEPTION_A: tuple[Branch, ...] = (
    (Conv(96, 1),),
    (Conv(64, 1), Conv(96, 3)),
    (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
    (AVG_POOL, Conv(96, 1)),
)

# Inception-B, 17x17x1024 (Fig. 5).
INCEPTION_B: tuple[Branch, ...] = (
    (Conv(384, 1),),
    (Conv(192, 1), Conv(224, (1, 7)), Conv(256, (7, 1))),
    (Conv(192, 1), Conv(192, (7, 1)), Conv(224, (1, 7)), Conv(224, (7, 1)), Conv(256, (1, 7))),
    (AVG_POOL, Conv(128, 1)),
)

# Reduction-B, 17x17x1024 -> 8x8x1536 (Fig. 8).
REDUCTION_B: tuple[Branch, ...] = (
    (Conv(192, 1), Conv(192, 3, 2, "valid")),
    (Conv(256, 1), Conv(256, (1, 7)), Conv(320, (7, 1)), Conv(320, 3, 2, "valid")),
    (MAX_POOL,),
)


def inception_c(name: str) -> tuple[Branch, ...]:
    """Inception-C, 8x8x1536 (Fig. 6): two branches end in a 1x3 | 3x1 split, named ``{name}_branch{1,2}``."""
    split = (Conv(256, (1, 3)), Conv(256, (3, 1)))
    return (
        (Conv(256, 1),),
        (Conv(384, 1), Split(split, f"{name}_branch1")),
        (Conv(384, 1), Conv(448, (3, 1)), Conv(512, (1, 3)), Split(split, f"{name}_branch2")),
        (AVG_POOL, Conv(256, 1)),
    )


def _stage(letter: str, repeats: int, first: int = 0) -> list[str]:
    # TF-slim's scope names, lower case: Mixed_5b ... Mixed_5e, Mixed_6b ... Mixed_6h, Mixed_7b ... Mixed_7d.
    return [f"mixed_{letter}{chr(ord('b') + i)}" for i in range(first, first + repeats)]


# The modules after the stem, (name, branches), in order (Fig. 9: 4x A, Reduction-A, 7x B, Reduction-B, 3x C).
INCEPTION_V4_MODULES: tuple[tuple[str, tuple[Branch, ...]], ...] = (
    *((name, INCEPTION_A) for name in _stage("5", 4)),
    ("mixed_6a", reduction_a(k=192, l=224, m=256, n=384)),  # Table 1, Inception-v4 row
    *((name, INCEPTION_B) for name in _stage("6", 7)),
    ("mixed_7a", REDUCTION_B),
    *((name, inception_c(name)) for name in _stage("7", 3)),
)


def _classifier(x: Any, classes: int, classifier_activation: Any) -> Any:
    # Fig. 9: average pooling, dropout (keep 0.8), softmax; TF-slim's Logits/AvgPool_1a + Dropout_1b + biased FC.
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(DROPOUT_RATE, name="dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


# --- trunk ----------------------------------------------------------------------------------------------------------

Module = tuple[str, tuple[Branch, ...]]


def inception_v4_features(
    img_input: Any, modules: tuple[Module, ...] = INCEPTION_V4_MODULES
) -> tuple[Any, dict[str, Any]]:
    """The convolutional trunk (8x8x1536 at 299x299); returns it and every module's output by name."""
    x = _blocks.apply_steps(img_input, STEM_CONVS)
    endpoints = {}
    for name, branches in (*STEM_MODULES, *modules):
        x = endpoints[name] = _blocks.inception_module(x, branches, name)
    return x, endpoints


def build_inception_v4(
    spec: registry.ModelSpec, arguments: KerasArguments, modules: tuple[Module, ...] = INCEPTION_V4_MODULES
) -> keras.Model:
    """The family builder: ``spec``'s checks (keras' wording) and sizes, the stem and ``modules``, the head of
    Fig. 9 or, like keras' Inception models, unnamed global pooling when ``include_top=False``."""
    return _assembly.build(
        spec,
        arguments,
        lambda img_input: inception_v4_features(img_input, modules)[0],
        top=_classifier,
        named_pooling=False,
    )


# --- specs ----------------------------------------------------------------------------------------------------------

SPEC = registry.ModelSpec(
    name="InceptionV4",
    family="inception_v4",
    default_size=DEFAULT_SIZE,
    min_size=MIN_SIZE,
    preprocessing="tf",
    paper=(
        "Szegedy et al. 2017, Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning "
        "(AAAI), arXiv:1602.07261"
    ),
    # count_params() measured (BN moving mean/variance included: 63,168 non-trainable). Trainable 42,648,232 =
    # conv kernels + BN betas + classifier. timm's 42.68M (42,679,816) is the same network with PyTorch's affine
    # BN: trainable + one gamma per BN channel (31,584). TF-slim's reference adds 1,537 for its 1001st class.
    params=42_711_400,
    trainable_params=42_648_232,
    layers=494,  # len(model.layers), measured
    published_accuracy=registry.PublishedAccuracy(
        0.8, "imagenet", "Szegedy et al. 2017, arXiv:1602.07261, Table 2: single crop, single model, top-1 error 20.0 %"
    ),
)

# --- constructors ---------------------------------------------------------------------------------------------------


@registry.register(SPEC)
def InceptionV4(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_v4",
    include_preprocessing=False,
):
    """Instantiates Inception-v4 (Szegedy et al. 2017, arXiv:1602.07261), with keras.applications' arguments.

    Args:
        include_top: Whether to add the classifier (global average pooling ``avg_pool``, dropout 0.2, Dense
            ``predictions``).
        weights: None (random initialisation) or the path to a weights file (``.weights.h5``, legacy ``.h5`` by
            layer order, ``.keras``). No ImageNet weights are published in a loadable format: "imagenet" raises.
        input_tensor: Optional Keras tensor to use as the image input.
        input_shape: Optional shape without the batch axis; at least 75x75 (default (299, 299, 3)).
        pooling: With ``include_top=False``: None (4D output), "avg" or "max" (global pooling, 2D output).
        classes: Number of classes of the classifier.
        classifier_activation: Activation of ``predictions``; only None or "softmax" with pretrained weights.
        name: Model name.
        include_preprocessing: False (default, as keras.applications): the model takes ``preprocess_input``'s
            output. True: it takes RGB pixels 0..255 and normalises them inside (mode "tf"), with an
            ``ImagePreprocessing`` layer that has no weights (weight files load unchanged).

    Returns:
        A ``keras.Model``. Preprocess its inputs with :func:`preprocess_input` (pixels scaled to [-1, 1]).

    Raises:
        ValueError: For invalid ``weights``, ``classes``, ``input_shape``, ``pooling`` or ``classifier_activation``
            (keras.applications' messages for the checks keras makes), and for ``weights="imagenet"``.

    Example:
        >>> import keras_archs
        >>> model = keras_archs.InceptionV4(include_top=False, input_shape=(75, 75, 3))
        >>> model.output_shape
        (None, 1, 1, 1536)
    """
    return build_inception_v4(SPEC, _assembly.ModelArguments.of(locals()))


# --- small variants for the test-suite (not registered; see _assembly.SmallVariant) ------------------------------

# One module of each kind: A, Reduction-A, B, Reduction-B, C.
SMALL_MODULES = tuple(
    row for row in INCEPTION_V4_MODULES if row[0] in {"mixed_5b", "mixed_6a", "mixed_6b", "mixed_7a", "mixed_7b"}
)
SMALL_VARIANTS = {
    "one_module_per_kind": _assembly.small_variant(
        lambda arguments: build_inception_v4(SPEC, arguments, SMALL_MODULES), 75, "inception_v4_small"
    )
}
