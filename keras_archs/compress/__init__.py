"""Deep Compression (Han et al. 2016) for Keras 3 models: prune -> share weights -> Huffman-code, in one archive.

Stages usable alone: :mod:`.prune` (magnitude pruning, polynomial schedule, masks), :mod:`.share` (1-D k-means with
linear initialisation, entropy-constrained k-means, output-error-compensated codes), :mod:`.finetune` (training under
masks / shared centroids), :mod:`.huffman` (canonical Huffman) and :mod:`.archive` (the file format).
:func:`deep_compress` chains them; :func:`load` gives a Keras model back. :func:`qat` (int8 quantization-aware
training through tensorflow-model-optimization) runs in a subprocess and needs ``pip install keras_archs[qat]``.
"""

from keras_archs.compress.archive import ArchiveCorruptError, SharedTensor
from keras_archs.compress.pipeline import CompressedModel, deep_compress, evaluate_accuracy, load
from keras_archs.compress.qat import QATResult, qat  # tfmot itself is imported only in qat()'s child process
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
