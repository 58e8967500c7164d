"""Inception v3 (Szegedy et al. 2016), layer-for-layer compatible with ``keras.applications.InceptionV3``.

An Inception module is data: a tuple of branches, each branch a sequence of steps (:class:`Conv`, :class:`Pool`,
:class:`Split`) applied in order; the module concatenates its branches' outputs on the channel axis. The network is
the stem followed by the rows of :data:`INCEPTION_V3_MODULES`.

Layer order matters for weight files, not only for reading: a legacy ``.h5`` file is matched to the model by the
order of its weighted layers and a Keras 3 ``.weights.h5`` file by layer class and creation order. Building the
branches in the order they are listed, every step of a branch before the next branch, and the concatenation last,
creates exactly the layers keras.applications creates, in the same order and with the same auto-generated names
(``conv2d_N``, ``batch_normalization_N``, ``activation_N``; only the concatenations are named, ``mixed0`` ...
``mixed10``).

The stem, :class:`Conv`/:class:`Pool`/:class:`Split` and :func:`inception_module` are reused by
``inception_resnet_v2``, whose stem and unnamed conv-BN-ReLU units are identical to these.

``aux_logits=True`` adds the auxiliary classifier of Szegedy et al. 2016 (Sec. 4, "Utility of Auxiliary
Classifiers"), with the dimensions of the reference TF-slim ``inception_v3`` (``AuxLogits`` on ``Mixed_6e``, keras'
``mixed7``): 5x5/3 average pool, 1x1 conv 128, 5x5 "valid" conv 768 (conv-BN-ReLU units like the trunk's), flatten,
Dense classifier. It is a second model output, randomly initialised, for training only. Its layers are created after
the complete main model, which is built (and its ``weights`` loaded) exactly as without the head, so keras' ImageNet
files still fit the main graph.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Union

import keras
from keras import layers

from keras_archs import imagenet_utils, registry
from keras_archs.applications import _common

__all__ = ["InceptionV3", "AUX_LOSS_WEIGHT", "preprocess_input", "decode_predictions"]

# File names, URL and md5 hashes: keras/src/applications/inception_v3.py (keras 3.15, WEIGHTS_PATH*, file_hash).
BASE_WEIGHT_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
WEIGHTS_FNAME = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
WEIGHTS_HASH = "9a0d58056eeedaa3f26cb7ebd46da564"
WEIGHTS_FNAME_NO_TOP = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_HASH_NO_TOP = "bcbd6486424b2319ff4ef7d526e38f63"
# keras.io applications docs: "These weights are released under the Apache License" (tensorflow/models).
WEIGHTS_LICENSE = "Apache-2.0"
WEIGHTS_SOURCE = "keras.applications (storage.googleapis.com/tensorflow/keras-applications)"


class Conv(NamedTuple):
    """A Conv2D (no bias) + BatchNormalization (no gamma) + ReLU unit; ``kernel`` is an int or (rows, cols)."""

    filters: int
    kernel: int | tuple[int, int]
    strides: int = 1
    padding: str = "same"


class Pool(NamedTuple):
    """A 3x3-style pooling step: ``kind`` is "avg" or "max"."""

    kind: str
    size: int
    strides: int
    padding: str


class Split(NamedTuple):
    """Parallel convolutions on the same tensor, concatenated (the expanded filter bank, Szegedy et al. 2016 Fig. 7).

    ``name`` is the Concatenate layer's name; keras names only one of the two splits of each 8x8 module.
    """

    convs: tuple[Conv, ...]
    name: str | None = None


Step = Union[Conv, Pool, Split]
Branch = tuple[Step, ...]

# Pooling steps as keras uses them: the 3x3/1 "same" average pool feeding a 1x1 projection in every non-reducing
# module, and the 3x3/2 "valid" max pool of the stem and the grid reductions (Szegedy et al. 2016, Fig. 5-7, 10).
AVG_POOL = Pool("avg", 3, 1, "same")
MAX_POOL = Pool("max", 3, 2, "valid")

# Stem, 299x299x3 -> 35x35x192: Szegedy et al. 2016 Table 1 rows "conv" to "pool", with keras' paddings
# (keras/src/applications/inception_v3.py; inception_resnet_v2.py uses the same seven steps).
STEM: Branch = (
    Conv(32, 3, 2, "valid"),
    Conv(32, 3, 1, "valid"),
    Conv(64, 3),
    MAX_POOL,
    Conv(80, 1, 1, "valid"),
    Conv(192, 3, 1, "valid"),
    MAX_POOL,
)


def inception_a(branch1x1: int, pool_projection: int) -> tuple[Branch, ...]:
    """35x35 module (Szegedy et al. 2016 Fig. 5, with keras' 5x5 branch): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | pool-1x1."""
    return (
        (Conv(branch1x1, 1),),
        (Conv(48, 1), Conv(64, 5)),
        (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
        (AVG_POOL, Conv(pool_projection, 1)),
    )


def reduction_a(k: int, l: int, m: int, n: int) -> tuple[Branch, ...]:  # noqa: E741 (the paper's letters)
    """35x35 -> 17x17 grid reduction: 3x3/2 | 1x1-3x3-3x3/2 | max pool.

    ``k, l, m, n`` are the filter counts of Szegedy et al. 2017 (Inception-v4) Fig. 7 / Table 1; Inception v3's
    ``mixed3`` is the same module with k=64, l=96, m=96, n=384 (Szegedy et al. 2016 Fig. 10).
    """
    return (
        (Conv(n, 3, 2, "valid"),),
        (Conv(k, 1), Conv(l, 3), Conv(m, 3, 2, "valid")),
        (MAX_POOL,),
    )


def inception_b(channels_7x7: int) -> tuple[Branch, ...]:
    """17x17 module with factorised 7x7 convolutions (Szegedy et al. 2016 Fig. 6, n=7).

    ``channels_7x7`` is the width inside the 7x7 branches (128, 160, 160, 192 for mixed4-7, keras' values).
    """
    c = channels_7x7
    return (
        (Conv(192, 1),),
        (Conv(c, 1), Conv(c, (1, 7)), Conv(192, (7, 1))),
        (Conv(c, 1), Conv(c, (7, 1)), Conv(c, (1, 7)), Conv(c, (7, 1)), Conv(192, (1, 7))),
        (AVG_POOL, Conv(192, 1)),
    )


# 17x17 -> 8x8 grid reduction ("mixed8"): keras/src/applications/inception_v3.py.
REDUCTION_B: tuple[Branch, ...] = (
    (Conv(192, 1), Conv(320, 3, 2, "valid")),
    (Conv(192, 1), Conv(192, (1, 7)), Conv(192, (7, 1)), Conv(192, 3, 2, "valid")),
    (MAX_POOL,),
)


def inception_c(split_name: str) -> tuple[Branch, ...]:
    """8x8 module with expanded filter banks (Szegedy et al. 2016 Fig. 7).

    keras names the first split's concatenation ``mixed9_0`` in mixed9 and ``mixed9_1`` in mixed10 (``split_name``)
    and leaves the second one unnamed.
    """
    expand = (Conv(384, (1, 3)), Conv(384, (3, 1)))
    return (
        (Conv(320, 1),),
        (Conv(384, 1), Split(expand, split_name)),
        (Conv(448, 1), Conv(384, 3), Split(expand)),
        (AVG_POOL, Conv(192, 1)),
    )


# The eleven modules after the stem, in keras' order and with keras' names (keras/src/applications/inception_v3.py;
# output grids 35x35x256/288/288, 17x17x768 x5, 8x8x1280, 8x8x2048 x2 at 299x299).
INCEPTION_V3_MODULES: tuple[tuple[str, tuple[Branch, ...]], ...] = (
    ("mixed0", inception_a(64, 32)),
    ("mixed1", inception_a(64, 64)),
    ("mixed2", inception_a(64, 64)),
    ("mixed3", reduction_a(k=64, l=96, m=96, n=384)),
    ("mixed4", inception_b(128)),
    ("mixed5", inception_b(160)),
    ("mixed6", inception_b(160)),
    ("mixed7", inception_b(192)),
    ("mixed8", REDUCTION_B),
    ("mixed9", inception_c("mixed9_0")),
    ("mixed10", inception_c("mixed9_1")),
)


# Auxiliary classifier (aux_logits=True). Szegedy et al. 2016 Sec. 4 puts it on top of the last 17x17 layer; the
# dimensions are TF-slim's (tensorflow/models research/slim/nets/inception_v3.py, "AuxLogits"): 5x5/3 average pool,
# 1x1 conv 128, 5x5 valid conv 768, classifier (slim: a 1x1 conv on the 1x1 grid, here Flatten + Dense, the same map).
AUX_ENDPOINT = "mixed7"
AUX_POOL = Pool("avg", 5, 3, "valid")
AUX_CONVS = (Conv(128, 1), Conv(768, 5, 1, "valid"))
# slim initialises the classifier from a truncated normal of stddev 0.001 so the side loss starts near uniform.
AUX_CLASSIFIER_STDDEV = 0.001
# Weight of the auxiliary loss in the total loss: TF-slim's train_image_classifier.py adds the AuxLogits loss with
# weights=0.4, as does the training recipe of this project's issue. Use as
# model.compile(loss=[loss, loss], loss_weights=[1.0, AUX_LOSS_WEIGHT]).
AUX_LOSS_WEIGHT = 0.4
# Smallest input with aux_logits=True: the 5x5 pool needs a 5x5 mixed7 grid (measured; 17x17 at 299).
AUX_MIN_SIZE = 107


def conv_bn(x: Any, conv: Conv, name: str | None = None) -> Any:
    """Conv2D without bias, BatchNormalization without gamma, ReLU (keras' ``conv2d_bn`` of both Inception modules).

    The BN has ``scale=False`` because a ReLU follows, so a per-channel gain would be redundant (keras' choice, kept
    for weight compatibility). With ``name`` the layers are ``name``, ``name_bn``, ``name_ac`` as in
    inception_resnet_v2; Inception v3 names none of them.
    """
    x = layers.Conv2D(conv.filters, conv.kernel, strides=conv.strides, padding=conv.padding, use_bias=False, name=name)(
        x
    )
    x = layers.BatchNormalization(
        axis=_common.channel_axis(), scale=False, name=None if name is None else f"{name}_bn"
    )(x)
    return layers.Activation("relu", name=None if name is None else f"{name}_ac")(x)


def _pool(x: Any, pool: Pool) -> Any:
    pool_class = layers.AveragePooling2D if pool.kind == "avg" else layers.MaxPooling2D
    return pool_class(pool.size, strides=pool.strides, padding=pool.padding)(x)


def apply_steps(x: Any, steps: Branch) -> Any:
    """Applies a branch's steps in order (creating their layers in that order)."""
    for step in steps:
        if isinstance(step, Conv):
            x = conv_bn(x, step)
        elif isinstance(step, Pool):
            x = _pool(x, step)
        else:
            x = layers.Concatenate(axis=_common.channel_axis(), name=step.name)([conv_bn(x, c) for c in step.convs])
    return x


def inception_module(x: Any, branches: tuple[Branch, ...], name: str) -> Any:
    """Runs every branch on ``x`` (one after the other) and concatenates them on the channel axis as ``name``."""
    outputs = [apply_steps(x, branch) for branch in branches]
    return layers.Concatenate(axis=_common.channel_axis(), name=name)(outputs)


def inception_v3_features(img_input: Any) -> tuple[Any, dict[str, Any]]:
    """The convolutional trunk: stem and the eleven modules.

    Returns:
        The last module's output and every module's output by name (``"mixed0"`` ... ``"mixed10"``). The auxiliary
        classifier attaches to ``mixed7`` (the 17x17 grid), see :func:`auxiliary_classifier`.
    """
    x = apply_steps(img_input, STEM)
    endpoints = {}
    for name, branches in INCEPTION_V3_MODULES:
        x = endpoints[name] = inception_module(x, branches, name)
    return x, endpoints


def build_inception(
    *,
    spec_name: str,
    messages: _common.Messages,
    trunk: Any,
    include_top: bool,
    weights: Any,
    input_tensor: Any,
    input_shape: Any,
    pooling: Any,
    classes: Any,
    classifier_activation: Any,
    name: str,
) -> Any:
    """Family builder shared with inception_resnet_v2: validation, input, ``trunk`` (fn(input) -> (features,
    endpoints)), then keras' head (``avg_pool`` + ``predictions``) or unnamed global pooling, and weight loading."""
    spec = registry.get_spec(spec_name)
    shape = _common.validate_arguments(
        spec=spec,
        messages=messages,
        weights=weights,
        include_top=include_top,
        classes=classes,
        input_shape=input_shape,
        pooling=pooling,
        classifier_activation=classifier_activation,
    )
    img_input = _common.image_input(input_tensor, shape)
    features, _endpoints = trunk(img_input)
    return _common.assemble(
        spec=spec,
        img_input=img_input,
        input_tensor=input_tensor,
        features=features,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        top=_common.gap_dense_top,
        name=name,
        weights=weights,
        # keras' Inception modules add GlobalAverage/MaxPooling2D without a name when include_top=False.
        named_pooling=False,
    )


def auxiliary_classifier(x: Any, classes: int, classifier_activation: Any) -> Any:
    """The auxiliary head on ``x`` (``mixed7``'s output): layers ``aux_avg_pool``, ``aux_conv1``/``aux_conv2`` (with
    ``_bn``, ``_ac``), ``aux_flatten``, ``aux_predictions``.

    On grids smaller than 17x17 (inputs under 299) the 5x5 conv is shrunk to the pooled grid, TF-slim's
    ``_reduced_kernel_size_for_small_input``; larger inputs leave it 5x5 and change the flattened size.
    """
    x = layers.AveragePooling2D(AUX_POOL.size, strides=AUX_POOL.strides, padding=AUX_POOL.padding, name="aux_avg_pool")(
        x
    )
    x = conv_bn(x, AUX_CONVS[0], name="aux_conv1")
    grid = x.shape[1:3] if _common.channel_axis() == 3 else x.shape[2:4]
    wide = AUX_CONVS[1]
    kernel = tuple(wide.kernel if size is None else min(wide.kernel, size) for size in grid)
    x = conv_bn(x, wide._replace(kernel=kernel), name="aux_conv2")
    x = layers.Flatten(name="aux_flatten")(x)
    return layers.Dense(
        classes,
        activation=classifier_activation,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=AUX_CLASSIFIER_STDDEV),
        name="aux_predictions",
    )(x)


def _add_auxiliary_classifier(model: Any, classes: int, classifier_activation: Any) -> Any:
    """``model`` (the finished main network) with the auxiliary classifier as a second output ``[main, aux]``."""
    features = model.get_layer(AUX_ENDPOINT).output
    grid = features.shape[1:3] if _common.channel_axis() == 3 else features.shape[2:4]
    if any(size is not None and size < AUX_POOL.size for size in grid):
        raise ValueError(
            f"`aux_logits=True` needs an input of at least {AUX_MIN_SIZE}x{AUX_MIN_SIZE} (the auxiliary classifier's "
            f"{AUX_POOL.size}x{AUX_POOL.size} average pool runs on the {AUX_ENDPOINT} grid). "
            f"Received: input_shape={tuple(model.input_shape[1:])}"
        )
    aux = auxiliary_classifier(features, classes, classifier_activation)
    return keras.Model(model.inputs, [model.output, aux], name=model.name)


def InceptionV3(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_v3",
    aux_logits=False,
):
    """Instantiates Inception v3 (Szegedy et al. 2016, arXiv:1512.00567), same graph as keras.applications'.

    Args:
        include_top: Whether to add the classifier (global average pooling ``avg_pool`` + Dense ``predictions``).
        weights: None (random initialisation), "imagenet", or the path to a weights file (legacy ``.h5`` or
            ``.weights.h5``).
        input_tensor: Optional Keras tensor to use as the image input.
        input_shape: Optional shape without the batch axis; must be (299, 299, 3) with the imagenet top, and at
            least 75x75 otherwise.
        pooling: With ``include_top=False``: None (4D output), "avg" or "max" (global pooling, 2D output).
        classes: Number of classes of the classifier (1000 for the imagenet top).
        classifier_activation: Activation of ``predictions`` (and of ``aux_predictions``); only None or "softmax"
            with pretrained weights.
        name: Model name.
        aux_logits: Add the auxiliary classifier on ``mixed7`` (Szegedy et al. 2016 Sec. 4, TF-slim's dimensions)
            as a second output: the model returns ``[predictions, aux_predictions]``. For training; weight its loss
            by :data:`AUX_LOSS_WEIGHT` (0.4). ``weights`` (e.g. "imagenet") are loaded into the main network, the
            head starts random; to restore a checkpoint of the whole two-output model, call ``model.load_weights``.
            Drop the head for inference with ``keras.Model(model.inputs, model.outputs[0])`` (shares the weights).
            Requires ``include_top=True`` and an input of at least 107x107.

    Returns:
        A ``keras.Model``. Preprocess its inputs with :func:`preprocess_input` (pixels scaled to [-1, 1]).

    Raises:
        ValueError: For invalid ``weights``, ``classes``, ``input_shape``, ``pooling`` or ``classifier_activation``
            (keras.applications' messages for the checks keras makes); ``aux_logits=True`` with
            ``include_top=False`` or an input smaller than 107x107.
        TypeError: ``include_top`` or ``aux_logits`` is not a bool.

    Example:
        >>> from keras_archs.applications.inception_v3 import InceptionV3
        >>> model = InceptionV3(weights=None, aux_logits=True, classes=10)
        >>> [tuple(output.shape) for output in model.outputs]
        [(None, 10), (None, 10)]
    """
    arguments = dict(locals())
    del arguments["aux_logits"]
    if not isinstance(aux_logits, bool):
        raise TypeError(f"`aux_logits` must be True or False. Received: aux_logits={aux_logits!r}")
    if aux_logits and not include_top:
        raise ValueError(
            "`aux_logits=True` adds a classifier and requires `include_top=True`. "
            f"Received: aux_logits={aux_logits}, include_top={include_top}"
        )
    model = build_inception(
        spec_name="InceptionV3", messages=_common.INCEPTION_V3_MESSAGES, trunk=inception_v3_features, **arguments
    )
    return _add_auxiliary_classifier(model, classes, classifier_activation) if aux_logits else model


def preprocess_input(x, data_format=None):
    """Scales pixels from [0, 255] to [-1, 1] ("tf" mode), as ``keras.applications.inception_v3.preprocess_input``.

    Args:
        x: Image batch or image (NumPy array or tensor), RGB, values in [0, 255].
        data_format: "channels_last" or "channels_first"; None means the Keras default.

    Returns:
        The preprocessed input.
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


SPEC = registry.register(
    registry.ModelSpec(
        name="InceptionV3",
        family="inception_v3",
        builder=InceptionV3,
        default_size=299,  # keras: obtain_input_shape(default_size=299, min_size=75)
        min_size=75,
        preprocessing="tf",
        paper="Szegedy et al. 2016, Rethinking the Inception Architecture for Computer Vision (CVPR), arXiv:1512.00567",
        params=23_851_784,  # count_params() of keras.applications.InceptionV3(weights=None), measured
        weights=(
            registry.WeightEntry(
                tag="imagenet",
                include_top=True,
                fname=WEIGHTS_FNAME,
                url=BASE_WEIGHT_URL + WEIGHTS_FNAME,
                file_hash=WEIGHTS_HASH,
                source=WEIGHTS_SOURCE,
                license=WEIGHTS_LICENSE,
            ),
            registry.WeightEntry(
                tag="imagenet",
                include_top=False,
                fname=WEIGHTS_FNAME_NO_TOP,
                url=BASE_WEIGHT_URL + WEIGHTS_FNAME_NO_TOP,
                file_hash=WEIGHTS_HASH_NO_TOP,
                source=WEIGHTS_SOURCE,
                license=WEIGHTS_LICENSE,
            ),
        ),
    )
)
