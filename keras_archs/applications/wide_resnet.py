"""Wide Residual Networks (Zagoruyko & Komodakis 2016, "Wide Residual Networks", BMVC, arXiv:1605.07146).

WRN-d-k: the pre-activation CIFAR ResNet (He et al. 2016b) made ``k`` times wider and shallower. One builder,
:func:`WideResNet`, on the residual units of ``cifar_resnet`` (:func:`~keras_archs.applications.cifar_resnet.
residual_stages`), which follow the authors' Torch code (szagoruyko/wide-residual-networks, models/wide-resnet.lua):

* a 3x3 conv with 16 filters, then three groups of ``n`` blocks with widths 16k, 32k, 64k on 32x32, 16x16 and 8x8 maps
  (Zagoruyko & Komodakis 2016, Table 1); the first block of groups 2 and 3 has stride 2 on its first conv;
* pre-activation blocks, BN -> ReLU -> conv (Sec. 2), dropout between the convs of a block (Sec. 2.4), no conv bias;
* where a block changes the number of channels, a 1x1 projection conv taken after the block's first BN -> ReLU, the
  identity otherwise;
* a final BN -> ReLU, global average pooling and a fully-connected layer.

Block types (Sec. 2.1, 2.2): ``block="B(3,3)"`` is the basic block; ``"B(3,1,3)"``, ``"B(1,3,1)"``, ``"B(1,3)"``,
``"B(3,1)"``, ``"B(3,1,1)"`` (Table 2) and ``"B(3)"``, ``"B(3,3,3)"``, ``"B(3,3,3,3)"`` (Table 3, the deepening factor
l) list the kernel sizes of a block's convs, all ``16k``/``32k``/``64k`` wide (B(1,3,1) is the "straightened"
bottleneck, without the 4x reduction). The depth counts conv layers ("WRN-n-k denotes a residual network that has a
total number of convolutional layers n and a widening factor k", Sec. 2.3): with ``l`` convs per block it is
``3 l n + 4``, 6n+4 for B(3,3) as in the authors' code (``(depth - 4) % 6 == 0``). The paper does not spell out the
4; it fits the stem conv plus the three 1x1 projection convs, the classifier being left out ("Final classification
layer is omitted", Table 1).

Checked against the paper's parameter counts (k = 2, measured with 10 classes):

* Table 3 (WRN-40-2, l = 1..4, "same number of parameters (2.2M) and same number of convolutional layers"): B(3),
  B(3,3), B(3,3,3), B(3,3,3,3) at depth 40 (n = 12, 6, 4, 3) all have 2,243,546 trainable parameters. The formula
  holds.
* Table 2 (block types): B(3,1) and B(1,3) at depth 40 (1.21M / 1.30M) and B(3,3) at depth 28 (1.47M) match the
  paper's 1.2M / 1.3M / 1.5M. The three-conv rows do not: the paper's 1.4M for "WRN-40-2 B(1,3,1)", 1.3M for B(3,1,1)
  and 1.1M for "WRN-22-2 B(3,1,3)" are the networks with n = (depth - 4) / 6 blocks per group, i.e. the label follows
  the code's 6n+4 rather than the conv count. Here they are ``WideResNet(58, 2, block="B(1,3,1)")`` (1.43M),
  ``WideResNet(58, 2, block="B(3,1,1)")`` (1.34M) and ``WideResNet(31, 2, block="B(3,1,3)")`` (1.15M); depth 40 /
  22 give 0.95M / 0.87M / 0.74M.

Inputs: the paper normalises CIFAR by the training set's mean and standard deviation per channel (ZCA whitening in
some experiments); that belongs to the data pipeline (``keras_archs.data.cifar``). The registry records "tf"
(scale to [-1, 1]) as the ``preprocess_input`` mode.
"""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

import keras
from keras import layers

from keras_archs import registry
from keras_archs.applications import _assembly, _blocks, cifar_resnet

# --- constants ------------------------------------------------------------------------------------------------------

DEFAULT_SIZE = 32
STEM_FILTERS = 16  # conv1: 3x3, 16 filters whatever k (Zagoruyko & Komodakis 2016, Table 1)
GROUP_WIDTHS = (16, 32, 64)  # conv2..conv4 widths before the widening factor k (Table 1)
# Block types of the paper: Table 2 (l = 2, 3 with 1x1 convs) and Table 3 (deepening factor l = 1..4, 3x3 convs).
PAPER_BLOCKS = ("B(3,3)", "B(3,1,3)", "B(1,3,1)", "B(1,3)", "B(3,1)", "B(3,1,1)", "B(3)", "B(3,3,3)", "B(3,3,3,3)")
_BLOCK_PATTERN = re.compile(r"B\(\s*([13](?:\s*,\s*[13])*)\s*\)")


