"""QAT through a tf_keras copy (keras_archs.compress.tf_keras_copy / .qat): translation, isolation, PQAT / CQAT, int8.

The parent process (this one) must never import tfmot or tf_keras; every test that needs them runs a child.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import keras
import numpy as np
import pytest

from keras_archs.compress import tf_keras_copy
from keras_archs.data.sources import DatasetCorruptError, DatasetNotFoundError
from keras_archs.export import _litert

# importlib: `from keras_archs.compress import qat` may give the package's qat() wrapper function, not the module.
qat_lib = importlib.import_module("keras_archs.compress.qat")

L = keras.layers


@pytest.fixture(scope="module")
def qat_extra() -> None:
    try:
        qat_lib.require_qat_extra()
    except ImportError as error:
        pytest.skip(str(error))


def _fashion_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """A Fashion-MNIST split (raw uint8 pixels, int64 labels); skips only when the files are absent, with why."""
    fashion_mnist = importlib.import_module("keras_archs.data.fashion_mnist")
    try:
        images, labels, _ = fashion_mnist.load_arrays(split, download=False)
    except DatasetNotFoundError as error:  # any other error (a corrupt file, a bug) fails the test
        pytest.skip(f"Fashion-MNIST is absent (apt-get install dataset-fashion-mnist): {error}")
    return images, labels.astype("int64")


@pytest.fixture(scope="module")
def fashion() -> tuple[np.ndarray, np.ndarray]:
    """The first 512 Fashion-MNIST training images and labels."""
    images, labels = _fashion_split("train")
    return images[:512], labels[:512]


def test_only_absent_data_skips(monkeypatch):
    fashion_mnist = importlib.import_module("keras_archs.data.fashion_mnist")

    def absent(split, download=True):
        raise DatasetNotFoundError("Fashion-MNIST", split, [("/nowhere", "no files")], "install it")

    def corrupt(split, download=True):
        raise DatasetCorruptError("t10k-labels-idx1-ubyte: bad magic")

    monkeypatch.setattr(fashion_mnist, "load_arrays", absent)
    with pytest.raises(pytest.skip.Exception, match=r"Fashion-MNIST is absent(.|\n)*nowhere: no files"):
        _fashion_split("test")
    monkeypatch.setattr(fashion_mnist, "load_arrays", corrupt)
    with pytest.raises(DatasetCorruptError, match="bad magic"):
        _fashion_split("test")


def tiny_model(name: str = "tiny") -> keras.Model:
    """conv + BN + ReLU + pool + dense on 28x28x1 raw pixels (the shape of the shipped SqueezeNet's graph)."""
    inputs = keras.Input((28, 28, 1), name="pixels")
    x = L.Rescaling(1 / 255.0, name="scale")(inputs)
    x = L.Conv2D(8, 3, use_bias=False, name="conv")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(name="relu")(x)
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Flatten(name="flat")(x)
    outputs = L.Dense(10, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="module")
def trained_tiny(fashion) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = tiny_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(fashion[0].astype("float32"), fashion[1], epochs=1, batch_size=32, verbose=0)
    return model


def nested_model() -> keras.Model:
    """A backbone wrapped like keras_archs.train.loop.raw_pixel_model: concat, add, a Sequential head, custom layers."""
    from keras_archs.applications.alexnet import LocalResponseNormalization
    from keras_archs.applications.cifar_resnet import ZeroPaddedIdentity
    from keras_archs.applications.inception_resnet_v2 import CustomScaleLayer

    inputs = keras.Input((28, 28, 1), name="inner_input")
    x = L.Conv2D(4, 3, padding="same", name="c1")(inputs)
    x = L.BatchNormalization(name="c1_bn")(x)
    x = L.Activation("relu", name="c1_relu")(x)
    x = LocalResponseNormalization(size=3, name="lrn")(x)
    a = L.Conv2D(4, 1, name="left")(x)
    b = L.DepthwiseConv2D(3, padding="same", name="right")(x)
    x = L.Concatenate(name="cat")([a, b])
    x = L.Add(name="add")([x, ZeroPaddedIdentity(8, 1, name="shortcut")(inputs)])
    x = CustomScaleLayer(0.5, name="scaled")([x, L.ReLU(name="branch_relu")(x)])
    x = L.AveragePooling2D(2, name="pool")(x)
    x = L.ZeroPadding2D(1, name="pad")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    head = keras.Sequential([L.Dropout(0.5, name="drop"), L.Dense(10, activation="softmax", name="fc")], name="head")
    backbone = keras.Model(inputs, head(x), name="backbone")
    pixels = keras.Input((28, 28, 1), name="pixels")
    scaled = L.Rescaling(1 / 73.0, offset=-0.4, name="normalize")(pixels)
    return keras.Model(pixels, backbone(scaled), name="wrapped")


# --- translation (parent only, no child) ---


def test_config_flattens_nested_models():
    config = tf_keras_copy.to_tf_keras_config(nested_model())
    layers = {layer["name"]: layer for layer in config["config"]["layers"]}
    assert not {"inner_input", "backbone", "head"} & set(layers)  # nested models are inlined
    assert layers["drop"]["inbound_nodes"] == [[["gap", 0, 0, {}]]]
    assert layers["fc"]["inbound_nodes"] == [[["drop", 0, 0, {}]]]
    assert layers["c1"]["inbound_nodes"] == [[["normalize", 0, 0, {}]]]
    assert layers["shortcut"]["inbound_nodes"] == [[["normalize", 0, 0, {}]]]
    assert layers["cat"]["inbound_nodes"] == [[["left", 0, 0, {}], ["right", 0, 0, {}]]]
    assert config["config"]["input_layers"] == [["pixels", 0, 0]]
    assert config["config"]["output_layers"] == [["fc", 0, 0]]
    assert layers["pixels"]["config"]["batch_input_shape"] == [None, 28, 28, 1]
    assert layers["c1"]["config"]["dtype"] == "float32"
    assert layers["c1"]["config"]["kernel_initializer"] == {"class_name": "GlorotUniform", "config": {"seed": None}}
    assert "quantization_config" not in layers["fc"]["config"]


def test_unsupported_layer_is_named():
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, L.LayerNormalization(name="ln")(inputs))
    with pytest.raises(ValueError, match=r"'ln' of class LayerNormalization.*Supported: Keras layers InputLayer"):
        tf_keras_copy.to_tf_keras_config(model)


