"""One parametrised suite over every registered model (timm / keras-hub style).

For each model: parameter count with top, output shapes with/without top and every pooling mode, custom input tensors,
``.keras`` round trip, and the argument checks ours adds. For the models keras.applications also has: weight parity
(legacy order-based ``.h5`` and Keras 3 ``.weights.h5`` written from the keras model load into ours and give the same
outputs) and identical validation errors.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_archs
from keras_archs import registry
from keras_archs import weights as weights_lib
from keras_archs.applications.cifar_resnet import graph_recursion_limit
from tests.conftest import randomize_weights

NAMES = registry.list_models()
KERAS_TWINS = [name for name in NAMES if hasattr(keras.applications, name)]
# Deeper rows of a family whose first row runs the same code in the default lane (only the block counts differ):
# their expensive per-model tests run in the slow lane (`make test-slow`); param counts and errors stay in both.
DEEPER_ROWS = {
    "ResNet34",
    "ResNet101",
    "ResNet152",
    "ResNet101V2",
    "ResNet152V2",
    "VGG19",
    "CifarResNet32",
    "CifarResNet44",
    "CifarResNet56",
    "CifarResNet110",
    "WideResNet28_10",
    "WideResNet40_4",
}
# Thousand-layer networks: every test of theirs is slow (builds of 12-20 s, feature tests of 80-110 s measured).
HUGE = {"CifarResNet1202", "CifarPreActResNet1001"}


def lanes(names, heavy=DEEPER_ROWS | HUGE):
    return [pytest.param(n, marks=pytest.mark.slow) if n in heavy else n for n in names]


def small_size(spec: registry.ModelSpec) -> int:
    """The smallest square input the model accepts (fast builds)."""
    return max(spec.min_size, 32)


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


@pytest.mark.parametrize("name", lanes(NAMES, heavy=HUGE))
def test_param_count_with_top(name):
    spec = registry.get_spec(name)
    model = registry.get_model(name, weights=None)
    assert model.count_params() == spec.params
    if spec.trainable_params is not None:
        assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == spec.trainable_params
    assert model.output_shape == (None, spec.classes)
    assert model.input_shape == (None, spec.default_size, spec.default_size, 3)


@pytest.mark.parametrize("name", lanes(NAMES))
def test_feature_extractor_pooling_and_input_tensor(name):
    spec = registry.get_spec(name)
    size = small_size(spec)
    x = np.random.default_rng(0).uniform(0, 1, (2, size, size, 3)).astype("float32")
    dynamic = registry.get_model(name, weights=None, include_top=False)
    assert dynamic.input_shape == (None, None, None, 3)
    assert len(dynamic.output_shape) == 4
    channels = dynamic.output_shape[-1]
    assert dynamic.predict(x, verbose=0).shape[-1] == channels
    tensor = keras.Input(shape=(size, size, 3))
    averaged = registry.get_model(name, weights=None, include_top=False, input_tensor=tensor, pooling="avg")
    assert averaged.inputs[0] is tensor
    assert averaged.output_shape == (None, channels)
    maxed = registry.get_model(name, weights=None, include_top=False, input_shape=(size, size, 3), pooling="max")
    assert maxed.output_shape == (None, channels)
    assert maxed.predict(x, verbose=0).shape == (2, channels)


@pytest.mark.parametrize("name", lanes(NAMES))
def test_keras_save_load_round_trip(name, tmp_path):
    spec = registry.get_spec(name)
    size = small_size(spec)
    model = registry.get_model(name, weights=None, include_top=True, classes=7, input_shape=(size, size, 3))
    randomize_weights(model)
    x = np.random.default_rng(1).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    path = tmp_path / f"{name}.keras"
    model.save(path)
    with graph_recursion_limit(len(model.layers)):  # keras walks the graph recursively (ResNet-1202: 4,210 layers)
        restored = keras.saving.load_model(path)
    assert restored.name == model.name
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("name", lanes(NAMES, heavy=HUGE))
def test_classes_and_custom_top(name):
    spec = registry.get_spec(name)
    size = small_size(spec)
    model = registry.get_model(name, weights=None, classes=10, input_shape=(size, size, 3), classifier_activation=None)
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize("name", lanes(NAMES, heavy=HUGE))
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(include_top=False, pooling="mean"), "pooling='mean'"),
        (dict(include_top=True, classes=0), "classes=0"),
        (dict(include_top=True, classes=2.5), "classes=2.5"),
        (dict(include_top="yes"), "include_top='yes'"),
    ],
)
def test_values_keras_accepts_silently_are_rejected(name, kwargs, match):
    spec = registry.get_spec(name)
    size = small_size(spec)
    with pytest.raises((ValueError, TypeError), match=match):
        registry.get_model(name, weights=None, input_shape=(size, size, 3), **kwargs)


# ----- parity with keras.applications ---------------------------------------------------------------------------


def _twins(name: str, **kwargs):
    # Auto-generated names (input_layer_N, conv2d_N) count per session: start both builds from a fresh one.
    keras.backend.clear_session()
    ours = registry.get_model(name, **kwargs)
    keras.backend.clear_session()
    theirs = getattr(keras.applications, name)(**kwargs)
    return ours, theirs


@pytest.mark.parametrize("name", lanes(KERAS_TWINS))
def test_same_layers_and_weights_as_keras_applications(name, tmp_path):
    spec = registry.get_spec(name)
    size = small_size(spec)
    kwargs = dict(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    ours, theirs = _twins(name, **kwargs)
    assert ours.name == theirs.name
    assert ours.count_params() == theirs.count_params()
    assert [(la.name, type(la).__name__) for la in ours.layers] == [
        (la.name, type(la).__name__) for la in theirs.layers
    ]
    randomize_weights(theirs, seed=3)
    x = np.random.default_rng(2).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    expected = theirs.predict(x, verbose=0)

    legacy = tmp_path / "legacy.h5"
    theirs.save(legacy)  # legacy full-model h5: weights keyed by layer order
    from_h5 = registry.get_model(name, weights=str(legacy), **{k: v for k, v in kwargs.items() if k != "weights"})
    np.testing.assert_allclose(from_h5.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)

    new_format = tmp_path / "model.weights.h5"
    theirs.save_weights(new_format)  # Keras 3 format: keyed by layer class and order
    weights_lib.load_into(ours, str(new_format), spec=spec, include_top=True)  # what weights=<path> runs
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


def _error_of(constructor, kwargs):
    with pytest.raises(ValueError) as excinfo:
        constructor(**kwargs)
    return str(excinfo.value)


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


ERROR_CASES = [
    "weights_missing_path",
    "weights_bad_tag",
    "imagenet_classes",
    "imagenet_top_shape",
    "imagenet_channels",
    "too_small",
    "rank",
    "top_dynamic_shape",
    "activation",
]


@pytest.mark.parametrize("case", ERROR_CASES)
@pytest.mark.parametrize("name", KERAS_TWINS)
def test_validation_errors_match_keras_applications(name, case):
    spec = registry.get_spec(name)
    kwargs = _keras_error_cases(spec)[case]
    if name == "MobileNet" and case == "imagenet_top_shape":
        kwargs = dict(kwargs, input_shape=(100, 100, 3))  # MobileNet adopts 128..224 squares as its default size
    theirs = _error_of(getattr(keras.applications, name), kwargs)
    ours = _error_of(getattr(keras_archs, name), kwargs)
    assert ours == theirs
