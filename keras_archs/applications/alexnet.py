"""AlexNet (Krizhevsky, Sutskever & Hinton 2012, "ImageNet Classification with Deep Convolutional Neural Networks",
NIPS 2012) in two layouts, one builder fed a row of :data:`LAYOUTS`:

* ``layout="torchvision"`` (default; registered as ``AlexNet``): the single-tower network of torchvision's
  ``alexnet``, which follows Krizhevsky 2014 ("One weird trick for parallelizing convolutional neural networks",
  arXiv:1404.5997): convs of 64 (11x11/4, pad 2), 192 (5x5), 384, 256, 256 (3x3) filters, no response normalisation,
  dropout 0.5 before fc6 and fc7. 61,100,840 parameters; input 224.
* ``layout="caffe"`` (registered as ``AlexNetCaffe``): the paper's two-GPU network as Caffe's reference
  ``bvlc_alexnet`` (BVLC model zoo ``deploy.prototxt``): 96/256/384/384/256 filters, conv2, conv4 and conv5 split
  into 2 groups (the paper's two GPUs, Sec. 3.2; ``Conv2D(groups=2)``), local response normalisation after the ReLU
  of conv1 and conv2, dropout 0.5 after fc6 and fc7. 60,965,224 parameters; input 227 (the paper's "224" does not
  give its own 55x55 conv1 output with an 11x11/4 kernel; Caffe's crop of 227 does).

Both have 3x3/2 overlapping max-pools after conv1, conv2 and conv5 (Sec. 3.4: s=2, z=3) and no BatchNormalization,
so every parameter is trainable.

Flatten size: torchvision puts an ``AdaptiveAvgPool2d((6, 6))`` between the features and the classifier. At 224 the
features already are 6x6x256 and the pool is the identity, so it is left out here: like keras' VGG, an input of
another size changes the flattened size (and fc6's weight shape). Note also that torchvision flattens in (C, H, W)
order and Keras in (H, W, C): a converter for torchvision weights must permute fc6's input rows.

Pooling: Caffe rounds pooling output sizes up, Keras down. The caffe layout reproduces Caffe's rounding at every input
size (see :func:`max_pool`); at 227 both agree anyway (55 -> 27 -> 13 -> 6). torchvision rounds down like Keras.

No weights are published for either layout in a form this package can verify, so ``weights`` defaults to None and
``weights="imagenet"`` raises a ValueError. :class:`LocalResponseNormalization`, :func:`caffe_conv` and
:func:`max_pool` are reused by ``googlenet``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
from keras import layers, ops

from keras_archs import imagenet_utils, registry
from keras_archs.applications import _common

__all__ = ["AlexNet", "LocalResponseNormalization", "LAYOUTS", "preprocess_input", "decode_predictions"]

# Caffe's LRN parameters in bvlc_alexnet (norm1/norm2: local_size 5, alpha 0.0001, beta 0.75; k is Caffe's default 1).
# Caffe divides alpha by local_size. The paper's own constants (Sec. 3.3: k=2, n=5, alpha=1e-4, beta=0.75, alpha not
# divided by n) are LocalResponseNormalization(size=5, alpha=5e-4, beta=0.75, k=2.0).
LRN_SIZE = 5
LRN_ALPHA = 1e-4
LRN_BETA = 0.75
LRN_K = 1.0

FC_UNITS = 4096  # fc6, fc7 (Krizhevsky et al. 2012, Sec. 3.5)
DROPOUT_RATE = 0.5  # ibid. Sec. 4.2
POOL_SIZE, POOL_STRIDES = 3, 2  # overlapping pooling, ibid. Sec. 3.4
POOL_AFTER = (1, 2, 5)  # conv layers followed by a max-pool (ibid. Sec. 3.5; both layouts)


class ConvLayer(NamedTuple):
    """A convolution with Caffe/PyTorch's symmetric zero ``padding`` and ``groups`` filter groups; ReLU follows."""

    filters: int
    kernel: int
    strides: int = 1
    padding: int = 0
    groups: int = 1


