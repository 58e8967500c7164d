"""Reference outputs on the TensorFlow backend for the other-backend lane (run as a script by conftest.py).

Writes into the folder given as argv[1]: ``<case>.keras`` for the models built here with random weights, and
``reference.npz`` with each case's input (``<case>/x``) and TensorFlow output (``<case>/y``). The other backend loads
the same models (the ``.keras`` files, the shipped Fashion-MNIST model and archive, the Deep Compression ``.net``) and
must give the same outputs within 1e-4.
"""

from __future__ import annotations

import os
import pathlib
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from keras_archs import applications, compress, saved_models  # noqa: E402
from tests.backends.cases import RANDOM_CASES, fashion_mnist_inputs, photo_batch  # noqa: E402
from tests.conftest import randomize_weights  # noqa: E402


def main(out: pathlib.Path, dc_net: str) -> None:
    assert keras.backend.backend() == "tensorflow"
    arrays = {}
    for name, (kwargs, x) in RANDOM_CASES.items():
        model = applications.get_model(name, weights=None, **kwargs)
        randomize_weights(model, seed=5)
        model.save(out / f"{name}.keras")
        arrays[f"{name}/x"], arrays[f"{name}/y"] = x, np.asarray(model(x, training=False))
    pixels = fashion_mnist_inputs()
    shipped = applications.get_model("SqueezeNet1_1", weights="fashion_mnist")
    arrays["fashion_mnist/x"], arrays["fashion_mnist/y"] = pixels, np.asarray(shipped(pixels, training=False))
    archive = compress.load(saved_models.path("squeezenet_fashion_mnist.kadc"))
    arrays["archive/x"], arrays["archive/y"] = pixels, np.asarray(archive(pixels, training=False))
    if dc_net:
        photos = photo_batch()
        deep_compression = applications.get_model("SqueezeNet1_0", weights=dc_net)
        arrays["deep_compression/x"] = photos
        arrays["deep_compression/y"] = np.asarray(deep_compression(photos, training=False))
    np.savez(out / "reference.npz", **arrays)


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), sys.argv[2])
