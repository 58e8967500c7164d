"""One module per architecture family; importing this package registers every model."""

from keras_archs.applications import (  # noqa: F401  (each module registers its ModelSpecs on import)
    inception_resnet_v2,
    inception_v3,
    mobilenet,
    resnet,
    squeezenet,
    vgg,
    xception,
)
