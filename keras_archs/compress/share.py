"""Weight sharing (Han et al. 2016, §3): per-layer 1-D k-means on the non-zero weights, centroids fine-tuned.

Two quantizers, both 1-D and exact (no sampling), both deterministic:

* :func:`kmeans_1d` — Lloyd's k-means with the paper's *linear* initialisation (centroids spaced evenly between the
  smallest and the largest weight; §3.2 found it beats density-based and random initialisation because it keeps the
  few large weights, which matter most).
* :func:`entropy_constrained_kmeans` — the same Lloyd iteration with a rate term (Chou, Lookabaugh & Gray 1989,
  "Entropy-constrained vector quantization"): each weight goes to the centroid minimising
  ``(w - c_j) ** 2 + lam * bits_j`` with ``bits_j = -log2 p_j``. Since the codes are Huffman-coded afterwards, this
  trades a little distortion for a lot fewer bits, which plain k-means at a fixed ``k`` cannot.

Both work on the *distinct* values with counts, so a layer that is already quantized (the published Deep Compression
SqueezeNet has 256 values per layer) clusters in microseconds, and a float layer in O(n log n).

Code 0 is reserved for the pruned zero (``codebook[0] == 0.0``), as in the Deep Compression ``.net`` files: a layer's
codes are ``0`` where the mask is off and ``1..k`` for the ``k`` shared values.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = [
    "SharedWeights",
    "kmeans_1d",
    "entropy_constrained_kmeans",
    "share_weights",
    "code_entropy_bits",
]

_MAX_ITERATIONS = 100
_COMPENSATION_BLOCK = 128  # columns per lazy-update block (GPTQ, Frantar et al. 2023, §4 "Lazy Batch-Updates")


@dataclasses.dataclass(frozen=True)
class SharedWeights:
    """A tensor after weight sharing: ``value = codebook[codes]``; code 0 is the pruned zero (codebook[0] == 0)."""

    codebook: np.ndarray  # float32 (k + 1,)
    codes: np.ndarray  # int32, the tensor's shape

    def values(self) -> np.ndarray:
        return self.codebook[self.codes]


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("Cannot cluster an empty set of weights (every weight of the layer is pruned).")
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"Weights must be finite to be clustered; found {np.count_nonzero(~np.isfinite(values))} non-finite."
        )
    return np.unique(values, return_counts=True)


def _check_clusters(clusters: Any) -> int:
    if isinstance(clusters, bool) or not isinstance(clusters, (int, np.integer)) or not 1 <= clusters <= 65535:
        raise ValueError(f"clusters must be an int in 1..65535. Received: clusters={clusters!r}")
    return int(clusters)


def _lloyd(
    distinct: np.ndarray, counts: np.ndarray, centroids: np.ndarray, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd iterations on sorted distinct values; returns (centroids, assignment of each distinct value)."""
    total = counts.sum()
    assignment = np.zeros(distinct.size, np.int64)
    for _ in range(_MAX_ITERATIONS):
        if lam > 0:
            mass = np.bincount(assignment, weights=counts, minlength=centroids.size)
            bits = np.where(mass > 0, -np.log2(np.maximum(mass, 1e-300) / total), np.inf)
            if _ == 0:
                bits = np.full(centroids.size, np.log2(centroids.size))
            cost = (distinct[:, None] - centroids[None, :]) ** 2 + lam * bits[None, :]
            new_assignment = np.argmin(cost, axis=1)
        else:
            # 1-D nearest centroid = the interval between neighbouring midpoints.
            order = np.argsort(centroids, kind="stable")
            sorted_centroids = centroids[order]
            midpoints = (sorted_centroids[1:] + sorted_centroids[:-1]) / 2
            new_assignment = order[np.searchsorted(midpoints, distinct, side="right")]
        mass = np.bincount(new_assignment, weights=counts, minlength=centroids.size)
        weighted = np.bincount(new_assignment, weights=counts * distinct, minlength=centroids.size)
        used = mass > 0
        new_centroids = centroids.copy()
        new_centroids[used] = weighted[used] / mass[used]
        converged = np.array_equal(new_assignment, assignment) and np.allclose(new_centroids, centroids, rtol=0, atol=0)
        assignment, centroids = new_assignment, new_centroids
        if converged:
            break
    # Drop empty clusters and renumber in ascending centroid order (deterministic codebooks).
    used = np.unique(assignment)
    centroids = centroids[used]
    remap = np.zeros(int(used.max()) + 1, np.int64)
    remap[used] = np.arange(used.size)
    assignment = remap[assignment]
    order = np.argsort(centroids, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return centroids[order], rank[assignment]


def kmeans_1d(values: np.ndarray, clusters: int, init: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means of ``values`` with linear initialisation (Han et al. 2016, §3.2).

    Args:
        values: The weights to share (any shape; flattened).
        clusters: Number of shared values ``k`` (e.g. ``2 ** bits``).
        init: ``"linear"`` (evenly spaced between min and max, the paper's choice) or ``"quantile"``.

    Returns:
        ``(centroids, assignment)``: float32 centroids in ascending order (empty clusters dropped, so possibly fewer
        than ``clusters``) and an int32 array of ``values``' shape with each value's centroid index.

    Raises:
        ValueError: ``clusters`` not in 1..65535, ``init`` unknown, or non-finite / empty ``values``.

    Example:
        >>> centroids, idx = kmeans_1d(np.array([0.1, 0.12, 0.9, 1.0]), 2)
        >>> [round(float(c), 2) for c in centroids], idx.tolist()
        ([0.11, 0.95], [0, 0, 1, 1])
    """
    clusters = _check_clusters(clusters)
    values = np.asarray(values)
    distinct, counts = _distinct(values)
    if init == "linear":
        centroids = np.linspace(distinct[0], distinct[-1], clusters)
    elif init == "quantile":
        cumulative = np.cumsum(counts) / counts.sum()
        centroids = distinct[
            np.searchsorted(cumulative, (np.arange(clusters) + 0.5) / clusters).clip(0, distinct.size - 1)
        ]
    else:
        raise ValueError(f"init must be 'linear' or 'quantile'. Received: init={init!r}")
    centroids, assignment = _lloyd(distinct, counts, centroids.astype(np.float64), lam=0.0)
    index = np.searchsorted(distinct, values.reshape(-1).astype(np.float64))
    return centroids.astype(np.float32), assignment[index].reshape(values.shape).astype(np.int32)


def entropy_constrained_kmeans(values: np.ndarray, clusters: int, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Entropy-constrained 1-D k-means: minimises ``mean((w - c) ** 2) + lam * mean(code bits)``.

    Starts from the linear initialisation like :func:`kmeans_1d`; ``lam = 0`` is plain k-means. Larger ``lam`` empties
    rare clusters and merges neighbours, lowering the Huffman-coded size at a small cost in squared error. ``lam`` is
    in squared-weight units per bit; :func:`share_weights` scales it by the layer's weight variance so one value
    means the same relative trade-off in every layer.

    Returns:
        ``(centroids, assignment)`` as :func:`kmeans_1d`.

    Raises:
        ValueError: ``lam`` negative or not finite, or as :func:`kmeans_1d`.
    """
    clusters = _check_clusters(clusters)
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite number >= 0. Received: lam={lam!r}")
    values = np.asarray(values)
    distinct, counts = _distinct(values)
    centroids, assignment = _lloyd(distinct, counts, np.linspace(distinct[0], distinct[-1], clusters), lam=float(lam))
    index = np.searchsorted(distinct, values.reshape(-1).astype(np.float64))
    return centroids.astype(np.float32), assignment[index].reshape(values.shape).astype(np.int32)


def share_weights(kernel: np.ndarray, bits: int, mask: np.ndarray | None = None, lam: float = 0.0) -> SharedWeights:
    """Shares the non-zero (or unmasked) weights of ``kernel`` among at most ``2 ** bits - 1`` values.

    One code of the ``2 ** bits`` is the pruned zero, so a ``bits``-bit layer has ``2 ** bits - 1`` shared values —
    the Deep Compression ``.net`` convention (its codebooks have 256 entries, entry 0 = 0.0).

    Args:
        kernel: The weights.
        bits: Code width, 1..16.
        mask: Boolean array of ``kernel``'s shape, True for kept weights; default ``kernel != 0``.
        lam: Rate weight of :func:`entropy_constrained_kmeans`, relative to the kept weights' variance; 0 = k-means.

    Returns:
        :class:`SharedWeights` with codes 0 at masked-off positions.

    Raises:
        ValueError: ``bits`` outside 1..16, or ``mask`` of another shape.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an int in 1..16. Received: bits={bits!r}")
    kernel = np.asarray(kernel, np.float32)
    mask = kernel != 0 if mask is None else np.asarray(mask, bool)
    if mask.shape != kernel.shape:
        raise ValueError(f"mask has shape {mask.shape} but the kernel has {kernel.shape}.")
    codes = np.zeros(kernel.shape, np.int32)
    kept = kernel[mask]
    if kept.size == 0:
        return SharedWeights(np.zeros(1, np.float32), codes)
    clusters = 2**bits - 1
    if lam > 0:
        scale = float(np.mean(kept.astype(np.float64) ** 2)) or 1.0
        centroids, assignment = entropy_constrained_kmeans(kept, clusters, lam * scale)
    else:
        centroids, assignment = kmeans_1d(kept, clusters)
    # A centroid of exactly 0.0 would collide with the pruned code; nudge it to the smallest float32 step.
    centroids = np.where(centroids == 0, np.float32(np.finfo(np.float32).tiny), centroids)
    codes[mask] = assignment + 1
    return SharedWeights(np.concatenate([[0.0], centroids]).astype(np.float32), codes)


def code_entropy_bits(codes: np.ndarray) -> float:
    """Empirical entropy (bits) of the non-zero codes: the Huffman-coded size of the code stream to within 1 bit per
    code."""
    kept = np.asarray(codes).reshape(-1)
    kept = kept[kept != 0]
    if kept.size == 0:
        return 0.0
    counts = np.bincount(kept)
    p = counts[counts > 0] / kept.size
    return float(-(p * np.log2(p)).sum() * kept.size)


def compensated_codes(kernel: np.ndarray, codebook: np.ndarray, hessian: np.ndarray, damp: float = 0.1) -> np.ndarray:
    """Assigns each kept weight a code so that the layer's *output* error is small, not each weight's own error.

    Weights are quantized one input dimension at a time and the rounding error of each is pushed onto the weights
    not yet quantized, weighted by the inverse of the layer-input second-moment matrix ``hessian`` (the
    optimal-brain-surgeon update used by GPTQ, Frantar et al. 2023, Algorithm 1, here with a non-uniform codebook and
    a fixed sparsity pattern: pruned weights stay 0 and their error is compensated too).

    Args:
        kernel: Conv kernel ``(kh, kw, in, out)`` or dense kernel ``(in, out)``; zeros are the pruned weights.
        codebook: ``(k + 1,)`` with ``codebook[0] == 0``; the shared values the kept weights may take.
        hessian: ``(d, d)`` with ``d = kh * kw * in``: ``E[x x^T]`` of the layer's input patches (in the kernel's
            flattening order).
        damp: Added to the diagonal, as a fraction of its mean (GPTQ's dampening; larger = closer to plain rounding).

    Returns:
        int32 codes of ``kernel``'s shape (0 at pruned positions).

    Raises:
        ValueError: Shapes that do not agree.
    """
    kernel = np.asarray(kernel, np.float64)
    out = kernel.shape[-1]
    weights = kernel.reshape(-1, out).T.copy()  # (out, d)
    d = weights.shape[1]
    hessian = np.array(hessian, np.float64, copy=True)
    if hessian.shape != (d, d):
        raise ValueError(f"hessian must be ({d}, {d}) for a kernel of shape {kernel.shape}. Received: {hessian.shape}")
    mask = weights != 0
    dead = np.diag(hessian) <= 0
    hessian[dead, dead] = 1.0
    hessian[np.diag_indices(d)] += damp * float(np.mean(np.diag(hessian)))
    import tensorflow as tf  # Eigen's factorisations: numpy's OpenBLAS threads stall on a loaded 2-core machine

    upper = tf.transpose(tf.linalg.cholesky(tf.linalg.inv(tf.constant(hessian)))).numpy()
    values = np.asarray(codebook, np.float64)[1:]
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    midpoints = (sorted_values[1:] + sorted_values[:-1]) / 2
    codes = np.zeros(weights.shape, np.int32)
    # GPTQ's lazy batch updates: errors are pushed inside a block of columns at once, and onto the columns after the
    # block with one matrix product (same result as column-by-column, far fewer passes over the matrix).
    for start in range(0, d, _COMPENSATION_BLOCK):
        stop = min(start + _COMPENSATION_BLOCK, d)
        block = weights[:, start:stop].copy()
        errors = np.zeros_like(block)
        for j in range(stop - start):
            column = block[:, j]
            kept = mask[:, start + j]
            nearest = np.searchsorted(midpoints, column)
            quantized = np.where(kept, sorted_values[nearest], 0.0)
            codes[:, start + j] = np.where(kept, order[nearest] + 1, 0)
            error = (column - quantized) / upper[start + j, start + j]
            block[:, j + 1 :] -= np.outer(error, upper[start + j, start + j + 1 : stop])
            errors[:, j] = error
        if stop < d:
            weights[:, stop:] -= tf.matmul(errors, upper[start:stop, stop:]).numpy()
    return codes.T.reshape(kernel.shape)
