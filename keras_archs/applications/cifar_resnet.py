"""CIFAR ResNets: the 6n+2 basic-block networks of He et al. 2016a ("Deep Residual Learning for Image Recognition",
arXiv:1512.03385, Sec. 4.2), their plain twins, and the 9n+2 pre-activation bottleneck networks of He et al. 2016b
("Identity Mappings in Deep Residual Networks", arXiv:1603.05027): ResNet-164 and ResNet-1001.

Everything is one builder, :func:`CifarResNet`, and one residual unit, :func:`residual_unit` (Wide ResNets build on it
too, see ``wide_resnet``). The network (He et al. 2016a, Sec. 4.2):

* a 3x3 conv with 16 filters on the 32x32 input;
* three stages of ``n`` units on 32x32, 16x16 and 8x8 maps with widths 16, 32, 64 (a bottleneck unit outputs 4x its
  width: 64, 128, 256); the first unit of stages 2 and 3 subsamples with a stride-2 first conv;
* global average pooling, a fully-connected layer with ``classes`` outputs, softmax.

Convs have no bias (each is followed by a BN, directly or through the addition). Options:

* ``shortcut="A"`` (He et al. 2016a, Sec. 3.3 option A; the paper's CIFAR choice, Sec. 4.2): where a unit changes the
  shape, the shortcut keeps every other pixel and appends zero channels (:class:`ZeroPaddedIdentity`): no parameters,
  so a residual network has exactly the parameters of its plain twin. ``shortcut="B"``: a 1x1 projection conv there
  (+ BN in the post-activation layout); identity everywhere else, in both options.
* ``plain=True`` drops every shortcut: the plain networks of the degradation experiment (He et al. 2016a, Fig. 6).
* ``preact=True``: the pre-activation unit of He et al. 2016b (Fig. 1b, BN -> ReLU -> conv), with the activation right
  after conv1 shared by both paths of the first unit and a final BN -> ReLU after the last (2016b, Appendix).

Shared with ``resnet``: ``_blocks.symmetric_conv_unit`` (conv -> BN -> ReLU with keras' layer names, padded like
Torch so strided convs sample the same pixels as the option-A shortcut) and keras' ResNet BN epsilon. The ImageNet
blocks of ``resnet`` are not reused: they hard-code the layouts of keras' weight
files (v1: stride on the 1x1 conv and conv biases; v2: biased addition convs, max-pool subsampling, stride in the last
unit of a stage), and none has option A or a plain twin.

Inputs: He et al. subtract the per-pixel mean of the training set; that normalisation belongs to the data pipeline
(``keras_archs.data.cifar``). The registry records "tf" (scale to [-1, 1]) as the mode for ``preprocess_input``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from typing import Any, Iterator, NamedTuple, Sequence

import keras
from keras import layers

from keras_archs import registry
from keras_archs.applications import _assembly, _blocks, _validation

# --- constants ------------------------------------------------------------------------------------------------------

DEFAULT_SIZE = 32  # CIFAR images (He et al. 2016a, Sec. 4.2)
STEM_FILTERS = 16  # "The first layer is 3x3 convolutions" with 16 filters (He et al. 2016a, Sec. 4.2)
STAGE_WIDTHS = (16, 32, 64)  # "The numbers of filters are {16, 32, 64}" (He et al. 2016a, Sec. 4.2)
SHORTCUTS = ("A", "B")
BOTTLENECK_EXPANSION = 4  # output width / stage width of a bottleneck unit (He et al. 2016a, Sec. 4.1)


class BlockType(NamedTuple):
    """The residual branch of one unit: kernel sizes of its convs and output width / stage width."""

    kernels: tuple[int, ...]
    expansion: int
    depth_form: str  # how the depth follows from n units per stage


BLOCKS = {
    # Two 3x3 convs: 2 layers x 3n units + stem + fc = 6n+2 (He et al. 2016a, Sec. 4.2).
    "basic": BlockType((3, 3), 1, "6n+2"),
    # 1x1 -> 3x3 -> 1x1 with 4x expansion: 9n+2 (He et al. 2016b, Sec. 4 / resnet-1k-layers: ResNet-164, n=18).
    "bottleneck": BlockType((1, 3, 1), BOTTLENECK_EXPANSION, "9n+2"),
}


# --- blocks ---------------------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_archs")
class ZeroPaddedIdentity(layers.Layer):
    """Option-A shortcut (He et al. 2016a, Sec. 3.3): strided identity, zeros appended to reach ``channels``.

    Keeps pixels (0, 0), (0, stride), ... (the pixels a stride-``stride`` 1x1 conv, or a symmetrically padded 3x3 conv,
    centres on) and appends ``channels - input channels`` zero channels after the input's, as fb.resnet.torch's
    shortcut type A does (the paper only says "extra zero entries padded"). No weights.

    Args:
        channels: Number of output channels (at least the input's).
        stride: Spatial subsampling factor.
        data_format: "channels_last" / "channels_first"; None uses ``keras.config.image_data_format()``.
    """

    def __init__(self, channels: int, stride: int = 1, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.stride = int(stride)
        self.data_format = data_format or keras.config.image_data_format()

    def _extra_channels(self, input_channels: int) -> int:
        extra = self.channels - input_channels
        if extra < 0:
            raise ValueError(
                f"ZeroPaddedIdentity {self.name!r} cannot reduce {input_channels} channels to {self.channels}."
            )
        return extra

    def call(self, inputs: Any) -> Any:
        s = self.stride
        if self.data_format == "channels_first":
            x = inputs[:, :, ::s, ::s]
            padding = [[0, 0], [0, self._extra_channels(inputs.shape[1])], [0, 0], [0, 0]]
        else:
            x = inputs[:, ::s, ::s, :]
            padding = [[0, 0], [0, 0], [0, 0], [0, self._extra_channels(inputs.shape[-1])]]
        return keras.ops.pad(x, padding)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        def subsampled(size: int | None) -> int | None:
            return None if size is None else -(-size // self.stride)  # ceil: pixels 0, s, 2s, ... < size

        if self.data_format == "channels_first":
            return (input_shape[0], self.channels, subsampled(input_shape[2]), subsampled(input_shape[3]))
        return (input_shape[0], subsampled(input_shape[1]), subsampled(input_shape[2]), self.channels)

    def get_config(self) -> dict[str, Any]:
        config = {"channels": self.channels, "stride": self.stride, "data_format": self.data_format}
        return {**super().get_config(), **config}


@contextlib.contextmanager
def graph_recursion_limit(depth: int) -> Iterator[None]:
    """Raises Python's recursion limit, for the block, to fit a Keras graph ``depth`` weighted layers deep.

    Keras walks a functional graph recursively, one Python frame per layer on the longest path, when it builds a
    model, and again in ``keras.saving.load_model`` and ``keras.models.clone_model``. ResNet-1202 (4,210 layers) and
    ResNet-1001 exceed the default limit of 1,000, so the builders raise it while they assemble the model; wrap a
    ``load_model``/``clone_model`` of such a model the same way. There are about 3.5 layers per weighted layer.

    Example:
        >>> import sys
        >>> from keras_archs.applications.cifar_resnet import graph_recursion_limit
        >>> before = sys.getrecursionlimit()
        >>> with graph_recursion_limit(1202):
        ...     sys.getrecursionlimit() >= 1202 * 4
        True
        >>> sys.getrecursionlimit() == before
        True
    """
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, 1_000 + 4 * depth))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def _preactivation(x: Any, name: str) -> Any:
    x = layers.BatchNormalization(axis=_blocks.channel_axis(), epsilon=_blocks.RESNET_BN_EPSILON, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def residual_unit(
    x: Any,
    widths: Sequence[int],
    kernels: Sequence[int],
    *,
    stride: int,
    preact: bool,
    shortcut: str | None,
    name: str,
    dropout_rate: float = 0.0,
    activated_shortcut: bool = False,
) -> Any:
    """One unit: a branch of convs (``widths[i]`` filters, ``kernels[i]`` kernel), plus a shortcut.

    The stride sits on the branch's first conv (fb.resnet.torch, resnet-1k-layers and the WRN code all do so).

    * Post-activation (He et al. 2016a, Fig. 5): conv -> BN -> ReLU ... conv -> BN, addition, ReLU ``{name}_out``.
    * Pre-activation (He et al. 2016b, Fig. 1b): BN -> ReLU ``{name}_preact``, then conv -> BN -> ReLU ... conv; the
      addition is ``{name}_out``. Where the unit changes the shape (or ``activated_shortcut``), the shortcut also
      starts from the activation (2016b, Appendix: "these projection shortcuts are also with pre-activation";
      resnet-1k-layers, wide-residual-networks code); identity shortcuts carry the raw input.

    Args:
        x: Input tensor.
        widths: Output channels of each conv of the branch; the last is the unit's output width.
        kernels: Kernel size of each conv.
        stride: Stride of the first conv (and of the shortcut where it changes the shape).
        preact: Pre-activation (True) or post-activation (False) ordering.
        shortcut: ``"A"`` (zero-padded strided identity where the shape changes), ``"B"`` (1x1 projection conv there,
            + BN when post-activation) or None (no shortcut: a plain unit).
        name: Prefix of the layer names (``conv2_block1``).
        dropout_rate: Dropout before every conv but the first (after its BN -> ReLU; Zagoruyko & Komodakis 2016,
            Sec. 2.4); 0 adds no layer.
        activated_shortcut: Pre-activation only: take an identity shortcut from the activation too (the first unit
            after conv1, He et al. 2016b, Appendix).

    Returns:
        The unit's output tensor.
    """
    out_channels = widths[-1]
    reshapes = stride > 1 or x.shape[_blocks.channel_axis()] != out_channels
    branch_input = _preactivation(x, f"{name}_preact") if preact else x
    y = branch_input
    for index, (filters, kernel) in enumerate(zip(widths, kernels), start=1):
        last = index == len(widths)
        if index > 1 and dropout_rate:
            y = layers.Dropout(dropout_rate, name=f"{name}_{index}_dropout")(y)
        y = _blocks.symmetric_conv_unit(
            y,
            filters,
            kernel,
            stride=stride if index == 1 else 1,
            use_bias=False,
            norm=not (preact and last),  # pre-activation: the next unit's BN (or post_bn) follows the addition
            relu=not last,
            name=f"{name}_{index}",
        )
    if shortcut is None:
        return y if preact else layers.Activation("relu", name=f"{name}_out")(y)
    source = branch_input if preact and (reshapes or activated_shortcut) else x
    if not reshapes:
        skip = source
    elif shortcut == "A":
        skip = ZeroPaddedIdentity(out_channels, stride, name=f"{name}_0_pad")(source)
    else:
        skip = _blocks.symmetric_conv_unit(
            source, out_channels, 1, stride=stride, use_bias=False, norm=not preact, name=f"{name}_0"
        )
    if preact:
        return layers.Add(name=f"{name}_out")([skip, y])
    y = layers.Add(name=f"{name}_add")([skip, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def residual_stages(
    x: Any,
    widths: Sequence[Sequence[int]],
    kernels: Sequence[int],
    units: int,
    *,
    preact: bool,
    shortcut: str | None,
    dropout_rate: float = 0.0,
    activated_first_shortcut: bool = True,
) -> Any:
    """The three stages ``conv2..conv4`` of ``units`` units each; the first unit of conv3 and conv4 has stride 2.

    ``widths[stage]`` lists the branch widths of that stage's units. ``activated_first_shortcut``: in the
    pre-activation layout, the first unit's shortcut starts from its activation even when it is an identity (He et al.
    2016b, Appendix: "we adopt the first activation right after conv1 and before splitting into two paths").
    """
    for stage, stage_widths in enumerate(widths):
        for index in range(units):
            x = residual_unit(
                x,
                stage_widths,
                kernels,
                stride=2 if stage > 0 and index == 0 else 1,
                preact=preact,
                shortcut=shortcut,
                dropout_rate=dropout_rate,
                activated_shortcut=activated_first_shortcut and stage == 0 and index == 0,
                name=f"conv{stage + 2}_block{index + 1}",
            )
    return x


# --- trunk ----------------------------------------------------------------------------------------------------------


def cifar_resnet_features(img_input: Any, *, depth: int, block: str, preact: bool, plain: bool, shortcut: str) -> Any:
    """conv1, the three stages of ``n`` units (``n`` from ``depth``), and the pre-activation layout's final BN-ReLU."""
    units = _units_per_stage(depth, block)
    # Pre-activation: conv1 alone; its BN -> ReLU is the first unit's pre-activation (He et al. 2016b, Appendix).
    x = _blocks.symmetric_conv_unit(
        img_input, STEM_FILTERS, 3, use_bias=False, norm=not preact, relu=not preact, name="conv1"
    )
    kernels, expansion = BLOCKS[block].kernels, BLOCKS[block].expansion
    widths = [(*(width,) * (len(kernels) - 1), expansion * width) for width in STAGE_WIDTHS]
    x = residual_stages(x, widths, kernels, units, preact=preact, shortcut=None if plain else shortcut)
    if preact:
        x = _preactivation(x, "post")  # the last unit's extra activation (He et al. 2016b, Appendix)
    return x


