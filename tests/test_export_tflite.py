"""keras_archs.export.tflite: conversion in every mode, the LiteRT check, labels and card files, the CLI command."""

from __future__ import annotations

import argparse
import functools
import gzip
import importlib
import json
import os
import pathlib
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_archs
from keras_archs import registry
from keras_archs.applications.alexnet import LocalResponseNormalization
from keras_archs.applications.inception_resnet_v2 import CustomScaleLayer
from keras_archs.export import (
    TFLiteConversionError,
    card_path_for,
    describe_preprocessing,
    interpreter_class,
    labels_path_for,
    resolve_labels,
    to_tflite,
    verify_tflite,
)
from keras_archs.export import tflite as tflite_module

FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST.exists(), reason=f"{FASHION_MNIST} absent (`make data` installs it)"
)


@functools.lru_cache(maxsize=None)
def _fashion_arrays(split: str):
    images, labels, _ = importlib.import_module("keras_archs.data.fashion_mnist").load_arrays(split)
    return images.astype(np.float32), labels


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="keras-archs")
    tflite_module.add_cli_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


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


# --- the shipped Fashion-MNIST SqueezeNet in all four modes -------------------------------------------------------


@pytest.fixture(scope="module")
def fashion_model():
    return keras_archs.SqueezeNet(version="1.1", weights="fashion_mnist")


@pytest.fixture(scope="module")
def fashion_exports(fashion_model, tmp_path_factory):
    if not FASHION_MNIST.exists():
        pytest.skip(f"{FASHION_MNIST} absent (`make data` installs it)")
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
            labels="fashion_mnist",
            source="SqueezeNet1_1 weights=fashion_mnist",
        )
    return exports


@needs_fashion_mnist
@pytest.mark.parametrize("mode", ["float32", "float16", "dynamic", "int8"])
def test_fashion_mnist_squeezenet_matches_keras_in_the_interpreter(fashion_exports, fashion_model, mode):
    images, labels = _fashion_arrays("test")
    check = verify_tflite(fashion_exports[mode].path, fashion_model, images[:300], labels[:300])
    assert check.examples == 300 and check.interpreter == "ai_edge_litert"
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
    model = registry.get_model("SqueezeNet1_1", weights=None, input_shape=(64, 64, 3))
    result = to_tflite(model, tmp_path / "squeezenet.tflite", preprocessing="squeezenet_caffe")
    data = np.random.default_rng(0).normal(0, 60, (3, 64, 64, 3)).astype(np.float32)
    check = verify_tflite(result.path, model, data)
    assert check.max_abs_diff < 1e-5 and check.top1_agreement == 1.0 and check.tflite_accuracy is None
    names = result.labels_path.read_text().splitlines()
    assert len(names) == 1000 and names[1] == "goldfish"
    preprocessing = json.loads(result.card_path.read_text())["input"]["preprocessing"]
    assert preprocessing["channel_order"] == "BGR" and preprocessing["mean"] == [104.0, 117.0, 123.0]


