"""One parametrised suite over every registered model and every family's small variants (timm / keras-hub style).

Per registered model: parameter and layer counts with top, a forward pass of the feature extractor at a small size,
output shapes with every pooling mode and custom input tensors, the ``.keras`` round trip, the argument checks ours
adds; for the models keras.applications also has, weight parity (keras' legacy order-based ``.h5`` and Keras 3
``.weights.h5`` load into ours and give keras' outputs) and identical validation errors. Models with more layers than
``conftest.DEFAULT_LANE_MAX_LAYERS`` run the tests that build them in the slow lane.

Per family, in the default lane, on its small variants (``SMALL_VARIANTS`` of each family module): pooling modes,
input tensors, other class counts, the ``.keras`` round trip and weight files through the constructor's ``weights=``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

import keras
import numpy as np
import pytest
from keras.src.applications import imagenet_utils as keras_imagenet_utils

import keras_archs
from keras_archs import applications, registry
from keras_archs import weights as weights_lib
from keras_archs.applications.cifar_resnet import graph_recursion_limit
from tests.conftest import (
    FAMILIES,
    SMALL_VARIANTS,
    assert_input_sensitive,
    forward,
    lanes,
    randomize_weights,
    small_size,
)

NAMES = applications.list_models()
KERAS_TWINS = [name for name in NAMES if hasattr(keras.applications, name)]


def _images(size: int, seed: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, (2, size, size, 3)).astype("float32")


def test_registry_lists_the_issue_models():
    expected = {
        "ResNet50",
        "ResNet101",
        "ResNet152",
        "ResNet50V2",
        "ResNet101V2",
        "ResNet152V2",
        "VGG16",
        "VGG19",
        "InceptionV3",
        "InceptionResNetV2",
        "Xception",
        "MobileNet",
        "SqueezeNet1_0",
        "SqueezeNet1_1",
        "AlexNet",
        "AlexNetCaffe",
        "GoogLeNet",
        "InceptionV4",
        "ResNet18",
        "ResNet34",
        "CifarResNet20",
        "CifarResNet56",
        "CifarResNet110",
        "CifarResNet1202",
        "CifarPreActResNet164",
        "CifarPreActResNet1001",
        "WideResNet28_10",
        "WideResNet40_4",
        "WideResNet16_8",
    }
    assert expected <= set(NAMES)
    assert keras_archs.list_models("resnet15*") == ["ResNet152", "ResNet152V2"]
    assert "SqueezeNet1_1" in keras_archs.list_models(pretrained="imagenet")
    assert registry.get_spec("squeezenet").name == "SqueezeNet1_0"


def test_unknown_model_name_lists_registered_names():
    with pytest.raises(ValueError, match="Unknown model name 'ResNet51'.*ResNet50"):
        registry.get_spec("ResNet51")
    with pytest.raises(TypeError, match="name=50"):
        registry.get_spec(50)


def test_every_spec_is_bound_to_its_family_constructor():
    for spec in applications.all_specs():
        assert spec.builder.__module__ == f"keras_archs.applications.{spec.family}", spec.name
        assert getattr(keras_archs, spec.builder.__name__) is spec.builder, spec.name


@pytest.mark.parametrize("name", KERAS_TWINS)
def test_signature_is_keras_applications(name):
    # Same parameter names, order, kinds and defaults as keras' constructor (ours may add parameters at the end).
    ours = inspect.signature(getattr(keras_archs, name)).parameters
    theirs = inspect.signature(getattr(keras.applications, name)).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()][: len(theirs)] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ]


@pytest.mark.parametrize("name", lanes(NAMES))
def test_default_model_counts_and_shapes(name, built):
    spec = registry.get_spec(name)
    model = built(name)
    assert model.count_params() == spec.params
    if spec.trainable_params is not None:
        assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == spec.trainable_params
    assert len(model.layers) == spec.layers
    assert model.output_shape == (None, spec.classes)
    assert model.input_shape == (None, spec.default_size, spec.default_size, 3)


@pytest.mark.parametrize("name", lanes(NAMES))
def test_feature_extractor_runs_at_a_small_size(name, built):
    spec = registry.get_spec(name)
    size = small_size(spec)
    dynamic = built(name, include_top=False)
    assert dynamic.input_shape == (None, None, None, 3)
    assert len(dynamic.output_shape) == 4
    features = forward(dynamic, _images(size, seed=0, low=0.0))
    assert features.shape[0] == 2 and features.shape[-1] == dynamic.output_shape[-1]
    assert np.all(np.isfinite(features))


def _check_pooling_and_input_tensor(build, size: int, channels: int | None = None) -> None:
    """Both pooling modes and a custom input tensor, built by ``build(**keras arguments)``; ``channels``: the feature
    maps' (None: whatever average pooling gives, which max pooling must give too)."""
    tensor = keras.Input(shape=(size, size, 3))
    averaged = build(include_top=False, input_tensor=tensor, pooling="avg")
    assert averaged.inputs[0] is tensor
    channels = channels or averaged.output_shape[-1]
    assert averaged.output_shape == (None, channels)
    maxed = build(include_top=False, input_shape=(size, size, 3), pooling="max")
    assert maxed.output_shape == (None, channels)
    assert forward(maxed, _images(size, seed=0, low=0.0)).shape == (2, channels)