def test_keras3_only_argument_refused():
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, L.BatchNormalization(synchronized=True, name="sync_bn")(inputs))
    with pytest.raises(ValueError, match=r"'sync_bn'.*synchronized=True"):
        tf_keras_copy.to_tf_keras_config(model)


def test_weights_copy_is_strict():
    model = tiny_model()
    weights = tf_keras_copy.layer_weights(model)
    weights["fc"] = weights["fc"][:1]
    with pytest.raises(ValueError, match=r"Layer 'fc' \(Dense\) has 2 weights"):
        tf_keras_copy.assign_layer_weights(tiny_model(), weights)
    weights = tf_keras_copy.layer_weights(model)
    weights["conv"] = [np.zeros((5, 5, 1, 8), "float32")]
    with pytest.raises(ValueError, match=r"Layer 'conv' weight 0 .* shape \(3, 3, 1, 8\)"):
        tf_keras_copy.assign_layer_weights(tiny_model(), weights)


def test_missing_extra_names_the_extra(monkeypatch, fashion):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tf_keras" else real_find_spec(name, *a)
    )
    expected = r"missing module\(s\): tf_keras\. Install it with: pip install 'keras_archs\[qat\]'"
    with pytest.raises(ImportError, match=expected):
        qat_lib.qat(tiny_model(), fashion)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"preserve": "pruning"}, r"`preserve` must be one of .*Received: preserve='pruning'"),
        ({"io_dtype": "int4"}, r"`io_dtype` must be one of .*Received: io_dtype='int4'"),
        ({"epochs": 0}, r"`epochs` must be a positive integer. Received: epochs=0"),
        ({"preserve": "sparsity"}, r"no kernel of this model has any"),
        ({"preserve": "clusters"}, r"layer 'fc' \(Dense\) has \d{5} distinct kernel values"),
    ],
)
def test_argument_errors(qat_extra, fashion, kwargs, message):
    with pytest.raises(ValueError, match=message):
        qat_lib.qat(tiny_model(), fashion, **kwargs)


