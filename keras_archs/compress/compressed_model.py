"""A compressed Keras model and its archive: :class:`CompressedModel` (what ``deep_compress`` returns) and :func:`load`.

This module is the bridge between a Keras model and the archive format of :mod:`.archive` (specified in
docs/archive_format.md): every weight of the model is stored under its variable path (:func:`weight_keys`), the
weight-shared kernels as :class:`~keras_archs.compress.archive.SharedTensor` in Caffe storage order
(:func:`storage_axes`), every other tensor dense, and the Keras config beside them, so :func:`load` rebuilds the model
with no Python code from the file.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import keras
import numpy as np

from keras_archs.compress import archive as archive_lib

__all__ = ["FORMAT_NAME", "CompressedModel", "load", "storage_axes", "weight_keys"]

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


def load(path: str | os.PathLike | bytes) -> keras.Model:
    """Rebuilds the Keras model stored in a Deep Compression archive.

    Args:
        path: The archive file (or its bytes).

    Returns:
        A Keras model with the decoded weights (kernels = shared values, pruned weights 0).

    Raises:
        keras_archs.compress.ArchiveCorruptError: The file is not a valid archive, or its tensors do not fit the
            model its config describes.
        FileNotFoundError: No such file.

    Example:
        >>> from keras_archs.compress import load
        >>> model = load(keras_archs.saved_models.path("squeezenet_fashion_mnist.kadc"))  # doctest: +SKIP
    """
    stored = archive_lib.decode(path) if isinstance(path, (bytes, bytearray)) else archive_lib.read(path)
    if stored.metadata.get("format") != FORMAT_NAME:
        raise archive_lib.ArchiveCorruptError(
            f"The archive's metadata says format {stored.metadata.get('format')!r}, not {FORMAT_NAME!r}: it was not "
            "written by keras_archs.compress.deep_compress."
        )
    import keras_archs.applications  # noqa: F401  (registers the zoo's custom layers the config may name)

    try:
        model = keras.saving.deserialize_keras_object(stored.config)
    except Exception as error:  # noqa: BLE001 - any failure to rebuild means the stored config is unusable
        raise archive_lib.ArchiveCorruptError(f"The archive's model config cannot be rebuilt: {error}") from error
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
        variable.assign(value.astype(variable.dtype))
    return model