def _units_per_stage(depth: Any, block: str) -> int:
    """``n`` from ``depth`` = (convs per unit x 3) n + 2; ValueError naming the accepted form otherwise."""
    per_unit = 3 * len(BLOCKS[block].kernels)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < per_unit + 2 or (depth - 2) % per_unit:
        first = [per_unit * n + 2 for n in (1, 2, 3)]
        raise ValueError(
            f"`depth` must be {BLOCKS[block].depth_form} with n >= 1 for block={block!r} "
            f"({', '.join(map(str, first))}, ...). Received: depth={depth!r}"
        )
    return (depth - 2) // per_unit


def _check_options(block: Any, preact: Any, plain: Any, shortcut: Any) -> None:
    _validation.check_choice("block", block, BLOCKS)
    _validation.check_flag("preact", preact)
    _validation.check_flag("plain", plain)
    _validation.check_choice("shortcut", shortcut, SHORTCUTS)
    if plain and shortcut != "A":
        raise ValueError(
            "`plain=True` builds no shortcuts, so `shortcut` must stay at its default 'A'. "
            f"Received: shortcut={shortcut!r}"
        )


def default_name(depth: int, block: str = "basic", preact: bool = False, plain: bool = False) -> str:
    """``cifar_resnet20``, ``cifar_plain56``, ``cifar_preact_resnet164``, ...: the model name when none is given."""
    return f"cifar_{'preact_' if preact else ''}{'plain' if plain else 'resnet'}{depth}"


