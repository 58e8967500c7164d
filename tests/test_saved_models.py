"""The models this project trained and ships (saved_models/, installed as keras_archs.saved_models)."""

from __future__ import annotations

import hashlib
import importlib
import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_archs
from keras_archs import applications, compress, saved_models
from tests.conftest import forward

REPO = pathlib.Path(__file__).resolve().parents[1]
SAVED = REPO / "saved_models"
MANIFEST = json.loads((SAVED / "MANIFEST.json").read_text())
ARCHIVES = [record for record in MANIFEST["models"] if record["kind"] == "deep_compression_archive"]
FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")


def test_manifest_matches_the_files_and_the_registry():
    shipped = {entry.fname: entry for spec in applications.all_specs() for entry in spec.weights if entry.url is None}
    models = [record for record in MANIFEST["models"] if record["kind"] == "keras_model"]
    assert set(shipped) == {record["file"] for record in models}
    for record in models:
        data = (SAVED / record["file"]).read_bytes()
        assert len(data) == record["bytes"]
        assert hashlib.sha256(data).hexdigest() == record["sha256"] == shipped[record["file"]].file_hash
        assert record["command"].startswith("keras-archs train ")


def test_fashion_mnist_squeezenet_takes_raw_pixels():
    model = keras_archs.SqueezeNet(weights="fashion_mnist")
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    # Its first layer normalises raw 0..255 pixels: black maps below zero and white to about two standard deviations
    # above (Fashion-MNIST's pixel standard deviation is about a third of the range). A model expecting [0, 1] inputs
    # would scale by about 3, not by about 1/90, and white would land near 1 / 90.
    normalize = model.layers[1]
    assert isinstance(normalize, keras.layers.Rescaling)
    black, white = normalize.offset, normalize.scale * 255 + normalize.offset
    assert -1.5 < black < 0 and 1.5 < white < 3
    images = np.stack([np.zeros((28, 28, 1)), np.full((28, 28, 1), 255.0)]).astype(np.float32)
    probabilities = forward(model, images)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(probabilities[0], probabilities[1], atol=1e-3)
    with pytest.raises(ValueError, match=r"classes=100 \(the tag requires 10\)"):
        keras_archs.SqueezeNet(weights="fashion_mnist", classes=100)


needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST.exists(), reason=f"{FASHION_MNIST} absent (`make data` installs it: dataset-fashion-mnist)"
)
# The default lane checks both shipped models on the first images of the test split; the slow lane checks their
# recorded accuracies on all 10,000 (evaluating two models on all of them takes 10-20 s here).
FIRST_TEST_IMAGES = 1_000


def _fashion_mnist_test_split():
    images, labels = importlib.import_module("keras_archs.data.fashion_mnist").load_arrays("test")[:2]
    return np.asarray(images, np.float32), np.asarray(labels)  # raw 0..255 pixels


@needs_fashion_mnist
def test_shipped_models_classify_the_first_test_images():
    images, labels = (array[:FIRST_TEST_IMAGES] for array in _fashion_mnist_test_split())
    original = forward(keras_archs.SqueezeNet(weights="fashion_mnist"), images).argmax(axis=1)
    archive = next(r for r in ARCHIVES if r["file"] == "squeezenet_fashion_mnist.kadc")
    compressed = forward(compress.load(SAVED / archive["file"]), images).argmax(axis=1)
    # Recorded over the whole split: 0.9393 and 0.9380 (MANIFEST.json); a broken model scores about 0.1.
    assert (original == labels).mean() >= 0.90 and (compressed == labels).mean() >= 0.90
    assert (original == compressed).mean() >= 0.95  # the archive decodes to (nearly) the same classifier


@pytest.mark.slow
@needs_fashion_mnist
def test_fashion_mnist_squeezenet_reaches_its_recorded_accuracy():
    record = next(r for r in MANIFEST["models"] if r["file"] == "squeezenet_fashion_mnist.keras")
    images, labels = _fashion_mnist_test_split()
    model = keras_archs.SqueezeNet(weights="fashion_mnist")
    # predict, not model(x): 10,000 images go through in batches.
    predictions = model.predict(images, batch_size=500, verbose=0).argmax(axis=1)
    accuracy = float((predictions == labels).mean())
    assert accuracy >= 0.93
    assert abs(accuracy - record["test_accuracy"]) < 1e-3


def test_regular_install_ships_the_models(tmp_path):
    target = tmp_path / "site"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    for record in MANIFEST["models"]:
        installed = target / "keras_archs" / "saved_models" / record["file"]
        assert hashlib.sha256(installed.read_bytes()).hexdigest() == record["sha256"]
    assert (target / "keras_archs" / "resources" / "imagenet_class_index.json").exists()


@pytest.mark.parametrize("record", ARCHIVES, ids=lambda r: r["file"])
def test_shipped_archives_match_the_manifest(record):
    data = (SAVED / record["file"]).read_bytes()
    assert len(data) == record["bytes"] < 500_000
    assert hashlib.sha256(data).hexdigest() == record["sha256"]
    assert record["command"].startswith("keras-archs compress ")
    assert (SAVED / record["source"]).exists()


@pytest.mark.slow
@needs_fashion_mnist
def test_compressed_fashion_mnist_squeezenet_takes_raw_pixels_and_keeps_accuracy():
    record = next(r for r in ARCHIVES if r["file"] == "squeezenet_fashion_mnist.kadc")
    model = compress.load(SAVED / record["file"])
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    images, labels, _ = importlib.import_module("keras_archs.data.fashion_mnist").load_arrays("test")
    accuracy = compress.evaluate_accuracy(model, (images.astype(np.float32), labels))  # raw 0..255 pixels
    assert accuracy == pytest.approx(record["test_accuracy"], abs=2e-4)
    original = next(r for r in MANIFEST["models"] if r["file"] == record["source"])
    assert accuracy >= original["test_accuracy"] - 0.005  # issue target: within 0.5 points of the uncompressed model


def test_saved_models_path_checks_the_manifest():
    assert saved_models.path("squeezenet_fashion_mnist.kadc").stat().st_size == ARCHIVES[0]["bytes"]
    with pytest.raises(ValueError, match="not a shipped model"):
        saved_models.path("nope.kadc")
