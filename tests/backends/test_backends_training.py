"""Training on another backend: `keras-archs train --backend jax` with the tf.data pipelines feeding fit, and
data parallelism over local devices through keras.distribution (slow lane: XLA compiles the train step)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.backends.cases import FASHION_MNIST

needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST.exists(), reason=f"{FASHION_MNIST} absent (Debian package dataset-fashion-mnist; `make data`)"
)
SMOKE = [
    "--data",
    "fashion_mnist",
    "--epochs",
    "2",
    "--train-limit",
    "512",
    "--batch-size",
    "64",
    "--eval-limit",
    "100",
]


@pytest.mark.slow
@needs_fashion_mnist
def test_fashion_mnist_smoke_run_on_this_backend(backend, tmp_path, capsys):
    from keras_archs import cli

    out = tmp_path / "run"
    assert cli.main(["train", "CifarResNet20", *SMOKE, "--backend", backend, "--out", str(out)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    assert result["backend"] == backend and result["replicas"] == 1 and len(result["history"]["loss"]) == 2
    assert result["history"]["loss"][1] < result["history"]["loss"][0]  # it learns
    assert all(rate > 0 for rate in result["history"]["images_per_second"])
    for name in ("model.keras", "log.csv", "checkpoints/epoch_002.keras", "backup"):
        assert (out / name).exists(), name
    from keras_archs.data.fashion_mnist import load_arrays

    images, labels, _ = load_arrays("test")
    model = keras.saving.load_model(out / "model.keras")
    predicted = np.argmax(keras.ops.convert_to_numpy(model(images[:100].astype("float32"), training=False)), -1)
    assert result["test_accuracy"] == pytest.approx(float(np.mean(predicted == labels[:100])), abs=1e-6)


@pytest.mark.slow
@needs_fashion_mnist
def test_data_parallel_over_two_local_devices(backend, tmp_path):
    if backend != "jax":
        pytest.skip("keras.distribution is JAX's; PyTorch trains on one device")
    out = tmp_path / "dp"
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",  # two CPU devices for jax.devices()
        "KERAS_BACKEND": "jax",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    command = [sys.executable, "-m", "keras_archs.cli", "train", "CifarResNet20", *SMOKE, "--strategy", "mirrored"]
    completed = subprocess.run(
        [*command, "--out", str(out)], capture_output=True, text=True, timeout=900, env=env, cwd=pathlib.Path.cwd()
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert (result["backend"], result["strategy"], result["replicas"], result["per_replica_batch_size"]) == (
        "jax",
        "mirrored",
        2,
        32,
    )
    assert "on 2 replica(s)" in completed.stdout
