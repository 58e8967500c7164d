"""keras_archs.export.to_tflite / verify_tflite: every mode on a trained model, other architectures and custom layers,
argument errors, the written set of files, and export's dependencies (neither data/ nor compress/)."""

from __future__ import annotations

import functools
import gzip
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_archs
from keras_archs import _files, applications
from keras_archs.applications.alexnet import LocalResponseNormalization
from keras_archs.applications.inception_resnet_v2 import CustomScaleLayer
from keras_archs.export import (
    TFLiteConversionError,
    card_path_for,
    labels_path_for,
    to_tflite,
    verify_tflite,
)

REPO = pathlib.Path(__file__).resolve().parents[1]
FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST.exists(), reason=f"{FASHION_MNIST} absent (`make data` installs it)"
)


@functools.lru_cache(maxsize=None)
def _fashion_arrays(split: str):
    from keras_archs.data.fashion_mnist import load_arrays

    images, labels, _ = load_arrays(split)
    return images.astype(np.float32), labels


class _Igamma(keras.layers.Layer):
    """A layer whose op (tf.Igamma) has no builtin TFLite kernel."""

    def call(self, inputs):
        return tf.math.igamma(inputs + 1.0, inputs + 1.0)


def _tiny(layer_fn, shape=(8, 8, 6), name="tiny"):
    inputs = keras.Input(shape, name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    x = layer_fn(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def _varied_images(n: int, size: int, seed: int) -> np.ndarray:
    """Images in [-1, 1] that differ in colour, gradient and texture (uniform noise all looks alike to a CNN)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(-0.8, 0.8, (n, 1, 1, 3))
    gradient = np.linspace(-1, 1, size)[None, :, None, None] * rng.uniform(-0.5, 0.5, (n, 1, 1, 3))
    return np.clip(base + gradient + 0.2 * rng.normal(size=(n, size, size, 3)), -1, 1).astype(np.float32)


def _estimate_batch_statistics(model: keras.Model, x: np.ndarray) -> None:
    """Sets every BatchNormalization's moving statistics to the batch statistics of ``x`` (one training-mode pass
    with momentum 0), as training would. At initialisation (mean 0, variance 1) the signal of a deep random network
    fades layer by layer (MobileNet alpha=0.25 at 32 px: ~1e-17 at the classifier, the same output for every input)."""
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(x, training=True)


def _assert_matches_an_input_sensitive_reference(path, model, data, *, relative: float, agreement: float):
    """The .tflite follows the Keras outputs, on data where those outputs clearly depend on the input."""
    reference = np.asarray(model(data, training=False))
    spread = float((reference.max(axis=0) - reference.min(axis=0)).mean())  # per output unit, across inputs
    classes = len(np.unique(reference.argmax(axis=1)))
    assert classes >= 3 and spread > 0.1, f"the reference ignores its input: {classes} top-1 classes, spread {spread}"
    check = verify_tflite(path, model, data)
    assert check.examples == len(data)
    assert check.mean_abs_diff < relative * spread, (check, spread)
    assert check.top1_agreement >= agreement, check
    return check


# --- the shipped Fashion-MNIST SqueezeNet (trained) in all four modes ---------------------------------------------


@pytest.fixture(scope="module")
def fashion_model():
    return keras_archs.SqueezeNet(version="1.1", weights="fashion_mnist")


@pytest.fixture(scope="module")
def fashion_exports(fashion_model, tmp_path_factory):
    if not FASHION_MNIST.exists():
        pytest.skip(f"{FASHION_MNIST} absent (`make data` installs it)")
    from keras_archs.data.fashion_mnist import CLASS_NAMES

    train, _ = _fashion_arrays("train")
    calibration = train[np.random.default_rng(0).permutation(len(train))[:100]]
    directory = tmp_path_factory.mktemp("fashion")
    exports = {}
    for mode in ("float32", "float16", "dynamic", "int8"):
        exports[mode] = to_tflite(
            fashion_model,
            directory / f"fmnist_{mode}.tflite",
            mode=mode,
            representative_data=calibration if mode == "int8" else None,
            io_dtype="uint8" if mode == "int8" else None,
            labels=CLASS_NAMES,
            labels_source="fashion_mnist",
            source="SqueezeNet1_1 weights=fashion_mnist",
            metadata=False,  # the model as it is (1-channel input); the metadata files: tests/test_export_mediapipe.py
        )
    return exports


@needs_fashion_mnist
@pytest.mark.parametrize("mode", ["float32", "float16", "dynamic", "int8"])
def test_fashion_mnist_squeezenet_matches_keras_in_the_interpreter(fashion_exports, fashion_model, mode):
    images, labels = _fashion_arrays("test")
    check = verify_tflite(fashion_exports[mode].path, fashion_model, images[:300], labels[:300])
    assert check.examples == 300 and check.interpreter == "ai_edge_litert"
    assert check.keras_accuracy > 0.9  # a trained, input-sensitive reference (10 classes: chance is 0.1)
    assert check.top1_agreement >= 0.98
    assert abs(check.tflite_accuracy - check.keras_accuracy) <= 0.02
    assert check.max_abs_diff < {"float32": 1e-4, "float16": 0.05, "dynamic": 0.2, "int8": 0.5}[mode]


@needs_fashion_mnist
def test_fashion_mnist_sizes_card_and_labels(fashion_exports):
    sizes = {mode: result.bytes for mode, result in fashion_exports.items()}
    assert 0.45 < sizes["float16"] / sizes["float32"] < 0.55  # fp16 weights: half
    assert sizes["dynamic"] < 0.3 * sizes["float32"] and sizes["int8"] < 0.3 * sizes["float32"]
    int8 = fashion_exports["int8"]
    assert int8.input.dtype == int8.output.dtype == "uint8" and int8.input.shape == (1, 28, 28, 1)
    # raw pixels 0..255 calibrate to the identity quantisation: uint8 input == the pixel values
    assert int8.input.scale == pytest.approx(1.0, rel=1e-3) and int8.input.zero_point == 0
    assert int8.float_ops == () and int8.calibration_examples == 100
    card = json.loads(card_path_for(int8.path).read_text())
    assert card["bytes"] == int8.bytes == os.path.getsize(int8.path) and card["sha256"] == int8.sha256
    assert card["mode"] == "int8" and card["io_dtype"] == "uint8"
    assert card["input"]["quantization"]["zero_point"] == 0
    assert card["input"]["preprocessing"]["mode"] == "raw"
    assert "raw pixels 0..255" in card["input"]["preprocessing"]["description"]
    assert card["labels"] == {
        "file": "fmnist_int8.labels.txt",
        "count": 10,
        "source": "fashion_mnist",
        "order": "line i (0-based) names output unit i",
    }
    assert card["source"]["from"] == "SqueezeNet1_1 weights=fashion_mnist"
    names = labels_path_for(int8.path).read_text(encoding="utf-8").splitlines()
    assert names[0] == "T-shirt/top" and names[9] == "Ankle boot" and len(names) == 10
    assert fashion_exports["float32"].float_ops is None and fashion_exports["float32"].input.scale is None


# --- other architectures and custom layers ------------------------------------------------------------------------


def test_squeezenet_imagenet_layout_float32_is_exact_and_ships_imagenet_labels(tmp_path):
    model = applications.get_model("SqueezeNet1_1", weights=None, input_shape=(64, 64, 3))
    result = to_tflite(model, tmp_path / "squeezenet.tflite", preprocessing="squeezenet_caffe", metadata=False)
    data = np.random.default_rng(0).normal(0, 60, (3, 64, 64, 3)).astype(np.float32)
    check = verify_tflite(result.path, model, data)
    assert check.max_abs_diff < 1e-5 and check.top1_agreement == 1.0 and check.tflite_accuracy is None
    names = result.labels_path.read_text().splitlines()
    assert len(names) == 1000 and names[1] == "goldfish"
    preprocessing = json.loads(result.card_path.read_text())["input"]["preprocessing"]
    assert preprocessing["channel_order"] == "BGR" and preprocessing["mean"] == [104.0, 117.0, 123.0]


def test_cifar_resnet20_int8_from_a_labelled_dataset(tmp_path):
    # ZeroPaddedIdentity (option-A shortcut) must map onto builtin STRIDED_SLICE + PAD.
    keras.utils.set_random_seed(0)  # random weights: some draws give a network whose top-1 never changes
    model = applications.get_model("CifarResNet20", weights=None)
    _estimate_batch_statistics(model, _varied_images(64, 32, seed=10))
    images = _varied_images(48, 32, seed=1)
    dataset = tf.data.Dataset.from_tensor_slices((images, np.random.default_rng(1).integers(0, 10, 48))).batch(16)
    result = to_tflite(
        model,
        tmp_path / "resnet20.tflite",
        mode="int8",
        representative_data=dataset,
        calibration_steps=40,
        labels=[f"class {i}" for i in range(10)],
        preprocessing="tf",
        metadata=False,
    )
    assert result.calibration_examples == 40 and result.input.dtype == "int8" and result.float_ops == ()
    check = verify_tflite(result.path, model, dataset)
    assert check.examples == 48 and check.tflite_accuracy is not None
    # measured: mean |diff| 1.5 % of the outputs' spread, top-1 agreement 0.96
    _assert_matches_an_input_sensitive_reference(result.path, model, images, relative=0.05, agreement=0.85)
    assert result.labels_path.read_text().splitlines()[0] == "class 0"


def test_mobilenet_small_int8_with_float_io(tmp_path):
    keras.utils.set_random_seed(0)
    model = applications.get_model("MobileNet", weights=None, alpha=0.25, input_shape=(32, 32, 3), classes=10)
    _estimate_batch_statistics(model, _varied_images(64, 32, seed=20))
    calibration, data = _varied_images(64, 32, seed=21), _varied_images(40, 32, seed=22)
    int8 = to_tflite(
        model,
        tmp_path / "mobilenet_int8.tflite",
        mode="int8",
        representative_data=calibration,
        io_dtype="float32",
        metadata=False,
    )
    assert int8.input.dtype == "float32" and int8.input.scale is None and int8.output.dtype == "float32"
    check = verify_tflite(int8.path, model, iter([data[:10], data[10:]]))  # an iterable of batches
    assert check.examples == 40
    # A random MobileNet quantises worse than a trained one (depthwise kernels; Sheng et al. 2018): measured mean
    # |diff| ~18 % of the spread and top-1 agreement ~0.5 over 6 classes; an output that ignored the input, or a
    # wrong input quantisation, fails the spread / agreement checks.
    _assert_matches_an_input_sensitive_reference(int8.path, model, data, relative=0.35, agreement=0.3)


def test_caffe_lrn_converts_with_builtins_and_stays_float_in_int8(tmp_path):
    model = _tiny(lambda x: LocalResponseNormalization(size=5, alpha=1e-2, beta=0.75, k=1.0)(x), name="lrn")
    data = np.random.default_rng(3).uniform(0, 5, (16, 8, 8, 6)).astype(np.float32)
    exact = to_tflite(model, tmp_path / "lrn.tflite", metadata=False)
    assert verify_tflite(exact.path, model, data).max_abs_diff < 1e-5
    quantized = to_tflite(model, tmp_path / "lrn_int8.tflite", mode="int8", representative_data=data, metadata=False)
    assert "POW" in quantized.float_ops  # no int8 POW kernel: recorded in the result and the card
    assert "POW" in json.loads(quantized.card_path.read_text())["float_ops"]


def test_inception_resnet_scale_layer_converts(tmp_path):
    model = _tiny(lambda x: CustomScaleLayer(0.2)([x, x]), name="scaled")
    data = np.random.default_rng(4).uniform(0, 1, (4, 8, 8, 6)).astype(np.float32)
    result = to_tflite(model, tmp_path / "scaled.tflite", mode="dynamic", metadata=False)
    assert verify_tflite(result.path, model, data).max_abs_diff < 1e-3


def test_an_op_without_builtin_kernel_is_named_and_nothing_is_written(tmp_path):
    model = _tiny(lambda x: _Igamma()(x), name="igamma")
    with pytest.raises(TFLiteConversionError, match="Igamma") as info:
        to_tflite(model, tmp_path / "out" / "igamma.tflite", metadata=False)
    assert info.value.ops == ("Igamma",) and "Flex" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_batch_size_two_pads_the_last_batch(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16,), name="features")
    outputs = keras.layers.Dense(8, activation="softmax")(keras.layers.Dense(32, activation="relu")(inputs))
    model = keras.Model(inputs, outputs, name="mlp")
    data = np.random.default_rng(7).normal(0, 2, (45, 16)).astype(np.float32)
    result = to_tflite(
        model, tmp_path / "batch2.tflite", mode="int8", representative_data=data[:5], batch_size=2, metadata=False
    )
    assert result.input.shape == (2, 16) and result.calibration_examples == 4  # whole batches only
    check = verify_tflite(result.path, model, data[:5])  # 5 examples: the last batch is padded
    assert check.examples == 5
    _assert_matches_an_input_sensitive_reference(result.path, model, data, relative=0.2, agreement=0.8)


def test_sparse_stores_pruned_weights_smaller_and_computes_the_same(tmp_path):
    """sparse=True (EXPERIMENTAL_SPARSITY): a kernel with 80 % zeros is stored in TFLite's sparse format and densified
    by a DENSIFY op; same outputs, smaller file. Dense weights give the same file size either way."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,), name="features")
    dense = keras.layers.Dense(256, name="pruned")
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(dense(inputs)), name="pruned_mlp")
    kernel, bias = dense.get_weights()
    kernel[np.random.default_rng(1).random(kernel.shape) < 0.8] = 0.0
    dense.set_weights([kernel, bias])
    data = np.random.default_rng(2).normal(0, 1, (8, 64)).astype(np.float32)
    plain = to_tflite(model, tmp_path / "dense.tflite", metadata=False)
    sparse = to_tflite(model, tmp_path / "sparse.tflite", metadata=False, sparse=True)
    assert sparse.bytes < 0.6 * plain.bytes, (sparse.bytes, plain.bytes)
    assert json.loads(sparse.card_path.read_text())["sparse"] is True
    from keras_archs.export import _litert

    runner = _litert.LiteRTRunner(model_path=sparse.path)
    assert "DENSIFY" in {name for name, _ in _litert.op_names(runner.interpreter)}
    assert verify_tflite(sparse.path, model, data).max_abs_diff < 1e-5
    with pytest.raises(TypeError, match=r"Received: sparse='yes'"):
        to_tflite(model, tmp_path / "bad.tflite", metadata=False, sparse="yes")


