"""One module per architecture family; importing this package registers every model."""

from keras_archs.applications import (  # noqa: F401  (each module registers its ModelSpecs on import)
    alexnet,
    cifar_resnet,
    googlenet,
    inception_resnet_v2,
    inception_v3,
    inception_v4,
    mobilenet,
    resnet,
    squeezenet,
    vgg,
    wide_resnet,
    xception,
)
