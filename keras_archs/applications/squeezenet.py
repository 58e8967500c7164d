"""SqueezeNet 1.0 and 1.1 (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and
<0.5MB model size", arXiv:1602.07360).

Layer specs follow the original Caffe prototxts (github.com/forresti/SqueezeNet, SqueezeNet_v1.0 and SqueezeNet_v1.1
train_val.prototxt). Layer names are the Caffe names with "/" replaced by "_" (Keras 3 forbids "/" in names).

Two details reproduce the Caffe network exactly:

* SqueezeNet 1.0's conv10 has ``pad: 1`` in the prototxt. A ``ZeroPadding2D(1)`` before the 1x1 conv reproduces it: the
  border positions of conv10's 15x15 output are ReLU(bias) and enter the global average like in Caffe.
* Caffe rounds pooling output sizes up (ceil), Keras down (floor). At the default 227x227 input both give the same sizes
  for SqueezeNet 1.0 (111 -> 55 -> 27 -> 13), so the Deep Compression weights reproduce Caffe there. Other input
  sizes use Keras' floor pooling (for 1.1 already at 227: 113 -> 56 -> 27, where Caffe gives 28); the rcmalli 1.1
  weights were trained in Keras with floor pooling, so that is what they expect.

Weights (``weights="imagenet"``):

* 1.0: the public Deep Compression model (Han et al. 2016): pruned to ~33% density with 8-bit shared weights, decoded
  into the dense network on load. Top-1 57.5% / top-5 80.3% on ImageNet (Han et al. 2016, Table 8, as published by
  the repository's README).
* 1.1: only without top (rcmalli/keras-squeezenet). No 1.1 file with the ImageNet classifier is published in a form we
  can verify, so ``include_top=True`` with "imagenet" raises.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from keras_archs import registry
from keras_archs.applications import _common

# Deep Compression SqueezeNet 1.0 (songhan/SqueezeNet-Deep-Compression, master branch, BSD licence); sha256 measured on
# the published 675,763-byte file.
DC_SQUEEZENET_URL = "https://raw.githubusercontent.com/songhan/SqueezeNet-Deep-Compression/master/compressed_SqueezeNet.net"
DC_SQUEEZENET_SHA256 = "e4ab6960ae8cd81505e1c2136921201507e930966c53deaf15862a395b3a3261"
# SqueezeNet 1.1 without top (rcmalli/keras-squeezenet release v1.0, MIT licence); md5 of the release file.
RCMALLI_NOTOP_URL = (
    "https://github.com/rcmalli/keras-squeezenet/releases/download/v1.0/"
    "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
RCMALLI_NOTOP_MD5 = "17c944bfcc0e04c6661806fb3a994a4a"

# Caffe SqueezeNet's mean pixel, BGR order (forresti/SqueezeNet train_val.prototxt: mean_value 104, 117, 123).
CAFFE_BGR_MEAN = (104.0, 117.0, 123.0)

# (stem filters, stem kernel, fire modules as (squeeze, expand) with "pool" where a 3x3/2 max-pool sits,
#  conv10 padding). Iandola et al. 2016, Table 1 (1.0); the 1.1 prototxt moves the pools earlier and uses a 3x3 stem.
_VERSIONS = {
    "1.0": dict(
        stem=(96, 7),
        body=("pool", (16, 64), (16, 64), (32, 128), "pool", (32, 128), (48, 192), (48, 192), (64, 256), "pool", (64, 256)),
        conv10_pad=1,
        min_size=35,
    ),
    "1.1": dict(
        stem=(64, 3),
        body=("pool", (16, 64), (16, 64), "pool", (32, 128), (32, 128), "pool", (48, 192), (48, 192), (64, 256), (64, 256)),
        conv10_pad=0,
        min_size=31,
    ),
}
DEFAULT_SIZE = 227  # Caffe's crop size


def fire_module(x: Any, squeeze: int, expand: int, name: str) -> Any:
    """Fire module: 1x1 squeeze, then 1x1 and 3x3 expand convs (``expand`` filters each), concatenated.

    Layers are created in the Caffe prototxt's order (squeeze, expand1x1, expand3x3), which is also the order of the
    weighted layers in the Deep Compression file and the rcmalli h5.
    """
    x = layers.Conv2D(squeeze, 1, name=f"{name}_squeeze1x1")(x)
    x = layers.Activation("relu", name=f"{name}_relu_squeeze1x1")(x)
    left = layers.Conv2D(expand, 1, name=f"{name}_expand1x1")(x)
    left = layers.Activation("relu", name=f"{name}_relu_expand1x1")(left)
    right = layers.Conv2D(expand, 3, padding="same", name=f"{name}_expand3x3")(x)
    right = layers.Activation("relu", name=f"{name}_relu_expand3x3")(right)
    return layers.Concatenate(axis=_common.channel_axis(), name=f"{name}_concat")([left, right])


def _features(img_input: Any, version: str) -> Any:
    config = _VERSIONS[version]
    filters, kernel = config["stem"]
    x = layers.Conv2D(filters, kernel, strides=2, name="conv1")(img_input)
    x = layers.Activation("relu", name="relu_conv1")(x)
    fire_number, pool_after = 2, 1
    for item in config["body"]:
        if item == "pool":
            x = layers.MaxPooling2D(3, strides=2, name=f"pool{pool_after}")(x)
            continue
        x = fire_module(x, *item, name=f"fire{fire_number}")
        pool_after = fire_number
        fire_number += 1
    return x


def _classifier(version: str):
    def top(x: Any, classes: int, classifier_activation: Any) -> Any:
        x = layers.Dropout(0.5, name="drop9")(x)
        if _VERSIONS[version]["conv10_pad"]:
            x = layers.ZeroPadding2D(_VERSIONS[version]["conv10_pad"], name="conv10_pad")(x)
        # Caffe initialises conv10 from N(0, 0.01) (prototxt weight_filler), unlike the xavier-initialised rest.
        x = layers.Conv2D(
            classes, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01), name="conv10"
        )(x)
        x = layers.Activation("relu", name="relu_conv10")(x)
        x = layers.GlobalAveragePooling2D(name="pool10")(x)
        return layers.Activation(classifier_activation, name="predictions")(x)

    return top


def SqueezeNet(
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
    version: str = "1.0",
) -> keras.Model:
    """Instantiates SqueezeNet 1.0 or 1.1, with the same arguments as the keras.applications constructors.

    Args:
        include_top: Whether to include conv10 (the 1x1 classifier conv), global average pooling and the softmax.
        weights: ``None``, ``"imagenet"`` (1.0: Deep Compression weights; 1.1: only with ``include_top=False``), or the
            path of a weights file (``.net`` Deep Compression, legacy ``.h5`` by layer order, ``.weights.h5``,
            ``.keras``).
        input_tensor: Optional Keras tensor to use as image input.
        input_shape: Optional shape tuple; must be ``(227, 227, 3)`` with ``include_top=True`` and ImageNet weights.
        pooling: ``None``, ``"avg"`` or ``"max"``: global pooling of the features when ``include_top=False``.
        classes: Number of classes (1000 with ImageNet weights and top).
        classifier_activation: Activation after the global average (``"softmax"`` or ``None`` with pretrained weights).
        name: Model name; default ``"squeezenet1_0"`` / ``"squeezenet1_1"``.
        version: ``"1.0"`` (default, the paper's model with ImageNet weights) or ``"1.1"`` (2.4x less computation).

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: Invalid argument values (messages as in keras.applications), an unknown ``version``, or
            ``weights="imagenet"`` for a configuration without a published file.

    Example:
        >>> import keras_archs
        >>> model = keras_archs.SqueezeNet(weights=None)
        >>> model.count_params()
        1248424
    """
    if version not in _VERSIONS:
        raise ValueError(f"`version` must be one of {', '.join(map(repr, _VERSIONS))}. Received: version={version!r}")
    spec = registry.get_spec(_SPEC_NAMES[version])
    input_shape = _common.validate_arguments(
        spec=spec,
        messages=_common.RESNET_MESSAGES,
        weights=weights,
        include_top=include_top,
        classes=classes,
        input_shape=input_shape,
        pooling=pooling,
        classifier_activation=classifier_activation,
    )
    if weights == "imagenet" and spec.find_weights("imagenet", include_top) is None:
        raise ValueError(
            f"No ImageNet weights with the classifier are published for SqueezeNet {version}: only the feature "
            "extractor (rcmalli/keras-squeezenet). Use include_top=False with weights='imagenet', or version='1.0' "
            "for the full ImageNet model."
        )
    img_input = _common.image_input(input_tensor, input_shape)
    return _common.assemble(
        spec=spec,
        img_input=img_input,
        input_tensor=input_tensor,
        features=_features(img_input, version),
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        top=_classifier(version),
        name=name or f"squeezenet{version.replace('.', '_')}",
        weights=weights,
    )


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """Caffe preprocessing with Caffe SqueezeNet's mean: RGB -> BGR, subtract (104, 117, 123), no scaling."""
    from keras_archs import imagenet

    return imagenet.preprocess_input(x, data_format=data_format, mode="caffe", mean=CAFFE_BGR_MEAN)


def decode_predictions(preds: Any, top: int = 5) -> list:
    """Top-``top`` ImageNet classes ``(wnid, name, score)`` per sample (class names ship with the package)."""
    from keras_archs import imagenet

    return imagenet.decode_predictions(preds, top=top)


_SPEC_NAMES = {"1.0": "SqueezeNet1_0", "1.1": "SqueezeNet1_1"}
_PAPER = "Iandola et al. 2016, SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size, arXiv:1602.07360"

registry.register(
    registry.ModelSpec(
        name="SqueezeNet1_0",
        family="squeezenet",
        builder=SqueezeNet,
        default_size=DEFAULT_SIZE,
        min_size=_VERSIONS["1.0"]["min_size"],
        preprocessing="squeezenet_caffe",
        paper=_PAPER,
        params=1_248_424,
        build_kwargs={"version": "1.0"},
        aliases=("SqueezeNet", "squeezenet1.0"),
        weights=tuple(
            registry.WeightEntry(
                tag="imagenet",
                include_top=top,
                fname="compressed_SqueezeNet.net",
                url=DC_SQUEEZENET_URL,
                file_hash=DC_SQUEEZENET_SHA256,
                loader="deep_compression_net",
                source="songhan/SqueezeNet-Deep-Compression (Han et al. 2016), decoded from 8-bit shared weights",
                license="BSD-2-Clause",
            )
            for top in (True, False)
        ),
    )
)
registry.register(
    registry.ModelSpec(
        name="SqueezeNet1_1",
        family="squeezenet",
        builder=SqueezeNet,
        default_size=DEFAULT_SIZE,
        min_size=_VERSIONS["1.1"]["min_size"],
        preprocessing="squeezenet_caffe",
        paper=_PAPER + "; v1.1 from github.com/forresti/SqueezeNet",
        params=1_235_496,
        build_kwargs={"version": "1.1"},
        aliases=("squeezenet1.1",),
        weights=(
            registry.WeightEntry(
                tag="imagenet",
                include_top=False,
                fname="squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
                url=RCMALLI_NOTOP_URL,
                file_hash=RCMALLI_NOTOP_MD5,
                loader="h5_by_order",
                source="rcmalli/keras-squeezenet release v1.0 (converted from the Caffe SqueezeNet 1.1 model)",
                license="MIT",
            ),
        ),
    )
)
