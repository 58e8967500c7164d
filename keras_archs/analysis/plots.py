"""The figures of the analysis, as matplotlib ``Figure`` objects (no pyplot state: they show inline in a notebook and
save anywhere through :func:`save_figure`).

* :func:`accuracy_vs_macs_figure`: top-1 accuracy against MACs, bubble area proportional to parameters (Canziani et
  al. 2016, "An Analysis of Deep Neural Network Models for Practical Applications", arXiv:1605.07678, Fig. 2);
* :func:`time_vs_batch_figure`: time per image against batch size (Canziani et al. 2016, Fig. 3);
* :func:`time_vs_macs_figure`: time per image at one batch size against MACs with a least-squares line and its R^2
  (Canziani et al. 2016, Fig. 7: "operations count ... and inference time" are linearly related);
* :func:`degradation_figure`: training and held-out error per epoch of plain and residual networks (He et al. 2016,
  Fig. 6).

matplotlib is an optional dependency (``pip install keras_archs[plot]``); it is imported when a figure is drawn.
"""

from __future__ import annotations

import dataclasses
import io
import os
from typing import Any, Sequence

import numpy as np

from keras_archs import _files

__all__ = [
    "LinearFit",
    "linear_fit",
    "save_figure",
    "accuracy_vs_macs_figure",
    "time_vs_batch_figure",
    "time_vs_macs_figure",
    "degradation_figure",
]


_AREA_PER_MILLION = 12.0  # bubble area (points^2) per million parameters: VGG-19's 144 M -> 1,700


def _figure(width: float = 7.0, height: float = 5.0, columns: int = 1) -> tuple[Any, Any]:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("The analysis plots need matplotlib: pip install 'keras_archs[plot]'.") from error
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, columns, squeeze=False)[0]
    return figure, axes


