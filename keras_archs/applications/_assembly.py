"""Inputs, heads and the one general builder every family goes through.

:func:`build` takes a registered :class:`~keras_archs.registry.ModelSpec`, the eight keras.applications arguments as
one :class:`~keras_archs.applications._validation.KerasArguments` value and the family's trunk; it validates (keras'
checks, keras' messages), creates the input, runs the trunk, adds the classifier or the global pooling, creates the
Functional model and loads ``weights``. :func:`keras_constructor` makes the public constructor of a model whose
signature is exactly keras.applications' eight arguments (plus ``include_preprocessing``), so a family with several
such models (ResNet50 ... ResNet152V2) writes that signature once.

``include_preprocessing=True`` (keras.applications' ConvNeXt / EfficientNetV2 / MobileNetV3 argument; default False
here, so the keras.applications twins stay identical to keras') puts the spec's normalisation in the model as an
``ImagePreprocessing`` layer right after the input: the model then takes RGB pixels 0..255. The layer has no weights,
so every weight file loads as without it.

Every model :func:`build` or :func:`shipped_model` returns carries a :class:`ModelOrigin` in its
``keras_archs_origin`` attribute (registry name, paper, what its input expects, where its weights come from and their
licence), which ``keras_archs.export`` reads for the TFLite metadata and the card. It lives on the Python object only:
a ``.keras`` round trip drops it (the ``ImagePreprocessing`` layer, when there is one, stays).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import keras
from keras import layers

from keras_archs import registry
from keras_archs import weights as weights_lib
from keras_archs.applications import _validation
from keras_archs.applications._blocks import channel_axis
from keras_archs.applications._validation import KerasArguments, Messages
from keras_archs.applications.preprocessing import ImagePreprocessing

__all__ = [
    "KerasArguments",
    "ModelArguments",
    "ModelOrigin",
    "ORIGIN_ATTRIBUTE",
    "build",
    "keras_constructor",
    "image_input",
    "global_pool",
    "gap_dense_top",
    "shipped_model",
    "keras_weight_entries",
    "with_auxiliary_outputs",
    "SmallVariant",
    "small_variant",
]

# A classifier head: head(features, classes, classifier_activation) -> outputs.
Head = Callable[[Any, int, Any], Any]
# A trunk: trunk(image_input) -> feature map.
Trunk = Callable[[Any], Any]

KERAS_WEIGHTS_SOURCE = "keras.applications (storage.googleapis.com/tensorflow/keras-applications)"
# The model attribute that holds its ModelOrigin (keras_archs.export.mobile reads it by this name).
ORIGIN_ATTRIBUTE = "keras_archs_origin"


@dataclasses.dataclass(frozen=True, eq=False)
class ModelArguments(KerasArguments):
    """keras.applications' eight arguments plus ``include_preprocessing`` (module docstring); a family passes
    ``ModelArguments.of(locals())`` to :func:`build`."""

    include_preprocessing: Any = False


@dataclasses.dataclass(frozen=True)
class ModelOrigin:
    """Where a model built by a registry constructor comes from (its ``keras_archs_origin`` attribute).

    Attributes:
        model: The registry name ("SqueezeNet1_0").
        paper: The architecture's citation.
        preprocessing: What the model's input expects: the spec's mode ("caffe", "squeezenet_caffe", "tf",
            "torch"), or "raw" (RGB pixels 0..255) when the normalisation is inside the model.
        weights: The weights tag, the weights file's name, or None (random initialisation).
        weights_source: Where the weights come from (the registry entry's source; for a file, whether it is one of
            the registry's files, by its hash).
        weights_license: Their licence ("unknown ..." for a file that is none of the registry's).
    """

    model: str
    paper: str
    preprocessing: str
    weights: str | None
    weights_source: str
    weights_license: str


def _weights_origin(spec: registry.ModelSpec, weights: Any, include_top: bool, variant: Mapping[str, Any]) -> tuple:
    """(weights, source, licence) for :class:`ModelOrigin`; a file is recognised by its hash among the spec's."""
    if weights is None:
        return None, "none: random initialisation (weights=None)", "none (random initialisation, no trained weights)"
    is_tag = isinstance(weights, str) and weights in {"imagenet", *spec.weight_tags}  # tags win, as weights.load
    if not is_tag and isinstance(weights, (str, os.PathLike)) and os.path.isfile(os.fspath(weights)):
        name, digests = os.path.basename(os.fspath(weights)), {}
        for entry in spec.weights:
            if entry.file_hash is None:
                continue
            algorithm = "sha256" if len(entry.file_hash) == 64 else "md5"  # keras' convention (weights.fetch)
            if algorithm not in digests:
                digests[algorithm] = weights_lib.file_hash(weights, algorithm)
            if digests[algorithm] == entry.file_hash.lower():
                return name, f"{entry.source} (identical to the registry's {entry.tag!r} file)", entry.license
        return name, f"file {name} (not one of the registry's files)", "unknown (weights from a file)"
    entry = spec.find_weights(weights, include_top, **variant)
    if entry is None:
        return str(weights), "", "unknown"
    return str(weights), entry.source, entry.license


def _set_origin(model: keras.Model, spec: registry.ModelSpec, preprocessing: str, weights: tuple) -> None:
    name, source, license = weights
    origin = ModelOrigin(spec.name, spec.paper, preprocessing, name, source, license)
    object.__setattr__(model, ORIGIN_ATTRIBUTE, origin)  # a plain attribute: not tracked, not saved


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


def build(
    spec: registry.ModelSpec,
    arguments: KerasArguments,
    trunk: Trunk,
    *,
    top: Head = gap_dense_top,
    messages: Messages = _validation.RESNET_MESSAGES,
    named_pooling: bool = True,
    input_shape: tuple | None = None,
    default_size: int | None = None,
    min_size: int | None = None,
    weight_variant: Mapping[str, Any] | None = None,
) -> keras.Model:
    """Validates ``arguments``, builds ``trunk`` and the head, creates the model and loads ``arguments.weights``.

    Args:
        spec: The registered model (sizes, weight entries, name in messages).
        arguments: The eight keras.applications arguments (a :class:`ModelArguments`: with
            ``include_preprocessing``); ``name`` must be set (families fill in their default).
        trunk: ``trunk(image_input) -> features``.
        top: The classifier added with ``include_top=True``.
        messages: keras' wording for the weights/classes errors of this family.
        named_pooling: Whether the ``include_top=False`` pooling layers are named "avg_pool"/"max_pool" (keras leaves
            them unnamed in vgg, inception, xception and mobilenet).
        input_shape: The input shape when the family validated the arguments itself (MobileNet interleaves its own
            checks with keras'); None runs :func:`~._validation.validate_arguments`.
        default_size, min_size: Override the spec's (SqueezeNet's ``small_input`` variant).
        weight_variant: Constructor arguments that select a weight file (MobileNet's alpha and rows).

    Returns:
        The Functional model with its weights loaded and its :class:`ModelOrigin`.
    """
    include_preprocessing = getattr(arguments, "include_preprocessing", False)
    _validation.check_flag("include_preprocessing", include_preprocessing)
    if input_shape is None:
        input_shape = _validation.validate_arguments(
            spec, arguments, messages, default_size=default_size, min_size=min_size
        )
    img_input = image_input(arguments.input_tensor, input_shape)
    pixels = ImagePreprocessing(spec.preprocessing, name="preprocessing")(img_input) if include_preprocessing else None
    features = trunk(img_input if pixels is None else pixels)
    if arguments.include_top:
        outputs = top(features, arguments.classes, arguments.classifier_activation)
    else:
        outputs = global_pool(features, arguments.pooling, named=named_pooling)
    inputs = keras.utils.get_source_inputs(arguments.input_tensor) if arguments.input_tensor is not None else img_input
    model = keras.Model(inputs, outputs, name=arguments.name)
    weights_lib.load_into(
        model, arguments.weights, spec=spec, include_top=arguments.include_top, variant=weight_variant or {}
    )
    weights = _weights_origin(spec, arguments.weights, arguments.include_top, weight_variant or {})
    _set_origin(model, spec, "raw" if include_preprocessing else spec.preprocessing, weights)
    return model


def keras_constructor(
    build_model: Callable[[KerasArguments], keras.Model],
    *,
    constructor_name: str,
    module: str,
    default_weights: Any,
    default_name: str,
    doc: str,
) -> Callable[..., keras.Model]:
    """A public constructor with keras.applications' eight arguments, in keras' order, with keras' defaults, and
    ``include_preprocessing=False`` after them.

    Args:
        build_model: ``build_model(arguments) -> keras.Model`` (the family builder with the model's row bound).
        constructor_name: The constructor's ``__name__`` (``"ResNet50"``).
        module: The family module (``__name__`` there), so ``constructor.__module__`` points at it.
        default_weights: Default of ``weights`` ("imagenet" where files are published, else None).
        default_name: Default of ``name`` (keras' model name, ``"resnet50"``).
        doc: The docstring (assigned: ``python -OO`` drops only docstrings written in the source).
    """

    def constructor(
        include_top: bool = True,
        weights: Any = default_weights,
        input_tensor: Any = None,
        input_shape: Any = None,
        pooling: str | None = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str = default_name,
        include_preprocessing: bool = False,
    ) -> keras.Model:
        return build_model(ModelArguments.of(locals()))

    constructor.__name__ = constructor.__qualname__ = constructor_name
    constructor.__module__ = module
    constructor.__doc__ = doc
    return constructor


def _normalised(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def shipped_model(
    spec: registry.ModelSpec, tag: Any, arguments: Mapping[str, Any], defaults: Mapping[str, Any]
) -> keras.Model | None:
    """The whole model a project tag ships (loader "keras_model"), or None when ``tag`` is not such a tag.

    The file is fetched and hash-checked (``weights.fetch``) and loaded with ``keras.saving.load_model``; this module
    is part of ``keras_archs.applications``, so the package's custom layers are registered by then. The tag fixes the
    constructor arguments it was built with (its entry's ``variant``). An argument the caller set to something else
    than both its default and the tag's value is refused, naming what the tag requires, rather than silently ignored.

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
    model = keras.saving.load_model(weights_lib.fetch(entry), compile=False)
    if arguments.get("name") is not None:
        model.name = arguments["name"]
    first = next((layer for layer in model.layers if not isinstance(layer, layers.InputLayer)), None)
    normalises = isinstance(first, (layers.Rescaling, ImagePreprocessing))
    if arguments.get("include_preprocessing") and not normalises:
        raise ValueError(
            f"weights={tag!r} is a trained {spec.name} shipped whole that does not normalise its input inside; it "
            "cannot be built with include_preprocessing=True. Received: include_preprocessing=True"
        )
    _set_origin(model, spec, "raw" if normalises else spec.preprocessing, (tag, entry.source, entry.license))
    return model


def keras_weight_entries(
    base_url: str, files: Iterable[tuple[bool, str, str]], *, license: str, source: str = KERAS_WEIGHTS_SOURCE
) -> tuple[registry.WeightEntry, ...]:
    """ "imagenet" entries for keras.applications' files: ``files`` rows are (include_top, file name, md5)."""
    return tuple(
        registry.WeightEntry(
            tag="imagenet",
            include_top=include_top,
            fname=fname,
            url=base_url + fname,
            file_hash=file_hash,
            source=source,
            license=license,
        )
        for include_top, fname, file_hash in files
    )


@dataclasses.dataclass(frozen=True)
class AuxiliaryHead:
    """A training-only side classifier: ``head(features, classes, classifier_activation)`` on layer ``endpoint``.

    ``pool_size`` is the size of its first (average) pool: the endpoint's grid must be at least that large, which
    inputs of ``min_input`` pixels and more guarantee.
    """

    endpoint: str
    head: Head
    pool_size: int
    min_input: int


def with_auxiliary_outputs(
    model: keras.Model, heads: Iterable[AuxiliaryHead], classes: int, classifier_activation: Any
) -> keras.Model:
    """``model`` (the finished main network, weights loaded) with side classifiers as extra outputs.

    The heads' layers are created after the main network, so its layers and weight files are unchanged; the returned
    model shares the trunk and returns ``[main, *aux]``.

    Raises:
        ValueError: The input is too small for a head's pooling (the message names the smallest input).
    """
    outputs = []
    for aux in heads:
        features = model.get_layer(aux.endpoint).output
        grid = features.shape[1:3] if channel_axis() == 3 else features.shape[2:4]
        if any(size is not None and size < aux.pool_size for size in grid):
            raise ValueError(
                f"`aux_logits=True` needs an input of at least {aux.min_input}x{aux.min_input} (an auxiliary "
                f"classifier's {aux.pool_size}x{aux.pool_size} average pool runs on the grid of {aux.endpoint}). "
                f"Received: input_shape={tuple(model.input_shape[1:])}"
            )
        outputs.append(aux.head(features, classes, classifier_activation))
    return keras.Model(model.inputs, [model.output, *outputs], name=model.name)


class SmallVariant(NamedTuple):
    """A small model built by a family's own code, for the test-suite (never registered: ``list_models`` omits it).

    Each family module lists its ``SMALL_VARIANTS``: fewer blocks or narrower layers, but every block type and custom
    layer of the family, so the ``.keras`` and weight-file round trips check the family's code at a fraction of the
    cost of its registered models.

    Attributes:
        build: ``build(**keras_arguments) -> keras.Model``; ``weights`` defaults to None.
        size: A square input size the variant accepts (pixels).
    """

    build: Callable[..., keras.Model]
    size: int


def small_variant(build_model: Callable[[KerasArguments], keras.Model], size: int, name: str) -> SmallVariant:
    """A :class:`SmallVariant` from a family builder that takes :class:`KerasArguments` (a :class:`ModelArguments`,
    so ``include_preprocessing`` is accepted too)."""

    def build(**arguments: Any) -> keras.Model:
        return build_model(ModelArguments(**{"weights": None, "name": name, **arguments}))

    return SmallVariant(build, size)
