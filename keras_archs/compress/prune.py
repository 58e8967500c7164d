"""Magnitude pruning (Han et al. 2015 "Learning both Weights and Connections"; Deep Compression §2).

A weight is kept when its magnitude is among the largest ``density`` fraction of its layer. Pruning is either one-shot
(:func:`prune_kernels`) or gradual during fine-tuning: the density falls from 1 to the target along the polynomial
schedule of Zhu & Gupta 2017 ("To prune, or not to prune", eq. 1: ``s_t = s_f + (s_i - s_f) (1 - (t - t0)/(n dt))^3``)
and the mask is re-applied after every optimizer step, so pruned weights stay exactly zero (the momentum of the
optimizer cannot revive them). :class:`~keras_archs.compress.finetune.ConstrainedTrainer` does the re-applying;
:class:`PruningSchedule` says what the density is at each step.

Which tensors are pruned: the kernels of Conv2D / Dense / DepthwiseConv2D / SeparableConv2D layers (the variables whose
name ends in ``kernel``); biases and batch-norm statistics stay dense, as in the paper.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any, Mapping

import numpy as np

__all__ = [
    "PruningSchedule",
    "polynomial_density",
    "magnitude_mask",
    "prunable_weights",
    "resolve_per_layer",
    "prune_kernels",
]


def polynomial_density(
    step: int, final_density: float, begin_step: int, end_step: int, initial_density: float = 1.0, power: float = 3.0
) -> float:
    """Density at ``step`` of the polynomial schedule (Zhu & Gupta 2017, eq. 1, written for density = 1 - sparsity).

    Before ``begin_step`` the density is ``initial_density``, after ``end_step`` it is ``final_density``; in between
    it falls fast at first and slowly at the end (``power`` 3 in the paper).

    Example:
        >>> round(polynomial_density(50, 0.2, 0, 100), 3)
        0.3
    """
    for name, value in (("final_density", final_density), ("initial_density", initial_density)):
        if not 0 < value <= 1:
            raise ValueError(f"{name} must be in (0, 1]. Received: {name}={value!r}")
    if end_step <= begin_step:
        raise ValueError(f"end_step must be > begin_step. Received: begin_step={begin_step}, end_step={end_step}")
    progress = min(max((step - begin_step) / (end_step - begin_step), 0.0), 1.0)
    return final_density + (initial_density - final_density) * (1.0 - progress) ** power


@dataclasses.dataclass(frozen=True)
class PruningSchedule:
    """Polynomial schedule over optimizer steps; the mask is recomputed every ``frequency`` steps until ``end_step``."""

    begin_step: int = 0
    end_step: int = 1000
    frequency: int = 50
    power: float = 3.0

    def __post_init__(self):
        if self.begin_step < 0 or self.end_step <= self.begin_step:
            raise ValueError(
                f"PruningSchedule needs 0 <= begin_step < end_step. Received: begin_step={self.begin_step}, "
                f"end_step={self.end_step}"
            )
        if self.frequency < 1:
            raise ValueError(f"PruningSchedule.frequency must be >= 1. Received: frequency={self.frequency}")

    def density(self, step: int, final_density: float, initial_density: float = 1.0) -> float:
        return polynomial_density(step, final_density, self.begin_step, self.end_step, initial_density, self.power)

    def updates_at(self, step: int) -> bool:
        """True when the mask should be recomputed at ``step`` (every ``frequency`` steps, and at ``end_step``)."""
        if step < self.begin_step or step > self.end_step:
            return False
        return (step - self.begin_step) % self.frequency == 0 or step == self.end_step


def magnitude_mask(kernel: np.ndarray, density: float) -> np.ndarray:
    """Keeps the ``round(density * size)`` largest-magnitude weights (ties: earlier flat index first).

    Args:
        kernel: The weights.
        density: Fraction kept, in (0, 1].

    Returns:
        Boolean array of ``kernel``'s shape.

    Raises:
        ValueError: ``density`` outside (0, 1].

    Example:
        >>> magnitude_mask(np.array([0.1, -0.5, 0.3, 0.0]), 0.5).tolist()
        [False, True, True, False]
    """
    if isinstance(density, bool) or not isinstance(density, (int, float, np.floating)) or not 0 < density <= 1:
        raise ValueError(f"density must be a number in (0, 1]. Received: density={density!r}")
    kernel = np.asarray(kernel)
    flat = np.abs(kernel.reshape(-1)).astype(np.float64)
    keep = int(round(density * flat.size))
    mask = np.zeros(flat.size, bool)
    if keep:
        # Stable sort on -|w|: equal magnitudes keep their order, so the mask is deterministic.
        mask[np.argsort(-flat, kind="stable")[:keep]] = True
    return mask.reshape(kernel.shape)


def prunable_weights(model: Any) -> list[tuple[str, Any]]:
    """``(layer_name, kernel_variable)`` for every conv/dense kernel of ``model`` (nested models included), in order."""
    import keras

    kinds = (
        keras.layers.Conv2D,
        keras.layers.Dense,
        keras.layers.DepthwiseConv2D,
        keras.layers.SeparableConv2D,
        keras.layers.Conv1D,
        keras.layers.Conv3D,
    )
    found = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, kinds):
            for variable in layer.trainable_weights:
                if variable.path.rsplit("/", 1)[-1].endswith("kernel"):
                    found.append((layer.name, variable))
    return found


def resolve_per_layer(
    spec: Mapping[str, Any] | Any, names: list[str], what: str, strict: bool = True
) -> dict[str, Any]:
    """Expands a per-layer setting: a single value, or ``{pattern: value}`` with shell-style patterns (first match wins)
    and an optional ``"*"`` default. Layers matching nothing get ``None`` (left alone).

    Raises:
        ValueError: With ``strict``, a pattern that matches no layer (a typo would silently do nothing).
    """
    if not isinstance(spec, Mapping):
        return {name: spec for name in names}
    unused = [pattern for pattern in spec if not any(fnmatch.fnmatchcase(name, pattern) for name in names)]
    if unused and strict:
        raise ValueError(f"{what}: pattern(s) {unused} match no prunable layer of the model. Layers: {names}")
    resolved = {}
    for name in names:
        resolved[name] = next((value for pattern, value in spec.items() if fnmatch.fnmatchcase(name, pattern)), None)
    return resolved


def prune_kernels(model: Any, densities: Mapping[str, float] | float) -> dict[str, np.ndarray]:
    """One-shot magnitude pruning of ``model``'s kernels in place.

    Args:
        model: A Keras model.
        densities: One density for every kernel, or ``{layer pattern: density}`` (see :func:`resolve_per_layer`);
            ``None`` or 1.0 leaves a layer dense.

    Returns:
        ``{layer_name: mask}`` for the kernels pruned.

    Raises:
        ValueError: A density outside (0, 1] or a pattern that matches nothing.
    """
    weights = prunable_weights(model)
    per_layer = resolve_per_layer(densities, [name for name, _ in weights], "densities")
    masks = {}
    for name, variable in weights:
        density = per_layer[name]
        if density is None or density == 1:
            continue
        kernel = np.asarray(variable.numpy())
        mask = magnitude_mask(kernel, density)
        variable.assign(np.where(mask, kernel, 0).astype(kernel.dtype))
        masks[name] = mask
    return masks
