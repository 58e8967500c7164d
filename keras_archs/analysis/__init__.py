"""The practical analysis of the zoo: what each model costs and what depth does to training.

After Canziani et al. 2016 ("An Analysis of Deep Neural Network Models for Practical Applications",
arXiv:1605.07678): accuracy vs operations vs parameters, time per image vs batch size, the linear relation between
operations and time; MobileNet's split of the computation by layer kind (Howard et al. 2017, Table 2); and the
degradation experiment of He et al. 2016 (Sec. 4.1-4.2, Fig. 6). docs/analysis.md has the figures and their commands.

Modules, one job each:

* :mod:`.macs`: :func:`count_macs` (multiply-accumulates at batch 1, the papers' convention), MACs and parameters by
  layer kind, other work, activation memory (:func:`cost_summary`, :func:`layer_costs`);
* :mod:`.profiling`: :func:`profile` (the costs plus latency vs batch size in Keras and LiteRT) -> :class:`Profile`;
* :mod:`.zoo`: the registry's models as profile subjects, with their published accuracy (:func:`accuracy_points`);
* :mod:`.plots`: the Canziani figures and the degradation figure (matplotlib ``Figure`` objects);
* :mod:`.degradation`: :func:`run_degradation`, plain vs residual CIFAR networks with one budget.

Names load on first use (``keras_archs.analysis.count_macs``), so importing the package loads no TensorFlow.

Example:
    >>> import keras_archs
    >>> from keras_archs.analysis import count_macs
    >>> round(count_macs(keras_archs.MobileNet(weights=None, alpha=0.25)) / 1e6)  # Howard et al. 2017, Table 6: 41
    41
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "KINDS": "macs",
    "CostSummary": "macs",
    "LayerCost": "macs",
    "count_macs": "macs",
    "cost_summary": "macs",
    "layer_costs": "macs",
    "LatencyPoint": "profiling",
    "Profile": "profiling",
    "RUNTIMES": "profiling",
    "load_profiles": "profiling",
    "profile": "profiling",
    "time_call": "profiling",
    "AccuracyPoint": "zoo",
    "accuracy_points": "zoo",
    "profile_registered": "zoo",
    "LinearFit": "plots",
    "linear_fit": "plots",
    "save_figure": "plots",
    "accuracy_vs_macs_figure": "plots",
    "time_vs_batch_figure": "plots",
    "time_vs_macs_figure": "plots",
    "degradation_figure": "plots",
    "DegradationResult": "degradation",
    "run_degradation": "degradation",
    "load_result": "degradation",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'keras_archs.analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"keras_archs.analysis.{_NAMES[name]}"), name)
    globals()[name] = value
    return value
