"""One module per architecture family; importing this package registers every model.

Code that looks models up by name imports this package (``from keras_archs import applications``) and uses
``applications.get_spec`` / ``list_models`` / ``get_model`` / ``all_specs``: importing it is what fills the registry.
"""

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
from keras_archs.registry import all_specs, get_model, get_spec, list_models  # noqa: F401  (the filled registry)