# --- the written set ----------------------------------------------------------------------------------------------


def test_a_new_export_replaces_the_whole_set_and_its_card_describes_it(tmp_path):
    model = _tiny(lambda x: x)
    first = to_tflite(model, tmp_path / "m.tflite", labels=["a", "b", "c", "d"], metadata=False)
    second = to_tflite(
        model, tmp_path / "m.tflite", mode="dynamic", labels=["w", "x", "y", "z"], labels_source="toy", metadata=False
    )
    card = json.loads(second.card_path.read_text())
    assert card["sha256"] == second.sha256 != first.sha256 and card["mode"] == "dynamic"
    assert card["labels"]["source"] == "toy" and second.labels_path.read_text() == "w\nx\ny\nz\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.labels.txt", "m.tflite"]


def test_a_failed_write_leaves_no_card_and_no_temporaries(tmp_path, monkeypatch):
    model = _tiny(lambda x: x)
    to_tflite(model, tmp_path / "tiny.tflite", metadata=False)
    real_replace = os.replace

    def failing_replace(source, target):
        if str(target).endswith(".labels.txt"):
            raise OSError("disk full")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        to_tflite(model, tmp_path / "tiny.tflite", mode="dynamic", metadata=False)
    # the new .tflite went in first; the old card, which described the old file, is gone; nothing half-written stays
    assert not (tmp_path / "tiny.json").exists()
    assert not [p for p in tmp_path.iterdir() if _files.PARTIAL_MARKER in p.name]


