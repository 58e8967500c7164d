"""Inception-ResNet v2 (Szegedy et al. 2017), layer-for-layer compatible with ``keras.applications.InceptionResNetV2``.

The network is Inception v3's stem, then three stages, each an Inception/Reduction module followed by a run of
residual Inception blocks (:data:`STAGES`), then one linear ``block8`` and the 1x1 ``conv_7b``. A residual block
runs its branches (:data:`RESIDUAL_BRANCHES`, same step data as ``inception_v3``), concatenates them, projects back to
the input width with a biased 1x1 convolution and adds ``scale`` times the result to the input
(:class:`CustomScaleLayer`).

Layers are created in keras' order with keras' names, so keras' legacy ``.h5`` files (matched by the order of
weighted layers) and ``.weights.h5`` files (matched by layer class and creation order) load unchanged.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from keras_archs import imagenet_utils, registry
from keras_archs.applications import _assembly, _blocks, _validation
from keras_archs.applications._blocks import MAX_POOL, Branch, Conv, reduction_a
from keras_archs.applications._validation import KerasArguments
from keras_archs.applications.inception_v3 import STEM, inception_a
from keras_archs.applications.inception_v3 import preprocess_input as inception_v3_preprocess_input

__all__ = ["InceptionResNetV2", "CustomScaleLayer", "preprocess_input", "decode_predictions"]

# --- constants ------------------------------------------------------------------------------------------------------

# File names, URL and md5 hashes: keras/src/applications/inception_resnet_v2.py (keras 3.15, BASE_WEIGHT_URL, fname,
# file_hash).
BASE_WEIGHT_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"
WEIGHTS_FNAME = "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5"
WEIGHTS_HASH = "e693bd0210a403b3192acc6073ad2e96"
WEIGHTS_FNAME_NO_TOP = "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_HASH_NO_TOP = "d19885ff4a710c122648d3b5c3b684e4"
# keras.io applications docs: "These weights are released under the Apache License" (tensorflow/models).
WEIGHTS_LICENSE = "Apache-2.0"

# Residual branches of the three block types: keras/src/applications/inception_resnet_v2.py (`inception_resnet_block`),
# the Inception-ResNet-A/B/C blocks of Szegedy et al. 2017 Fig. 16-18 (keras follows TF-slim's filter counts).
RESIDUAL_BRANCHES: dict[str, tuple[Branch, ...]] = {
    "block35": ((Conv(32, 1),), (Conv(32, 1), Conv(32, 3)), (Conv(32, 1), Conv(48, 3), Conv(64, 3))),
    "block17": ((Conv(192, 1),), (Conv(128, 1), Conv(160, (1, 7)), Conv(192, (7, 1)))),
    "block8": ((Conv(192, 1),), (Conv(192, 1), Conv(224, (1, 3)), Conv(256, (3, 1)))),
}

# 17x17 -> 8x8 reduction ("mixed_7a"): keras/src/applications/inception_resnet_v2.py (TF-slim's Mixed_7a).
REDUCTION_B: tuple[Branch, ...] = (
    (Conv(256, 1), Conv(384, 3, 2, "valid")),
    (Conv(256, 1), Conv(288, 3, 2, "valid")),
    (Conv(256, 1), Conv(288, 3), Conv(320, 3, 2, "valid")),
    (MAX_POOL,),
)

# (module name, module branches, residual block type, repeats, residual scale), keras' order and values
# (keras/src/applications/inception_resnet_v2.py). Reduction-A uses Szegedy et al. 2017 Table 1's
# Inception-ResNet-v2 row k=256, l=256, m=384, n=384; the scales 0.17/0.1/0.2 are TF-slim's.
STAGES: tuple[tuple[str, tuple[Branch, ...], str, int, float], ...] = (
    ("mixed_5b", inception_a(96, 64), "block35", 10, 0.17),  # 35x35x320
    ("mixed_6a", reduction_a(k=256, l=256, m=384, n=384), "block17", 20, 0.1),  # 17x17x1088
    ("mixed_7a", REDUCTION_B, "block8", 9, 0.2),  # 8x8x2080
)
# Then keras adds block8_10 unscaled (1.0) and without ReLU, and the 1x1 conv_7b to 1536 channels.
FINAL_BLOCK = ("block8", 10)
FINAL_CONV = Conv(1536, 1)


# --- blocks ---------------------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_archs")
class CustomScaleLayer(layers.Layer):
    """Adds a scaled residual to its shortcut: ``inputs[0] + scale * inputs[1]``.

    Szegedy et al. 2017 (Sec. 3.3) scale residuals by 0.1-0.3 before the addition to keep training of the wide
    residual blocks stable. The class keeps keras' name so that the auto-generated layer names
    (``custom_scale_layer``, ``custom_scale_layer_1``, ...) and the ``.weights.h5`` keys (derived from the class name)
    are keras'; it has no weights. Unlike keras' class it is registered, so ``.keras`` files reload without
    ``custom_objects``.

    Args:
        scale: The residual's factor.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}

    def call(self, inputs):
        shortcut, residual = inputs
        return shortcut + residual * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def inception_resnet_block(x: Any, block_type: str, block_idx: int, scale: float, activation: Any = "relu") -> Any:
    """One residual Inception block: ``activation(x + scale * conv1x1(concat(branches(x))))``.

    Layer names follow keras: ``{block_type}_{block_idx}_mixed``, ``_conv`` (biased, no BN) and ``_ac``.
    """
    block_name = f"{block_type}_{block_idx}"
    mixed = _blocks.inception_module(x, RESIDUAL_BRANCHES[block_type], name=f"{block_name}_mixed")
    # Project back to the input width so the residual can be added (Szegedy et al. 2017 Sec. 3.2, "filter-expansion").
    width = x.shape[_blocks.channel_axis()]
    up = layers.Conv2D(width, 1, padding="same", use_bias=True, name=f"{block_name}_conv")(mixed)
    x = CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = layers.Activation(activation, name=f"{block_name}_ac")(x)
    return x


