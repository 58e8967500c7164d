"""Inception v3 (Szegedy et al. 2016), layer-for-layer compatible with ``keras.applications.InceptionV3``.

An Inception module is data: a tuple of branches, each branch a sequence of steps (``Conv``, ``Pool``, ``Split``)
applied in order; the module concatenates its branches' outputs on the channel axis. The network is the stem
followed by the rows of :data:`INCEPTION_V3_MODULES`.

Layer order matters for weight files, not only for reading: a legacy ``.h5`` file is matched to the model by the
order of its weighted layers and a Keras 3 ``.weights.h5`` file by layer class and creation order. Building the
branches in the order they are listed, every step of a branch before the next branch, and the concatenation last,
creates exactly the layers keras.applications creates, in the same order and with the same auto-generated names
(``conv2d_N``, ``batch_normalization_N``, ``activation_N``; only the concatenations are named, ``mixed0`` ...
``mixed10``).

The step language (:class:`~keras_archs.applications._blocks.Conv`, ``Pool``, ``Split``, ``inception_module``) lives in
``_blocks``, shared with ``inception_v4`` and ``inception_resnet_v2``; the stem is reused by ``inception_resnet_v2``,
whose stem and unnamed conv-BN-ReLU units are identical to these.

``aux_logits=True`` adds the auxiliary classifier of Szegedy et al. 2016 (Sec. 4, "Utility of Auxiliary
Classifiers"), with the dimensions of the reference TF-slim ``inception_v3`` (``AuxLogits`` on ``Mixed_6e``, keras'
``mixed7``): 5x5/3 average pool, 1x1 conv 128, 5x5 "valid" conv 768 (conv-BN-ReLU units like the trunk's), flatten,
Dense classifier. It is a second model output, randomly initialised, for training only. Its layers are created after
the complete main model, which is built (and its ``weights`` loaded) exactly as without the head, so keras' ImageNet
files still fit the main graph.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from keras_archs import imagenet_utils, registry
from keras_archs.applications import _assembly, _blocks, _validation
from keras_archs.applications._blocks import AVG_POOL, MAX_POOL, Branch, Conv, Pool, Split, reduction_a
from keras_archs.applications._validation import KerasArguments

__all__ = ["InceptionV3", "AUX_LOSS_WEIGHT", "preprocess_input", "decode_predictions"]

# --- constants ------------------------------------------------------------------------------------------------------

# File names, URL and md5 hashes: keras/src/applications/inception_v3.py (keras 3.15, WEIGHTS_PATH*, file_hash).
BASE_WEIGHT_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
WEIGHTS_FNAME = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
WEIGHTS_HASH = "9a0d58056eeedaa3f26cb7ebd46da564"
WEIGHTS_FNAME_NO_TOP = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_HASH_NO_TOP = "bcbd6486424b2319ff4ef7d526e38f63"
# keras.io applications docs: "These weights are released under the Apache License" (tensorflow/models).
WEIGHTS_LICENSE = "Apache-2.0"

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

# --- blocks ---------------------------------------------------------------------------------------------------------

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


def auxiliary_classifier(x: Any, classes: int, classifier_activation: Any) -> Any:
    """The auxiliary head on ``x`` (``mixed7``'s output): layers ``aux_avg_pool``, ``aux_conv1``/``aux_conv2`` (with
    ``_bn``, ``_ac``), ``aux_flatten``, ``aux_predictions``.

    On grids smaller than 17x17 (inputs under 299) the 5x5 conv is shrunk to the pooled grid, TF-slim's
    ``_reduced_kernel_size_for_small_input``; larger inputs leave it 5x5 and change the flattened size.
    """
    x = _blocks.pool(x, AUX_POOL, name="aux_avg_pool")
    x = _blocks.conv_bn(x, AUX_CONVS[0], name="aux_conv1")
    grid = x.shape[1:3] if _blocks.channel_axis() == 3 else x.shape[2:4]
    wide = AUX_CONVS[1]
    kernel = tuple(wide.kernel if size is None else min(wide.kernel, size) for size in grid)
    x = _blocks.conv_bn(x, wide._replace(kernel=kernel), name="aux_conv2")
    x = layers.Flatten(name="aux_flatten")(x)
    return layers.Dense(
        classes,
        activation=classifier_activation,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=AUX_CLASSIFIER_STDDEV),
        name="aux_predictions",
    )(x)


AUXILIARY_HEAD = _assembly.AuxiliaryHead(AUX_ENDPOINT, auxiliary_classifier, AUX_POOL.size, AUX_MIN_SIZE)

# --- trunk ----------------------------------------------------------------------------------------------------------


def inception_v3_features(
    img_input: Any, modules: tuple[tuple[str, tuple[Branch, ...]], ...] = INCEPTION_V3_MODULES
) -> tuple[Any, dict[str, Any]]:
    """The convolutional trunk: stem and the modules (by default keras' eleven).

    Returns:
        The last module's output and every module's output by name (``"mixed0"`` ... ``"mixed10"``). The auxiliary
        classifier attaches to ``mixed7`` (the 17x17 grid), see :func:`auxiliary_classifier`.
    """
    x = _blocks.apply_steps(img_input, STEM)
    endpoints = {}
    for name, branches in modules:
        x = endpoints[name] = _blocks.inception_module(x, branches, name)
    return x, endpoints


def build_inception_v3(
    spec: registry.ModelSpec,
    arguments: KerasArguments,
    *,
    modules: tuple[tuple[str, tuple[Branch, ...]], ...] = INCEPTION_V3_MODULES,
    aux_logits: bool = False,
) -> keras.Model:
    """The family builder: ``spec``'s checks (keras' inception_v3.py wording) and weights, the trunk of ``modules``,
    keras' head (``avg_pool`` + ``predictions``, unnamed global pooling without top), then the auxiliary classifier.

    The main network is built and its weights loaded exactly as without the auxiliary classifier, whose layers come
    after it, so keras' files keep fitting.
    """
    _validation.check_aux_logits(aux_logits, arguments.include_top)
    model = _assembly.build(
        spec,
        arguments,
        lambda img_input: inception_v3_features(img_input, modules)[0],
        messages=_validation.INCEPTION_V3_MESSAGES,
        named_pooling=False,  # keras' Inception modules add GlobalAverage/MaxPooling2D without a name
    )
    if not aux_logits:
        return model
    return _assembly.with_auxiliary_outputs(
        model, (AUXILIARY_HEAD,), arguments.classes, arguments.classifier_activation
    )


# --- specs ----------------------------------------------------------------------------------------------------------

SPEC = registry.ModelSpec(
    name="InceptionV3",
    family="inception_v3",
    default_size=299,  # keras: obtain_input_shape(default_size=299, min_size=75)
    min_size=75,
    preprocessing="tf",
    paper="Szegedy et al. 2016, Rethinking the Inception Architecture for Computer Vision (CVPR), arXiv:1512.00567",
    params=23_851_784,  # count_params() of keras.applications.InceptionV3(weights=None), measured
    layers=313,  # len(model.layers), measured
    weights=_assembly.keras_weight_entries(
        BASE_WEIGHT_URL,
        ((True, WEIGHTS_FNAME, WEIGHTS_HASH), (False, WEIGHTS_FNAME_NO_TOP, WEIGHTS_HASH_NO_TOP)),
        license=WEIGHTS_LICENSE,
    ),
    published_accuracy=registry.PublishedAccuracy.keras_applications(77.9),
)

# --- constructors ---------------------------------------------------------------------------------------------------


@registry.register(SPEC)
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
    include_preprocessing=False,
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
        include_preprocessing: False (default, as keras.applications): the model takes ``preprocess_input``'s
            output. True: it takes RGB pixels 0..255 and normalises them inside (mode "tf"), with an
            ``ImagePreprocessing`` layer that has no weights (weight files load unchanged).

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
    return build_inception_v3(SPEC, _assembly.ModelArguments.of(locals()), aux_logits=aux_logits)


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


# --- small variants for the test-suite (not registered; see _assembly.SmallVariant) ------------------------------

# One module of each kind (A, reduction A, B, reduction B, C with both named splits), keras' names.
SMALL_MODULES = tuple(
    row for row in INCEPTION_V3_MODULES if row[0] in {"mixed0", "mixed3", "mixed7", "mixed8", "mixed9"}
)
SMALL_VARIANTS = {
    "one_module_per_kind": _assembly.small_variant(
        lambda arguments: build_inception_v3(SPEC, arguments, modules=SMALL_MODULES), 75, "inception_v3_small"
    )
}
