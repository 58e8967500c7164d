"""The registry's models as subjects of :func:`keras_archs.analysis.profile`, and their published accuracy.

:func:`profile_registered` builds a registered model at its default input size with random weights (costs and times
do not depend on the values) and profiles it under its registry name. :func:`accuracy_points` joins profiles with the
published ImageNet top-1 accuracy each :class:`keras_archs.registry.ModelSpec` records as cited data
(``published_accuracy``), for Canziani et al.'s accuracy-vs-operations chart.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

__all__ = ["AccuracyPoint", "accuracy_points", "profile_registered", "build_registered"]


@dataclasses.dataclass(frozen=True)
class AccuracyPoint:
    """One model of the accuracy chart: its costs (measured here) and its top-1 accuracy (published, cited)."""

    name: str
    macs: int
    params: int
    top1: float
    source: str


def build_registered(name: str) -> Any:
    """The registered model ``name`` at its default input size, ``weights=None`` (random values)."""
    from keras_archs import applications

    return applications.get_spec(name).build(weights=None)


def profile_registered(name: str, **kwargs: Any) -> Any:
    """:func:`keras_archs.analysis.profile` of the registered model ``name`` (:func:`build_registered`).

    Args:
        name: Registry name or alias.
        **kwargs: Passed to :func:`keras_archs.analysis.profile` (``batch_sizes``, ``runtimes``, ``progress``...).

    Returns:
        A :class:`keras_archs.analysis.Profile` named by the registry name.
    """
    from keras_archs import applications
    from keras_archs.analysis.profiling import profile

    spec = applications.get_spec(name)
    return profile(build_registered(spec.name), name=spec.name, **kwargs)


def accuracy_points(profiles: Sequence[Any], dataset: str = "imagenet") -> list[AccuracyPoint]:
    """The profiles of registered models that have a published top-1 accuracy on ``dataset``, as chart points.

    Profiles whose name is not a registered model, or whose model has no published accuracy on ``dataset`` (the
    CIFAR networks, for ImageNet), are left out.
    """
    from keras_archs import applications

    points = []
    for profile in profiles:
        try:
            spec = applications.get_spec(profile.name)
        except ValueError:
            continue
        published = spec.published_accuracy
        if published is None or published.dataset != dataset:
            continue
        points.append(AccuracyPoint(profile.name, profile.macs, profile.params, published.top1, published.source))
    return points
