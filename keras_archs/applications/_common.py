"""Argument validation and model assembly shared by every family (the role of keras' ``imagenet_utils``).

The checks keras.applications makes are reproduced in the same order with the same messages, so code written against
``keras.applications`` sees the same errors. Where keras silently accepts a bad value (``pooling="mean"``,
``classes=0``), we raise a ``ValueError`` after keras' own checks have passed.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, Callable

import keras
from keras import layers

from keras_archs import registry

POOLING_CHOICES = (None, "avg", "max")


@dataclasses.dataclass(frozen=True)
class Messages:
    """keras.applications' wording for the two argument errors; it differs from family to family."""

    weights: str  # formatted with weights=
    classes: str  # formatted with classes=


_WEIGHTS_CHOICES = (
    "The `weights` argument should be either `None` (random initialization), {q}imagenet{q} "
    "(pre-training on ImageNet), or the path to the weights file to be loaded"
)
# Verbatim from keras 3.15 (resnet.py, vgg16.py, inception_v3.py, inception_resnet_v2.py, xception.py, mobilenet.py).
RESNET_MESSAGES = Messages(
    weights=_WEIGHTS_CHOICES.format(q="'") + ".  Received: weights={weights}",
    classes="If using `weights='imagenet'` with `include_top=True`, `classes` should be 1000.  Received classes={classes}",  # noqa: E501 (verbatim)
)
INCEPTION_V3_MESSAGES = Messages(
    weights=_WEIGHTS_CHOICES.format(q="`") + "; Received: weights={weights}",
    classes='If using `weights="imagenet"` with `include_top=True`, `classes` should be 1000. Received classes={classes}',  # noqa: E501 (verbatim)
)
INCEPTION_RESNET_V2_MESSAGES = Messages(
    weights=_WEIGHTS_CHOICES.format(q="`") + ".",
    classes=INCEPTION_V3_MESSAGES.classes,
)
XCEPTION_MESSAGES = Messages(weights=_WEIGHTS_CHOICES.format(q="'") + ".", classes=RESNET_MESSAGES.classes)
MOBILENET_MESSAGES = Messages(
    weights=_WEIGHTS_CHOICES.format(q="'") + ". Received weights={weights}",
    classes=RESNET_MESSAGES.classes,
)


def _is_existing_path(weights: Any) -> bool:
    return isinstance(weights, (str, os.PathLike)) and os.path.exists(os.fspath(weights))


def check_weights_and_classes(
    weights: Any, include_top: bool, classes: Any, *, spec: registry.ModelSpec, messages: Messages
) -> None:
    """keras' first two checks: ``weights`` is None, a known tag or an existing file; imagenet tops have 1000 classes.

    Project tags (``spec.weight_tags`` other than "imagenet") are accepted besides keras' values. When the model has
    project tags, the error message lists them after keras' wording.
    """
    tags = {"imagenet", *spec.weight_tags}
    known_tag = isinstance(weights, str) and weights in tags
    if not (weights is None or known_tag or _is_existing_path(weights)):
        message = messages.weights.format(weights=weights)
        extra = registry.family_tags(spec.family)
        if extra:
            message = message.rstrip(".") + f". Project tags available for this family: {', '.join(map(repr, extra))}."
        raise ValueError(message)
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(messages.classes.format(classes=classes))


def check_published_weights(weights: Any, include_top: bool, *, spec: registry.ModelSpec) -> None:
    """A weights tag ("imagenet" or a project tag) must name a file that exists for this model and ``include_top``.

    keras accepts "imagenet" for every model it has files for; ours include models without published weights
    (AlexNet, CIFAR ResNets, ...) and configurations without one (SqueezeNet 1.1 with its classifier). Checked first,
    so that a model whose default ``classes`` is not 1000 does not get keras' misleading "classes should be 1000".
    """
    if not isinstance(weights, str) or os.path.exists(weights) or weights not in {"imagenet", *spec.weight_tags}:
        return
    if any(entry.tag == weights and entry.include_top == include_top for entry in spec.weights):
        return
    other = sorted({entry.include_top for entry in spec.weights if entry.tag == weights})
    hint = f" They exist with include_top={other[0]}." if other else ""
    raise ValueError(
        f"No {weights!r} weights are published for {spec.name} with include_top={include_top}.{hint} Use "
        f"weights=None (random initialisation) or the path of a weights file. Received: weights={weights!r}"
    )