def _check_custom_top(model, classes: int) -> None:
    assert model.output_shape == (None, classes)
    assert model.layers[-1].get_config().get("activation") in (None, "linear")


def _check_keras_round_trip(model, x, path) -> np.ndarray:
    randomize_weights(model)
    expected = assert_input_sensitive(model, x)
    model.save(path)
    with graph_recursion_limit(len(model.layers)):  # keras walks the graph recursively (ResNet-1202: 4,210 layers)
        restored = keras.saving.load_model(path)
    assert restored.name == model.name
    assert [type(layer) for layer in restored.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_array_equal(forward(restored, x), expected)
    return expected


# ----- every family's small variants (default lane) -----------------------------------------------------------------


def _spec_of(variant: str) -> registry.ModelSpec:
    """A registered spec of the variant's family (weights=<path> files need no tag of it)."""
    family = variant.partition(":")[0]
    return next(spec for spec in applications.all_specs() if spec.family == family)


def test_every_family_has_small_variants():
    assert {key.partition(":")[0] for key in SMALL_VARIANTS} == set(FAMILIES)
    assert not {key for key in SMALL_VARIANTS if key.partition(":")[2] in NAMES}  # never registered models


# Pooling and input tensors go through the general builder the same way for every variant of a family: one each.
FIRST_VARIANTS = [next(key for key in SMALL_VARIANTS if key.startswith(f"{family}:")) for family in FAMILIES]


@pytest.mark.parametrize("variant", FIRST_VARIANTS)
def test_small_variant_pooling_and_input_tensor(variant):
    build, size = SMALL_VARIANTS[variant]
    _check_pooling_and_input_tensor(build, size)


@pytest.mark.parametrize("variant", SMALL_VARIANTS)
def test_small_variant_custom_top_and_round_trips(variant, tmp_path):
    # A custom classifier; the .keras round trip; and what weights=<path> does for every family (one general
    # builder): a Keras 3 .weights.h5 (matched by layer class and order) and a legacy full-model .h5 (matched by the
    # order of weighted layers) written from the model load into a fresh build of the same configuration and
    # reproduce its outputs. (A .keras file as weights= goes through the same loader for every model: test_weights.)
    build, size = SMALL_VARIANTS[variant]
    kwargs = dict(classes=5, input_shape=(size, size, 3), classifier_activation=None)
    model = build(**kwargs)
    _check_custom_top(model, classes=5)
    x = _images(size, seed=1)
    expected = _check_keras_round_trip(model, x, tmp_path / "model.keras")
    model.save_weights(tmp_path / "model.weights.h5")
    model.save(tmp_path / "legacy.h5")
    restored = build(weights=str(tmp_path / "model.weights.h5"), **kwargs)
    np.testing.assert_allclose(forward(restored, x), expected, rtol=1e-5, atol=1e-6)
    randomize_weights(restored, seed=5)  # so that a load that does nothing shows
    weights_lib.load_into(restored, str(tmp_path / "legacy.h5"), spec=_spec_of(variant), include_top=True)
    np.testing.assert_allclose(forward(restored, x), expected, rtol=1e-5, atol=1e-6)


# ----- every registered model (slow lane: the small variants run the same code in the default lane) ----------------


@pytest.mark.parametrize("name", lanes(NAMES, always_slow=True))
def test_feature_extractor_pooling_input_tensor_and_classes(name, built):
    spec = registry.get_spec(name)
    size = small_size(spec)
    build = functools.partial(registry.get_model, name, weights=None)
    _check_pooling_and_input_tensor(build, size, channels=built(name, include_top=False).output_shape[-1])
    _check_custom_top(build(classes=10, input_shape=(size, size, 3), classifier_activation=None), classes=10)


@pytest.mark.parametrize("name", lanes(NAMES, always_slow=True))
def test_keras_save_load_round_trip(name, tmp_path):
    spec = registry.get_spec(name)
    size = small_size(spec)
    # Logits, not softmax: randomized weights make large logits, and a saturated softmax hides the input.
    kwargs = dict(include_top=True, classes=7, input_shape=(size, size, 3), classifier_activation=None)
    model = registry.get_model(name, weights=None, **kwargs)
    _check_keras_round_trip(model, _images(size, seed=1), tmp_path / f"{name}.keras")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(include_top=False, pooling="mean"), "pooling='mean'"),
        (dict(include_top=True, classes=0), "classes=0"),
        (dict(include_top=True, classes=2.5), "classes=2.5"),
        (dict(include_top="yes"), "include_top='yes'"),
    ],
)
def test_values_keras_accepts_silently_are_rejected(name, kwargs, match, monkeypatch):
    # Raised before a layer is created: building would fail the test.
    monkeypatch.setattr(keras.layers.Layer, "__init__", _no_layers)
    spec = registry.get_spec(name)
    size = small_size(spec)
    with pytest.raises((ValueError, TypeError), match=match):
        registry.get_model(name, weights=None, input_shape=(size, size, 3), **kwargs)


