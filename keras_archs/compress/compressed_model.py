"""A compressed Keras model and its archive: :class:`CompressedModel` (what ``deep_compress`` returns) and :func:`load`.

This module is the bridge between a Keras model and the archive format of :mod:`.archive` (specified in
docs/archive_format.md): every weight of the model is stored under its variable path (:func:`weight_keys`), the
weight-shared kernels as :class:`~keras_archs.compress.archive.SharedTensor` in Caffe storage order
(:func:`storage_axes`), every other tensor dense, and the Keras config beside them, so :func:`load` rebuilds the model
with no Python code from the file.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import keras
import numpy as np

from keras_archs import weights as weights_lib
from keras_archs.compress import archive as archive_lib

__all__ = ["DEFAULT_MAX_PARAMS", "FORMAT_NAME", "CompressedModel", "load", "storage_axes", "weight_keys"]

# metadata["format"] of every archive deep_compress writes; load refuses archives without it.
FORMAT_NAME = "keras_archs.deep_compression"


def weight_keys(model: keras.Model) -> list[tuple[str, Any]]:
    """``(key, variable)`` for every weight of ``model`` in order; the key is the variable path, made unique."""
    keys, seen = [], {}
    for variable in model.weights:
        key = variable.path
        if key in seen:
            seen[key] += 1
            key = f"{key}#{seen[key]}"
        else:
            seen[key] = 0
        keys.append((key, variable))
    return keys


def storage_axes(ndim: int) -> tuple[int, ...] | None:
    """The transpose that stores a Keras kernel of ``ndim`` dimensions in Caffe order (None: stored as it is).

    Conv kernels ``(kh, kw, in, out)`` are stored as Caffe blobs ``(out, in, kh, kw)`` and dense kernels
    ``(in, out)`` as ``(out, in)``: one filter's weights are contiguous, as in the Deep Compression ``.net`` files.
    """
    return {4: (3, 2, 0, 1), 2: (1, 0)}.get(ndim)


@dataclasses.dataclass
class CompressedModel:
    """The result of :func:`~keras_archs.compress.deep_compress`.

    Attributes:
        model: The compressed Keras model (kernels = shared values, pruned weights exactly 0).
        config: The model's Keras config (what the archive stores to rebuild it).
        shared: The shared tensors (codebook + codes per kernel).
        dense: Every other weight as stored (biases, batch norm; float16 if the recipe says so).
        metadata: Recipe, source model, input description, measured accuracies.
    """

    model: keras.Model
    config: dict
    shared: list[archive_lib.SharedTensor]
    dense: dict[str, np.ndarray]
    metadata: dict
    _encoded: bytes | None = dataclasses.field(default=None, repr=False)

    def to_bytes(self) -> bytes:
        """The archive's bytes (encoded once, then cached)."""
        if self._encoded is None:
            self._encoded = archive_lib.encode(
                config=self.config, shared=self.shared, dense=self.dense, metadata=self.metadata
            )
        return self._encoded

    @property
    def size_bytes(self) -> int:
        """Size of the archive file in bytes."""
        return len(self.to_bytes())

    def save(self, path: str | os.PathLike) -> int:
        """Writes the archive (atomically, through ``keras_archs._files``); returns the bytes written."""
        return archive_lib.write_bytes(path, self.to_bytes())

    def report(self) -> list[dict]:
        """Per-layer rows: key, shape, density, bits, k, index_bits and exact bytes of codes / indices / codebook /
        tables / header; one row per dense tensor; a last ``total`` row whose ``total`` equals :attr:`size_bytes`."""
        bits = self.metadata.get("bits", {})
        rows = []
        for tensor in self.shared:
            row = archive_lib.tensor_report(tensor)
            row["shape"] = list(tensor.codes.shape)
            row["bits"] = bits.get(tensor.key)
            rows.append(row)
        shared_total = sum(row["total"] for row in rows)
        dense_raw = sum(int(value.nbytes) for value in self.dense.values())
        rows.append(
            {
                "key": "(dense tensors + config + framing)",
                "total": self.size_bytes - shared_total,
                "dense_raw_bytes": dense_raw,
            }
        )
        rows.append(
            {
                "key": "total",
                "total": self.size_bytes,
                "n_nonzero": sum(row.get("n_nonzero", 0) for row in rows[:-1]),
                "n_elements": sum(row.get("n_elements", 0) for row in rows[:-1]),
            }
        )
        return rows

    def report_table(self) -> str:
        """The :meth:`report` as an aligned text table."""
        header = ["tensor", "shape", "density", "bits", "codes", "indices", "codebook", "tables+hdr", "bytes"]
        lines = []
        for row in self.report():
            if "codes" in row:
                lines.append(
                    [
                        row["key"],
                        "x".join(map(str, row["shape"])),
                        f"{row['density']:.3f}",
                        str(row["bits"]),
                        f"{row['codes']:,}",
                        f"{row['indices']:,}",
                        f"{row['codebook']:,}",
                        f"{row['tables'] + row['sync'] + row['header']:,}",
                        f"{row['total']:,}",
                    ]
                )
            else:
                lines.append([row["key"], "", "", "", "", "", "", "", f"{row['total']:,}"])
        widths = [max(len(str(c)) for c in col) for col in zip(header, *lines)]

        def aligned(cells):
            return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        return "\n".join([aligned(header), aligned(["-" * w for w in widths]), *map(aligned, lines)])


