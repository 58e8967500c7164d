"""ResNet v1 (He et al. 2016a, "Deep Residual Learning for Image Recognition", arXiv:1512.03385) and ResNet v2
(He et al. 2016b, "Identity Mappings in Deep Residual Networks", arXiv:1603.05027): ResNet50/101/152 and
ResNet50V2/101V2/152V2, layer for layer the networks of ``keras.applications`` (keras 3.15 ``resnet.py`` and
``resnet_v2.py``), so keras' weight files load unchanged; and ResNet18/34 with basic blocks in torchvision's layout.

All eight are one builder, :func:`build_resnet`, fed a row of data (a :class:`Layout`): the number of blocks per stage
(He et al. 2016a, Table 1) and the block layout.

* v1 (post-activation): conv -> BN -> ReLU, ReLU after the residual addition, downsampling in the first block of a
  stage on its strided 1x1 conv (the layout of the Caffe models the v1 weights come from). Every conv has a bias,
  although a BatchNormalization follows it: the Caffe release has them, so keras' files hold them.
* v2 (pre-activation): BN -> ReLU -> conv, a final ``post_bn``/``post_relu`` after the last stage, no bias on the convs
  a BN follows. Downsampling sits in the *last* block of conv2..conv4 on the 3x3 conv, and conv5 keeps stride 1 (the
  TF-slim ``resnet_v2`` layout keras follows); identity shortcuts of a strided block subsample with a 1x1 max-pool.
* ResNet18/34 (post-activation, basic blocks of two 3x3 convs; He et al. 2016a, Fig. 5 left): torchvision's layout,
  not a keras one (keras.applications has no ResNet18/34). No conv bias; downsampling on the *first 3x3* conv of the
  first block of conv3..conv5 (where the v1 bottleneck, following Caffe, puts it on the 1x1), padded by 1 on every
  side like Torch; projection shortcut (1x1 conv stride 2 + BN) only where a block changes the shape. No weights are
  published here, so ``weights`` defaults to None. BN epsilon is the family's 1.001e-5 where torchvision has 1e-5:
  1e-8 more in each variance, a relative change of 1e-8 / variance in the normalised outputs (negligible unless a
  channel's variance is tiny), so torchvision weights would still port.

Preprocessing differs between the layouts (as in keras, which splits v1 and v2 into ``resnet`` and ``resnet_v2``
modules): v1 expects :func:`preprocess_input` ("caffe": RGB -> BGR, minus the ImageNet mean), v2 expects
:func:`preprocess_input_v2` ("tf": scaled to [-1, 1]), ResNet18/34 expect :func:`preprocess_input_torch` ("torch":
scaled to [0, 1], then the ImageNet mean/std per channel, as torchvision's models).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import keras
from keras import layers

from keras_archs import imagenet_utils, registry
from keras_archs.applications import _assembly, _blocks
from keras_archs.applications._validation import KerasArguments

# --- constants ------------------------------------------------------------------------------------------------------

# Weight files: keras 3.15 keras/src/applications/resnet.py (BASE_WEIGHTS_PATH, WEIGHTS_HASHES); md5 of the file
# with top, then without. File names follow keras' "<weights_name>_weights_tf_dim_ordering_tf_kernels[_notop].h5".
BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
WEIGHTS_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}
# v1 files are Kaiming He's Caffe models (github.com/KaimingHe/deep-residual-networks, MIT) converted by keras; the
# origin and licence of the v2 files are not stated upstream (keras-applications, MIT, distributes them).
LICENSE_V1 = "MIT (KaimingHe/deep-residual-networks, converted by keras)"
LICENSE_V2 = "not stated upstream; distributed by keras-applications (MIT)"

# Blocks per stage conv2..conv5: He et al. 2016a, Table 1 (18-, 34-, 50-, 101- and 152-layer columns); v2 keeps the
# depths.
DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
# Widths of conv2..conv5 (He et al. 2016a, Table 1): a basic block outputs that many channels, a bottleneck block 4x.
STAGE_WIDTHS = (64, 128, 256, 512)
BOTTLENECK_EXPANSION = 4
BN_EPSILON = _blocks.RESNET_BN_EPSILON  # keras' 1.001e-5 (see _blocks)

# --- blocks ---------------------------------------------------------------------------------------------------------

# Block signature: block(x, filters, *, stride, conv_shortcut, use_bias, name) -> tensor.
Block = Callable[..., Any]
conv_unit = _blocks.conv_unit
symmetric_conv_unit = _blocks.symmetric_conv_unit


def basic_block(x: Any, filters: int, *, stride: int, conv_shortcut: bool, use_bias: bool, name: str) -> Any:
    """ResNet basic block (He et al. 2016a, Fig. 5 left): two 3x3 convs, each followed by BN; ReLU after the addition.

    torchvision's layout (ResNet18/34): the stride sits on the first 3x3 conv, padded like Torch
    (:func:`symmetric_conv_unit`). ``conv_shortcut`` (set on the first block of a stage) gives a 1x1 conv + BN
    projection (He et al. 2016a, Sec. 3.3, option B) only where the block changes the shape: conv2's first block keeps
    the stem's 64 channels at stride 1 and so has an identity shortcut, as in torchvision. The residual path is
    created before the shortcut, torchvision's module order (conv1, bn1, conv2, bn2, downsample).
    """
    projects = conv_shortcut and (stride > 1 or x.shape[_blocks.channel_axis()] != filters)
    residual = symmetric_conv_unit(x, filters, 3, stride=stride, use_bias=use_bias, relu=True, name=f"{name}_1")
    residual = symmetric_conv_unit(residual, filters, 3, use_bias=use_bias, name=f"{name}_2")
    shortcut = conv_unit(x, filters, 1, stride=stride, use_bias=use_bias, name=f"{name}_0") if projects else x
    x = layers.Add(name=f"{name}_add")([shortcut, residual])
    return layers.Activation("relu", name=f"{name}_out")(x)


def bottleneck_block(x: Any, filters: int, *, stride: int, conv_shortcut: bool, use_bias: bool, name: str) -> Any:
    """ResNet v1 bottleneck (He et al. 2016a, Fig. 5 right): 1x1 reduce, 3x3, 1x1 expand, each followed by BN.

    The stride sits on the first 1x1 conv (Caffe release). Layers are created shortcut first, as keras does, so the
    order of the weighted layers matches keras' files.
    """
    out_channels = BOTTLENECK_EXPANSION * filters
    if conv_shortcut:
        shortcut = conv_unit(x, out_channels, 1, stride=stride, use_bias=use_bias, name=f"{name}_0")
    else:
        shortcut = x
    x = conv_unit(x, filters, 1, stride=stride, use_bias=use_bias, relu=True, name=f"{name}_1")
    x = conv_unit(x, filters, 3, padding="same", use_bias=use_bias, relu=True, name=f"{name}_2")
    x = conv_unit(x, out_channels, 1, use_bias=use_bias, name=f"{name}_3")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def preact_bottleneck_block(
    x: Any, filters: int, *, stride: int, conv_shortcut: bool, use_bias: bool, name: str
) -> Any:
    """ResNet v2 bottleneck (He et al. 2016b, Fig. 1b): BN -> ReLU shared by shortcut and residual, then 1x1, 3x3, 1x1.

    ``use_bias`` applies to the two convs a BN follows; the expanding 1x1 conv and the shortcut conv feed the addition
    directly and always have a bias. The stride sits on the 3x3 conv, with explicit zero padding (``{name}_2_pad``);
    an identity shortcut of a strided block is subsampled by an (unnamed, as in keras) 1x1 max-pool.
    """
    out_channels = BOTTLENECK_EXPANSION * filters
    preact = layers.BatchNormalization(axis=_blocks.channel_axis(), epsilon=BN_EPSILON, name=f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = conv_unit(preact, out_channels, 1, stride=stride, norm=False, name=f"{name}_0")
    elif stride > 1:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x)
    else:
        shortcut = x
    x = conv_unit(preact, filters, 1, use_bias=use_bias, relu=True, name=f"{name}_1")
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = conv_unit(x, filters, 3, stride=stride, use_bias=use_bias, relu=True, name=f"{name}_2")
    x = conv_unit(x, out_channels, 1, norm=False, name=f"{name}_3")
    return layers.Add(name=f"{name}_out")([shortcut, x])


# --- trunk ----------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Layout:
    """What varies between the family's models (the trunk's row of data).

    Attributes:
        depths: Blocks per stage conv2, conv3, ...; the stage widths are :data:`STAGE_WIDTHS`.
        block: The residual block (:func:`basic_block`, :func:`bottleneck_block`, :func:`preact_bottleneck_block`).
        preact: v2 layout: no BN/ReLU in the stem, ``post_bn``/``post_relu`` after the last stage, strides in the last
            block of conv2..conv4, conv5 unstrided.
        use_bias: Whether convs followed by a BatchNormalization have a bias (True for keras' v1 files, whose Caffe
            origin has them; False for v2 and ResNet18/34). In the v2 layout, convs feeding an addition and the stem
            conv always have one.
    """

    depths: tuple[int, ...]
    block: Block
    preact: bool
    use_bias: bool


# The two layouts of keras' files (resnet.py stack_residual_blocks_v1 / _v2) and torchvision's basic-block layout
# (torchvision/models/resnet.py: BasicBlock, bias=False on every conv); a Layout takes depths plus one of them.
V1 = dict(block=bottleneck_block, preact=False, use_bias=True)
V2 = dict(block=preact_bottleneck_block, preact=True, use_bias=False)
BASIC = dict(block=basic_block, preact=False, use_bias=False)


def _stage(
    x: Any, block: Block, filters: int, blocks: int, stride: int, *, preact: bool, use_bias: bool, name: str
) -> Any:
    """``blocks`` blocks named ``{name}_block1..N``; the first has the projection shortcut.

    v1 strides the first block, v2 the last one (keras / TF-slim ``resnet_v2``).
    """
    strided = blocks - 1 if preact else 0
    for index in range(blocks):
        x = block(
            x,
            filters,
            stride=stride if index == strided else 1,
            conv_shortcut=index == 0,
            use_bias=use_bias,
            name=f"{name}_block{index + 1}",
        )
    return x


def _stem(img_input: Any, *, preact: bool, use_bias: bool) -> Any:
    """7x7/2 conv with 64 filters and a 3x3/2 max-pool (He et al. 2016a, Table 1, conv1), padded explicitly."""
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    # `or preact`: keras' v2 files hold a stem bias although the first pre-activation BN follows it (through the
    # max-pool, which commutes with adding a per-channel constant), so the bias is redundant but must exist to load.
    x = conv_unit(x, 64, 7, stride=2, use_bias=use_bias or preact, norm=not preact, relu=not preact, name="conv1")
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def resnet_features(img_input: Any, layout: Layout) -> Any:
    """The trunk: stem, one stage per ``layout.depths`` entry, and v2's final BN -> ReLU."""
    x = _stem(img_input, preact=layout.preact, use_bias=layout.use_bias)
    # v1 downsamples at the start of conv3..conv5 (conv2 follows the max-pool); v2 moves each of those to the end of
    # the stage before, so conv2..conv4 stride and conv5 does not.
    later = (2,) * (len(layout.depths) - 1)
    strides = later + (1,) if layout.preact else (1,) + later
    for stage, (filters, blocks, stride) in enumerate(zip(STAGE_WIDTHS, layout.depths, strides)):
        x = _stage(
            x, layout.block, filters, blocks, stride, preact=layout.preact, use_bias=layout.use_bias,
            name=f"conv{stage + 2}",
        )  # fmt: skip
    if layout.preact:
        x = layers.BatchNormalization(axis=_blocks.channel_axis(), epsilon=BN_EPSILON, name="post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)
    return x


def build_resnet(spec: registry.ModelSpec, layout: Layout, arguments: KerasArguments) -> keras.Model:
    """The family builder: ``spec``'s checks and weights, the trunk of ``layout``, keras' head.

    Pass another ``layout`` (other depths or another block with the block signature) to build a variant under the
    same validation and naming.
    """
    return _assembly.build(spec, arguments, functools.partial(resnet_features, layout=layout))


# --- specs ----------------------------------------------------------------------------------------------------------

_PAPER_V1 = "He et al. 2016, Deep Residual Learning for Image Recognition (CVPR), arXiv:1512.03385"
_PAPER_V2 = "He et al. 2016, Identity Mappings in Deep Residual Networks (ECCV), arXiv:1603.05027"


def _weight_entries(weights_name: str, license: str) -> tuple[registry.WeightEntry, ...]:
    fname = f"{weights_name}_weights_tf_dim_ordering_tf_kernels"
    top, notop = WEIGHTS_HASHES[weights_name]
    files = ((True, f"{fname}.h5", top), (False, f"{fname}_notop.h5", notop))
    return _assembly.keras_weight_entries(BASE_WEIGHTS_PATH, files, license=license)


def _spec(name: str, preprocessing: str, params: int, layers: int, **fields: Any) -> registry.ModelSpec:
    return registry.ModelSpec(
        name=name,
        family="resnet",
        default_size=224,  # keras' obtain_input_shape(default_size=224, min_size=32) in resnet.py
        min_size=32,
        preprocessing=preprocessing,
        paper=_PAPER_V2 if preprocessing == "tf" else _PAPER_V1,
        params=params,
        layers=layers,
        **fields,
    )


# params: count_params() of the default model, measured (equal to keras.applications' where keras has the model);
# layers: len(model.layers), measured. ResNet18/34's trainable counts are torchvision's parameter counts for
# resnet18 / resnet34 (its parameters() holds no BN moving statistics), as quoted in DESIGN.md.
SPECS = {
    spec.name: spec
    for spec in (
        _spec("ResNet18", "torch", 11_699_112, 74, trainable_params=11_689_512),
        _spec("ResNet34", "torch", 21_814_696, 130, trainable_params=21_797_672),
        _spec("ResNet50", "caffe", 25_636_712, 177, weights=_weight_entries("resnet50", LICENSE_V1)),
        _spec("ResNet101", "caffe", 44_707_176, 347, weights=_weight_entries("resnet101", LICENSE_V1)),
        _spec("ResNet152", "caffe", 60_419_944, 517, weights=_weight_entries("resnet152", LICENSE_V1)),
        _spec("ResNet50V2", "tf", 25_613_800, 192, weights=_weight_entries("resnet50v2", LICENSE_V2)),
        _spec("ResNet101V2", "tf", 44_675_560, 379, weights=_weight_entries("resnet101v2", LICENSE_V2)),
        _spec("ResNet152V2", "tf", 60_380_648, 566, weights=_weight_entries("resnet152v2", LICENSE_V2)),
    )
}

# --- constructors ---------------------------------------------------------------------------------------------------

_KERAS_DOC = """
    Same arguments, defaults and validation errors as ``keras.applications.{name}``; the layers, their names and order
    are keras', so keras' weight files (and files saved from keras' model) load unchanged.

    Args:
        include_top: Whether to include the classifier (global average pooling and the ``predictions`` Dense layer).
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
        >>> from keras_archs.applications.resnet import {name}
        >>> {name}(weights=None, include_top=False, input_shape=(64, 64, 3)).output_shape
        (None, 2, 2, 2048)
"""
_BASIC_DOC = """
    The keras.applications arguments and checks; the layers follow torchvision's ``{name_lower}`` (He et al. 2016a,
    Table 1, {depth}-layer column), named in keras' ResNet scheme (``conv3_block1_1_conv``...). No ImageNet weights are
    published for it here.

    Args:
        include_top: Whether to include the classifier (global average pooling and the ``predictions`` Dense layer).
        weights: ``None`` (random initialisation, the default) or the path of a weights file (``.weights.h5``, legacy
            ``.h5`` by layer order). ``"imagenet"`` raises: no file is published.
        input_tensor: Optional Keras tensor to use as image input.
        input_shape: Optional shape tuple (default ``(224, 224, 3)``), at least 32x32.
        pooling: With ``include_top=False``: ``None`` (4D feature map), ``"avg"`` or ``"max"`` (global pooling).
        classes: Number of classes of the classifier.
        classifier_activation: Activation of ``predictions``.
        name: Name of the model.

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: Invalid ``weights`` (including ``"imagenet"``), ``classes``, ``input_shape``, ``pooling`` or
            ``classifier_activation``.
        TypeError: ``include_top`` is not a bool.

    Example:
        >>> from keras_archs.applications.resnet import {name}
        >>> {name}(include_top=False, input_shape=(64, 64, 3)).output_shape
        (None, 2, 2, 512)
"""


def _constructor(spec: registry.ModelSpec, depth: int, layout: dict[str, Any], summary: str) -> Callable[..., Any]:
    """The public constructor of ``spec``: keras' signature, :func:`build_resnet` with the model's layout."""
    basic = layout is BASIC
    template = _BASIC_DOC if basic else _KERAS_DOC
    doc = f"Instantiates {spec.name} ({summary}).\n" + template.format(
        name=spec.name, name_lower=spec.name.lower(), depth=depth
    )
    constructor = _assembly.keras_constructor(
        functools.partial(build_resnet, spec, Layout(DEPTHS[depth], **layout)),
        constructor_name=spec.name,
        module=__name__,
        default_weights=None if basic else "imagenet",
        default_name=spec.name.lower(),
        doc=doc,
    )
    return registry.register(spec)(constructor)


_TORCH = "basic blocks, torchvision layout; inputs go through :func:`preprocess_input_torch`"
_V1 = "v1, post-activation; He et al. 2016a; inputs go through :func:`preprocess_input`"
_V2 = "pre-activation; He et al. 2016b; inputs go through :func:`preprocess_input_v2`"
ResNet18 = _constructor(SPECS["ResNet18"], 18, BASIC, _TORCH)
ResNet34 = _constructor(SPECS["ResNet34"], 34, BASIC, _TORCH)
ResNet50 = _constructor(SPECS["ResNet50"], 50, V1, _V1)
ResNet101 = _constructor(SPECS["ResNet101"], 101, V1, _V1)
ResNet152 = _constructor(SPECS["ResNet152"], 152, V1, _V1)
ResNet50V2 = _constructor(SPECS["ResNet50V2"], 50, V2, _V2)
ResNet101V2 = _constructor(SPECS["ResNet101V2"], 101, V2, _V2)
ResNet152V2 = _constructor(SPECS["ResNet152V2"], 152, V2, _V2)


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """Preprocessing for the **v1** models (ResNet50/101/152), keras' ``resnet.preprocess_input``: mode "caffe".

    Converts RGB to BGR and subtracts the ImageNet mean pixel per channel, without scaling. The v2 models expect
    :func:`preprocess_input_v2` instead.

    Args:
        x: Float array or tensor of RGB images in [0, 255], 3D or 4D.
        data_format: "channels_last" / "channels_first"; None uses ``keras.config.image_data_format()``.

    Returns:
        The preprocessed images (NumPy input is converted in place when it is a float array, as in keras).

    Raises:
        ValueError: If ``data_format`` is not one of the two formats.
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def preprocess_input_v2(x: Any, data_format: str | None = None) -> Any:
    """Preprocessing for the **v2** models (ResNet50V2/101V2/152V2), keras' ``resnet_v2.preprocess_input``: mode "tf".

    Scales pixels from [0, 255] to [-1, 1], channel order unchanged. The v1 models expect :func:`preprocess_input`.

    Args:
        x: Float array or tensor of RGB images in [0, 255], 3D or 4D.
        data_format: "channels_last" / "channels_first"; None uses ``keras.config.image_data_format()``.

    Returns:
        The preprocessed images.

    Raises:
        ValueError: If ``data_format`` is not one of the two formats.
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def preprocess_input_torch(x: Any, data_format: str | None = None) -> Any:
    """Preprocessing for **ResNet18/34** (torchvision's convention): mode "torch".

    Scales pixels from [0, 255] to [0, 1], then subtracts the ImageNet mean and divides by the standard deviation per
    channel (RGB order kept).

    Args:
        x: Float array or tensor of RGB images in [0, 255], 3D or 4D.
        data_format: "channels_last" / "channels_first"; None uses ``keras.config.image_data_format()``.

    Returns:
        The preprocessed images.

    Raises:
        ValueError: If ``data_format`` is not one of the two formats.
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


# --- small variants for the test-suite (not registered; see _assembly.SmallVariant) ------------------------------

# One block per stage, each of the three layouts.
SMALL_VARIANTS = {
    kind: _assembly.small_variant(
        functools.partial(build_resnet, SPECS[name], Layout((1, 1, 1, 1), **layout)), 32, f"resnet_{kind}_small"
    )
    for kind, name, layout in (("basic", "ResNet18", BASIC), ("v1", "ResNet50", V1), ("v2", "ResNet50V2", V2))
}