# --- specs ----------------------------------------------------------------------------------------------------------


class _Preset(NamedTuple):
    depth: int
    block: str
    preact: bool
    shortcut: str
    plain: bool = False


class _Row(NamedTuple):
    config: _Preset
    params: int  # count_params() of the default model (10 classes), measured
    trainable_params: int  # measured; the paper's rounded figure is cited beside each row
    layers: int  # len(model.layers) of the default model, measured


_PAPER_V1 = "He et al. 2016, Deep Residual Learning for Image Recognition (CVPR), Sec. 4.2, arXiv:1512.03385"
_PAPER_V2 = "He et al. 2016, Identity Mappings in Deep Residual Networks (ECCV), arXiv:1603.05027"
# Basic, option A, post-activation: He et al. 2016a, Sec. 4.2 ("we use identity shortcuts in all cases (i.e., option
# A)"). Paper figures, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M, 19.4M. Pre-activation bottlenecks with projection
# shortcuts where the shape changes (He et al. 2016b, Appendix; KaimingHe/resnet-1k-layers resnet-pre-act.lua), paper
# figures 1.7M and 10.2M (He et al. 2016b, Table 3 / Sec. 4.1 text). The 10.2M leaves out BN's 149,216 scales and
# offsets: 10,327,706 - 149,216 = 10,178,490 conv and fc weights (1.68M for ResNet-164, also "1.7M"); the 2016a
# figures include them (19,421,274 -> 19.4M, where 19,331,642 without BN would round to 19.3M).
_PRESETS = {
    "CifarResNet20": _Row(_Preset(20, "basic", False, "A"), 271_098, 269_722, 73),  # 0.27M
    "CifarResNet32": _Row(_Preset(32, "basic", False, "A"), 466_426, 464_154, 115),  # 0.46M
    "CifarResNet44": _Row(_Preset(44, "basic", False, "A"), 661_754, 658_586, 157),  # 0.66M
    "CifarResNet56": _Row(_Preset(56, "basic", False, "A"), 857_082, 853_018, 199),  # 0.85M
    "CifarResNet110": _Row(_Preset(110, "basic", False, "A"), 1_736_058, 1_727_962, 388),  # 1.7M
    "CifarResNet1202": _Row(_Preset(1202, "basic", False, "A"), 19_510_906, 19_421_274, 4_210),  # 19.4M
    "CifarPreActResNet164": _Row(_Preset(164, "bottleneck", True, "B"), 1_727_482, 1_703_258, 549),  # 1.7M
    # 10.2M, see above
    "CifarPreActResNet1001": _Row(_Preset(1001, "bottleneck", True, "B"), 10_476_922, 10_327_706, 3_339),
}


