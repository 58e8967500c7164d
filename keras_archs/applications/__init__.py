"""One module per architecture family; importing this package registers every model.

The registry (``keras_archs.registry``) is a passive table: each family module declares its ``ModelSpec`` rows and
binds them to its constructor with ``@registry.register`` when it is imported. This package imports every family, so
code that looks models up by name imports it (``from keras_archs import applications``) and uses
``applications.get_spec`` / ``list_models`` / ``get_model`` / ``all_specs``. Importing it also registers the
package's custom layers with Keras (``LocalResponseNormalization``, ``ZeroPaddedIdentity``, ``CustomScaleLayer``, and
``ImagePreprocessing`` / ``GreyFromRGB`` of :mod:`.preprocessing`: ``include_preprocessing=True`` and mobile exports),
so ``keras.saving.load_model`` can read ``.keras`` files that hold them.

A new family is one module here (constants -> blocks -> trunk -> specs -> constructors) plus one import line below;
see docs/adding_a_model.md.
"""

from keras_archs.applications import (  # noqa: F401  (each module registers its ModelSpecs on import)
    alexnet,
    cifar_resnet,
    googlenet,
    inception_resnet_v2,
    inception_v3,
    inception_v4,
    mobilenet,
    preprocessing,
    resnet,
    squeezenet,
    vgg,
    wide_resnet,
    xception,
)
from keras_archs.registry import all_specs, get_model, get_spec, list_models

__all__ = ["all_specs", "get_model", "get_spec", "list_models"]