def _no_layers(self, *args, **kwargs):
    raise AssertionError("a layer was created before the arguments were checked")


# ----- parity with keras.applications ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", lanes(KERAS_TWINS))
def test_same_layers_and_weights_as_keras_applications(name, tmp_path):
    spec = registry.get_spec(name)
    size = small_size(spec)
    kwargs = dict(input_shape=(size, size, 3), classifier_activation=None)
    # Auto-generated names (input_layer_N, conv2d_N) count per session: both builds start from a fresh one.
    keras.backend.clear_session()
    theirs = getattr(keras.applications, name)(weights=None, **kwargs)
    randomize_weights(theirs, seed=3)
    x = _images(size, seed=2)
    expected = assert_input_sensitive(theirs, x)
    legacy = tmp_path / "legacy.h5"
    theirs.save(legacy)  # legacy full-model h5: weights keyed by layer order
    new_format = tmp_path / "model.weights.h5"
    theirs.save_weights(new_format)  # Keras 3 format: keyed by layer class and order

    keras.backend.clear_session()
    ours = registry.get_model(name, weights=str(legacy), **kwargs)
    assert ours.name == theirs.name
    assert ours.count_params() == theirs.count_params()
    # Layer for layer the same class and configuration (names, filters, strides, BN axis and epsilon, use_bias ...).
    assert [(type(la).__name__, la.get_config()) for la in ours.layers] == [
        (type(la).__name__, la.get_config()) for la in theirs.layers
    ]
    np.testing.assert_allclose(forward(ours, x), expected, rtol=1e-5, atol=1e-5)

    randomize_weights(ours, seed=4)  # so that a load that does nothing shows
    weights_lib.load_into(ours, str(new_format), spec=spec, include_top=True)  # what weights=<path> runs
    np.testing.assert_allclose(forward(ours, x), expected, rtol=1e-5, atol=1e-5)