# The most parameters load() rebuilds unless told otherwise: the decoder's element budget (VGG19, the largest zoo
# model, has 143,667,240).
DEFAULT_MAX_PARAMS = archive_lib.DEFAULT_MAX_ELEMENTS
# Values in variables that are not weights: random-seed states, 2 per Dropout-like layer.
_MAX_OTHER_VALUES = 1 << 16


def _archive_bytes(path: Any) -> bytes:
    """The bytes of ``path`` (a file path or the bytes themselves); clear errors for anything else."""
    if isinstance(path, (bytes, bytearray, memoryview)):
        return bytes(path)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be the path of a .kadc archive (str or os.PathLike) or its bytes. Received: path={path!r} of "
            f"type {type(path).__name__}"
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"path must be a .kadc archive file, not a folder. Received: path={os.fspath(path)!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"file not found: {os.fspath(path)}")
    with open(path, "rb") as handle:
        return handle.read()


def _compile_as_stored(model: keras.Model, config: dict) -> None:
    compile_config = config.get("compile_config")
    if not compile_config:
        return
    try:
        model.compile_from_config(compile_config)
    except Exception as error:  # noqa: BLE001 - as deserialize_keras_object would fail on it
        raise archive_lib.ArchiveCorruptError(f"The archive's compile config cannot be applied: {error}") from error


class _StoredValue:
    """An initializer that gives a variable the value the archive stores (no random draw, no second copy)."""

    def __init__(self, value: np.ndarray) -> None:
        self.value = value

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        return self.value.astype(keras.backend.standardize_dtype(dtype), copy=False)


def load(path: str | os.PathLike | bytes, *, max_params: int = DEFAULT_MAX_PARAMS) -> keras.Model:
    """Rebuilds the Keras model stored in a Deep Compression archive.

    Nothing is allocated for the model before its size is known to be the stored tensors' size: the archive's
    tensors are decoded (the decoder checks every count against the bytes and ``max_params``), the model is built
    from the config with shape-only variables, every variable's shape is compared with its stored tensor, and only
    then are the variables created, directly from the stored values. A crafted config that describes a larger
    network than its tensors (checksums do not help: whoever crafts a file recomputes them) is refused at no cost.

    Args:
        path: The archive file (or its bytes).
        max_params: Refuse archives that store more values than this, in total (the default fits every model of
            the zoo; raise it for a trusted archive of a larger network).

    Returns:
        A Keras model with the decoded weights (kernels = shared values, pruned weights 0).

    Raises:
        keras_archs.compress.ArchiveCorruptError: The file is not a valid archive, or its tensors do not fit the
            model its config describes, or it holds more than ``max_params`` values.
        FileNotFoundError: No such file ("file not found: PATH").
        IsADirectoryError: ``path`` is a folder.
        TypeError: ``path`` is neither a path nor bytes.
        ValueError: ``max_params`` is not a positive integer.

    Example:
        >>> from keras_archs.compress import load
        >>> model = load(keras_archs.saved_models.path("squeezenet_fashion_mnist.kadc"))  # doctest: +SKIP
    """
    if isinstance(max_params, bool) or not isinstance(max_params, (int, np.integer)) or max_params < 1:
        raise ValueError(f"max_params must be a positive integer. Received: max_params={max_params!r}")
    stored = archive_lib.decode(_archive_bytes(path), max_elements=int(max_params))
    if stored.metadata.get("format") != FORMAT_NAME:
        raise archive_lib.ArchiveCorruptError(
            f"The archive's metadata says format {stored.metadata.get('format')!r}, not {FORMAT_NAME!r}: it was not "
            "written by keras_archs.compress.deep_compress."
        )
    total = sum(int(value.size) for value in stored.tensors.values())
    if total > max_params:
        raise archive_lib.ArchiveCorruptError(
            f"The archive stores {total:,} values, over max_params={int(max_params):,} (pass a larger max_params to "
            "load a trusted archive of a larger network)."
        )
    import keras_archs.applications  # noqa: F401  (registers the zoo's custom layers the config may name)

    model, pending = weights_lib.build_unallocated(
        stored.config, archive_lib.ArchiveCorruptError, "The archive's model config"
    )
    keys = weight_keys(model)
    missing = [key for key, _ in keys if key not in stored.tensors]
    extra = sorted(set(stored.tensors) - {key for key, _ in keys})
    if missing or extra:
        raise archive_lib.ArchiveCorruptError(
            f"The archive's tensors do not match its model: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}."
        )
    for key, variable in keys:
        value = stored.tensors[key]
        if tuple(value.shape) != tuple(variable.shape):
            raise archive_lib.ArchiveCorruptError(
                f"Tensor {key!r} has shape {tuple(value.shape)} in the archive; "
                f"the model needs {tuple(variable.shape)}."
            )
    by_variable = {id(variable): stored.tensors[key] for key, variable in keys}
    # Variables that are not weights (a Dropout layer's seed state: 2 values) keep their own initializer.
    other = sum(math.prod(v.shape) for v in pending if id(v) not in by_variable)
    if other > _MAX_OTHER_VALUES:
        raise archive_lib.ArchiveCorruptError(
            f"The archive's model has {other:,} variable values besides its weights; at most {_MAX_OTHER_VALUES:,} "
            "are accepted (random-seed states)."
        )
    for variable in pending:
        if id(variable) in by_variable:
            variable._initializer = _StoredValue(by_variable[id(variable)])
        variable._deferred_initialize()
    deferred = {id(variable) for variable in pending}
    for key, variable in keys:  # a weight Keras created eagerly (none in Keras 3.15) gets the stored value too
        if id(variable) not in deferred:
            variable.assign(stored.tensors[key].astype(variable.dtype))
    _compile_as_stored(model, stored.config)
    return model