def test_dataset_is_materialised_up_to_a_limit(qat_extra):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((np.zeros((10, 28, 28, 1), "uint8"), np.arange(10))).batch(4)
    x, y = qat_lib._arrays(dataset, "train_data", qat_lib.MAX_DATA_BYTES)
    assert x.shape == (10, 28, 28, 1) and y.tolist() == list(range(10))
    with pytest.raises(ValueError, match=r"`train_data` holds more than max_data_bytes=5000 bytes"):
        qat_lib.qat(tiny_model(), dataset.repeat(), max_data_bytes=5000)


def test_separable_conv_refused_for_qat(qat_extra, fashion):
    inputs = keras.Input((28, 28, 1), name="pixels")
    x = L.SeparableConv2D(4, 3, name="sep")(inputs)
    model = keras.Model(inputs, L.Dense(10, name="fc")(L.Flatten(name="flat")(x)))
    with pytest.raises(ValueError, match=r"'sep' \(SeparableConv2D\) cannot go through QAT"):
        qat_lib.qat(model, fashion)


def test_child_failure_carries_stderr():
    with pytest.raises(RuntimeError, match=r"failed \(exit status \d+\)(.|\n)*No such file"):
        tf_keras_copy.run_legacy_keras_child("json.tool", ["/no/such/file.json"])


# --- children ---


def test_tf_keras_copy_round_trip(qat_extra, fashion):
    from tests.conftest import randomize_weights

    model = nested_model()
    randomize_weights(model, seed=1)
    x = fashion[0][:64].astype("float32")
    result = tf_keras_copy.predict_in_tf_keras(model, x)
    expected = tf_keras_copy.layer_weights(model)
    assert set(result["weights"]) == set(expected)
    for name, values in expected.items():
        assert all(np.array_equal(a, b) for a, b in zip(values, result["weights"][name])), name
    np.testing.assert_allclose(result["outputs"], model.predict(x, verbose=0), atol=1e-5)