def _keras_error_cases(spec: registry.ModelSpec):
    size = small_size(spec)
    return {
        "weights_missing_path": dict(weights="no/such/weights.h5"),
        "weights_bad_tag": dict(weights="imagenet21k"),
        "imagenet_classes": dict(weights="imagenet", include_top=True, classes=10),
        "imagenet_top_shape": dict(weights="imagenet", include_top=True, input_shape=(size + 1, size + 1, 3)),
        "imagenet_channels": dict(weights="imagenet", include_top=False, input_shape=(size, size, 1)),
        "too_small": dict(weights=None, include_top=False, input_shape=(size - 1, size - 1, 3)),
        "rank": dict(weights=None, include_top=False, input_shape=(size, size)),
        "top_dynamic_shape": dict(weights=None, include_top=True, input_shape=(None, None, 3)),
        "activation": dict(weights="imagenet", include_top=True, classifier_activation="relu"),
    }


def _error_of(constructor, kwargs) -> str:
    with pytest.raises(ValueError) as excinfo:
        constructor(**kwargs)
    return str(excinfo.value)


@pytest.fixture(scope="session")
def keras_error() -> Callable[[str, dict], str]:
    """keras.applications' message for ``name`` and ``kwargs``, computed once per keras module and arguments.

    keras' ResNet50/101/152 are one function in one module (``keras.src.applications.resnet``), and so on: their
    messages for the same arguments are the same, so a message is computed once per module.
    """
    cache = {}

    def error(name: str, kwargs: dict) -> str:
        constructor = getattr(keras.applications, name)
        key = (constructor.__module__, repr(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = _error_of(constructor, kwargs)
        return cache[key]

    return error


# keras raises these before it creates a layer.
ERROR_CASES = [
    "weights_missing_path",
    "weights_bad_tag",
    "imagenet_classes",
    "imagenet_top_shape",
    "imagenet_channels",
    "too_small",
    "rank",
    "top_dynamic_shape",
]


def _ours_without_building(name: str, kwargs: dict, monkeypatch) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(keras.layers.Layer, "__init__", _no_layers)  # ours raises before building anything
        return _error_of(getattr(keras_archs, name), kwargs)


@pytest.mark.parametrize("case", ERROR_CASES)
@pytest.mark.parametrize("name", KERAS_TWINS)
def test_validation_errors_match_keras_applications(name, case, keras_error, monkeypatch):
    spec = registry.get_spec(name)
    kwargs = _keras_error_cases(spec)[case]
    if name == "MobileNet" and case == "imagenet_top_shape":
        kwargs = dict(kwargs, input_shape=(100, 100, 3))  # MobileNet adopts 128..224 squares as its default size
    with monkeypatch.context() as patch:
        patch.setattr(keras.layers.Layer, "__init__", _no_layers)  # so does keras for these cases
        theirs = keras_error(name, kwargs)
    if case == "weights_missing_path":  # keras' words, then the missing file named (issue #13)
        theirs = f"{theirs.rstrip('.')}. file not found: {kwargs['weights']}"
    assert _ours_without_building(name, kwargs, monkeypatch) == theirs


# keras builds the whole model (at the default size: ImageNet weights with the top) before its activation check, so
# its message comes from the function every keras.applications constructor calls for that check; the slow lane
# checks that each constructor raises exactly that message.
def _keras_activation_message() -> str:
    return _error_of(keras_imagenet_utils.validate_activation, dict(classifier_activation="relu", weights="imagenet"))


@pytest.mark.parametrize("name", KERAS_TWINS)
def test_activation_error_matches_keras_applications(name, monkeypatch):
    kwargs = _keras_error_cases(registry.get_spec(name))["activation"]
    assert kwargs["classifier_activation"] == "relu"
    assert _ours_without_building(name, kwargs, monkeypatch) == _keras_activation_message()


@pytest.mark.parametrize("name", lanes(KERAS_TWINS, always_slow=True))
def test_keras_constructors_raise_the_activation_message(name):
    kwargs = _keras_error_cases(registry.get_spec(name))["activation"]
    assert _error_of(getattr(keras.applications, name), kwargs) == _keras_activation_message()


def test_a_spec_must_record_one_of_the_registrys_preprocessing_modes():
    with pytest.raises(ValueError, match=r"preprocessing must be one of caffe, squeezenet_caffe, tf, torch\. .*'bgr'"):
        registry.ModelSpec(
            name="Tiny", family="tiny", default_size=32, min_size=32, preprocessing="bgr", paper="-", params=1, layers=1
        )