class Layout(NamedTuple):
    """One AlexNet layout: the five convs, where LRN and dropout sit, the pooling rounding, registry facts."""

    spec_name: str
    model_name: str
    convs: tuple[ConvLayer, ...]
    lrn_after: tuple[int, ...]  # conv numbers followed by LRN (after their ReLU)
    dropout_on: tuple[int, ...]  # dropout on the output of layer n (5 = pool5 flattened, 6 = fc6, 7 = fc7): "drop{n}"
    ceil_pooling: bool  # Caffe's rounding of pooling output sizes
    default_size: int
    min_size: int  # smallest input that builds (measured): pool5 needs at least one output cell
    params: int  # count_params() with top, 1000 classes (measured; DESIGN.md's figures)
    preprocessing: str


LAYOUTS = {
    # torchvision/models/alexnet.py `features` and `classifier` (layer specs only).
    "torchvision": Layout(
        spec_name="AlexNet",
        model_name="alexnet",
        convs=(
            ConvLayer(64, 11, strides=4, padding=2),
            ConvLayer(192, 5, padding=2),
            ConvLayer(384, 3, padding=1),
            ConvLayer(256, 3, padding=1),
            ConvLayer(256, 3, padding=1),
        ),
        lrn_after=(),
        dropout_on=(5, 6),
        ceil_pooling=False,
        default_size=224,
        min_size=63,
        params=61_100_840,
        preprocessing="torch",
    ),
    # bvlc_alexnet deploy.prototxt; groups as in the paper's Fig. 2 (conv3 sees both GPUs' conv2 maps).
    "caffe": Layout(
        spec_name="AlexNetCaffe",
        model_name="alexnet_caffe",
        convs=(
            ConvLayer(96, 11, strides=4),
            ConvLayer(256, 5, padding=2, groups=2),
            ConvLayer(384, 3, padding=1),
            ConvLayer(384, 3, padding=1, groups=2),
            ConvLayer(256, 3, padding=1, groups=2),
        ),
        lrn_after=(1, 2),
        dropout_on=(6, 7),
        ceil_pooling=True,
        default_size=227,
        min_size=39,
        params=60_965_224,
        preprocessing="caffe",
    ),
}


