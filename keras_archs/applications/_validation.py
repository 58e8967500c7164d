"""The checks every constructor makes, with keras.applications' messages stored as data (keras' ``imagenet_utils``).

keras.applications' checks are reproduced in keras' order with keras' wording, so code written against
``keras.applications`` sees the same errors; the wording differs from family to family, so :class:`Messages` records
hold it. Where keras silently accepts a bad value (``pooling="mean"``, ``classes=0``), we raise a ``ValueError`` after
keras' own checks have passed. Every check runs before a layer is created.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import warnings
from typing import Any, Iterable, Mapping

import keras

from keras_archs import registry

__all__ = [
    "KerasArguments",
    "Messages",
    "RESNET_MESSAGES",
    "INCEPTION_V3_MESSAGES",
    "INCEPTION_RESNET_V2_MESSAGES",
    "XCEPTION_MESSAGES",
    "MOBILENET_MESSAGES",
    "validate_arguments",
]

POOLING_CHOICES = (None, "avg", "max")


@dataclasses.dataclass(frozen=True, eq=False)
class KerasArguments:
    """The eight arguments every keras.applications constructor takes, as one value.

    A family writes them once, in its public signature, and passes ``KerasArguments.of(locals())`` on to the general
    builder (``_assembly.build``). The defaults are keras' (``weights`` defaults to "imagenet" there; families without
    published weights default it to None in their signature).
    """

    include_top: Any = True
    weights: Any = "imagenet"
    input_tensor: Any = None
    input_shape: Any = None
    pooling: Any = None
    classes: Any = 1000
    classifier_activation: Any = "softmax"
    name: Any = None

    def __post_init__(self) -> None:
        # A NumPy integer is a number of classes like any other (Keras' Dense takes only a Python int).
        if isinstance(self.classes, numbers.Integral) and not isinstance(self.classes, (bool, int)):
            object.__setattr__(self, "classes", int(self.classes))

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> KerasArguments:
        """The eight arguments picked from a constructor's ``locals()`` (other entries are ignored)."""
        return cls(**{field.name: values[field.name] for field in dataclasses.fields(cls)})

    def replace(self, **changes: Any) -> KerasArguments:
        """A copy with ``changes`` (e.g. the family's default ``name``)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


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


def is_existing_path(weights: Any) -> bool:
    """Whether ``weights`` names a file that exists (keras' test for "the path to the weights file")."""
    return isinstance(weights, (str, os.PathLike)) and os.path.exists(os.fspath(weights))


# Suffixes of the weight files weights.load_into reads (a string ending so is meant as a path, not as a tag).
_WEIGHT_FILE_SUFFIXES = (".h5", ".hdf5", ".keras", ".net")


def _looks_like_a_path(weights: Any) -> bool:
    """Whether ``weights`` is meant as a file: a PathLike, or a string with a folder separator or a weights suffix."""
    if isinstance(weights, os.PathLike):
        return True
    if not isinstance(weights, str):
        return False
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(separator in weights for separator in separators) or weights.lower().endswith(_WEIGHT_FILE_SUFFIXES)


def check_weights_and_classes(
    weights: Any, include_top: bool, classes: Any, *, spec: registry.ModelSpec, messages: Messages
) -> None:
    """keras' first two checks: ``weights`` is None, a known tag or an existing file; imagenet tops have 1000 classes.

    Project tags (``spec.weight_tags`` other than "imagenet") are accepted besides keras' values. When the model has
    project tags, the error message lists them after keras' wording; when ``weights`` is meant as a path (a folder
    separator or a weights-file suffix) that names nothing, it ends with "file not found: PATH". A tag is a tag even
    when a file or folder of that name exists in the working directory (keras' order).
    """
    tags = {"imagenet", *spec.weight_tags}
    known_tag = isinstance(weights, str) and weights in tags
    if not (weights is None or known_tag or is_existing_path(weights)):
        message = messages.weights.format(weights=weights)
        extra = registry.family_tags(spec.family)
        if extra:
            message = message.rstrip(".") + f". Project tags available for this family: {', '.join(map(repr, extra))}."
        if _looks_like_a_path(weights):
            message = message.rstrip(".") + f". file not found: {os.fspath(weights)}"
        raise ValueError(message)
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(messages.classes.format(classes=classes))


def check_published_weights(weights: Any, include_top: bool, *, spec: registry.ModelSpec) -> None:
    """A weights tag ("imagenet" or a project tag) must name a file that exists for this model and ``include_top``.

    keras accepts "imagenet" for every model it has files for; ours include models without published weights
    (AlexNet, CIFAR ResNets, ...) and configurations without one (SqueezeNet 1.1 with its classifier). Checked first,
    so that a model whose default ``classes`` is not 1000 does not get keras' misleading "classes should be 1000".
    """
    if not isinstance(weights, str) or weights not in {"imagenet", *spec.weight_tags}:
        return
    if any(entry.tag == weights and entry.include_top == include_top for entry in spec.weights):
        return
    other = sorted({entry.include_top for entry in spec.weights if entry.tag == weights})
    hint = f" They exist with include_top={other[0]}." if other else ""
    raise ValueError(
        f"No {weights!r} weights are published for {spec.name} with include_top={include_top}.{hint} Use "
        f"weights=None (random initialisation) or the path of a weights file. Received: weights={weights!r}"
    )


def _check_shape_type(input_shape: Any) -> None:
    if input_shape is None:
        return
    entries_ok = isinstance(input_shape, (tuple, list)) and all(
        entry is None or (isinstance(entry, numbers.Integral) and not isinstance(entry, bool)) for entry in input_shape
    )
    if not entries_ok:
        raise ValueError(
            "`input_shape` must be a tuple of integers (height, width, channels; None for a variable size), or None. "
            f"Received: input_shape={input_shape!r} of type {type(input_shape).__name__}"
        )


def obtain_input_shape(
    input_shape: Any,
    default_size: int,
    min_size: int,
    data_format: str,
    require_flatten: bool,
    weights: Any = None,
) -> tuple:
    """Validates ``input_shape`` (or derives the default) exactly as keras.applications does.

    Returns the shape tuple without the batch axis; raises keras' ValueErrors (same text). An ``input_shape`` that is
    not a sequence of integers and Nones (``"abc"``, ``3.5``) is refused first, with a ValueError naming it.
    """
    _check_shape_type(input_shape)
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


def check_flag(argument: str, value: Any) -> None:
    """``value`` must be a bool (True or False, not a truthy number or string)."""
    if not isinstance(value, bool):
        raise TypeError(f"`{argument}` must be True or False. Received: {argument}={value!r}")


def check_choice(argument: str, value: Any, choices: Iterable[Any]) -> None:
    """``value`` must be one of ``choices``; the message lists them."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"`{argument}` must be one of {', '.join(map(repr, choices))}. Received: {argument}={value!r}")


def check_extra_arguments(include_top: Any, pooling: Any, classes: Any) -> None:
    """Checks keras.applications skips: it ignores an unknown ``pooling`` and builds with nonsense ``classes``."""
    check_flag("include_top", include_top)
    if pooling not in POOLING_CHOICES:
        raise ValueError(
            "The `pooling` argument should be one of None (4D feature map), 'avg' (global average pooling) or "
            f"'max' (global max pooling). Received: pooling={pooling!r}"
        )
    if include_top and (isinstance(classes, bool) or not isinstance(classes, numbers.Integral) or classes < 1):
        raise ValueError(f"`classes` must be a positive integer when `include_top=True`. Received: classes={classes!r}")


def check_aux_logits(aux_logits: Any, include_top: Any) -> None:
    """``aux_logits`` is a bool, and True only with a classifier to add the auxiliary ones to."""
    check_flag("aux_logits", aux_logits)
    if aux_logits and not include_top:
        raise ValueError(
            "`aux_logits=True` adds auxiliary classifiers and requires `include_top=True`. "
            f"Received: aux_logits={aux_logits}, include_top={include_top}"
        )


def validate_arguments(
    spec: registry.ModelSpec,
    arguments: KerasArguments,
    messages: Messages = RESNET_MESSAGES,
    *,
    default_size: int | None = None,
    min_size: int | None = None,
) -> tuple:
    """All constructor checks in keras' order; returns the validated input shape (no batch axis).

    ``default_size`` / ``min_size`` override the spec's (SqueezeNet's ``small_input`` variant).
    """
    weights, include_top = arguments.weights, arguments.include_top
    check_published_weights(weights, include_top, spec=spec)
    check_weights_and_classes(weights, include_top, arguments.classes, spec=spec, messages=messages)
    shape = obtain_input_shape(
        arguments.input_shape,
        default_size=default_size or spec.default_size,
        min_size=min_size or spec.min_size,
        data_format=keras.backend.image_data_format(),
        require_flatten=include_top,
        weights=weights,
    )
    if include_top:
        validate_activation(arguments.classifier_activation, weights)
    check_extra_arguments(include_top, arguments.pooling, arguments.classes)
    return shape