def test_qat_int8_tflite_and_isolation(qat_extra, fashion, trained_tiny, tmp_path):
    legacy_before = os.environ.get("TF_USE_LEGACY_KERAS")
    x, y = fashion
    path = tmp_path / "tiny_int8.tflite"
    result = qat_lib.qat(trained_tiny, (x[:384], y[:384]), (x[384:], y[384:]), tflite_path=path, batch_size=32)

    # the parent never saw tfmot / tf_keras, and keras still means Keras 3
    assert os.environ.get("TF_USE_LEGACY_KERAS") == legacy_before
    assert "tensorflow_model_optimization" not in sys.modules and "tf_keras" not in sys.modules
    assert keras.__version__.startswith("3.")
    assert result.versions["tfmot"] == "0.8.1"

    assert isinstance(result.model, keras.Model) and result.model is not trained_tiny
    assert [layer.name for layer in result.model.layers] == [layer.name for layer in trained_tiny.layers]
    before, after = tf_keras_copy.layer_weights(trained_tiny), tf_keras_copy.layer_weights(result.model)
    assert not np.array_equal(before["conv"][0], after["conv"][0])  # fine-tuned
    assert len(result.history["loss"]) == 1 and result.val_accuracy_after is not None

    assert result.tflite_path == path and result.tflite_bytes == path.stat().st_size > 0
    interpreter_type, _ = _litert.interpreter_class()
    interpreter = interpreter_type(model_path=str(path))
    source, sink = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert source["dtype"] == np.int8 and sink["dtype"] == np.int8
    val = x[384:].astype("float32")
    interpreter.resize_tensor_input(source["index"], list(val.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(source["index"], _litert.quantize_input(val, source))
    interpreter.invoke()
    int8_top1 = interpreter.get_tensor(sink["index"]).argmax(-1)
    keras_top1 = result.model.predict(val, verbose=0).argmax(-1)
    assert (int8_top1 == keras_top1).mean() >= 0.9
    assert result.tflite_val_accuracy == pytest.approx((int8_top1 == y[384:]).mean())


def test_cqat_keeps_clusters_and_zeros(qat_extra, fashion):
    """PCQAT on Deep Compression's kind of kernels (pruned, weight-shared) keeps the zeros and the cluster count."""
    model = tiny_model("clustered")
    for name in ("conv", "fc"):
        weights = model.get_layer(name).get_weights()
        centroids = np.linspace(weights[0].min(), weights[0].max(), 8, dtype="float32")
        centroids[np.abs(centroids).argmin()] = 0.0  # the centroid nearest 0 becomes the pruned value
        weights[0] = centroids[np.abs(weights[0][..., None] - centroids).argmin(-1)]  # 8 shared values
        model.get_layer(name).set_weights(weights)
    result = qat_lib.qat(model, fashion, steps_per_epoch=4, preserve="clusters")
    for name in ("conv", "fc"):
        before, after = model.get_layer(name).get_weights()[0], result.model.get_layer(name).get_weights()[0]
        assert (before == 0).any() and np.array_equal(before == 0, after == 0), name
        assert np.unique(after).size <= np.unique(before).size, name
        assert not np.array_equal(before, after), name


@pytest.mark.slow  # a third child process; the default lane checks the sparsity mask through PCQAT above
def test_pqat_keeps_zero_pattern(qat_extra, fashion):
    model = tiny_model("pruned")
    for name in ("conv", "fc"):
        weights = model.get_layer(name).get_weights()
        weights[0][np.abs(weights[0]) < np.median(np.abs(weights[0]))] = 0  # half the kernel pruned
        model.get_layer(name).set_weights(weights)
    result = qat_lib.qat(model, fashion, steps_per_epoch=4, preserve="sparsity")
    for name in ("conv", "fc"):
        before, after = model.get_layer(name).get_weights()[0], result.model.get_layer(name).get_weights()[0]
        assert np.array_equal(before == 0, after == 0), name
        assert not np.array_equal(before, after), name


@pytest.mark.slow
def test_qat_shipped_fashion_mnist_squeezenet(qat_extra, tmp_path):
    import keras_archs

    x, y = _fashion_split("train")
    x_test, y_test = _fashion_split("test")
    model = keras_archs.SqueezeNet(version="1.1", weights="fashion_mnist")
    path = tmp_path / "squeezenet_fashion_mnist_int8.tflite"
    # 200 steps of 64 = 12,800 images, about a fifth of an epoch
    result = qat_lib.qat(model, (x, y), (x_test, y_test), steps_per_epoch=200, batch_size=64, tflite_path=path)
    print(
        f"\nSqueezeNet 1.1 Fashion-MNIST QAT ({result.seconds:.0f} s): float {result.val_accuracy_before:.4f}, "
        f"QAT fake-quant {result.val_accuracy_after:.4f}, int8 TFLite {result.tflite_val_accuracy:.4f}, "
        f"{result.tflite_bytes:,} bytes; child phases {result.timings}"
    )
    assert result.val_accuracy_before == pytest.approx(0.939, abs=0.002)  # saved_models/MANIFEST.json
    assert result.tflite_val_accuracy >= 0.92
    assert result.tflite_bytes < 1_000_000