@keras.saving.register_keras_serializable(package="keras_archs")
class LocalResponseNormalization(layers.Layer):
    """Caffe's local response normalisation across channels (``LRN``, ``norm_region: ACROSS_CHANNELS``).

    ``b_c = a_c / (k + alpha / size * sum(a_j ** 2 for j in c - size//2 .. c + size//2)) ** beta``, the window
    clipped at the first and last channel. Caffe divides ``alpha`` by ``size``; TensorFlow's
    ``tf.nn.local_response_normalization`` does not (its ``alpha`` is this ``alpha / size``, ``depth_radius`` is
    ``size // 2`` and ``bias`` is ``k``). No weights.

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


def caffe_conv(x: Any, conv: ConvLayer, name: str) -> Any:
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


def _features(img_input: Any, layout: Layout) -> Any:
    x = img_input
    for number, conv in enumerate(layout.convs, start=1):
        x = caffe_conv(x, conv, name=f"conv{number}")
        if number in layout.lrn_after:
            x = LocalResponseNormalization(axis=_common.channel_axis(), name=f"norm{number}")(x)
        if number in POOL_AFTER:
            x = max_pool(x, ceil_mode=layout.ceil_pooling, name=f"pool{number}")
    return x


def _classifier(layout: Layout):
    def top(x: Any, classes: int, classifier_activation: Any) -> Any:
        x = layers.Flatten(name="flatten")(x)
        dense = (
            (6, FC_UNITS, "relu", "fc6"),
            (7, FC_UNITS, "relu", "fc7"),
            (8, classes, classifier_activation, "predictions"),
        )
        for number, units, activation, name in dense:
            if number - 1 in layout.dropout_on:
                x = layers.Dropout(DROPOUT_RATE, name=f"drop{number - 1}")(x)
            x = layers.Dense(units, activation=activation, name=name)(x)
        return x

    return top


def AlexNet(
    include_top: bool = True,
    weights: Any = None,
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
    layout: str = "torchvision",
) -> keras.Model:
    """Instantiates AlexNet in torchvision's single-tower layout or Caffe's two-group layout.

    Args:
        include_top: Whether to include the classifier (flatten, fc6, fc7, ``predictions``, with dropout).
        weights: ``None`` (random initialisation) or the path of a weights file (``.weights.h5``, legacy ``.h5`` by
            layer order, ``.keras``). No ImageNet weights are published in a verifiable form: "imagenet" raises.
        input_tensor: Optional Keras tensor to use as image input.
        input_shape: Optional shape tuple (default 224x224x3, 227x227x3 for ``layout="caffe"``); at least 63x63
            (torchvision) or 39x39 (caffe). With the top, other sizes change the flattened feature size.
        pooling: With ``include_top=False``: ``None`` (the 4D pool5 features), ``"avg"`` or ``"max"``.
        classes: Number of classes of the classifier.
        classifier_activation: Activation of ``predictions``.
        name: Model name; default ``"alexnet"`` / ``"alexnet_caffe"``.
        layout: ``"torchvision"`` (default, 61,100,840 parameters) or ``"caffe"`` (two filter groups and LRN,
            60,965,224 parameters).

    Returns:
        A ``keras.Model``. Preprocess inputs with :func:`preprocess_input` (same ``layout``).

    Raises:
        ValueError: An unknown ``layout``, ``weights="imagenet"``, or invalid ``weights``, ``classes``,
            ``input_shape``, ``pooling`` (keras.applications' messages for keras' checks).
        TypeError: ``include_top`` is not a bool.

    Example:
        >>> from keras_archs.applications.alexnet import AlexNet
        >>> AlexNet(include_top=False, input_shape=(224, 224, 3)).output_shape
        (None, 6, 6, 256)
    """
    if layout not in LAYOUTS:
        raise ValueError(f"`layout` must be one of {', '.join(map(repr, LAYOUTS))}. Received: layout={layout!r}")
    row = LAYOUTS[layout]
    spec = registry.get_spec(row.spec_name)
    shape = _common.validate_arguments(
        spec=spec,
        messages=_common.RESNET_MESSAGES,
        weights=weights,
        include_top=include_top,
        classes=classes,
        input_shape=input_shape,
        pooling=pooling,
        classifier_activation=classifier_activation,
    )
    img_input = _common.image_input(input_tensor, shape)
    return _common.assemble(
        spec=spec,
        img_input=img_input,
        input_tensor=input_tensor,
        features=_features(img_input, row),
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        top=_classifier(row),
        name=name or row.model_name,
        weights=weights,
    )


def preprocess_input(x: Any, data_format: str | None = None, layout: str = "torchvision") -> Any:
    """Preprocessing for ``layout``: "torch" mode for torchvision's (scaled to [0, 1], ImageNet mean/std), "caffe"
    mode for Caffe's (RGB -> BGR, minus the ImageNet mean pixel; bvlc_alexnet subtracts a mean image whose channel
    means these are).

    Args:
        x: RGB images in [0, 255], 3D or 4D, NumPy array or tensor.
        data_format: "channels_last" / "channels_first"; None uses ``keras.config.image_data_format()``.
        layout: ``"torchvision"`` or ``"caffe"``.

    Returns:
        The preprocessed images.

    Raises:
        ValueError: Unknown ``layout`` or ``data_format``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"`layout` must be one of {', '.join(map(repr, LAYOUTS))}. Received: layout={layout!r}")
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode=LAYOUTS[layout].preprocessing)


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


_PAPER = "Krizhevsky, Sutskever & Hinton 2012, ImageNet Classification with Deep Convolutional Neural Networks (NIPS)"
_LAYOUT_SOURCES = {
    "torchvision": "; torchvision layout after Krizhevsky 2014, One weird trick for parallelizing convolutional neural "
    "networks, arXiv:1404.5997",
    "caffe": "; Caffe bvlc_alexnet layout (two filter groups, LRN)",
}

for _layout, _row in LAYOUTS.items():
    registry.register(
        registry.ModelSpec(
            name=_row.spec_name,
            family="alexnet",
            builder=AlexNet,
            default_size=_row.default_size,
            min_size=_row.min_size,
            preprocessing=_row.preprocessing,
            paper=_PAPER + _LAYOUT_SOURCES[_layout],
            params=_row.params,
            trainable_params=_row.params,  # no BatchNormalization: every parameter is trainable
            build_kwargs={"layout": _layout},
        )
    )
