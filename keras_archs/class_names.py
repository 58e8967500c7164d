"""Class names of the datasets the package's classifiers are trained on, in label order: one source for every reader.

``keras_archs.data`` (the datasets), ``keras_archs.export`` (labels files and cards: ``labels="fashion_mnist"``, or a
model whose weights tag is a label set) and the command line (``--labels``) all read them here. The ImageNet-1k names
ship as package data and are read through :mod:`keras_archs.imagenet_utils`. Standard library only.

Example:
    >>> from keras_archs import class_names
    >>> class_names.get("fashion_mnist")[:2]
    ['T-shirt/top', 'Trouser']
"""

from __future__ import annotations

__all__ = ["CIFAR10", "FASHION_MNIST", "LABEL_SETS", "get"]

# Xiao et al. 2017, Table 1 (label order of the idx files).
FASHION_MNIST = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# https://www.cs.toronto.edu/~kriz/cifar.html ("batches.meta.txt" of the binary version, in label order).
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# Names accepted wherever a label set is asked for (``labels=`` of to_tflite, ``--labels``).
LABEL_SETS = ("imagenet", "fashion_mnist", "cifar10")


def get(label_set: str) -> list[str]:
    """The class names of ``label_set`` (one of :data:`LABEL_SETS`), in label order.

    Raises:
        ValueError: An unknown label set (the message lists the known ones).
    """
    if label_set == "fashion_mnist":
        return list(FASHION_MNIST)
    if label_set == "cifar10":
        return list(CIFAR10)
    if label_set == "imagenet":
        from keras_archs import imagenet_utils

        return [label for _, label in imagenet_utils.class_names()]
    raise ValueError(f"Unknown label set {label_set!r}. Known: {', '.join(LABEL_SETS)}")
