"""Compression recipes as data: per-layer density and bits, the quantizer, and the fine-tuning budget.

A recipe names layers with shell-style patterns (first match wins, ``"*"`` for the rest). ``densities=None`` keeps
the model's own zeros (a model that is already pruned, like the published Deep Compression SqueezeNet).
:func:`recipe_for` finds the default recipe of a model from its registry name, which is how
``deep_compress(model)`` works with no other argument.

The Deep Compression SqueezeNet 1.0 recipes, measured on held-out photos (keras_archs.compress.fidelity: top-1
agreement with the 8-bit original on the 265 of 576 crops it is confident about, Wilson 95 % interval; mean KL on
all crops; docs/compression.md, benchmarks/squeezenet_recipes.py):

=================================  =========  =========================  =======
recipe                             bytes      agreement [95 % CI]        KL
=================================  =========  =========================  =======
squeezenet1_0_imagenet (default)   456,009    0.962 [0.932, 0.979]       0.009
squeezenet1_0_imagenet_tuned       447,494    0.962 [0.932, 0.979]       0.011
squeezenet1_0_imagenet_7bit        402,385    0.932 [0.895, 0.957]       0.045
squeezenet1_0_imagenet_small       373,404    0.928 [0.891, 0.954]       0.138
=================================  =========  =========================  =======
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

__all__ = ["CompressionRecipe", "RECIPES", "recipe_for", "get_recipe"]


@dataclasses.dataclass(frozen=True)
class CompressionRecipe:
    """What :func:`~keras_archs.compress.deep_compress` does to a model.

    Attributes:
        name: Recipe name (``keras-archs compress --recipe NAME``).
        bits: Code width per kernel (``{pattern: bits}`` or one int); ``2 ** bits - 1`` shared values + the zero.
        densities: Fraction of weights kept per kernel (``{pattern: density}``, one float, or None = keep the
            model's zeros).
        quantizer: ``"kmeans"`` (the paper's linear-init k-means) or ``"ecsq"`` (entropy-constrained k-means with
            rate weight ``lam``).
        compensate: Choose codes that minimise each layer's output error (GPTQ-style) using calibration images:
            the training data when given, otherwise synthetic 1/f images (:mod:`.calibrate`).
        calibration_images: How many calibration images.
        damp: Dampening of the compensation (fraction of the mean Hessian diagonal).
        lam: Rate weight of the ``"ecsq"`` quantizer (relative to the layer's mean squared weight).
        prune_epochs / share_epochs: Fine-tuning epochs after pruning and after weight sharing (used only with
            ``train_data``); ``deep_compress(epochs=...)`` splits its ``epochs`` in the same proportion.
        learning_rate: Fine-tuning learning rate (Adam; the paper used SGD at 1/10 of the original rate).
        bias_dtype: Storage of biases / batch-norm tensors: ``"float32"`` or ``"float16"``.
        codebook_dtype: Storage of the shared values: ``"float32"`` or ``"float16"``.
        source: Where the numbers come from.
    """

    name: str
    bits: Mapping[str, int] | int = 8
    densities: Mapping[str, float] | float | None = None
    quantizer: str = "kmeans"
    compensate: bool = False
    calibration_images: int = 64
    damp: float = 0.1
    lam: float = 0.0
    prune_epochs: int = 0
    share_epochs: int = 0
    learning_rate: float = 1e-4
    bias_dtype: str = "float32"
    codebook_dtype: str = "float32"
    source: str = ""
    strict_patterns: bool = True  # a pattern matching no layer is an error (False for generic, cross-model recipes)

    def __post_init__(self):
        if self.quantizer not in ("kmeans", "ecsq"):
            raise ValueError(f"quantizer must be 'kmeans' or 'ecsq'. Received: quantizer={self.quantizer!r}")
        for field in ("bias_dtype", "codebook_dtype"):
            if getattr(self, field) not in ("float32", "float16"):
                raise ValueError(f"{field} must be 'float32' or 'float16'. Received: {field}={getattr(self, field)!r}")
        bits = self.bits.values() if isinstance(self.bits, Mapping) else [self.bits]
        for value in bits:
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16:
                raise ValueError(f"Recipe {self.name!r}: bits must be ints in 1..16. Received: {value!r}")

    def with_overrides(self, **changes: Any) -> "CompressionRecipe":
        return dataclasses.replace(self, **changes)


# Deep Compression SqueezeNet 1.0, re-compressed without data. The published file stores 8-bit codes for every layer
# (DESIGN.md §5: 675,763 bytes). Every figure below is measured by benchmarks/squeezenet_fidelity.py on the HELD-OUT
# photos of keras_archs.compress.fidelity (576 random-resized crops of 24 photos that chose nothing; agreement = top-1
# agreement with the 8-bit original on the 265 crops it is confident about, Wilson 95 % interval; KL = mean
# KL(original || compressed) over all crops) -- docs/compression.md, "Validation protocol".
#
# The "small" allocation: 5..8 bits per layer from a data-free sensitivity analysis (each layer alone quantized at
# 4..8 bits, compensated, KL of the 1000-way output on 96 synthetic 1/f images, fewest bytes subject to the sum of the
# per-layer KLs <= 0.025; benchmarks/squeezenet_bit_allocation.py). It was the default until issue #11 measured it on
# unseen photos: 373,404 B, agreement 0.928 [0.891, 0.954], KL 0.138 -- too far from the original for a default.
_SQUEEZENET_1_0_SMALL_BITS = {
    "conv1": 5,
    "fire2_squeeze1x1": 7,
    "fire2_expand1x1": 8,
    "fire2_expand3x3": 8,
    "fire3_squeeze1x1": 7,
    "fire3_expand1x1": 8,
    "fire3_expand3x3": 7,
    "fire4_squeeze1x1": 7,
    "fire4_expand1x1": 6,
    "fire4_expand3x3": 6,
    "fire5_squeeze1x1": 7,
    "fire5_expand1x1": 7,
    "fire5_expand3x3": 7,
    "fire6_squeeze1x1": 7,
    "fire6_expand1x1": 8,
    "fire6_expand3x3": 6,
    "fire7_squeeze1x1": 7,
    "fire7_expand1x1": 6,
    "fire7_expand3x3": 6,
    "fire8_squeeze1x1": 6,
    "fire8_expand1x1": 8,
    "fire8_expand3x3": 6,
    "fire9_squeeze1x1": 7,
    "fire9_expand1x1": 6,
    "fire9_expand3x3": 5,
    "conv10": 7,
}

# What the four recipes of the Deep Compression SqueezeNet 1.0 share: the published model is already pruned (33 %
# dense) and there is no data to prune further; codes chosen by the compensated quantizer on 96 synthetic images;
# float16 biases and codebooks. They differ in their bits.
_SQUEEZENET_1_0_IMAGENET = dict(
    densities=None,
    compensate=True,
    calibration_images=96,
    damp=0.1,
    bias_dtype="float16",
    codebook_dtype="float16",
)

RECIPES: dict[str, CompressionRecipe] = {
    recipe.name: recipe
    for recipe in (
        CompressionRecipe(
            # The default: 8 bits everywhere, as the published file, but the codes re-chosen by the compensated
            # quantizer and Huffman-coded. Held out: 456,009 B, agreement 0.962 [0.932, 0.979], KL 0.009.
            name="squeezenet1_0_imagenet",
            bits=8,
            **_SQUEEZENET_1_0_IMAGENET,
            source="Han et al. 2016 (pruning + k-means + Huffman), 8-bit codes as the published file; "
            "compensation as GPTQ (Frantar et al. 2023) on synthetic images; held-out figures in docs/compression.md",
        ),
        CompressionRecipe(
            # The smallest recipe found that keeps the bar on the TUNING photos (agreement >= 0.95, KL <= 0.02):
            # per-layer bits from sensitivities measured on tuning crops (benchmarks/squeezenet_bit_allocation.py
            # --data tuning, KL budget 0.012): the three largest middle 3x3 expand layers at 7 bits, the rest 8.
            # Tuning: 0.960, KL 0.011. Held out: 447,494 B, agreement 0.962 [0.932, 0.979], KL 0.011.
            name="squeezenet1_0_imagenet_tuned",
            bits={"fire4_expand3x3": 7, "fire6_expand3x3": 7, "fire7_expand3x3": 7, "*": 8},
            **_SQUEEZENET_1_0_IMAGENET,
            source="as squeezenet1_0_imagenet, bits allocated on the tuning photos (keras_archs.compress.fidelity); "
            "held-out figures in docs/compression.md",
        ),
        CompressionRecipe(
            # 7 bits everywhere. Held out: 402,385 B, agreement 0.932 [0.895, 0.957], KL 0.045.
            name="squeezenet1_0_imagenet_7bit",
            bits=7,
            **_SQUEEZENET_1_0_IMAGENET,
            source="as squeezenet1_0_imagenet with 7-bit codes; held-out figures in docs/compression.md",
        ),
        CompressionRecipe(
            # The former default (comment above): 373,404 B, agreement 0.928 [0.891, 0.954], KL 0.138.
            name="squeezenet1_0_imagenet_small",
            bits=_SQUEEZENET_1_0_SMALL_BITS,
            **_SQUEEZENET_1_0_IMAGENET,
            source="Han et al. 2016 (pruning + k-means + Huffman); bits per layer from a data-free sensitivity "
            "analysis (docs/compression.md); compensation as GPTQ (Frantar et al. 2023) on synthetic images",
        ),
        CompressionRecipe(
            # SqueezeNet 1.1 (BN, small input) trained on Fashion-MNIST (saved_models/). Densities follow the
            # published Deep Compression SqueezeNet: conv1 and the squeeze layers dense, expand layers ~1/3,
            # the classifier 20 % (measured from the .net file, DESIGN.md §4).
            name="squeezenet_fashion_mnist",
            bits={"conv1": 8, "*squeeze1x1": 6, "conv10": 5, "*": 5},
            densities={"conv1": 1.0, "*squeeze1x1": 1.0, "*expand1x1": 0.4, "*expand3x3": 0.33, "conv10": 0.2},
            prune_epochs=3,
            share_epochs=2,
            learning_rate=2e-4,
            bias_dtype="float32",
            codebook_dtype="float16",
            source="Han et al. 2016 schedule (prune -> retrain -> share -> retrain centroids); densities from the "
            "Deep Compression SqueezeNet file",
        ),
        CompressionRecipe(
            # The paper's headline setting for AlexNet/VGG (Han et al. 2016, §3 and Table 4/5): 8-bit conv,
            # 5-bit fully connected codes; pruning densities need fine-tuning data and are set per model there.
            name="deep_compression",
            bits={"fc*": 5, "predictions": 5, "*": 8},
            densities=None,
            strict_patterns=False,
            source="Han et al. 2016, §3: 8 bits for conv, 5 bits for fc layers",
        ),
    )
}

# Registry name -> default recipe; models without an entry get "deep_compression".
_DEFAULTS = {
    "squeezenet1_0": "squeezenet1_0_imagenet",
    "squeezenet1_1_fashion_mnist": "squeezenet_fashion_mnist",
}


def get_recipe(name: str | CompressionRecipe) -> CompressionRecipe:
    """The recipe called ``name`` (case-insensitive); a recipe object passes through.

    Raises:
        ValueError: Unknown name (the message lists the known ones).
    """
    if isinstance(name, CompressionRecipe):
        return name
    key = str(name).lower()
    if key not in RECIPES:
        raise ValueError(f"Unknown compression recipe {name!r}. Known: {sorted(RECIPES)}")
    return RECIPES[key]


def recipe_for(model_or_name: Any) -> CompressionRecipe:
    """The default recipe for a model (by its name: ``model.name`` or a registry name), else ``deep_compression``."""
    name = model_or_name if isinstance(model_or_name, str) else getattr(model_or_name, "name", "")
    key = name.lower()
    if key in _DEFAULTS:
        return RECIPES[_DEFAULTS[key]]
    try:
        from keras_archs import applications  # importing it fills the registry

        spec = applications.get_spec(key)
    except ValueError:
        return RECIPES["deep_compression"]
    return RECIPES[_DEFAULTS.get(spec.name.lower(), "deep_compression")]
