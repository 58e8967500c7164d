"""The model registry: every architecture and every weight file as data.

A passive table: this module imports nothing of the zoo. Each family module declares its :class:`ModelSpec` rows and
binds them to its public constructor with the decorator :func:`register` when it is imported; importing
``keras_archs.applications`` imports every family, so code that looks models up by name does
``from keras_archs import applications`` and calls ``applications.get_spec(name)`` (the same functions as here). The
CLI, ``list_models``/``get_model``, the docs tables and the parametrised test-suite all read this one table.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any, Callable, Mapping, TypeVar

__all__ = [
    "PREPROCESSING",
    "PREPROCESSING_MODES",
    "SQUEEZENET_CAFFE_MEAN_BGR",
    "MissingBuilderError",
    "PublishedAccuracy",
    "WeightEntry",
    "ModelSpec",
    "register",
    "get_spec",
    "list_models",
    "get_model",
    "all_specs",
    "family_tags",
]

# Caffe SqueezeNet's mean pixel, BGR order (forresti/SqueezeNet train_val.prototxt: mean_value 104, 117, 123;
# DESIGN.md §4: "Caffe input is 227x227 BGR minus mean (104, 117, 123)").
SQUEEZENET_CAFFE_MEAN_BGR = (104.0, 117.0, 123.0)

# The normalisation modes a ModelSpec may record (``spec.preprocessing``): mode -> keyword arguments of
# keras_archs.imagenet_utils.preprocess_input. The one table of them: the eager and in-graph forms
# (keras_archs.data.preprocessing), the model layer (keras_archs.applications.preprocessing), the export card and
# metadata (keras_archs.export) and the command line all read it. Here because this module imports no TensorFlow.
PREPROCESSING: Mapping[str, Mapping[str, Any]] = {
    "caffe": {"mode": "caffe"},  # RGB -> BGR, minus the ImageNet BGR mean, no scaling
    "squeezenet_caffe": {"mode": "caffe", "mean": SQUEEZENET_CAFFE_MEAN_BGR},  # the same with Caffe SqueezeNet's mean
    "tf": {"mode": "tf"},  # scale to [-1, 1]
    "torch": {"mode": "torch"},  # scale to [0, 1], minus the ImageNet RGB mean, over its std
}
PREPROCESSING_MODES = tuple(PREPROCESSING)


@dataclasses.dataclass(frozen=True)
class WeightEntry:
    """One downloadable (or shipped) weights file.

    Attributes:
        tag: The value of ``weights=`` that selects it ("imagenet", or a project tag such as "fashion_mnist").
        include_top: Whether the file holds the classifier.
        fname: File name in the Keras cache (``~/.keras/models``).
        url: Download URL (``file://`` works too); None for files shipped inside the package (``saved_models/``,
            installed as the package ``keras_archs.saved_models``).
        file_hash: md5 (32 hex digits) or sha256 (64) of the file; None where upstream publishes none, in which case
            only the file's structure is checked (see ``keras_archs.weights``).
        loader: How the file maps onto the model: "h5_by_order" (legacy Keras h5, layer order), "weights_h5"
            (Keras 3 ``.weights.h5``), "deep_compression_net" (Han et al.'s ``.net``), "keras_model" (a whole
            ``.keras`` model, returned as is).
        classes: Number of classes of the classifier in the file (when ``include_top``).
        variant: Constructor arguments this file needs, e.g. ``(("alpha", 1.0), ("rows", 224))`` for MobileNet;
            for a "keras_model" file (a whole shipped model), the arguments that model was built with.
        source: Where the file comes from (repository, release), for the docs and ``keras-archs info``.
        license: Licence of the weights.
        bytes: Size of the published file where it is known; a file of this size given as a path is checked
            against ``file_hash`` too (a copy of the published file under another name is still recognised).
    """

    tag: str
    include_top: bool
    fname: str
    url: str | None
    file_hash: str | None
    loader: str = "h5_by_order"
    classes: int = 1000
    variant: tuple[tuple[str, Any], ...] = ()
    source: str = ""
    license: str = ""
    bytes: int | None = None

    def matches(self, tag: str, include_top: bool, variant: Mapping[str, Any]) -> bool:
        if self.tag != tag or self.include_top != include_top:
            return False
        return all(variant.get(key) == value for key, value in self.variant)


@dataclasses.dataclass(frozen=True)
class PublishedAccuracy:
    """A published top-1 accuracy of an architecture: cited data, not measured here.

    Attributes:
        top1: Top-1 accuracy as a fraction (0.749 for 74.9 %).
        dataset: What it was measured on: "imagenet" (the ILSVRC-2012 validation set).
        source: Where the number is written (document, table or field, which weights and which evaluation).
    """

    top1: float
    dataset: str
    source: str

    def __post_init__(self) -> None:
        if not 0.0 < self.top1 < 1.0:
            raise ValueError(f"PublishedAccuracy.top1 is a fraction in (0, 1). Received: top1={self.top1!r}")
        if not self.source:
            raise ValueError("PublishedAccuracy.source must say where the number is published.")

    @classmethod
    def keras_applications(cls, percent: float) -> "PublishedAccuracy":
        """The Top-1 Accuracy column of keras.io's table of keras.applications models, for the weights this package
        loads for that model (single centre crop at the model's default size)."""
        source = (
            f"keras.io/api/applications, 'Available models' table, Top-1 Accuracy {percent} % (the keras.applications "
            "weights this model loads; single centre crop at its default size)"
        )
        return cls(round(percent / 100, 6), "imagenet", source)

    @classmethod
    def torchvision(cls, weights: str, percent: float, note: str = "") -> "PublishedAccuracy":
        """The ``acc@1`` that torchvision's weight metadata records for ``weights`` (e.g. "ResNet18_Weights.
        IMAGENET1K_V1"): ImageNet validation, resize 256 then centre crop 224."""
        source = f"torchvision {weights} metadata, acc@1 {percent} % (resize 256, centre crop 224)"
        return cls(round(percent / 100, 6), "imagenet", source + (f"; {note}" if note else ""))


class MissingBuilderError(LookupError):
    """A :class:`ModelSpec` was asked to build before a constructor was bound to it with :func:`register`."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered architecture: data only; :func:`register` binds it to the constructor that builds it.

    Attributes:
        name: Registry name (``"ResNet50"``); the public constructor's name where one constructor builds one model.
        family: Module under ``keras_archs.applications`` that builds it.
        default_size: Default square input size (pixels).
        min_size: Smallest input size accepted.
        preprocessing: One of :data:`PREPROCESSING_MODES` ("caffe", "tf", "torch", or "squeezenet_caffe").
        paper: Citation of the architecture.
        params: ``count_params()`` of the default model with top and ``classes`` classes (BN moving statistics
            included).
        layers: ``len(model.layers)`` of that default model (measured; the registry-wide tests check it). The test
            lanes read it as the cost of a model: building, saving and loading take time in proportion to it.
        weights: Every weight file for this model.
        classes: Number of classes of the default model (1000 for ImageNet models, 10 for the CIFAR ones).
        trainable_params: Trainable parameter count of the default model, recorded (and tested) where the paper or
            DESIGN.md quotes trainable parameters rather than ``count_params()``; None otherwise.
        build_kwargs: Arguments the builder gets when built from the registry (e.g. ``{"version": "1.1"}``).
        aliases: Other names ``get_model`` accepts.
        published_accuracy: The architecture's published ImageNet top-1 (:class:`PublishedAccuracy`, with its
            source), for the accuracy-vs-operations chart of ``keras_archs.analysis``; None where none is recorded.
    """

    name: str
    family: str
    default_size: int
    min_size: int
    preprocessing: str
    paper: str
    params: int
    layers: int
    weights: tuple[WeightEntry, ...] = ()
    classes: int = 1000
    trainable_params: int | None = None
    build_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    published_accuracy: PublishedAccuracy | None = None

    def __post_init__(self) -> None:
        if self.preprocessing not in PREPROCESSING_MODES:
            raise ValueError(
                f"ModelSpec {self.name!r}: preprocessing must be one of {', '.join(PREPROCESSING_MODES)}. "
                f"Received: preprocessing={self.preprocessing!r}"
            )

    @property
    def builder(self) -> Callable[..., Any]:
        """The public constructor bound to this spec by :func:`register`.

        Raises:
            MissingBuilderError: No constructor is bound to a model of this name (the spec was never registered).
        """
        try:
            return _BUILDERS[self.name]
        except KeyError:
            raise MissingBuilderError(
                f"No constructor is registered for {self.name!r}: decorate its constructor with "
                f"@registry.register(spec), or import keras_archs.applications (it registers every family)."
            ) from None

    @property
    def weight_tags(self) -> tuple[str, ...]:
        """Distinct ``weights=`` tags available for this model, in registration order."""
        return tuple(dict.fromkeys(entry.tag for entry in self.weights))

    def find_weights(self, tag: str, include_top: bool, **variant: Any) -> WeightEntry | None:
        """The weight entry for ``tag`` / ``include_top`` / variant arguments, or None."""
        for entry in self.weights:
            if entry.matches(tag, include_top, variant):
                return entry
        return None

    def build(self, **kwargs: Any) -> Any:
        """Calls the builder with the registry's ``build_kwargs`` overridden by ``kwargs``."""
        return self.builder(**{**dict(self.build_kwargs), **kwargs})


_REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}
_BUILDERS: dict[str, Callable[..., Any]] = {}