def parse_block(block: Any) -> tuple[int, ...]:
    """Kernel sizes of a block type string: ``"B(1,3,1)"`` -> ``(1, 3, 1)``.

    Raises:
        ValueError: ``block`` is not ``"B(k1,...,kl)"`` with every ``k`` 1 or 3.

    Example:
        >>> parse_block("B(3, 1, 3)")
        (3, 1, 3)
    """
    match = _BLOCK_PATTERN.fullmatch(block.strip()) if isinstance(block, str) else None
    if match is None:
        raise ValueError(
            "`block` must be a block type 'B(k1,...,kl)' with kernel sizes 1 or 3, such as the paper's "
            f"{', '.join(map(repr, PAPER_BLOCKS))}. Received: block={block!r}"
        )
    return tuple(int(kernel) for kernel in match.group(1).split(","))


def _blocks_per_group(depth: Any, kernels: tuple[int, ...], block: str) -> int:
    """``n`` from ``depth`` = 3 l n + 4 (l convs per block); ValueError naming the accepted form otherwise."""
    per_block = 3 * len(kernels)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < per_block + 4 or (depth - 4) % per_block:
        first = [per_block * n + 4 for n in (1, 2, 3)]
        raise ValueError(
            f"`depth` must be {per_block}n+4 with n >= 1 for block={block!r} ({len(kernels)} convs per block, 3 "
            f"groups: {', '.join(map(str, first))}, ...). Received: depth={depth!r}"
        )
    return (depth - 4) // per_block


def _check_width_and_dropout(width: Any, dropout_rate: Any) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"`width` (the widening factor k) must be a positive integer. Received: width={width!r}")
    if isinstance(dropout_rate, bool) or not isinstance(dropout_rate, (int, float)) or not 0 <= dropout_rate < 1:
        raise ValueError(f"`dropout_rate` must be a number in [0, 1). Received: dropout_rate={dropout_rate!r}")


def default_name(depth: int, width: int, block: str = "B(3,3)") -> str:
    """``wide_resnet28_10``; other block types append their kernels: ``wide_resnet40_2_b131``."""
    kernels = parse_block(block)
    suffix = "" if kernels == (3, 3) else "_b" + "".join(map(str, kernels))
    return f"wide_resnet{depth}_{width}{suffix}"


# --- trunk ----------------------------------------------------------------------------------------------------------


def wide_resnet_features(img_input: Any, *, depth: int, width: int, dropout_rate: float, block: str) -> Any:
    """conv1, three groups of pre-activation blocks (``cifar_resnet.residual_stages``), the final BN -> ReLU."""
    kernels = parse_block(block)
    # conv1 alone: the first block's BN -> ReLU follows it (the Torch code's first wide_basic).
    x = _blocks.symmetric_conv_unit(img_input, STEM_FILTERS, 3, use_bias=False, norm=False, name="conv1")
    x = cifar_resnet.residual_stages(
        x,
        [(group * width,) * len(kernels) for group in GROUP_WIDTHS],
        kernels,
        _blocks_per_group(depth, kernels, block),
        preact=True,
        shortcut="B",
        dropout_rate=dropout_rate,
        # The Torch code activates the shortcut only where it projects: for k = 1 the first block's identity
        # shortcut carries the raw conv1 output (He et al.'s pre-act code shares that activation instead).
        activated_first_shortcut=False,
    )
    x = layers.BatchNormalization(axis=_blocks.channel_axis(), epsilon=_blocks.RESNET_BN_EPSILON, name="post_bn")(x)
    x = layers.Activation("relu", name="post_relu")(x)
    return x


# --- specs ----------------------------------------------------------------------------------------------------------


class _Row(NamedTuple):
    depth: int
    width: int
    block: str
    params: int  # count_params() of the default model (10 classes), measured
    trainable_params: int  # measured, equal to the figures of DESIGN.md (see below)
    layers: int  # len(model.layers) of the default model, measured


_PAPER = "Zagoruyko & Komodakis 2016, Wide Residual Networks (BMVC), arXiv:1605.07146"
# Trainable counts with 10 classes (DESIGN.md), measured equal; the paper rounds them: WRN-28-10 36.5M, WRN-40-4
# 8.9M, WRN-16-8 11.0M (Zagoruyko & Komodakis 2016, Table 4). Dropout (0.3 in the paper's best CIFAR results) adds no
# parameters; the presets leave it at 0, pass dropout_rate=0.3 to get it.
_PRESETS = {
    "WideResNet28_10": _Row(28, 10, "B(3,3)", 36_497_146, 36_479_194, 95),
    "WideResNet40_4": _Row(40, 4, "B(3,3)", 8_959_994, 8_949_210, 137),
    "WideResNet16_8": _Row(16, 8, "B(3,3)", 10_968_570, 10_961_370, 53),
}


