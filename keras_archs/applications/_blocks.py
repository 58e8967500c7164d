"""Building blocks several families share: conv-BN units, the Inception step language, Caffe's LRN and pooling.

* :func:`conv_unit` / :func:`symmetric_conv_unit`: keras' ResNet conv -> BN -> ReLU unit (``{name}_conv``,
  ``_bn``, ``_relu``), used by ``resnet``, ``cifar_resnet`` and ``wide_resnet``.
* :class:`Conv` / :class:`Pool` / :class:`Split`, :func:`apply_steps`, :func:`inception_module`, :func:`conv_bn`,
  :func:`reduction_a`: an Inception module as data (branches of steps), used by ``inception_v3``,
  ``inception_resnet_v2`` and ``inception_v4``.
* :class:`CaffeConv`, :func:`caffe_conv`, :func:`max_pool` (Caffe's ceil rounding) and
  :class:`LocalResponseNormalization`: the Caffe-era pieces of ``alexnet`` and ``googlenet``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Union

import keras
from keras import layers, ops

__all__ = [
    "channel_axis",
    "conv_unit",
    "symmetric_conv_unit",
    "Conv",
    "Pool",
    "Split",
    "Branch",
    "AVG_POOL",
    "MAX_POOL",
    "conv_bn",
    "apply_steps",
    "inception_module",
    "reduction_a",
    "CaffeConv",
    "caffe_conv",
    "max_pool",
    "LocalResponseNormalization",
]


def channel_axis(negative: bool = False) -> int:
    """Axis of the channels for BatchNormalization/Concatenate under the current data format.

    ``negative``: -1 rather than 3 for channels_last, as keras' xception.py and mobilenet.py write it (the same axis;
    keeping keras' value keeps every layer's ``get_config()`` identical to keras').
    """
    if keras.backend.image_data_format() == "channels_first":
        return 1
    return -1 if negative else 3


# --- keras' ResNet unit ---------------------------------------------------------------------------------------------

# keras' BN epsilon in resnet.py / resnet_v2.py; presumably the Caffe models' 1e-5 nudged above cuDNN's historical
# minimum CUDNN_BN_MIN_EPSILON = 1e-5. Part of the numerics: it must match for keras' weights to reproduce keras'
# outputs. The CIFAR ResNets and Wide ResNets reuse the unit and its epsilon.
RESNET_BN_EPSILON = 1.001e-5


def conv_unit(
    x: Any,
    filters: int,
    kernel_size: int,
    *,
    name: str,
    stride: int = 1,
    padding: str = "valid",
    use_bias: bool = True,
    norm: bool = True,
    relu: bool = False,
    epsilon: float = RESNET_BN_EPSILON,
) -> Any:
    """Conv2D ``{name}_conv``, optionally BatchNormalization ``{name}_bn`` and ReLU ``{name}_relu`` (keras' names)."""
    x = layers.Conv2D(filters, kernel_size, strides=stride, padding=padding, use_bias=use_bias, name=f"{name}_conv")(x)
    if norm:
        x = layers.BatchNormalization(axis=channel_axis(), epsilon=epsilon, name=f"{name}_bn")(x)
    if relu:
        x = layers.Activation("relu", name=f"{name}_relu")(x)
    return x


def symmetric_conv_unit(x: Any, filters: int, kernel_size: int, *, name: str, stride: int = 1, **unit: Any) -> Any:
    """:func:`conv_unit` padded by ``kernel_size // 2`` on every side, as Caffe and Torch pad their convs.

    Keras' "same" pads a strided conv on the bottom/right only (an even input of a stride-2 3x3 conv gets (0, 1)),
    which shifts the sampling grid by one pixel against Torch and against a strided identity shortcut that keeps
    pixels (0, 2, 4, ...). So strided convs get an explicit ``{name}_pad`` and "valid"; at stride 1 "same" is already
    symmetric. ``unit`` goes to :func:`conv_unit` (``use_bias``, ``norm``, ``relu``, ``epsilon``).
    """
    if stride > 1 and kernel_size > 1:
        x = layers.ZeroPadding2D(padding=kernel_size // 2, name=f"{name}_pad")(x)
        return conv_unit(x, filters, kernel_size, stride=stride, padding="valid", name=name, **unit)
    return conv_unit(x, filters, kernel_size, stride=stride, padding="same", name=name, **unit)


# --- Inception modules as data --------------------------------------------------------------------------------------


class Conv(NamedTuple):
    """A Conv2D (no bias) + BatchNormalization (no gamma) + ReLU unit; ``kernel`` is an int or (rows, cols)."""

    filters: int
    kernel: int | tuple[int, int]
    strides: int = 1
    padding: str = "same"


class Pool(NamedTuple):
    """A pooling step: ``kind`` is "avg" or "max"."""

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


def conv_bn(x: Any, conv: Conv, name: str | None = None) -> Any:
    """Conv2D without bias, BatchNormalization without gamma, ReLU (keras' ``conv2d_bn`` of both Inception modules).

    The BN has ``scale=False`` because a ReLU follows, so a per-channel gain would be redundant (keras' choice, kept
    for weight compatibility). With ``name`` the layers are ``name``, ``name_bn``, ``name_ac`` as in
    inception_resnet_v2; Inception v3 names none of them.
    """
    x = layers.Conv2D(conv.filters, conv.kernel, strides=conv.strides, padding=conv.padding, use_bias=False, name=name)(
        x
    )
    x = layers.BatchNormalization(axis=channel_axis(), scale=False, name=None if name is None else f"{name}_bn")(x)
    return layers.Activation("relu", name=None if name is None else f"{name}_ac")(x)


def pool(x: Any, step: Pool, name: str | None = None) -> Any:
    """The pooling layer of ``step``."""
    pool_class = layers.AveragePooling2D if step.kind == "avg" else layers.MaxPooling2D
    return pool_class(step.size, strides=step.strides, padding=step.padding, name=name)(x)


def apply_steps(x: Any, steps: Branch) -> Any:
    """Applies a branch's steps in order (creating their layers in that order)."""
    for step in steps:
        if isinstance(step, Conv):
            x = conv_bn(x, step)
        elif isinstance(step, Pool):
            x = pool(x, step)
        else:
            x = layers.Concatenate(axis=channel_axis(), name=step.name)([conv_bn(x, c) for c in step.convs])
    return x


def inception_module(x: Any, branches: tuple[Branch, ...], name: str) -> Any:
    """Runs every branch on ``x`` (one after the other) and concatenates them on the channel axis as ``name``.

    Building the branches in the order they are listed, every step of a branch before the next branch, and the
    concatenation last, creates exactly the layers keras.applications creates, in the same order: what legacy
    ``.h5`` files (order of weighted layers) and ``.weights.h5`` files (layer class and creation order) rely on.
    """
    outputs = [apply_steps(x, branch) for branch in branches]
    return layers.Concatenate(axis=channel_axis(), name=name)(outputs)


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


# --- Caffe-era layers ----------------------------------------------------------------------------------------------

# Caffe's LRN parameters in bvlc_alexnet and bvlc_googlenet (local_size 5, alpha 0.0001, beta 0.75; k is Caffe's
# default 1). Caffe divides alpha by local_size. AlexNet's own constants (Krizhevsky et al. 2012, Sec. 3.3: k=2, n=5,
# alpha=1e-4, beta=0.75, alpha not divided by n) are LocalResponseNormalization(size=5, alpha=5e-4, beta=0.75, k=2.0).
LRN_SIZE = 5
LRN_ALPHA = 1e-4
LRN_BETA = 0.75
LRN_K = 1.0
# Overlapping max-pooling, s=2, z=3 (Krizhevsky et al. 2012, Sec. 3.4); GoogLeNet's 3x3/2 pools are the same.
POOL_SIZE, POOL_STRIDES = 3, 2


class CaffeConv(NamedTuple):
    """A convolution with Caffe/PyTorch's symmetric zero ``padding`` and ``groups`` filter groups; ReLU follows."""

    filters: int
    kernel: int
    strides: int = 1
    padding: int = 0
    groups: int = 1


@keras.saving.register_keras_serializable(package="keras_archs")
class LocalResponseNormalization(layers.Layer):
    """Caffe's local response normalisation across channels (``LRN``, ``norm_region: ACROSS_CHANNELS``).

    ``b_c = a_c / (k + alpha / size * sum(a_j ** 2 for j in c - size//2 .. c + size//2)) ** beta``, the window
    clipped at the first and last channel. Caffe divides ``alpha`` by ``size``; TensorFlow's
    ``tf.nn.local_response_normalization`` does not (its ``alpha`` is this ``alpha / size``, ``depth_radius`` is
    ``size // 2`` and ``bias`` is ``k``). No weights. Registered as ``keras_archs>LocalResponseNormalization``, so
    ``.keras`` files holding it load once ``keras_archs.applications`` is imported.

    Args:
        size: Number of channels in the window (odd, Caffe's ``local_size``).
        alpha: Scale of the sum of squares, before division by ``size``.
        beta: Exponent.
        k: Additive constant.
        axis: Channel axis (-1 for channels_last, 1 for channels_first).
        **kwargs: Standard layer arguments (``name``, ``dtype``...).

    Raises:
        ValueError: ``size`` is not a positive odd integer (Caffe accepts only odd sizes).

    Example:
        >>> import numpy as np
        >>> lrn = LocalResponseNormalization(size=1, alpha=1.0, beta=1.0, k=1.0)  # x / (1 + x ** 2)
        >>> [round(float(v), 3) for v in np.ravel(lrn(np.array([[[[1.0, 2.0]]]], dtype="float32")))]
        [0.5, 0.4]
    """

    def __init__(
        self,
        size: int = LRN_SIZE,
        alpha: float = LRN_ALPHA,
        beta: float = LRN_BETA,
        k: float = LRN_K,
        axis: int = -1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise ValueError(f"`size` must be a positive odd integer (Caffe's local_size). Received: size={size!r}")
        self.size = size
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)
        self.axis = axis

    def call(self, inputs: Any) -> Any:
        rank = len(inputs.shape)
        axis = self.axis % rank
        channels = inputs.shape[axis]
        half = self.size // 2
        widths = [[0, 0]] * rank
        widths[axis] = [half, half]
        squares = ops.pad(ops.square(inputs), widths)
        window = [slice(None)] * rank
        total = 0
        for offset in range(self.size):
            window[axis] = slice(offset, offset + channels)
            total = total + squares[tuple(window)]
        return inputs / ops.power(self.k + (self.alpha / self.size) * total, self.beta)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "size": self.size,
            "alpha": self.alpha,
            "beta": self.beta,
            "k": self.k,
            "axis": self.axis,
        }


def caffe_conv(x: Any, conv: CaffeConv, name: str) -> Any:
    """Conv2D + ReLU with Caffe's symmetric padding.

    Keras' "same" pads asymmetrically when the stride does not divide the input (one more row/column at the end), so
    an explicit ``ZeroPadding2D`` (``{name}_pad``) reproduces Caffe/PyTorch's ``pad`` unless stride 1 and an odd
    kernel make "same" identical.
    """
    padding = "valid"
    if conv.padding:
        if conv.strides == 1 and 2 * conv.padding == conv.kernel - 1:
            padding = "same"
        else:
            x = layers.ZeroPadding2D(conv.padding, name=f"{name}_pad")(x)
    return layers.Conv2D(
        conv.filters,
        conv.kernel,
        strides=conv.strides,
        padding=padding,
        groups=conv.groups,
        activation="relu",
        name=name,
    )(x)


def max_pool(x: Any, *, ceil_mode: bool, name: str, size: int = POOL_SIZE, strides: int = POOL_STRIDES) -> Any:
    """Max-pool with Keras' (floor) or Caffe's (``ceil_mode``) rounding of the output size.

    Caffe's output size is ``ceil((n - size) / strides) + 1``. Padding ``strides - 1`` zeros at the bottom and right
    and pooling "valid" gives ``floor((n - 1 + strides - size) / strides) + 1``, the same number, with the windows
    Caffe uses. A zero can only win a window whose real values are all negative; every caller pools ReLU (or LRN of
    ReLU) outputs, which are non-negative, so the result is Caffe's exactly.
    """
    if ceil_mode:
        x = layers.ZeroPadding2D(((0, strides - 1), (0, strides - 1)), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(size, strides=strides, name=name)(x)
