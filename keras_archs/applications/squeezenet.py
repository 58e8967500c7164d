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

Bypass (Iandola et al. 2016, Sec. 6, Fig. 2): ``bypass="simple"`` adds the input of every Fire module whose input and
output widths match (fire3, fire5, fire7, fire9) to its output, like ResNet's identity shortcuts; ``bypass="complex"``
also gives the other modules (fire2, fire4, fire6, fire8) a shortcut through a 1x1 convolution with as many filters as
the module outputs. The sum is taken after the module's ReLUs, with no ReLU after it, as in the published
simple-bypass network (songhan/SqueezeNet-Residual, trainval.prototxt: Eltwise SUM layers ``bypass_23`` ...
``bypass_89``, whose names the Add layers take). The 1x1 shortcut convolutions are Caffe convolutions with a bias (its
default ``bias_term``) and no ReLU (a linear projection, as ResNet's). The paper defines bypass for 1.0 only; the same
rule (identity where widths match, 1x1 projection otherwise) applies to 1.1 unchanged, since 1.1 only moves the
pools: the same four modules get identities. No bypass weights are published in a form this package reads (the
residual model is a Caffe ``.caffemodel``), so ``weights="imagenet"`` and ``.net`` files with a bypass raise.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any

import keras
from keras import layers

from keras_archs import imagenet_utils, registry
from keras_archs.applications import _assembly, _blocks, _validation

# --- constants ------------------------------------------------------------------------------------------------------

# Deep Compression SqueezeNet 1.0 (songhan/SqueezeNet-Deep-Compression, master branch, BSD licence); sha256 measured on
# the published 675,763-byte file.
DC_SQUEEZENET_URL = (
    "https://raw.githubusercontent.com/songhan/SqueezeNet-Deep-Compression/master/compressed_SqueezeNet.net"
)
DC_SQUEEZENET_SHA256 = "e4ab6960ae8cd81505e1c2136921201507e930966c53deaf15862a395b3a3261"
# SqueezeNet 1.1 without top (rcmalli/keras-squeezenet release v1.0, MIT licence); md5 of the release file.
RCMALLI_NOTOP_URL = (
    "https://github.com/rcmalli/keras-squeezenet/releases/download/v1.0/"
    "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
RCMALLI_NOTOP_MD5 = "17c944bfcc0e04c6661806fb3a994a4a"

# weights="fashion_mnist": the SqueezeNet 1.1 variant this project trained on Fashion-MNIST
# (saved_models/MANIFEST.json). It takes raw pixels (28x28x1, 0..255) and returns 10 softmax scores in the dataset's
# label order.
FASHION_MNIST_SHA256 = "f9c26702e044efcaed4a14d3a67d533469048e614999330f686126acbb93cca0"
FASHION_MNIST_ARGUMENTS = (
    ("version", "1.1"),
    ("include_top", True),
    ("classes", 10),
    ("input_shape", (28, 28, 1)),
    ("batch_norm", True),
    ("small_input", True),
    ("bypass", None),
    ("pooling", None),
    ("classifier_activation", "softmax"),
)

# Caffe SqueezeNet's mean pixel, BGR order (the registry's, with its source).
CAFFE_BGR_MEAN = registry.SQUEEZENET_CAFFE_MEAN_BGR

# (stem filters, stem kernel, fire modules as (squeeze, expand) with "pool" where a 3x3/2 max-pool sits,
#  conv10 padding). Iandola et al. 2016, Table 1 (1.0); the 1.1 prototxt moves the pools earlier and uses a 3x3 stem.
VERSIONS = {
    "1.0": dict(
        stem=(96, 7),
        body=(
            "pool",
            (16, 64),
            (16, 64),
            (32, 128),
            "pool",
            (32, 128),
            (48, 192),
            (48, 192),
            (64, 256),
            "pool",
            (64, 256),
        ),
        conv10_pad=1,
        min_size=35,
    ),
    "1.1": dict(
        stem=(64, 3),
        body=(
            "pool",
            (16, 64),
            (16, 64),
            "pool",
            (32, 128),
            (32, 128),
            "pool",
            (48, 192),
            (48, 192),
            (64, 256),
            (64, 256),
        ),
        conv10_pad=0,
        min_size=31,
    ),
}
DEFAULT_SIZE = 227  # Caffe's crop size
SMALL_INPUT_STEM_FILTERS = 64  # as SqueezeNet 1.1's stem
SMALL_INPUT_DEFAULT_SIZE = 32  # CIFAR
SMALL_INPUT_MIN_SIZE = 8  # three 2x2/2 pools down to 1x1
BYPASS_CHOICES = (None, "simple", "complex")  # Iandola et al. 2016, Sec. 6 / Fig. 2 (left, middle, right)


# --- blocks ---------------------------------------------------------------------------------------------------------


def conv_relu(
    x: Any, filters: int, kernel: int, name: str, relu_name: str, batch_norm: bool = False, **conv_kwargs
) -> Any:
    """Conv2D then ReLU; with ``batch_norm`` a BatchNormalization (``{name}_bn``) sits between them and the conv
    drops its bias (BN's offset replaces it)."""
    x = layers.Conv2D(filters, kernel, use_bias=not batch_norm, name=name, **conv_kwargs)(x)
    if batch_norm:
        x = layers.BatchNormalization(axis=_blocks.channel_axis(), name=f"{name}_bn")(x)
    return layers.Activation("relu", name=relu_name)(x)


def fire_module(x: Any, squeeze: int, expand: int, name: str, batch_norm: bool = False) -> Any:
    """Fire module: 1x1 squeeze, then 1x1 and 3x3 expand convs (``expand`` filters each), concatenated.

    Layers are created in the Caffe prototxt's order (squeeze, expand1x1, expand3x3), which is also the order of the
    weighted layers in the Deep Compression file and the rcmalli h5.
    """
    x = conv_relu(x, squeeze, 1, f"{name}_squeeze1x1", f"{name}_relu_squeeze1x1", batch_norm)
    left = conv_relu(x, expand, 1, f"{name}_expand1x1", f"{name}_relu_expand1x1", batch_norm)
    right = conv_relu(x, expand, 3, f"{name}_expand3x3", f"{name}_relu_expand3x3", batch_norm, padding="same")
    return layers.Concatenate(axis=_blocks.channel_axis(), name=f"{name}_concat")([left, right])


def bypass_connection(shortcut: Any, x: Any, bypass: str | None, fire_number: int) -> Any:
    """Adds Fire module ``fire_number``'s input ``shortcut`` to its output ``x`` (Iandola et al. 2016, Sec. 6).

    Identity where the widths match (simple and complex bypass); a biased 1x1 convolution to the output width where
    they do not (complex bypass only). Its layers are created after the module's own, so the convolutions of the
    plain network keep their relative order.
    """
    if bypass is None:
        return x
    axis = _blocks.channel_axis()
    name = f"bypass_{fire_number - 1}{fire_number}"  # SqueezeNet-Residual's Eltwise names (bypass_23 ...)
    if shortcut.shape[axis] != x.shape[axis]:
        if bypass != "complex":
            return x
        shortcut = layers.Conv2D(x.shape[axis], 1, name=f"{name}_conv1x1")(shortcut)
    return layers.Add(name=name)([shortcut, x])


# --- trunk ----------------------------------------------------------------------------------------------------------


def squeezenet_features(
    img_input: Any, version: str, bypass: str | None = None, batch_norm: bool = False, small_input: bool = False
) -> Any:
    """Stem, Fire modules and max-pools of ``version``'s prototxt, with the options of :func:`SqueezeNet`."""
    config = VERSIONS[version]
    filters, kernel = config["stem"]
    if small_input:
        # 28-32 px inputs (Fashion-MNIST, CIFAR): a 3x3/1 stem and 2x2/2 pools keep a 3x3 map for fire9 at 28 px
        # (28 -> 14 -> 7 -> 3) where the ImageNet stem and 3x3/2 pools would leave nothing to pool.
        x = conv_relu(img_input, SMALL_INPUT_STEM_FILTERS, 3, "conv1", "relu_conv1", batch_norm, padding="same")
    else:
        x = conv_relu(img_input, filters, kernel, "conv1", "relu_conv1", batch_norm, strides=2)
    pool_size = 2 if small_input else 3
    fire_number, pool_after = 2, 1
    for item in config["body"]:
        if item == "pool":
            x = layers.MaxPooling2D(pool_size, strides=2, name=f"pool{pool_after}")(x)
            continue
        shortcut = x
        x = fire_module(x, *item, name=f"fire{fire_number}", batch_norm=batch_norm)
        x = bypass_connection(shortcut, x, bypass, fire_number)
        pool_after = fire_number
        fire_number += 1
    return x


def _classifier(version: str):
    def top(x: Any, classes: int, classifier_activation: Any) -> Any:
        x = layers.Dropout(0.5, name="drop9")(x)
        if VERSIONS[version]["conv10_pad"]:
            x = layers.ZeroPadding2D(VERSIONS[version]["conv10_pad"], name="conv10_pad")(x)
        # Caffe initialises conv10 from N(0, 0.01) (prototxt weight_filler), unlike the xavier-initialised rest.
        x = layers.Conv2D(classes, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01), name="conv10")(x)
        x = layers.Activation("relu", name="relu_conv10")(x)
        x = layers.GlobalAveragePooling2D(name="pool10")(x)
        return layers.Activation(classifier_activation, name="predictions")(x)

    return top


# --- specs ----------------------------------------------------------------------------------------------------------

_PAPER = (
    "Iandola et al. 2016, SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size, "
    "arXiv:1602.07360"
)

SPEC_NAMES = {"1.0": "SqueezeNet1_0", "1.1": "SqueezeNet1_1"}
SPECS = {
    spec.name: spec
    for spec in (
        registry.ModelSpec(
            name="SqueezeNet1_0",
            family="squeezenet",
            default_size=DEFAULT_SIZE,
            min_size=VERSIONS["1.0"]["min_size"],
            preprocessing="squeezenet_caffe",
            paper=_PAPER,
            params=1_248_424,
            layers=68,  # len(model.layers), measured
            build_kwargs={"version": "1.0"},
            aliases=("SqueezeNet", "squeezenet1.0"),
            published_accuracy=registry.PublishedAccuracy(
                0.575,
                "imagenet",
                "Iandola et al. 2016, arXiv:1602.07360, Table 2: SqueezeNet with Deep Compression, 8 bits, 0.66 MB "
                "(the file these weights decode): top-1 57.5 %",
            ),
            weights=tuple(
                registry.WeightEntry(
                    tag="imagenet",
                    include_top=top,
                    fname="compressed_SqueezeNet.net",
                    url=DC_SQUEEZENET_URL,
                    file_hash=DC_SQUEEZENET_SHA256,
                    bytes=675_763,
                    loader="deep_compression_net",
                    source="songhan/SqueezeNet-Deep-Compression (Han et al. 2016), decoded from 8-bit shared weights",
                    license="BSD-2-Clause",
                )
                for top in (True, False)
            ),
        ),
        registry.ModelSpec(
            name="SqueezeNet1_1",
            family="squeezenet",
            default_size=DEFAULT_SIZE,
            min_size=VERSIONS["1.1"]["min_size"],
            preprocessing="squeezenet_caffe",
            paper=_PAPER + "; v1.1 from github.com/forresti/SqueezeNet",
            params=1_235_496,
            layers=67,  # len(model.layers), measured
            build_kwargs={"version": "1.1"},
            aliases=("squeezenet1.1",),
            published_accuracy=registry.PublishedAccuracy.torchvision(
                "SqueezeNet1_1_Weights.IMAGENET1K_V1", 58.178, "the SqueezeNet 1.1 release gives no figure"
            ),
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
                registry.WeightEntry(
                    tag="fashion_mnist",
                    include_top=True,
                    fname="squeezenet_fashion_mnist.keras",
                    url=None,  # shipped: saved_models/ (package keras_archs.saved_models)
                    file_hash=FASHION_MNIST_SHA256,
                    loader="keras_model",
                    classes=10,
                    variant=FASHION_MNIST_ARGUMENTS,
                    source="trained by this project: saved_models/MANIFEST.json, "
                    "saved_models/squeezenet_fashion_mnist.md",
                    license="Apache-2.0 (model); Fashion-MNIST data MIT (Zalando Research)",
                ),
            ),
        ),
    )
}