def _spec(name: str, row: _Row) -> registry.ModelSpec:
    return registry.ModelSpec(
        name=name,
        family="wide_resnet",
        default_size=DEFAULT_SIZE,
        min_size=1,  # measured: every conv is padded and every stride rounds up, so a 1x1 input builds
        preprocessing="tf",  # the paper's per-channel mean/std normalisation is the data pipeline's (docstring)
        paper=_PAPER,
        params=row.params,
        classes=10,
        trainable_params=row.trainable_params,
        layers=row.layers,
        build_kwargs={"depth": row.depth, "width": row.width, "block": row.block},
    )


SPECS = {name: _spec(name, row) for name, row in _PRESETS.items()}


def _spec_for(depth: int, width: int, kernels: tuple[int, ...]) -> registry.ModelSpec:
    """The registered preset with this configuration, else WRN-28-10 (sizes and checks are shared)."""
    for name, row in _PRESETS.items():
        if (row.depth, row.width, parse_block(row.block)) == (depth, width, kernels):
            return SPECS[name]
    return SPECS["WideResNet28_10"]


# --- constructors ---------------------------------------------------------------------------------------------------


@registry.register(*SPECS.values())
def WideResNet(
    depth: int = 28,
    width: int = 10,
    dropout_rate: float = 0.0,
    block: str = "B(3,3)",
    include_top: bool = True,
    weights: Any = None,
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: Any = "softmax",
    name: str | None = None,
    include_preprocessing: bool = False,
) -> keras.Model:
    """Instantiates a Wide ResNet WRN-``depth``-``width`` (Zagoruyko & Komodakis 2016).

    The registry holds ``WideResNet28_10``, ``WideResNet40_4`` and ``WideResNet16_8`` (B(3,3), no dropout).

    Args:
        depth: Conv layers as the paper counts them: 6n+4 for B(3,3) (16, 22, 28, 40, ...); ``3 l n + 4`` for a block
            of ``l`` convs (9n+4 for B(1,3,1), 3n+4 for B(3)), with ``n`` blocks per group.
        width: Widening factor ``k``: the groups are 16k, 32k, 64k channels wide.
        dropout_rate: Dropout between the convs of each block (the paper uses 0.3 on CIFAR, Sec. 3); 0 adds no layer.
        block: Block type ``"B(k1,...,kl)"``: kernel sizes (1 or 3) of a block's convs, in order (Sec. 2.1); see the
            module docstring for the depths of the paper's Table 2 networks.
        include_top: Whether to include global average pooling and the ``predictions`` Dense layer.
        weights: ``None`` (random initialisation) or the path of a weights file. No ImageNet (or CIFAR) weights are
            published, so ``"imagenet"`` raises.
        input_tensor: Optional Keras tensor to use as image input.
        input_shape: Optional shape tuple (default ``(32, 32, 3)``); any size with ``include_top=False``.
        pooling: With ``include_top=False``: ``None`` (4D feature map), ``"avg"`` or ``"max"`` (global pooling).
        classes: Number of classes (10 for CIFAR-10, 100 for CIFAR-100).
        classifier_activation: Activation of ``predictions``.
        name: Model name; default from :func:`default_name` (``"wide_resnet28_10"``).
        include_preprocessing: False (default, as keras.applications): the model takes ``preprocess_input``'s
            output. True: it takes RGB pixels 0..255 and normalises them inside (mode "tf"), with an
            ``ImagePreprocessing`` layer that has no weights (weight files load unchanged).

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: Invalid ``block``, ``depth`` (not ``3 l n + 4``), ``width``, ``dropout_rate``,
            ``weights="imagenet"``, or an invalid keras.applications argument.
        TypeError: ``include_top`` is not a bool.

    Example:
        >>> from keras_archs.applications.wide_resnet import WideResNet
        >>> WideResNet(16, 8, include_top=False).output_shape
        (None, None, None, 512)
    """
    kernels = parse_block(block)
    _blocks_per_group(depth, kernels, block)
    _check_width_and_dropout(width, dropout_rate)
    config = dict(depth=depth, width=width, dropout_rate=dropout_rate, block=block)
    with cifar_resnet.graph_recursion_limit(depth):
        return _assembly.build(
            _spec_for(depth, width, kernels),
            _assembly.ModelArguments.of(locals()).replace(name=name or default_name(depth, width, block)),
            functools.partial(wide_resnet_features, **config),
        )


# --- small variants for the test-suite (not registered; see _assembly.SmallVariant) ------------------------------

# One block per group, with dropout; a three-conv block type.
SMALL_VARIANTS = {
    "b33_dropout": _assembly.SmallVariant(functools.partial(WideResNet, 10, 2, dropout_rate=0.3), 8),
    "b131": _assembly.SmallVariant(functools.partial(WideResNet, 13, 1, block="B(1,3,1)"), 8),
}
