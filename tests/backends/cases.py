"""What the other-backend lane builds and feeds, shared by the TensorFlow reference script and the tests."""

from __future__ import annotations

import pathlib

import numpy as np

FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
_RNG = np.random.default_rng(7)
# Small members of the families whose code differs most: residual units with BN and the zero-padded shortcut
# (CIFAR ResNet), depthwise separable convs (MobileNet), fire modules (SqueezeNet), Caffe LRN and ceil-mode pooling
# (AlexNetCaffe's custom layers, here without top so that the fully connected layers stay out). Random weights:
# every variable matters to the output.
RANDOM_CASES = {
    "CifarResNet20": (
        dict(input_shape=(32, 32, 3), classes=10),
        _RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"),
    ),
    "MobileNet": (
        dict(alpha=0.25, input_shape=(64, 64, 3), classes=10),
        _RNG.uniform(-1, 1, (2, 64, 64, 3)).astype("float32"),
    ),
    "AlexNetCaffe": (
        dict(include_top=False, input_shape=(99, 99, 3), pooling="avg"),
        _RNG.uniform(-1, 1, (2, 99, 99, 3)).astype("float32"),
    ),
}


def fashion_mnist_inputs(count: int = 32) -> np.ndarray:
    """The first ``count`` Fashion-MNIST test images as raw float32 pixels (seeded noise when the files are absent)."""
    if FASHION_MNIST.exists():
        from keras_archs.data.fashion_mnist import load_arrays

        return load_arrays("test")[0][:count].astype("float32")
    return np.random.default_rng(3).integers(0, 256, (count, 28, 28, 1)).astype("float32")


def photo_batch() -> np.ndarray:
    """scikit-image's chelsea (a cat) and coffee, 227x227, with SqueezeNet 1.0's Caffe preprocessing."""
    import skimage.data
    from PIL import Image

    from keras_archs.applications import squeezenet

    photos = [
        np.asarray(Image.fromarray(getattr(skimage.data, name)()).resize((227, 227), Image.BILINEAR), np.float32)
        for name in ("chelsea", "coffee")
    ]
    return np.asarray(squeezenet.preprocess_input(np.stack(photos)), np.float32)
