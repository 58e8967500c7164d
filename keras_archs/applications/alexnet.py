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
size (see ``_blocks.max_pool``); at 227 both agree anyway (55 -> 27 -> 13 -> 6). torchvision rounds down like Keras.

No weights are published for either layout in a form this package can verify, so ``weights`` defaults to None and
``weights="imagenet"`` raises a ValueError. The Caffe-era layers (:class:`LocalResponseNormalization`, ``caffe_conv``
and ``max_pool`` with Caffe's rounding) live in ``_blocks``, shared with ``googlenet``.
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

__all__ = ["AlexNet", "LocalResponseNormalization", "LAYOUTS", "preprocess_input", "decode_predictions"]

# --- constants ------------------------------------------------------------------------------------------------------

FC_UNITS = 4096  # fc6, fc7 (Krizhevsky et al. 2012, Sec. 3.5)
DROPOUT_RATE = 0.5  # ibid. Sec. 4.2
POOL_AFTER = (1, 2, 5)  # conv layers followed by a max-pool (ibid. Sec. 3.5; both layouts)


class Layout(NamedTuple):
    """One AlexNet layout: the five convs, where LRN and dropout sit, the pooling rounding."""

    model_name: str
    convs: tuple[CaffeConv, ...]
    lrn_after: tuple[int, ...]  # conv numbers followed by LRN (after their ReLU)
    dropout_on: tuple[int, ...]  # dropout on the output of layer n (5 = pool5 flattened, 6 = fc6, 7 = fc7): "drop{n}"
    ceil_pooling: bool  # Caffe's rounding of pooling output sizes
    fc_units: int = FC_UNITS  # width of fc6 and fc7


LAYOUTS = {
    # torchvision/models/alexnet.py `features` and `classifier` (layer specs only).
    "torchvision": Layout(
        model_name="alexnet",
        convs=(
            CaffeConv(64, 11, strides=4, padding=2),
            CaffeConv(192, 5, padding=2),
            CaffeConv(384, 3, padding=1),
            CaffeConv(256, 3, padding=1),
            CaffeConv(256, 3, padding=1),
        ),
        lrn_after=(),
        dropout_on=(5, 6),
        ceil_pooling=False,
    ),
    # bvlc_alexnet deploy.prototxt; groups as in the paper's Fig. 2 (conv3 sees both GPUs' conv2 maps).
    "caffe": Layout(
        model_name="alexnet_caffe",
        convs=(
            CaffeConv(96, 11, strides=4),
            CaffeConv(256, 5, padding=2, groups=2),
            CaffeConv(384, 3, padding=1),
            CaffeConv(384, 3, padding=1, groups=2),
            CaffeConv(256, 3, padding=1, groups=2),
        ),
        lrn_after=(1, 2),
        dropout_on=(6, 7),
        ceil_pooling=True,
    ),
}


# --- blocks ---------------------------------------------------------------------------------------------------------


def _classifier(layout: Layout):
    def top(x: Any, classes: int, classifier_activation: Any) -> Any:
        x = layers.Flatten(name="flatten")(x)
        dense = (
            (6, layout.fc_units, "relu", "fc6"),
            (7, layout.fc_units, "relu", "fc7"),
            (8, classes, classifier_activation, "predictions"),
        )
        for number, units, activation, name in dense:
            if number - 1 in layout.dropout_on:
                x = layers.Dropout(DROPOUT_RATE, name=f"drop{number - 1}")(x)
            x = layers.Dense(units, activation=activation, name=name)(x)
        return x

    return top


# --- trunk ----------------------------------------------------------------------------------------------------------


def alexnet_features(img_input: Any, layout: Layout) -> Any:
    """The five convs of ``layout`` with its LRNs and max-pools (``pool5`` is the feature map)."""
    x = img_input
    for number, conv in enumerate(layout.convs, start=1):
        x = _blocks.caffe_conv(x, conv, name=f"conv{number}")
        if number in layout.lrn_after:
            x = LocalResponseNormalization(axis=_blocks.channel_axis(), name=f"norm{number}")(x)
        if number in POOL_AFTER:
            x = _blocks.max_pool(x, ceil_mode=layout.ceil_pooling, name=f"pool{number}")
    return x


def build_alexnet(spec: registry.ModelSpec, layout: Layout, arguments: KerasArguments) -> keras.Model:
    """The family builder: ``spec``'s checks and sizes, the trunk and classifier of ``layout``."""
    return _assembly.build(
        spec,
        arguments.replace(name=arguments.name or layout.model_name),
        functools.partial(alexnet_features, layout=layout),
        top=_classifier(layout),
    )


# --- specs ----------------------------------------------------------------------------------------------------------

_PAPER = "Krizhevsky, Sutskever & Hinton 2012, ImageNet Classification with Deep Convolutional Neural Networks (NIPS)"


def _spec(name: str, layout: str, *, default_size: int, min_size: int, params: int, layers: int, **fields: Any):
    return registry.ModelSpec(
        name=name,
        family="alexnet",
        default_size=default_size,
        min_size=min_size,
        params=params,
        trainable_params=params,  # no BatchNormalization: every parameter is trainable
        layers=layers,
        build_kwargs={"layout": layout},
        **fields,
    )


# min_size: the smallest input that builds (measured: pool5 needs at least one output cell); params: count_params()
# with top, 1000 classes (measured; DESIGN.md's figures); layers: len(model.layers), measured.
SPECS = {
    spec.name: spec
    for spec in (
        _spec(
            "AlexNet", "torchvision", default_size=224, min_size=63, params=61_100_840, layers=16,
            preprocessing="torch",
            paper=_PAPER + "; torchvision layout after Krizhevsky 2014, One weird trick for parallelizing "
            "convolutional neural networks, arXiv:1404.5997",
            published_accuracy=registry.PublishedAccuracy.torchvision("AlexNet_Weights.IMAGENET1K_V1", 56.522),
        ),
        _spec(
            "AlexNetCaffe", "caffe", default_size=227, min_size=39, params=60_965_224, layers=20,
            preprocessing="caffe", paper=_PAPER + "; Caffe bvlc_alexnet layout (two filter groups, LRN)",
        ),
    )
}  # fmt: skip
LAYOUT_SPECS = {"torchvision": "AlexNet", "caffe": "AlexNetCaffe"}

# --- constructors ---------------------------------------------------------------------------------------------------


@registry.register(*SPECS.values())
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
    include_preprocessing: bool = False,
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
        include_preprocessing: False (default, as keras.applications): the model takes ``preprocess_input``'s
            output. True: it takes RGB pixels 0..255 and normalises them inside (mode "torch" for the torchvision
            layout, "caffe" for Caffe's), with an ``ImagePreprocessing`` layer that has no weights (weight files load
            unchanged).

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
    _validation.check_choice("layout", layout, LAYOUTS)
    return build_alexnet(SPECS[LAYOUT_SPECS[layout]], LAYOUTS[layout], _assembly.ModelArguments.of(locals()))


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
    _validation.check_choice("layout", layout, LAYOUTS)
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode=SPECS[LAYOUT_SPECS[layout]].preprocessing)


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


# --- small variants for the test-suite (not registered; see _assembly.SmallVariant) ------------------------------

# Both layouts at their smallest input, with 256-unit fc6/fc7 (the 4096-unit ones hold 17-38M parameters).
SMALL_VARIANTS = {
    layout: _assembly.small_variant(
        functools.partial(build_alexnet, SPECS[spec_name], LAYOUTS[layout]._replace(fc_units=256)),
        SPECS[spec_name].min_size,
        f"alexnet_{layout}_small",
    )
    for layout, spec_name in LAYOUT_SPECS.items()
}