def test_cifar_resnet20_int8_from_a_labelled_dataset(tmp_path):
    # ZeroPaddedIdentity (option-A shortcut) must map onto builtin STRIDED_SLICE + PAD.
    model = registry.get_model("CifarResNet20", weights=None)
    rng = np.random.default_rng(1)
    images = rng.uniform(-1, 1, (48, 32, 32, 3)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((images, rng.integers(0, 10, 48))).batch(16)
    result = to_tflite(
        model,
        tmp_path / "resnet20.tflite",
        mode="int8",
        representative_data=dataset,
        calibration_steps=40,
        labels="cifar10",
        preprocessing="tf",
    )
    assert result.calibration_examples == 40 and result.input.dtype == "int8" and result.float_ops == ()
    check = verify_tflite(result.path, model, dataset)
    assert check.examples == 48 and check.tflite_accuracy is not None
    assert check.mean_abs_diff < 0.02
    assert result.labels_path.read_text().splitlines()[0] == "airplane"


def test_mobilenet_small_int8_with_float_io(tmp_path):
    model = registry.get_model("MobileNet", weights=None, alpha=0.25, input_shape=(32, 32, 3), classes=10)
    data = np.random.default_rng(2).uniform(-1, 1, (20, 32, 32, 3)).astype(np.float32)
    int8 = to_tflite(
        model, tmp_path / "mobilenet_int8.tflite", mode="int8", representative_data=data, io_dtype="float32"
    )
    assert int8.input.dtype == "float32" and int8.input.scale is None and int8.output.dtype == "float32"
    check = verify_tflite(int8.path, model, iter([data[:10], data[10:]]))
    assert check.examples == 20 and check.mean_abs_diff < 0.02


def test_caffe_lrn_converts_with_builtins_and_stays_float_in_int8(tmp_path):
    model = _tiny(lambda x: LocalResponseNormalization(size=5, alpha=1e-2, beta=0.75, k=1.0)(x), name="lrn")
    data = np.random.default_rng(3).uniform(0, 5, (16, 8, 8, 6)).astype(np.float32)
    exact = to_tflite(model, tmp_path / "lrn.tflite")
    assert verify_tflite(exact.path, model, data).max_abs_diff < 1e-5
    quantized = to_tflite(model, tmp_path / "lrn_int8.tflite", mode="int8", representative_data=data)
    assert "POW" in quantized.float_ops  # no int8 POW kernel: recorded in the result and the card
    assert "POW" in json.loads(quantized.card_path.read_text())["float_ops"]


def test_inception_resnet_scale_layer_converts(tmp_path):
    model = _tiny(lambda x: CustomScaleLayer(0.2)([x, x]), name="scaled")
    data = np.random.default_rng(4).uniform(0, 1, (4, 8, 8, 6)).astype(np.float32)
    result = to_tflite(model, tmp_path / "scaled.tflite", mode="dynamic")
    assert verify_tflite(result.path, model, data).max_abs_diff < 1e-3


def test_an_op_without_builtin_kernel_is_named_and_nothing_is_written(tmp_path):
    model = _tiny(lambda x: _Igamma()(x), name="igamma")
    with pytest.raises(TFLiteConversionError, match="Igamma") as info:
        to_tflite(model, tmp_path / "out" / "igamma.tflite")
    assert info.value.ops == ("Igamma",) and "Flex" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    model = _tiny(lambda x: x)
    real_replace = os.replace

    def failing_replace(source, target):
        if str(target).endswith(".tflite"):
            raise OSError("disk full")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        to_tflite(model, tmp_path / "tiny.tflite")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_interpreter_falls_back_to_tf_lite_without_ai_edge_litert(tmp_path, monkeypatch):
    model = _tiny(lambda x: x)
    result = to_tflite(model, tmp_path / "tiny.tflite")
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # `import ai_edge_litert...` now raises ImportError
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    cls, name = interpreter_class()
    assert name == "tf.lite" and cls is tf.lite.Interpreter
    data = np.random.default_rng(5).uniform(0, 1, (3, 8, 8, 6)).astype(np.float32)
    check = verify_tflite(result.path, model, data, labels=np.array([0, 1, 2]))
    assert check.interpreter == "tf.lite" and check.max_abs_diff < 1e-5 and check.tflite_accuracy is not None


def test_batch_size_two_and_quantisation_helpers(tmp_path):
    model = _tiny(lambda x: x)
    data = np.random.default_rng(7).uniform(0, 1, (5, 8, 8, 6)).astype(np.float32)
    result = to_tflite(model, tmp_path / "batch2.tflite", mode="int8", representative_data=data, batch_size=2)
    assert result.input.shape == (2, 8, 8, 6) and result.calibration_examples == 4  # whole batches only
    check = verify_tflite(result.path, model, data)  # 5 examples: the last batch is padded
    assert check.examples == 5 and check.mean_abs_diff < 0.02
    detail = {"dtype": np.int8, "quantization": (0.1, -3)}
    q = tflite_module.quantize_input(np.array([-100.0, 0.0, 0.5, 100.0]), detail)  # clipped at both ends
    assert q.dtype == np.int8 and q.tolist() == [-128, -3, 2, 127]
    np.testing.assert_allclose(tflite_module.dequantize_output(q, detail), [-12.5, 0.0, 0.5, 13.0], rtol=1e-6)


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
        ({"labels": ["a", "b"]}, r"4 outputs but `labels` \(given\) has 2 names"),
        ({"preprocessing": "inception"}, r"Received: preprocessing='inception'"),
    ],
)
def test_argument_errors_name_the_argument(tiny_model, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        to_tflite(tiny_model, tmp_path / "m.tflite", **kwargs)
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
        to_tflite(tiny_model, tmp_path / "m.tflite", mode="int8", representative_data=42)
    with pytest.raises(ValueError, match="no examples|fewer than"):
        to_tflite(tiny_model, tmp_path / "m.tflite", mode="int8", representative_data=[])


def test_resolve_labels_and_describe_preprocessing(tmp_path):
    assert resolve_labels(None, None) == (None, None)
    assert resolve_labels(None, 1000)[0][0] == "tench"
    (tmp_path / "names.txt").write_text("cat\ndog\n\n")
    assert resolve_labels(tmp_path / "names.txt", 2) == (["cat", "dog"], "file names.txt")
    with pytest.raises(ValueError, match="single lines"):
        resolve_labels(["a\nb", "c"], 2)
    with pytest.raises(ValueError, match="no such file"):
        resolve_labels("no_such_labels.txt", 2)
    torch = describe_preprocessing("torch")
    assert torch["channel_order"] == "RGB"
    np.testing.assert_allclose(torch["mean"], [123.675, 116.28, 103.53], rtol=1e-5)
    np.testing.assert_allclose(torch["std"], [58.395, 57.12, 57.375], rtol=1e-5)
    assert describe_preprocessing("caffe")["mean"] == pytest.approx([103.939, 116.779, 123.68])
    assert describe_preprocessing(None)["mode"] is None


# --- command line ------------------------------------------------------------------------------------------------


@needs_fashion_mnist
def test_cli_exports_the_fashion_mnist_model_as_uint8_and_verifies(tmp_path, capsys):
    out = tmp_path / "fmnist.tflite"
    code = _run_cli(
        [
            "export",
            "SqueezeNet1_1",
            "--weights",
            "fashion_mnist",
            "--out",
            str(out),
            "--mode",
            "int8",
            "--representative",
            "fashion_mnist",
            "--io-dtype",
            "uint8",
            "--calibration-steps",
            "50",
            "--verify",
            "100",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert "calibrated on Fashion-MNIST train, 50 random images" in printed
    assert "verified on Fashion-MNIST test, first 100 images (ai_edge_litert)" in printed
    assert "accuracy tflite" in printed
    card = json.loads(card_path_for(out).read_text())
    assert card["io_dtype"] == "uint8" and card["labels"]["source"] == "fashion_mnist"
    assert card["source"]["from"] == "SqueezeNet1_1 (registry), weights=fashion_mnist"


def test_cli_exports_a_keras_file_and_rejects_what_it_cannot_read(tiny_model, tmp_path, capsys):
    saved = tmp_path / "tiny.keras"
    tiny_model.save(saved)
    assert _run_cli(["export", str(saved), "--out", str(tmp_path / "tiny.tflite"), "--verify", "4"]) == 0
    assert "verified on 4 random images (no labels)" in capsys.readouterr().out
    assert (tmp_path / "tiny.labels.txt").read_text().splitlines() == ["0", "1", "2", "3"]
    archive = tmp_path / "model.kadc"
    archive.write_bytes(b"KADC")
    if getattr(importlib.import_module("keras_archs.compress"), "load", None) is None:
        with pytest.raises(ValueError, match=r"\.kadc archive, which needs keras_archs\.compress\.load"):
            _run_cli(["export", str(archive), "--out", str(tmp_path / "a.tflite")])
    with pytest.raises(ValueError, match="Unknown model name 'NoSuchNet'"):
        _run_cli(["export", "NoSuchNet", "--out", str(tmp_path / "b.tflite")])
    with pytest.raises(ValueError, match="--representative takes 'fashion_mnist' or a directory"):
        _run_cli(
            ["export", str(saved), "--out", str(tmp_path / "c.tflite"), "--mode", "int8", "--representative", "mnist"]
        )


def test_cli_calibrates_on_a_directory_of_images(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(6)
    for index in range(3):
        keras.utils.save_img(images / f"photo{index}.png", rng.integers(0, 255, (40, 50, 3)).astype(np.uint8))
    out = tmp_path / "squeezenet_int8.tflite"
    code = _run_cli(
        [
            "export",
            "SqueezeNet1_1",
            "--weights",
            "none",
            "--input-size",
            "35",
            "--out",
            str(out),
            "--mode",
            "int8",
            "--representative",
            str(images),
            "--verify",
            "3",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0 and f"calibrated on 3 images of {images}" in printed
    card = json.loads(card_path_for(out).read_text())
    assert card["input"]["preprocessing"]["mode"] == "squeezenet_caffe" and card["labels"]["source"] == "imagenet"


# --- slow lane: every registered model, and the full Fashion-MNIST test set ---------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", [spec.name for spec in registry.all_specs()])
def test_every_registered_model_converts_float32_and_dynamic(name, tmp_path):
    spec = registry.get_spec(name)
    size = spec.min_size
    model = spec.build(weights=None, input_shape=(size, size, 3))
    data = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
    for mode in ("float32", "dynamic"):
        result = to_tflite(model, tmp_path / f"{name}_{mode}.tflite", mode=mode, preprocessing=spec.preprocessing)
        check = verify_tflite(result.path, model, data)
        if mode == "float32":
            assert check.max_abs_diff < 1e-4, (name, check)
        result.path.unlink()  # VGG-sized files: keep the disk use of the run small


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
    )
    check = verify_tflite(result.path, fashion_model, images, labels)
    assert check.examples == 10_000
    assert check.keras_accuracy == pytest.approx(0.939, abs=1e-3)
    assert check.tflite_accuracy >= 0.93
    assert len(gzip.compress(result.path.read_bytes())) < result.bytes
