"""One module per architecture family; importing this package registers every model."""

import importlib

# Families register their ModelSpecs on import. Listed here in the order `list_models` and the docs present them.
_FAMILIES = ("resnet", "vgg", "inception_v3", "inception_resnet_v2", "xception", "mobilenet", "squeezenet")

for _family in _FAMILIES:
    try:  # TEMPORARY while the families are being written; removed before commit
        importlib.import_module(f"keras_archs.applications.{_family}")
    except ModuleNotFoundError as _error:
        if _error.name != f"keras_archs.applications.{_family}":
            raise