def _normalised(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def shipped_model(spec: registry.ModelSpec, tag: str, arguments: dict, defaults: dict) -> keras.Model | None:
    """The whole model a project tag ships (loader "keras_model"), or None when ``tag`` is not such a tag.

    The tag fixes the constructor arguments it was built with (its entry's ``variant``). An argument the caller set
    to something else than both its default and the tag's value is refused, naming what the tag requires, rather
    than silently ignored.

    Raises:
        ValueError: A conflicting argument.
    """
    entry = next((e for e in spec.weights if e.tag == tag and e.loader == "keras_model"), None)
    if entry is None:
        return None
    required = dict(entry.variant)
    conflicts = [
        f"{key}={value!r} (the tag requires {required[key]!r})"
        for key, value in arguments.items()
        if key in required and _normalised(value) != _normalised(required[key]) and value != defaults.get(key)
    ]
    if arguments.get("input_tensor") is not None:
        conflicts.append("input_tensor (the shipped model has its own input)")
    if conflicts:
        raise ValueError(
            f"weights={tag!r} is a trained {spec.name} shipped whole; it cannot be rebuilt with "
            + "; ".join(conflicts)
            + f". It takes: {', '.join(f'{k}={v!r}' for k, v in required.items())}."
        )
    from keras_archs import weights as weights_lib

    return weights_lib.load_shipped_model(entry, name=arguments.get("name"))


def obtain_input_shape(
    input_shape: Any,
    default_size: int,
    min_size: int,
    data_format: str,
    require_flatten: bool,
    weights: Any = None,
) -> tuple:
    """Validates ``input_shape`` (or derives the default) exactly as keras.applications does.

    Returns the shape tuple without the batch axis; raises keras' ValueErrors (same text).
    """
    channels_first = data_format == "channels_first"
    given_3d = bool(input_shape) and len(input_shape) == 3
    if weights != "imagenet" and given_3d:
        channels = input_shape[0] if channels_first else input_shape[-1]
        if channels not in {1, 3}:
            warnings.warn(
                "This model usually expects 1 or 3 input channels. However, it was passed an input_shape "
                f"with {channels} input channels.",
                stacklevel=3,
            )
        spatial = (default_size, default_size)
        default_shape = (input_shape[0], *spatial) if channels_first else (*spatial, input_shape[-1])
    else:
        default_shape = (3, default_size, default_size) if channels_first else (default_size, default_size, 3)

    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ValueError(
                "When setting `include_top=True` and loading `imagenet` weights, "
                f"`input_shape` should be {default_shape}.  Received: input_shape={input_shape}"
            )
        return default_shape

    if input_shape:
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers.")
        channels, rows, cols = (
            (input_shape[0], input_shape[1], input_shape[2])
            if channels_first
            else (input_shape[-1], input_shape[0], input_shape[1])
        )
        if channels != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received `input_shape={input_shape}`")
        if (rows is not None and rows < min_size) or (cols is not None and cols < min_size):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: input_shape={input_shape}")
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (3, None, None) if channels_first else (None, None, 3)

    if require_flatten and None in input_shape:
        raise ValueError(
            f"If `include_top` is True, you should specify a static `input_shape`. Received: input_shape={input_shape}"
        )
    return input_shape


def validate_activation(classifier_activation: Any, weights: Any) -> None:
    """Pretrained classifiers allow only softmax or no activation (keras' rule and message)."""
    if weights is None:
        return
    activation = keras.activations.get(classifier_activation)
    if activation not in {keras.activations.get("softmax"), keras.activations.get(None)}:
        raise ValueError(
            "Only `None` and `softmax` activations are allowed for the `classifier_activation` argument when "
            "using pretrained weights, with `include_top=True`; Received: "
            f"classifier_activation={activation}"
        )


def check_extra_arguments(include_top: Any, pooling: Any, classes: Any) -> None:
    """Checks keras.applications skips: it ignores an unknown ``pooling`` and builds with nonsense ``classes``."""
    if not isinstance(include_top, bool):
        raise TypeError(f"`include_top` must be True or False. Received: include_top={include_top!r}")
    if pooling not in POOLING_CHOICES:
        raise ValueError(
            "The `pooling` argument should be one of None (4D feature map), 'avg' (global average pooling) or "
            f"'max' (global max pooling). Received: pooling={pooling!r}"
        )
    if include_top and (isinstance(classes, bool) or not isinstance(classes, int) or classes < 1):
        raise ValueError(f"`classes` must be a positive integer when `include_top=True`. Received: classes={classes!r}")


def validate_arguments(
    *,
    spec: registry.ModelSpec,
    messages: Messages,
    weights: Any,
    include_top: bool,
    classes: Any,
    input_shape: Any,
    pooling: Any,
    classifier_activation: Any,
    default_size: int | None = None,
    min_size: int | None = None,
) -> tuple:
    """All constructor checks in keras' order; returns the validated input shape (no batch axis)."""
    check_published_weights(weights, include_top, spec=spec)
    check_weights_and_classes(weights, include_top, classes, spec=spec, messages=messages)
    shape = obtain_input_shape(
        input_shape,
        default_size=default_size or spec.default_size,
        min_size=min_size or spec.min_size,
        data_format=keras.backend.image_data_format(),
        require_flatten=include_top,
        weights=weights,
    )
    if include_top:
        validate_activation(classifier_activation, weights)
    check_extra_arguments(include_top, pooling, classes)
    return shape


def channel_axis() -> int:
    """Axis of the channels for BatchNormalization/Concatenate under the current data format."""
    return 1 if keras.backend.image_data_format() == "channels_first" else 3


def image_input(input_tensor: Any, input_shape: tuple) -> Any:
    """The model's input: a new ``Input``, or ``input_tensor`` (wrapped in an ``Input`` if it is not symbolic)."""
    if input_tensor is None:
        return layers.Input(shape=input_shape)
    if not keras.backend.is_keras_tensor(input_tensor):
        return layers.Input(tensor=input_tensor, shape=input_shape)
    return input_tensor


def global_pool(x: Any, pooling: str | None, named: bool = True) -> Any:
    """Feature-extractor head: none, global average or global max pooling (keras' layer names)."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool" if named else None)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool" if named else None)(x)
    return x


def gap_dense_top(x: Any, classes: int, classifier_activation: Any) -> Any:
    """The common classifier: global average pooling then one Dense layer named "predictions"."""
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def assemble(
    *,
    spec: registry.ModelSpec,
    img_input: Any,
    input_tensor: Any,
    features: Any,
    include_top: bool,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
    top: Callable[[Any, int, Any], Any],
    name: str,
    weights: Any,
    weight_variant: dict | None = None,
    named_pooling: bool = True,
) -> keras.Model:
    """Adds the head, creates the Functional model and loads ``weights``."""
    from keras_archs import weights as weights_lib  # weights imports registry entries of the families

    if include_top:
        outputs = top(features, classes, classifier_activation)
    else:
        outputs = global_pool(features, pooling, named=named_pooling)
    inputs = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else img_input
    model = keras.Model(inputs, outputs, name=name)
    weights_lib.load_into(model, weights, spec=spec, include_top=include_top, variant=weight_variant or {})
    return model