# --- trunk ----------------------------------------------------------------------------------------------------------

Stage = tuple[str, tuple[Branch, ...], str, int, float]


def inception_resnet_v2_features(img_input: Any, stages: tuple[Stage, ...] = STAGES) -> tuple[Any, dict[str, Any]]:
    """The convolutional trunk; returns the ``conv_7b`` activation and each residual stage's output by block type."""
    x = _blocks.apply_steps(img_input, STEM)
    endpoints = {}
    for module_name, branches, block_type, repeats, scale in stages:
        x = _blocks.inception_module(x, branches, module_name)
        for block_idx in range(1, repeats + 1):
            x = inception_resnet_block(x, block_type, block_idx, scale)
        endpoints[block_type] = x
    x = inception_resnet_block(x, *FINAL_BLOCK, scale=1.0, activation=None)
    return _blocks.conv_bn(x, FINAL_CONV, name="conv_7b"), endpoints


def build_inception_resnet_v2(
    spec: registry.ModelSpec, arguments: KerasArguments, stages: tuple[Stage, ...] = STAGES
) -> keras.Model:
    """The family builder: ``spec``'s checks (keras' inception_resnet_v2.py wording) and weights, the trunk of
    ``stages`` (other repeat counts give shallower variants), keras' head or unnamed global pooling."""
    return _assembly.build(
        spec,
        arguments,
        lambda img_input: inception_resnet_v2_features(img_input, stages)[0],
        messages=_validation.INCEPTION_RESNET_V2_MESSAGES,
        named_pooling=False,  # keras leaves the include_top=False pooling unnamed
    )


# --- specs ----------------------------------------------------------------------------------------------------------

SPEC = registry.ModelSpec(
    name="InceptionResNetV2",
    family="inception_resnet_v2",
    default_size=299,  # keras: obtain_input_shape(default_size=299, min_size=75)
    min_size=75,
    preprocessing="tf",
    paper=(
        "Szegedy et al. 2017, Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning "
        "(AAAI), arXiv:1602.07261"
    ),
    params=55_873_736,  # count_params() of keras.applications.InceptionResNetV2(weights=None), measured
    layers=782,  # len(model.layers), measured
    weights=_assembly.keras_weight_entries(
        BASE_WEIGHT_URL,
        ((True, WEIGHTS_FNAME, WEIGHTS_HASH), (False, WEIGHTS_FNAME_NO_TOP, WEIGHTS_HASH_NO_TOP)),
        license=WEIGHTS_LICENSE,
    ),
    published_accuracy=registry.PublishedAccuracy.keras_applications(80.3),
)

# --- constructors ---------------------------------------------------------------------------------------------------


@registry.register(SPEC)
def InceptionResNetV2(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_resnet_v2",
    include_preprocessing=False,
):
    """Instantiates Inception-ResNet v2 (Szegedy et al. 2017, arXiv:1602.07261), same graph as keras.applications'.

    Args:
        include_top: Whether to add the classifier (global average pooling ``avg_pool`` + Dense ``predictions``).
        weights: None (random initialisation), "imagenet", or the path to a weights file (legacy ``.h5`` or
            ``.weights.h5``).
        input_tensor: Optional Keras tensor to use as the image input.
        input_shape: Optional shape without the batch axis; must be (299, 299, 3) with the imagenet top, and at
            least 75x75 otherwise.
        pooling: With ``include_top=False``: None (4D output), "avg" or "max" (global pooling, 2D output).
        classes: Number of classes of the classifier (1000 for the imagenet top).
        classifier_activation: Activation of ``predictions``; only None or "softmax" with pretrained weights.
        name: Model name.
        include_preprocessing: False (default, as keras.applications): the model takes ``preprocess_input``'s
            output. True: it takes RGB pixels 0..255 and normalises them inside (mode "tf"), with an
            ``ImagePreprocessing`` layer that has no weights (weight files load unchanged).

    Returns:
        A ``keras.Model``. Preprocess its inputs with :func:`preprocess_input` (pixels scaled to [-1, 1]).

    Raises:
        ValueError: For invalid ``weights``, ``classes``, ``input_shape``, ``pooling`` or ``classifier_activation``
            (keras.applications' messages for the checks keras makes).
    """
    return build_inception_resnet_v2(SPEC, _assembly.ModelArguments.of(locals()))


# Both are the same as InceptionV3's ("tf" mode: pixels scaled to [-1, 1]; ImageNet class names), like keras'.
preprocess_input = inception_v3_preprocess_input
decode_predictions = imagenet_utils.decode_predictions


# --- small variants for the test-suite (not registered; see _assembly.SmallVariant) ------------------------------

# One residual block per stage (and the final linear block8_10 and conv_7b).
SMALL_STAGES = tuple((module, branches, block, 1, scale) for module, branches, block, _, scale in STAGES)
SMALL_VARIANTS = {
    "one_block_per_stage": _assembly.small_variant(
        lambda arguments: build_inception_resnet_v2(SPEC, arguments, SMALL_STAGES), 75, "inception_resnet_v2_small"
    )
}