# --- constructors ---------------------------------------------------------------------------------------------------


@registry.register(*SPECS.values())
def SqueezeNet(
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
    version: str | None = None,
    bypass: str | None = None,
    batch_norm: bool = False,
    small_input: bool = False,
    include_preprocessing: bool = False,
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
        name: Model name; default ``"squeezenet1_0"`` / ``"squeezenet1_1"``, with ``"_simple_bypass"`` or
            ``"_complex_bypass"`` appended when ``bypass`` is set.
        version: ``"1.0"`` (the default: the paper's model with ImageNet weights) or ``"1.1"`` (2.4x less
            computation). Left as None it is 1.0, or the version a project tag was trained with.
        bypass: ``None`` (default, the plain network), ``"simple"`` (identity shortcuts around fire3, 5, 7, 9: no new
            parameters) or ``"complex"`` (also 1x1 convolution shortcuts around fire2, 4, 6, 8: +341,248 parameters
            for 1.0, +337,152 for 1.1). No pretrained weights exist for either: only ``weights=None`` or a
            ``.weights.h5`` / ``.h5`` / ``.keras`` file saved from the same configuration.
        batch_norm: Not in the paper. Adds BatchNormalization between every conv and its ReLU (conv1, squeeze and
            expand convs; conv10 stays a plain classifier conv) and drops those convs' biases. Measured here: plain
            SqueezeNet (no BN) trained with Adam collapsed to chance on Fashion-MNIST, the BN variant trains
            reliably. No pretrained ImageNet weights exist for it.
        small_input: Not in the paper. For 28-32 px inputs: a 3x3 stride-1 stem (64 filters) and 2x2 stride-2
            max-pools in place of the ImageNet stem and 3x3/2 pools; the fire modules are unchanged. Default input
            32x32, minimum 8x8.
        include_preprocessing: False (default, as keras.applications): the model takes ``preprocess_input``'s
            output. True: it takes RGB pixels 0..255 and normalises them inside (mode "squeezenet_caffe"), with an
            ``ImagePreprocessing`` layer that has no weights (weight files load unchanged).

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: Invalid argument values (messages as in keras.applications), an unknown ``version`` or
            ``bypass``, ``weights="imagenet"`` for a configuration without a published file, or a Deep Compression
            ``.net`` file with a bypass.

    Example:
        >>> import keras_archs
        >>> model = keras_archs.SqueezeNet(weights=None)
        >>> model.count_params()
        1248424
        >>> keras_archs.SqueezeNet(weights=None, bypass="complex").count_params() - model.count_params()
        341248
    """
    arguments = dict(locals())
    tag_version = _version_for(weights)
    shipped = _assembly.shipped_model(SPECS[SPEC_NAMES[tag_version]], weights, arguments, _DEFAULTS)
    if shipped is not None:
        return shipped
    version = tag_version if version is None else version
    _validation.check_choice("version", version, VERSIONS)
    _validation.check_choice("bypass", bypass, BYPASS_CHOICES)
    _validation.check_flag("batch_norm", batch_norm)
    _validation.check_flag("small_input", small_input)
    spec = SPECS[SPEC_NAMES[version]]
    keras_arguments = _assembly.ModelArguments.of(arguments)
    input_shape = _validation.validate_arguments(
        spec,
        keras_arguments,
        default_size=SMALL_INPUT_DEFAULT_SIZE if small_input else None,
        min_size=SMALL_INPUT_MIN_SIZE if small_input else None,
    )
    if (batch_norm or small_input) and weights == "imagenet":
        raise ValueError(
            "No ImageNet weights exist for SqueezeNet with batch_norm=True or small_input=True (variants of this "
            f"package, not of the paper). Received: weights='imagenet', batch_norm={batch_norm}, "
            f"small_input={small_input}. Use weights=None or a file saved from the same configuration."
        )
    _check_bypass_weights(weights, bypass)
    default_name = f"squeezenet{version.replace('.', '_')}" + (f"_{bypass}_bypass" if bypass else "")
    return _assembly.build(
        spec,
        keras_arguments.replace(name=name or default_name),
        functools.partial(
            squeezenet_features, version=version, bypass=bypass, batch_norm=batch_norm, small_input=small_input
        ),
        top=_classifier(version),
        input_shape=input_shape,
    )


_DEFAULTS = {key: parameter.default for key, parameter in inspect.signature(SqueezeNet).parameters.items()}


def _version_for(weights: Any) -> str:
    """The version a project tag was trained with (``weights="fashion_mnist"`` is a 1.1), else 1.0 (the paper's)."""
    for version, spec_name in SPEC_NAMES.items():
        spec = SPECS[spec_name]
        if isinstance(weights, str) and weights != "imagenet" and weights in spec.weight_tags:
            return version
    return "1.0"


def _check_bypass_weights(weights: Any, bypass: str | None) -> None:
    """Pretrained SqueezeNet files are for the plain network: refuse them with a bypass.

    The Deep Compression ``.net`` loader fills Conv2D layers in model order, so the complex bypass's extra 1x1 convs
    would shift every later layer; and with a simple bypass the file would load but compute another network.
    """
    if bypass is None or weights is None:
        return
    is_path = isinstance(weights, (str, os.PathLike)) and os.path.exists(os.fspath(weights)) and weights != "imagenet"
    if weights == "imagenet":
        raise ValueError(
            f"No ImageNet weights are published for SqueezeNet with bypass={bypass!r}: the ImageNet files are for the "
            "plain network. Use bypass=None with weights='imagenet', or weights=None (or your own weights file) with "
            "a bypass."
        )
    if is_path and os.fspath(weights).lower().endswith(".net"):
        raise ValueError(
            f"Deep Compression .net files hold the plain SqueezeNet 1.0; they cannot be loaded with bypass={bypass!r}. "
            f"Received: weights={os.fspath(weights)!r}. Use bypass=None for this file."
        )


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """Caffe preprocessing with Caffe SqueezeNet's mean: RGB -> BGR, subtract (104, 117, 123), no scaling."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe", mean=CAFFE_BGR_MEAN)


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


# The same for every ImageNet model: (wnid, name, score) tuples from the class names shipped with the package.
decode_predictions = imagenet_utils.decode_predictions


# --- small variants for the test-suite (not registered; see _assembly.SmallVariant) ------------------------------

# The registered networks are small already; the second variant has every option (bypass convs, BN, small stem).
SMALL_VARIANTS = {
    "1.0": _assembly.SmallVariant(functools.partial(SqueezeNet, version="1.0", weights=None), 35),
    "1.1_complex_bypass_bn_small_input": _assembly.SmallVariant(
        functools.partial(SqueezeNet, version="1.1", bypass="complex", batch_norm=True, small_input=True, weights=None),
        16,
    ),
}