Constructor = TypeVar("Constructor", bound=Callable[..., Any])


def register(*specs: ModelSpec) -> Callable[[Constructor], Constructor]:
    """Decorator: adds ``specs`` to the registry, built by the decorated constructor.

    Names and aliases are case-insensitive and must be unique. The constructor is returned unchanged.

    Example (the shape of every family module; see docs/adding_a_model.md)::

        SPEC = registry.ModelSpec(name="TinyNet", family="tiny_net", default_size=32, min_size=32,
                                  preprocessing="tf", paper="...", params=1234, layers=9)

        @registry.register(SPEC)
        def TinyNet(include_top=True, weights=None, ...):
            ...  # builds with SPEC's sizes, messages and weight entries
    """
    for spec in specs:
        for key in (spec.name, *spec.aliases):
            lowered = key.lower()
            if lowered in _ALIASES and _ALIASES[lowered] != spec.name:
                raise ValueError(f"Model name {key!r} is already registered for {_ALIASES[lowered]!r}.")

    def bind(constructor: Constructor) -> Constructor:
        for spec in specs:
            for key in (spec.name, *spec.aliases):
                _ALIASES[key.lower()] = spec.name
            _REGISTRY[spec.name] = spec
            _BUILDERS[spec.name] = constructor
        return constructor

    return bind


