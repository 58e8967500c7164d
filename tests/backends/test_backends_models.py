"""The zoo on another Keras backend (JAX in `make test`, PyTorch in `make test-torch`).

Default lane (budget: 45 s for this whole process on an idle 2-core machine): parameter counts and outputs of small
members of the most different families, the same weights giving the same outputs as on TensorFlow within 1e-4 (models
saved on TensorFlow, loaded here), the Deep Compression ``.net`` and the shipped Fashion-MNIST model and archive, a
keras.applications parity check, and the clear errors of the TensorFlow-only jobs. The slow lane walks every
registered model and every keras.applications twin.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_archs
from keras_archs import applications, compress, saved_models
from tests.backends.cases import FASHION_MNIST, RANDOM_CASES, fashion_mnist_inputs
from tests.conftest import randomize_weights

TOLERANCE = dict(rtol=1e-4, atol=1e-4)
SLOW_DEFAULTS = {"CifarResNet1202", "CifarPreActResNet1001"}  # thousand-layer networks: minutes to build eagerly


def _out(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.parametrize("name", sorted(RANDOM_CASES))
def test_models_saved_on_tensorflow_give_the_same_outputs_here(name, backend, tf_reference):
    arrays = tf_reference.arrays()
    import keras_archs.applications  # noqa: F401  (registers the custom layers the files name)

    model = keras.saving.load_model(tf_reference.folder / f"{name}.keras")
    np.testing.assert_allclose(_out(model, arrays[f"{name}/x"]), arrays[f"{name}/y"], **TOLERANCE)


def test_param_counts_on_this_backend(backend):
    for name in ("CifarResNet20", "SqueezeNet1_1"):
        spec = applications.get_spec(name)
        model = applications.get_model(name, weights=None)
        assert model.count_params() == spec.params, name
        if spec.trainable_params is not None:
            assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == spec.trainable_params


def test_shipped_fashion_mnist_model_and_archive_match_tensorflow(backend, tf_reference):
    arrays = tf_reference.arrays()
    model = keras_archs.SqueezeNet(weights="fashion_mnist")
    pixels = fashion_mnist_inputs()
    np.testing.assert_array_equal(pixels, arrays["fashion_mnist/x"])
    np.testing.assert_allclose(_out(model, pixels), arrays["fashion_mnist/y"], **TOLERANCE)
    archive = compress.load(saved_models.path("squeezenet_fashion_mnist.kadc"))  # decoded here, runs here
    np.testing.assert_allclose(_out(archive, pixels), arrays["archive/y"], **TOLERANCE)
    if FASHION_MNIST.exists():  # the 32 images are real test images: the model classifies them
        from keras_archs.data.fashion_mnist import load_arrays

        labels = load_arrays("test")[1][: len(pixels)]
        assert np.mean(np.argmax(_out(model, pixels), axis=-1) == labels) >= 0.85


def test_deep_compression_net_loads_and_classifies_here(backend, tf_reference, dc_net_path):
    arrays = tf_reference.arrays()
    model = applications.get_model("SqueezeNet1_0", weights=str(dc_net_path))
    probabilities = _out(model, arrays["deep_compression/x"])
    np.testing.assert_allclose(probabilities, arrays["deep_compression/y"], **TOLERANCE)
    from keras_archs.imagenet_utils import decode_predictions

    top = [row[0][1] for row in decode_predictions(probabilities, top=1)]
    assert top[0] in ("Egyptian_cat", "tiger_cat", "tabby") and top[1] == "espresso", top


def test_same_outputs_as_keras_applications_here(backend, tmp_path):
    kwargs = dict(weights=None, input_shape=(64, 64, 3), alpha=0.25, classifier_activation=None)
    keras.backend.clear_session()
    ours = keras_archs.MobileNet(**kwargs)
    keras.backend.clear_session()
    theirs = keras.applications.MobileNet(**kwargs)
    assert [(layer.name, type(layer).__name__) for layer in ours.layers] == [
        (layer.name, type(layer).__name__) for layer in theirs.layers
    ]
    randomize_weights(theirs, seed=3)
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    from keras_archs import weights as weights_lib

    spec = applications.get_spec("MobileNet")
    weights_lib.load_into(ours, str(tmp_path / "theirs.weights.h5"), spec=spec, include_top=True)
    x = np.random.default_rng(2).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(_out(ours, x), _out(theirs, x), rtol=1e-5, atol=1e-5)


def test_tensorflow_only_jobs_say_so(backend, tmp_path):
    from keras_archs._backend import UnsupportedBackendError
    from keras_archs.export import to_tflite

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3), keras.layers.GlobalAveragePooling2D()])
    with pytest.raises(UnsupportedBackendError, match=f"to_tflite .*needs the TensorFlow Keras backend.*'{backend}'"):
        to_tflite(model, tmp_path / "m.tflite")
    with pytest.raises(UnsupportedBackendError, match="deep_compress needs the TensorFlow Keras backend"):
        compress.deep_compress(model)
    with pytest.raises(UnsupportedBackendError, match="compress.qat needs the TensorFlow Keras backend"):
        compress.qat(model, (np.zeros((1, 8, 8, 1), "float32"), np.zeros((1,), "int64")))
    assert not list(tmp_path.iterdir())


# ----- slow lane: every registered model, every keras.applications twin --------------------------------------------


def _every_model():
    return [
        pytest.param(name, marks=pytest.mark.slow, id=name)
        for name in applications.list_models()
        if name not in SLOW_DEFAULTS
    ]


@pytest.mark.parametrize("name", _every_model())
def test_every_model_builds_with_its_param_count_here(name, backend):
    spec = applications.get_spec(name)
    model = applications.get_model(name, weights=None)
    assert model.count_params() == spec.params
    size = max(spec.min_size, 32)
    features = applications.get_model(name, weights=None, include_top=False, input_shape=(size, size, 3))
    assert _out(features, np.zeros((1, size, size, 3), "float32")).shape[-1] == features.output_shape[-1]


def _twins():
    return [
        pytest.param(name, marks=pytest.mark.slow, id=name)
        for name in applications.list_models()
        if hasattr(keras.applications, name)
    ]


@pytest.mark.parametrize("name", _twins())
def test_every_keras_applications_twin_matches_here(name, backend, tmp_path):
    spec = applications.get_spec(name)
    size = max(spec.min_size, 32)
    kwargs = dict(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    keras.backend.clear_session()
    ours = applications.get_model(name, **kwargs)
    keras.backend.clear_session()
    theirs = getattr(keras.applications, name)(**kwargs)
    assert [(la.name, type(la).__name__) for la in ours.layers] == [
        (la.name, type(la).__name__) for la in theirs.layers
    ]
    randomize_weights(theirs, seed=3)
    theirs.save(tmp_path / "legacy.h5")  # by layer order, as the keras.applications files load
    from_h5 = applications.get_model(name, **{**kwargs, "weights": str(tmp_path / "legacy.h5")})
    x = np.random.default_rng(2).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    np.testing.assert_allclose(_out(from_h5, x), _out(theirs, x), rtol=1e-5, atol=1e-5)