def _spec(name: str, row: _Row) -> registry.ModelSpec:
    return registry.ModelSpec(
        name=name,
        family="cifar_resnet",
        default_size=DEFAULT_SIZE,
        min_size=1,  # measured: every conv is padded and every stride rounds up, so a 1x1 input builds
        preprocessing="tf",  # the paper's per-pixel mean subtraction is the data pipeline's (module docstring)
        paper=_PAPER_V2 if row.config.preact else _PAPER_V1,
        params=row.params,
        classes=10,
        trainable_params=row.trainable_params,
        layers=row.layers,
        build_kwargs=row.config._asdict(),
    )


SPECS = {name: _spec(name, row) for name, row in _PRESETS.items()}


def _spec_for(depth: int, block: str, preact: bool, plain: bool, shortcut: str) -> registry.ModelSpec:
    """The registered preset with this configuration, else the block's first preset (sizes and checks are shared)."""
    config = _Preset(depth, block, preact, shortcut, plain)
    for name, preset in _PRESETS.items():
        if preset.config == config:
            return SPECS[name]
    return SPECS[next(name for name, preset in _PRESETS.items() if preset.config.block == block)]


# --- constructors ---------------------------------------------------------------------------------------------------


@registry.register(*SPECS.values())
def CifarResNet(
    depth: int,
    block: str = "basic",
    preact: bool = False,
    plain: bool = False,
    shortcut: str = "A",
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
    """Instantiates a CIFAR ResNet (He et al. 2016a, Sec. 4.2; pre-activation bottlenecks: He et al. 2016b).

    The registry holds the paper's networks as presets: ``CifarResNet20/32/44/56/110/1202`` (basic, option A,
    post-activation) and ``CifarPreActResNet164/1001`` (pre-activation bottleneck, projection shortcuts).

    Args:
        depth: Weighted layers: 6n+2 for ``block="basic"`` (20, 32, 44, 56, 110, 1202 in the paper), 9n+2 for
            ``block="bottleneck"`` (164, 1001), with ``n`` units per stage.
        block: ``"basic"`` (two 3x3 convs) or ``"bottleneck"`` (1x1, 3x3, 1x1 with 4x expansion).
        preact: Pre-activation units (He et al. 2016b) instead of the original post-activation ones.
        plain: No shortcuts at all: the plain twin of the degradation experiment (He et al. 2016a, Fig. 6).
        shortcut: Where a unit changes the shape: ``"A"`` zero-padded strided identity (no parameters), ``"B"`` 1x1
            projection conv (+ BN when post-activation).
        include_top: Whether to include global average pooling and the ``predictions`` Dense layer.
        weights: ``None`` (random initialisation) or the path of a weights file. No ImageNet (or CIFAR) weights are
            published, so ``"imagenet"`` raises.
        input_tensor: Optional Keras tensor to use as image input.
        input_shape: Optional shape tuple (default ``(32, 32, 3)``); any size with ``include_top=False``.
        pooling: With ``include_top=False``: ``None`` (4D feature map), ``"avg"`` or ``"max"`` (global pooling).
        classes: Number of classes (10 for CIFAR-10, 100 for CIFAR-100).
        classifier_activation: Activation of ``predictions``.
        name: Model name; default from :func:`default_name` (``"cifar_resnet20"``).
        include_preprocessing: False (default, as keras.applications): the model takes ``preprocess_input``'s
            output. True: it takes RGB pixels 0..255 and normalises them inside (mode "tf"), with an
            ``ImagePreprocessing`` layer that has no weights (weight files load unchanged).

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: ``depth`` not of the block's form, an unknown ``block`` or ``shortcut``, ``shortcut="B"`` with
            ``plain=True``, ``weights="imagenet"``, or an invalid keras.applications argument.
        TypeError: ``preact``, ``plain`` or ``include_top`` is not a bool.

    Example:
        >>> from keras_archs.applications.cifar_resnet import CifarResNet
        >>> import numpy as np
        >>> model = CifarResNet(20)
        >>> model.name, int(sum(np.prod(w.shape) for w in model.trainable_weights))
        ('cifar_resnet20', 269722)
    """
    _check_options(block, preact, plain, shortcut)
    _units_per_stage(depth, block)  # the depth's form is checked before keras' arguments
    config = dict(depth=depth, block=block, preact=preact, plain=plain, shortcut=shortcut)
    with graph_recursion_limit(depth):
        return _assembly.build(
            _spec_for(depth, block, preact, plain, shortcut),
            _assembly.ModelArguments.of(locals()).replace(name=name or default_name(depth, block, preact, plain)),
            functools.partial(cifar_resnet_features, **config),
        )


# --- small variants for the test-suite (not registered; see _assembly.SmallVariant) ------------------------------

# One unit per stage: option A, option B, the plain twin, the pre-activation bottleneck.
SMALL_VARIANTS = {
    "basic_a": _assembly.SmallVariant(functools.partial(CifarResNet, 8), 8),
    "basic_b": _assembly.SmallVariant(functools.partial(CifarResNet, 8, shortcut="B"), 8),
    "plain": _assembly.SmallVariant(functools.partial(CifarResNet, 8, plain=True), 8),
    "preact_bottleneck": _assembly.SmallVariant(
        functools.partial(CifarResNet, 11, block="bottleneck", preact=True, shortcut="B"), 8
    ),
}