# --- argument errors ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model():
    return _tiny(lambda x: x)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "int4"}, r"`mode`.*Received: mode='int4'"),
        ({"mode": "int8"}, r"mode='int8' needs `representative_data`.*Received: representative_data=None"),
        ({"io_dtype": "uint8"}, r"io_dtype='uint8' needs mode='int8'"),
        (
            {"mode": "int8", "representative_data": np.zeros((4, 8, 8, 6)), "io_dtype": "int16"},
            r"Received: io_dtype='int16'",
        ),
        ({"mode": "dynamic", "representative_data": np.zeros((4, 8, 8, 6))}, r"only used with mode='int8'"),
        ({"mode": "int8", "representative_data": np.zeros((4, 9, 9, 6))}, r"`representative_data`.*\(8, 8, 6\)"),
        ({"calibration_steps": 0}, r"Received: calibration_steps=0"),
        ({"batch_size": True}, r"Received: batch_size=True"),
        ({"labels": ["a", "b"]}, r"4 outputs but `labels` \(given\) has 2 names"),
        ({"labels": "fashion_mnst"}, r"Expected `labels` to be 'imagenet', 'fashion_mnist', .*no such file"),
        ({"labels": "fashion_mnist"}, r"4 outputs but `labels` \(fashion_mnist\) has 10 names"),
        ({"preprocessing": "inception"}, r"Received: preprocessing='inception'"),
    ],
)
def test_argument_errors_name_the_argument(tiny_model, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        to_tflite(tiny_model, tmp_path / "m.tflite", **{"metadata": False, **kwargs})
    assert list(tmp_path.iterdir()) == []


def test_path_model_and_data_type_errors(tiny_model, tmp_path):
    with pytest.raises(ValueError, match=r"end with '\.tflite'.*Received: path="):
        to_tflite(tiny_model, tmp_path / "m.tfl")
    with pytest.raises(TypeError, match="keras.Model"):
        to_tflite("SqueezeNet", tmp_path / "m.tflite")
    variable = keras.Model(*(lambda i: (i, keras.layers.GlobalAveragePooling2D()(i)))(keras.Input((None, None, 3))))
    with pytest.raises(ValueError, match="fixed input size"):
        to_tflite(variable, tmp_path / "m.tflite")
    with pytest.raises(TypeError, match="representative_data"):
        to_tflite(tiny_model, tmp_path / "m.tflite", mode="int8", representative_data=42, metadata=False)
    with pytest.raises(ValueError, match="no examples|fewer than"):
        to_tflite(tiny_model, tmp_path / "m.tflite", mode="int8", representative_data=[], metadata=False)
    with pytest.raises(FileNotFoundError, match="No .tflite file"):
        verify_tflite(tmp_path / "missing.tflite", tiny_model, np.zeros((1, 8, 8, 6)))


def test_export_imports_neither_data_nor_compress(tmp_path):
    """export/ depends only downward: with keras_archs.data and keras_archs.compress made unimportable (importlib
    too), a conversion, a verification and every card description still work."""
    script = textwrap.dedent(
        f"""
        import importlib.abc, importlib.util, sys
        class Forbidden(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.startswith(("keras_archs.data", "keras_archs.compress")):
                    raise ImportError(f"export imported {{name}}")
        sys.meta_path.insert(0, Forbidden())
        # keras_archs with its __init__ not run (the model zoo is not what is tested here)
        spec = importlib.util.spec_from_file_location(
            "keras_archs", {str(REPO / "keras_archs" / "__init__.py")!r},
            submodule_search_locations=[{str(REPO / "keras_archs")!r}],
        )
        sys.modules["keras_archs"] = importlib.util.module_from_spec(spec)
        import keras_archs.export as export
        assert "tensorflow" not in sys.modules, "importing keras_archs.export loaded TensorFlow"
        import keras, numpy as np
        inputs = keras.Input((4, 4, 3), name="x")
        model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))
        data = np.random.default_rng(0).uniform(-1, 1, (8, 4, 4, 3)).astype("float32")
        result = export.to_tflite(
            model, {str(tmp_path / "m.tflite")!r}, mode="int8", representative_data=data, metadata=False
        )
        assert export.verify_tflite(result.path, model, data).examples == 8
        # with metadata: a model that normalises inside (Rescaling) takes pixels as it is; metadata embedded
        pixels = keras.Input((4, 4, 3), name="pixels")
        scaled = keras.layers.Rescaling(1 / 255)(pixels)
        raw = keras.Model(pixels, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(scaled)))
        images = np.random.default_rng(1).uniform(0, 255, (8, 4, 4, 3)).astype("float32")
        embedded = export.to_tflite(raw, {str(tmp_path / "p.tflite")!r}, mode="int8", representative_data=images)
        assert embedded.metadata is not None and export.read_metadata(embedded.path.read_bytes())[1]
        assert export.verify_tflite(embedded.path, raw, images).examples == 8
        for mode in export.PREPROCESSING_MODES:
            export.describe_preprocessing(mode)
        export.resolve_labels("imagenet", 1000)
        print("ok", sorted(m for m in sys.modules if m.startswith("keras_archs.")))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok") and "keras_archs.export.convert" in done.stdout


# --- slow lane: every registered model, and the full Fashion-MNIST test set ---------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", [spec.name for spec in applications.all_specs()])
def test_every_registered_model_converts_float32_and_dynamic(name, tmp_path):
    spec = applications.get_spec(name)
    size = spec.min_size
    model = spec.build(weights=None, input_shape=(size, size, 3))
    data = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
    results = {}
    for mode in ("float32", "dynamic"):
        result = to_tflite(
            model, tmp_path / f"{name}_{mode}.tflite", mode=mode, preprocessing=spec.preprocessing, metadata=False
        )
        results[mode] = (result.bytes, verify_tflite(result.path, model, data))
        result.path.unlink()  # VGG-sized files: keep the disk use of the run small
    (float_bytes, exact), (dynamic_bytes, dynamic) = results["float32"], results["dynamic"]
    assert exact.max_abs_diff < 1e-4, (name, exact)
    # dynamic range: int8 weights (a quarter of the float bytes for the big kernels), float activations
    assert dynamic_bytes < 0.4 * float_bytes, (name, dynamic_bytes, float_bytes)
    assert dynamic.max_abs_diff < 0.1, (name, dynamic)  # softmax outputs; measured well under 0.01


@pytest.mark.slow
@needs_fashion_mnist
@pytest.mark.parametrize("mode", ["float32", "float16", "dynamic", "int8"])
def test_fashion_mnist_full_test_set_accuracy_in_the_interpreter(fashion_model, mode, tmp_path):
    train, _ = _fashion_arrays("train")
    images, labels = _fashion_arrays("test")
    calibration = train[np.random.default_rng(0).permutation(len(train))[:200]]
    result = to_tflite(
        fashion_model,
        tmp_path / f"fmnist_{mode}.tflite",
        mode=mode,
        representative_data=calibration if mode == "int8" else None,
        io_dtype="uint8" if mode == "int8" else None,
        metadata=False,
    )
    check = verify_tflite(result.path, fashion_model, images, labels)
    assert check.examples == 10_000
    assert check.keras_accuracy == pytest.approx(0.939, abs=1e-3)
    assert check.tflite_accuracy >= 0.93
    assert len(gzip.compress(result.path.read_bytes())) < result.bytes