def save_figure(figure: Any, path: str | os.PathLike, dpi: int = 120) -> int:
    """Writes ``figure`` as a PNG through ``keras_archs._files`` (never half a file); returns its bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return _files.write_bytes(path, buffer.getvalue())


@dataclasses.dataclass(frozen=True)
class LinearFit:
    """``y = slope * x + intercept`` fitted by least squares, with the coefficient of determination ``r2``."""

    slope: float
    intercept: float
    r2: float
    n: int


def linear_fit(x: Sequence[float], y: Sequence[float]) -> LinearFit:
    """Least-squares line through ``(x, y)`` and its R^2 (1 - residual sum of squares / total sum of squares).

    Raises:
        ValueError: Fewer than two points, or all ``x`` equal.

    Example:
        >>> fit = linear_fit([1, 2, 3, 4], [2.0, 4.1, 5.9, 8.0])
        >>> round(fit.slope, 2), round(fit.r2, 3)
        (1.98, 0.999)
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2 or len(x) != len(y) or np.ptp(x) == 0:
        raise ValueError(f"A line needs at least two points with different x. Received: x={x.tolist()}")
    slope, intercept = np.polyfit(x, y, 1)
    residual = float(np.sum((y - (slope * x + intercept)) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    return LinearFit(float(slope), float(intercept), 1.0 - residual / total if total else 1.0, len(x))


def _label_points(axis: Any, names: Sequence[str], x: Sequence[float], y: Sequence[float]) -> None:
    for name, xi, yi in zip(names, x, y):
        axis.annotate(name, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)


def accuracy_vs_macs_figure(points: Sequence[Any], title: str | None = None) -> Any:
    """Top-1 accuracy against GMACs, one bubble per model with area proportional to its parameters (Canziani Fig. 2).

    Args:
        points: Objects with ``name``, ``macs``, ``params`` and ``top1`` (a fraction, 0..1), e.g. the rows of
            :func:`keras_archs.analysis.accuracy_points`.
        title: Figure title.

    Returns:
        A matplotlib ``Figure``.

    Raises:
        ValueError: No point to draw.
    """
    points = list(points)
    if not points:
        raise ValueError("accuracy_vs_macs_figure needs at least one model with a published top-1 accuracy.")
    figure, (axis,) = _figure()
    gmacs = [p.macs / 1e9 for p in points]
    top1 = [100 * p.top1 for p in points]
    area = [_AREA_PER_MILLION * p.params / 1e6 for p in points]  # bubble area ~ parameters, one scale for all charts
    colors = [f"C{i % 10}" for i in range(len(points))]
    axis.scatter(gmacs, top1, s=area, c=colors, alpha=0.45, edgecolors="k", linewidths=0.5)
    _label_points(axis, [p.name for p in points], gmacs, top1)
    axis.set_xlabel("multiply-accumulates per image (G), batch 1")
    axis.set_ylabel("published ImageNet top-1 accuracy (%)")
    for millions in (5, 25, 100):
        axis.scatter([], [], s=_AREA_PER_MILLION * millions, c="none", edgecolors="grey", label=f"{millions} M")
    axis.legend(title="parameters", loc="lower right", labelspacing=2.0, borderpad=1.2, frameon=False)
    axis.margins(0.12)
    axis.grid(alpha=0.3)
    axis.set_title(title or "Accuracy vs operations, bubble = parameters (Canziani et al. 2016, Fig. 2)")
    return figure


def time_vs_batch_figure(profiles: Sequence[Any], runtime: str = "keras", title: str | None = None) -> Any:
    """Time per image (ms) against batch size, one line per model, log-log (Canziani Fig. 3).

    Args:
        profiles: :class:`keras_archs.analysis.Profile` objects (``name`` and ``latency`` points).
        runtime: Which runtime's points ("keras" or "tflite").
        title: Figure title.
    """
    figure, (axis,) = _figure()
    drawn = 0
    for index, profile in enumerate(profiles):
        points = sorted((p.batch_size, p.ms_per_image) for p in profile.latency if p.runtime == runtime)
        if not points:
            continue
        batches, ms = zip(*points)
        axis.plot(batches, ms, marker="o", markersize=3, color=f"C{index % 10}", label=profile.name)
        drawn += 1
    if not drawn:
        raise ValueError(f"No profile has {runtime!r} latency points to draw.")
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xlabel("batch size")
    axis.set_ylabel(f"time per image (ms), {runtime}")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=7, ncol=2)
    axis.set_title(title or "Time per image vs batch size (Canziani et al. 2016, Fig. 3)")
    return figure


def time_vs_macs_figure(
    profiles: Sequence[Any], batch_size: int = 16, runtime: str = "keras", title: str | None = None
) -> tuple[Any, LinearFit]:
    """Time per image at ``batch_size`` against GMACs, with the least-squares line and its R^2 (Canziani Fig. 7).

    Returns:
        ``(figure, fit)``: the ``Figure`` and the :class:`LinearFit` of ms per image on GMACs.

    Raises:
        ValueError: Fewer than two profiles with a point at ``batch_size`` for ``runtime``.
    """
    names, gmacs, ms = [], [], []
    for profile in profiles:
        for point in profile.latency:
            if point.runtime == runtime and point.batch_size == batch_size:
                names.append(profile.name)
                gmacs.append(profile.macs / 1e9)
                ms.append(point.ms_per_image)
    if len(names) < 2:
        raise ValueError(
            f"time_vs_macs_figure needs at least two models timed at batch {batch_size} with {runtime!r}; "
            f"found {len(names)}."
        )
    fit = linear_fit(gmacs, ms)
    figure, (axis,) = _figure()
    axis.scatter(gmacs, ms, color="C0")
    _label_points(axis, names, gmacs, ms)
    line = np.linspace(0, max(gmacs) * 1.05, 50)
    axis.plot(
        line, fit.slope * line + fit.intercept, color="C3", label=f"fit: {fit.slope:.2f} ms/GMAC, R² = {fit.r2:.3f}"
    )
    axis.set_xlabel("multiply-accumulates per image (G)")
    axis.set_ylabel(f"time per image at batch {batch_size} (ms), {runtime}")
    axis.legend()
    axis.grid(alpha=0.3)
    axis.set_title(title or "Time vs operations (Canziani et al. 2016, Fig. 7)")
    return figure, fit


def degradation_figure(result: Any, title: str | None = None) -> Any:
    """Error per epoch of plain (left) and residual (right) networks, like He et al. 2016's Fig. 6.

    Dashed: training error (running, on the augmented training batches); solid: held-out error (the split that
    ``result.splits["monitored_each_epoch"]`` names); a marker after the last epoch: test error, read once.

    Args:
        result: A :class:`keras_archs.analysis.degradation.DegradationResult`.
        title: Figure title.
    """
    figure, axes = _figure(width=11.0, height=4.5, columns=2)
    held = result.splits["monitored_each_epoch"]
    for axis, plain in zip(axes, (True, False)):
        for index, network in enumerate(n for n in result.networks if n.plain == plain):
            color = f"C{index}"
            epochs = np.arange(1, len(network.train_error) + 1)
            axis.plot(epochs, 100 * np.array(network.train_error), "--", color=color, label=f"{network.name} train")
            axis.plot(
                epochs, 100 * np.array(network.heldout_error), "-", lw=2, color=color, label=f"{network.name} {held}"
            )
            axis.plot([epochs[-1] + 0.3], [100 * network.test_error], "D", color=color, label=f"{network.name} test")
        axis.set_xlabel("epoch")
        axis.set_ylabel("error (%)")
        axis.set_title("plain networks" if plain else "residual networks")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    low = min(axis.get_ylim()[0] for axis in axes)
    high = max(axis.get_ylim()[1] for axis in axes)
    for axis in axes:  # one scale, so the two panels compare at a glance
        axis.set_ylim(low, high)
    budget = f"{result.epochs} epochs" + (f" of {result.train_limit:,} images" if result.train_limit else "")
    figure.suptitle(title or f"Degradation (He et al. 2016, Fig. 6) on {result.data}, {budget}, recipe {result.recipe}")
    return figure