def all_specs() -> list[ModelSpec]:
    """Every registered model, in registration order."""
    return list(_REGISTRY.values())


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered under ``name`` (or an alias), case-insensitive.

    Raises:
        TypeError: If ``name`` is not a string.
        ValueError: If no model has that name; the message lists the registered names.
    """
    if not isinstance(name, str):
        raise TypeError(f"Model name must be a string. Received: name={name!r} of type {type(name).__name__}")
    key = _ALIASES.get(name.lower())
    if key is None:
        if not _REGISTRY:
            raise ValueError(
                f"Unknown model name {name!r}: no model is registered yet. Import keras_archs.applications first "
                "(importing it registers every family)."
            )
        raise ValueError(
            f"Unknown model name {name!r}. Registered models: {', '.join(sorted(_REGISTRY))}"
            f" (aliases: {', '.join(sorted(a for s in _REGISTRY.values() for a in s.aliases)) or 'none'})."
        )
    return _REGISTRY[key]


def list_models(pattern: str | None = None, pretrained: bool | str = False) -> list[str]:
    """Registered model names, optionally filtered.

    Args:
        pattern: Shell-style wildcard matched case-insensitively against names (``"resnet*"``).
        pretrained: ``True`` keeps models with any downloadable/shipped weights; a string keeps models with that tag.

    Returns:
        Sorted list of names.

    Raises:
        TypeError: ``pattern`` is not a str (or None), or ``pretrained`` is neither a bool nor a str.

    Example:
        >>> from keras_archs import applications
        >>> applications.list_models("resnet15*")
        ['ResNet152', 'ResNet152V2']
    """
    if pattern is not None and not isinstance(pattern, str):
        raise TypeError(
            f"list_models: `pattern` must be a str (a shell-style pattern such as 'resnet*') or None. Received: "
            f"pattern={pattern!r} of type {type(pattern).__name__}"
        )
    if not isinstance(pretrained, (bool, str)):
        raise TypeError(
            f"list_models: `pretrained` must be True/False or a weights tag (str). Received: pretrained={pretrained!r} "
            f"of type {type(pretrained).__name__}"
        )
    names = []
    for spec in _REGISTRY.values():
        if pattern is not None and not fnmatch.fnmatch(spec.name.lower(), pattern.lower()):
            continue
        if pretrained is True and not spec.weights:
            continue
        if isinstance(pretrained, str) and pretrained not in spec.weight_tags:
            continue
        names.append(spec.name)
    return sorted(names)


def family_tags(family: str) -> tuple[str, ...]:
    """Project weight tags (not "imagenet") of every model of ``family``, in registration order."""
    tags = [tag for spec in _REGISTRY.values() if spec.family == family for tag in spec.weight_tags]
    return tuple(tag for tag in dict.fromkeys(tags) if tag != "imagenet")


def get_model(name: str, **kwargs: Any) -> Any:
    """Builds the registered model ``name`` with ``kwargs`` passed to its constructor.

    Example:
        >>> from keras_archs import applications
        >>> model = applications.get_model("SqueezeNet1_1", weights=None, input_shape=(64, 64, 3), include_top=False)
        >>> model.output_shape
        (None, 3, 3, 512)
    """
    return get_spec(name).build(**kwargs)
