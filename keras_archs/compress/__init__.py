"""Deep Compression (Han et al. 2016) for Keras 3 models: prune -> share weights -> Huffman-code, in one archive.

Stages usable alone: :mod:`.prune` (magnitude pruning, polynomial schedule, masks), :mod:`.share` (1-D k-means with
linear initialisation, entropy-constrained k-means, output-error-compensated codes), :mod:`.finetune` (training under
masks / shared centroids), :mod:`.huffman` (canonical Huffman) and :mod:`.archive` (the file format,
docs/archive_format.md). :func:`deep_compress` (:mod:`.stages`) runs them on one state record; :func:`load`
(:mod:`.compressed_model`) gives a Keras model back. :func:`qat` (int8 quantization-aware training through
tensorflow-model-optimization) runs in a subprocess and needs ``pip install keras_archs[qat]``.

The format modules (:mod:`.huffman`, :mod:`.archive`) and :mod:`.recipes` need only NumPy: the names that need Keras
(and so TensorFlow) are imported on first use, so ``import keras_archs.compress.archive`` stays light.
"""

import importlib

from keras_archs.compress.archive import ArchiveCorruptError, SharedTensor
from keras_archs.compress.recipes import RECIPES, CompressionRecipe, get_recipe, recipe_for

__all__ = [
    "ArchiveCorruptError",
    "SharedTensor",
    "CompressedModel",
    "deep_compress",
    "evaluate_accuracy",
    "load",
    "RECIPES",
    "CompressionRecipe",
    "get_recipe",
    "recipe_for",
    "QATResult",
    "qat",
]

# Public name -> the module that defines it (imported on first access: these modules import Keras).
_LAZY = {
    "CompressedModel": "keras_archs.compress.compressed_model",
    "load": "keras_archs.compress.compressed_model",
    "deep_compress": "keras_archs.compress.stages",
    "evaluate_accuracy": "keras_archs.compress.training_data",
    "QATResult": "keras_archs.compress.qat",  # tfmot itself is imported only in qat()'s child process
    "qat": "keras_archs.compress.qat",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
