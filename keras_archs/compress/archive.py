"""The Deep Compression archive (``.kadc``): a pruned, weight-shared network in one binary file (DESIGN.md §5).

Han et al. 2016 store each layer as a codebook, Huffman-coded weight codes and Huffman-coded relative indices of the
non-zero weights. This module is that file format: no serialised Python objects, no code, numbers little-endian,
every part checksummed, the same inputs always giving the same bytes. The byte-level specification (every field, its
byte order and limits, the checksums and the versioning rules) is docs/archive_format.md; :func:`encode` /
:func:`decode` implement it, :func:`write` / :func:`read` put it in a file (written through ``keras_archs._files``).

Example:
    >>> import numpy as np
    >>> t = SharedTensor("conv/kernel", np.array([0.0, -0.5, 0.5], np.float32),
    ...                  np.array([[0, 1, 0, 0], [2, 0, 0, 1]]))
    >>> data = encode(config={"name": "tiny"}, shared=[t], dense={"conv/bias": np.zeros(2, np.float32)})
    >>> archive = decode(data, want_codes=True)
    >>> archive.tensors["conv/kernel"].tolist()
    [[0.0, -0.5, 0.0, 0.0], [0.5, 0.0, 0.0, -0.5]]
    >>> archive.codes["conv/kernel"].tolist()
    [[0, 1, 0, 0], [2, 0, 0, 1]]
"""

from __future__ import annotations

import dataclasses
import json
import lzma
import math
import os
import pathlib
import struct
import zlib
from typing import Mapping, Sequence

import numpy as np

from keras_archs import _files
from keras_archs.compress import huffman

__all__ = [
    "Archive",
    "ArchiveCorruptError",
    "SharedTensor",
    "decode",
    "encode",
    "encode_tensor",
    "read",
    "sparse_gaps",
    "tensor_report",
    "write",
    "write_bytes",
]

MAGIC = b"KADC"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
MAX_CODEBOOK_SIZE = 1 << 16
MAX_INDEX_BITS = 8  # Han et al. 2016, §2: 8-bit relative indices for conv layers
# A shared tensor's all-zero stretches cost no bits, so a small file can describe a huge tensor: decode refuses to
# allocate more than this many shared-tensor elements unless asked (VGG19, the largest zoo model, has 144M).
DEFAULT_MAX_ELEMENTS = 1 << 28
_MAX_NDIM = 32
_MAX_DIM = 1 << 48
_MAX_SYNC_INTERVAL = 1 << 16
_MAX_KEY_BYTES = 1 << 16
_MAX_JSON_BYTES = 1 << 28
_GAP_MAX_LENGTH = huffman.DEFAULT_MAX_LENGTH
_CODE_MAX_LENGTH = 16  # 15 unless a codebook of more than 2**15 entries uses them all
_CODEC_STORED, _CODEC_DEFLATE, _CODEC_LZMA = 0, 1, 2
# The block's mode byte: index_bits in the low 4 bits, the codebook coding in bits 4-5.
_INDEX_BITS_MASK, _CODEBOOK_SHIFT = 0x0F, 4
# Codebook codings: (float width, delta-coded). Delta = varints of zigzag differences of order-preserving keys;
# float16 only when every value is exactly a float16 (a recipe that rounds its codebooks to float16).
_CODEBOOK_CODINGS = ((32, False), (32, True), (16, False), (16, True))
_LZMA_DICT = 1 << 20
_LZMA_ENCODE = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": _LZMA_DICT}]
_LZMA_DECODE = [{"id": lzma.FILTER_LZMA2, "dict_size": _LZMA_DICT}]
# Dense dtypes by their u8 code (little-endian on disk).
_DTYPES = (
    "float32",
    "float16",
    "float64",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "bool",
)


class ArchiveCorruptError(ValueError):
    """The bytes are not a valid archive: wrong magic, unsupported version, truncation, checksum or field error."""


@dataclasses.dataclass(frozen=True, eq=False)
class SharedTensor:
    """One weight tensor after pruning + weight sharing: element value = codebook[codes]; code 0 is the pruned zero."""

    key: str  # e.g. "fire2/squeeze1x1/kernel" (opaque here; unique in an archive)
    codebook: np.ndarray  # float32 (k,), 1 <= k <= 65536, codebook[0] == 0.0
    codes: np.ndarray  # integer array of the tensor's shape, values in [0, k)
    # Transpose applied before flattening (storage order); e.g. (3, 2, 0, 1) stores a Keras (kh, kw, in, out) kernel
    # in Caffe order (out, in, kh, kw). None = identity.
    axes: tuple[int, ...] | None = None


@dataclasses.dataclass
class Archive:
    """A decoded archive.

    ``tensors`` holds every shared tensor as float32 in its original shape (``codebook[codes]``) and every dense
    tensor as given; ``codes`` the shared tensors' code arrays (uint8 for k <= 256, else uint16) when decoded with
    ``want_codes=True``, else None.
    """

    version: int
    config: dict
    metadata: dict
    tensors: dict[str, np.ndarray]
    codes: dict[str, np.ndarray] | None = None


# --- small byte helpers ------------------------------------------------------------------------------------------


def _section(body: bytes) -> bytes:
    framed = huffman.varint_encode(len(body)) + body
    return framed + struct.pack("<I", zlib.crc32(framed))


def _smallest_encoding(raw: bytes) -> tuple[int, bytes]:
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    candidates = [
        (_CODEC_STORED, raw),
        (_CODEC_DEFLATE, deflate.compress(raw) + deflate.flush()),
        (_CODEC_LZMA, lzma.compress(raw, format=lzma.FORMAT_RAW, filters=_LZMA_ENCODE)),
    ]
    return min(candidates, key=lambda c: (len(c[1]), c[0]))


def _codec_block(raw: bytes) -> bytes:
    codec, stored = _smallest_encoding(raw)
    return bytes([codec]) + huffman.varint_encode(len(raw)) + stored


class _Reader:
    """Bounds-checked reads from ``data[start:end]``; errors name the part and the absolute offset."""

    def __init__(self, data, start: int, end: int, where: str):
        self.data, self.pos, self.end, self.where = data, start, end, where
        self.view = memoryview(data)[:end]  # what nested parsers may read, without copying

    def fail(self, message: str) -> ArchiveCorruptError:
        return ArchiveCorruptError(f"{self.where}: {message}")

    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, nbytes: int, what: str) -> memoryview:
        if nbytes < 0 or nbytes > self.end - self.pos:
            raise self.fail(f"{what} at offset {self.pos} needs {nbytes} bytes but only {self.end - self.pos} remain")
        view = self.view[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return view

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def varint(self, what: str, maximum: int) -> int:
        try:
            value, pos = huffman.varint_decode(self.view, self.pos)
        except ValueError as error:
            raise self.fail(f"{what}: {error}") from None
        if pos > self.end:
            raise self.fail(f"{what} at offset {self.pos} runs past the end of its part (offset {self.end})")
        if value > maximum:
            raise self.fail(f"{what} at offset {self.pos} is {value}; at most {maximum} is accepted")
        self.pos = pos
        return value

    def text(self, what: str) -> str:
        length = self.varint(f"{what} length", _MAX_KEY_BYTES)
        raw = self.take(length, what)
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as error:
            raise self.fail(f"{what} at offset {self.pos - length} is not UTF-8: {error}") from None

    def shape(self, ndim: int, what: str) -> tuple[int, ...]:
        shape = tuple(self.varint(f"{what} dim {i}", _MAX_DIM) for i in range(ndim))
        # numpy refuses shapes whose non-zero dims multiply past intp, even when another dim is 0.
        if math.prod(max(d, 1) for d in shape) > _MAX_DIM:
            raise self.fail(f"{what} {shape} is too large for numpy")
        return shape

    def section(self, what: str) -> _Reader:
        """Checks the crc32 of the section starting here; returns a reader over its body and skips past it."""
        start = self.pos
        length = self.varint(f"{what}: body length", self.end - self.pos)
        body_start = self.pos
        self.take(length, f"{what} body")
        stored = self.take(4, f"{what} crc32")
        actual = zlib.crc32(self.view[start : body_start + length])
        if struct.unpack("<I", stored)[0] != actual:
            raise ArchiveCorruptError(
                f"{what} (offset {start}, {self.pos - start} bytes): crc32 mismatch, the bytes are damaged"
            )
        return _Reader(self.data, body_start, body_start + length, what)

    def decompress(self, what: str, limit: int) -> bytes:
        """Reads codec + raw length and decompresses the rest of this part."""
        codec = self.u8(f"{what} codec")
        raw_length = self.varint(f"{what} length", limit)
        stored = bytes(self.take(self.remaining(), what))
        try:
            if codec == _CODEC_STORED:
                raw, complete = stored, True
            elif codec == _CODEC_DEFLATE:
                inflater = zlib.decompressobj(-15)
                raw = inflater.decompress(stored, raw_length + 1)
                complete = inflater.eof and not inflater.unused_data
            elif codec == _CODEC_LZMA:
                inflater = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=_LZMA_DECODE)
                raw = inflater.decompress(stored, raw_length + 1)
                complete = inflater.eof and not inflater.unused_data
            else:
                raise self.fail(f"{what}: unknown codec {codec} (0 stored, 1 deflate, 2 lzma)")
        except (zlib.error, lzma.LZMAError) as error:
            raise self.fail(f"{what} does not decompress: {error}") from None
        if len(raw) != raw_length or not complete:
            raise self.fail(f"{what} decompresses to {len(raw)} bytes, not the {raw_length} recorded")
        return raw


# --- validation --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _ValidatedTensor:
    key: str
    codebook: np.ndarray  # float32
    shape: tuple[int, ...]
    axes: tuple[int, ...] | None  # None when identity
    flat: np.ndarray  # int64 codes in storage order


def _validate_shared(t: SharedTensor) -> _ValidatedTensor:
    if not isinstance(t, SharedTensor):
        raise TypeError(f"shared entries must be SharedTensor. Received {type(t).__name__}")
    key = _check_key(t.key, "SharedTensor.key")
    codebook = np.asarray(t.codebook)
    if codebook.dtype.kind != "f" or codebook.ndim != 1 or not 1 <= codebook.size <= MAX_CODEBOOK_SIZE:
        raise ValueError(
            f"shared tensor {key!r}: codebook must be a 1-D float32 array of 1..{MAX_CODEBOOK_SIZE} entries. "
            f"Received dtype {codebook.dtype}, shape {codebook.shape}"
        )
    as_float32 = codebook.astype(np.float32)
    if not np.array_equal(as_float32, codebook, equal_nan=True):
        raise ValueError(f"shared tensor {key!r}: codebook values must be float32 (the {codebook.dtype} values change)")
    if not np.all(np.isfinite(as_float32)):
        bad = int(np.flatnonzero(~np.isfinite(as_float32))[0])
        raise ValueError(f"shared tensor {key!r}: codebook[{bad}] is {as_float32[bad]}; codebook values must be finite")
    if as_float32[0] != 0:
        raise ValueError(
            f"shared tensor {key!r}: codebook[0] is {as_float32[0]}, expected 0.0 (code 0 is the pruned zero)"
        )
    as_float32[0] = 0.0  # -0.0 is stored, and decoded, as +0.0
    codes = np.asarray(t.codes)
    if codes.dtype.kind not in "iu":
        raise TypeError(f"shared tensor {key!r}: codes must be an integer array. Received dtype {codes.dtype}")
    if codes.ndim > _MAX_NDIM:
        raise ValueError(f"shared tensor {key!r}: codes has {codes.ndim} dimensions; at most {_MAX_NDIM}")
    if codes.size:
        low, high = int(codes.min()), int(codes.max())
        if low < 0 or high >= codebook.size:
            bad = low if low < 0 else high
            raise ValueError(
                f"shared tensor {key!r}: code {bad} is outside 0..{codebook.size - 1} (the codebook has "
                f"{codebook.size} entries)"
            )
    axes = t.axes
    if axes is not None:
        if isinstance(axes, (tuple, list)) and len(axes) != codes.ndim:
            raise ValueError(
                f"shared tensor {key!r}: axes={tuple(axes)!r} has {len(axes)} entries but the codes have {codes.ndim} "
                f"dimensions (shape {codes.shape})"
            )
        valid = isinstance(axes, (tuple, list)) and all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes
        )
        if valid:
            axes = tuple(int(a) for a in axes)
            valid = sorted(axes) == list(range(codes.ndim))
        if not valid:
            raise ValueError(
                f"shared tensor {key!r}: axes must be a permutation of 0..{codes.ndim - 1} (the codes have shape "
                f"{codes.shape}). Received axes={t.axes!r}"
            )
        if axes == tuple(range(codes.ndim)):
            axes = None
    stored = codes if axes is None else np.transpose(codes, axes)
    flat = stored.reshape(-1).astype(np.int64)
    return _ValidatedTensor(key, as_float32, tuple(int(d) for d in codes.shape), axes, flat)


def _check_key(key, what: str) -> str:
    if not isinstance(key, str) or not key:
        raise TypeError(f"{what} must be a non-empty str. Received {key!r}")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{what} {key!r} is not encodable as UTF-8") from None
    if size > _MAX_KEY_BYTES:
        raise ValueError(f"{what} {key[:40]!r}... is {size} bytes long; at most {_MAX_KEY_BYTES} are accepted")
    return key


# --- sparse coding -----------------------------------------------------------------------------------------------


def sparse_gaps(positions, index_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative indices of sorted positions, with filler entries where a gap overflows (Han et al. 2016, Fig. 2).

    Args:
        positions: Strictly increasing non-negative integers (the non-zero entries of a flattened tensor).
        index_bits: Width of a gap, 1..8: gaps are 0..2**index_bits - 1.

    Returns:
        ``(gaps, is_filler)``: uint8 gaps (zeros skipped before each entry) and a bool mask of the filler entries,
        which stand for a zero and carry the largest gap. ``np.cumsum(gaps + 1) - 1`` gives every entry's position.

    Raises:
        ValueError: ``index_bits`` outside 1..8, or positions not strictly increasing non-negative integers.

    Example:
        >>> gaps, filler = sparse_gaps([1, 4, 20], 3)
        >>> gaps.tolist(), filler.tolist()
        ([1, 2, 7, 7], [False, False, True, False])
    """
    if (
        isinstance(index_bits, bool)
        or not isinstance(index_bits, (int, np.integer))
        or not (1 <= index_bits <= MAX_INDEX_BITS)
    ):
        raise ValueError(f"index_bits must be an int in 1..{MAX_INDEX_BITS}. Received: index_bits={index_bits!r}")
    bits = int(index_bits)
    positions = np.asarray(positions)
    if positions.ndim != 1 or (positions.size and positions.dtype.kind not in "iu"):
        raise ValueError(
            f"positions must be a 1-D integer array. Received dtype {positions.dtype}, shape {positions.shape}"
        )
    positions = positions.astype(np.int64)
    skipped = np.diff(positions, prepend=-1) - 1
    if skipped.size and skipped.min() < 0:
        raise ValueError("positions must be strictly increasing and >= 0")
    span = 1 << bits
    fillers = skipped >> bits  # a filler covers span - 1 skipped zeros plus its own (zero) position
    real = np.arange(positions.size) + np.cumsum(fillers)
    gaps = np.full(positions.size + int(fillers.sum()), span - 1, np.uint8)
    gaps[real] = skipped & (span - 1)
    is_filler = np.ones(gaps.size, bool)
    is_filler[real] = False
    return gaps, is_filler


# --- encoding ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _StreamPlan:
    symbols: np.ndarray
    lengths: np.ndarray
    only_symbol: int | None
    table: bytes
    sync: bytes
    payload_bytes: int


def _plan_stream(symbols: np.ndarray, alphabet: int, sync_interval: int) -> _StreamPlan:
    frequencies = np.bincount(symbols, minlength=alphabet)
    used = int(np.count_nonzero(frequencies))
    max_length = huffman.DEFAULT_MAX_LENGTH if used <= 1 << huffman.DEFAULT_MAX_LENGTH else _CODE_MAX_LENGTH
    lengths = huffman.code_lengths(frequencies, max_length)
    only = int(np.argmax(frequencies)) if used == 1 else None
    bits = huffman.encoded_size_bits(frequencies, lengths)
    sync = huffman.sync_points(symbols, lengths, sync_interval)
    return _StreamPlan(
        symbols, lengths, only, huffman.pack_table(lengths, only), huffman.pack_sync(sync), (bits + 7) // 8
    )


@dataclasses.dataclass
class _BlockPlan:
    index_bits: int
    codes: _StreamPlan
    gaps: _StreamPlan | None
    n_nonzero: int
    n_filler: int

    def size(self, fixed: int) -> int:
        """Body size given the bytes that do not depend on the mode (key, shape, axes, k, codebook)."""
        size = fixed + 1 + self.codes.payload_bytes + len(self.codes.table) + len(self.codes.sync)
        if self.gaps is not None:
            size += len(huffman.varint_encode(self.codes.symbols.size))
            size += len(huffman.varint_encode(self.codes.payload_bytes))
            size += self.gaps.payload_bytes + len(self.gaps.table) + len(self.gaps.sync)
        return size


def _candidate_plans(checked: _ValidatedTensor, sync_interval: int):
    k = checked.codebook.size
    flat = checked.flat
    positions = np.flatnonzero(flat)
    nonzero_codes = flat[positions]
    yield _BlockPlan(0, _plan_stream(flat, k, sync_interval), None, positions.size, 0)
    for bits in range(1, MAX_INDEX_BITS + 1):
        gaps, is_filler = sparse_gaps(positions, bits)
        codes = np.zeros(gaps.size, np.int64)
        codes[~is_filler] = nonzero_codes
        yield _BlockPlan(
            bits,
            _plan_stream(codes, k, sync_interval),
            _plan_stream(gaps, 1 << bits, sync_interval),
            positions.size,
            gaps.size - positions.size,
        )


def _fixed_part(checked: _ValidatedTensor) -> bytes:
    key = checked.key.encode("utf-8")
    ndim = len(checked.shape)
    parts = [huffman.varint_encode(len(key)), key, bytes([ndim | (0x80 if checked.axes else 0)])]
    parts += [huffman.varint_encode(d) for d in checked.shape]
    if checked.axes:
        parts.append(bytes(checked.axes))
    return b"".join(parts)


def _float_keys(values: np.ndarray, width: int) -> np.ndarray:
    """Order-preserving int64 keys of float values (-0.0 -> -1, +0.0 -> 0): a bijection on the bit patterns."""
    bits = values.astype(f"<f{width // 8}").view(f"<u{width // 8}").astype(np.int64)
    sign = 1 << (width - 1)
    return np.where(bits & sign, -(bits & (sign - 1)) - 1, bits)


def _codebook_bytes(codebook: np.ndarray) -> tuple[int, bytes]:
    """(coding number, bytes) of codebook[1:] in the smallest coding of :data:`_CODEBOOK_CODINGS` (first on ties).

    The k-means codebooks of keras_archs.compress.share are sorted, so neighbouring keys differ in the low mantissa
    bits only: about 3 bytes per float32 entry instead of 4.
    """
    candidates = []
    for number, (width, delta) in enumerate(_CODEBOOK_CODINGS):
        dtype = f"<f{width // 8}"
        if width == 16:
            with np.errstate(over="ignore"):  # a value beyond float16's range is simply not float16-exact
                narrowed = codebook.astype(dtype).astype(np.float32)
            if not np.array_equal(narrowed.view(np.uint32), codebook.view(np.uint32)):
                continue
        if not delta:
            candidates.append((number, codebook[1:].astype(dtype).tobytes()))
            continue
        deltas = np.diff(_float_keys(codebook, width))  # from codebook[0] == 0.0 (key 0)
        zigzag = (deltas << 1) ^ (deltas >> 63)
        candidates.append((number, b"".join(huffman.varint_encode(int(z)) for z in zigzag)))
    return min(candidates, key=lambda c: (len(c[1]), c[0]))


def _encode_block(checked: _ValidatedTensor, sync_interval: int) -> tuple[bytes, dict[str, int], _BlockPlan]:
    """The smallest block over the modes; returns (section bytes, bytes per part, the plan chosen)."""
    head = _fixed_part(checked) + huffman.varint_encode(checked.codebook.size)
    coding, codebook = _codebook_bytes(checked.codebook)
    fixed = len(head) + len(codebook)

    def block_size(plan: _BlockPlan) -> int:
        body = plan.size(fixed)
        return body + len(huffman.varint_encode(body)) + 4

    plan = min(_candidate_plans(checked, sync_interval), key=lambda p: (block_size(p), p.index_bits == 0, p.index_bits))
    code_payload, _ = huffman.encode(plan.codes.symbols, plan.codes.lengths, sync_interval)
    parts = {
        "header": len(head) + 1,
        "codebook": len(codebook),
        "tables": len(plan.codes.table),
        "sync": len(plan.codes.sync),
        "codes": len(code_payload),
        "indices": 0,
    }
    body = [head, bytes([plan.index_bits | coding << _CODEBOOK_SHIFT])]
    tail = [code_payload]
    if plan.gaps is not None:
        gap_payload, _ = huffman.encode(plan.gaps.symbols, plan.gaps.lengths, sync_interval)
        counts = huffman.varint_encode(plan.codes.symbols.size)
        code_bytes = huffman.varint_encode(len(code_payload))
        body.append(counts)
        tail = [code_bytes, code_payload, gap_payload]
        parts["header"] += len(counts) + len(code_bytes)
        parts["tables"] += len(plan.gaps.table)
        parts["sync"] += len(plan.gaps.sync)
        parts["indices"] = len(gap_payload)
    body += [codebook, plan.codes.table]
    if plan.gaps is not None:
        body.append(plan.gaps.table)
    body.append(plan.codes.sync)
    if plan.gaps is not None:
        body.append(plan.gaps.sync)
    block = _section(b"".join(body + tail))
    parts["header"] += len(block) - sum(parts.values())  # section framing: body length varint + crc32
    return block, parts, plan


def _check_sync_interval(sync_interval) -> int:
    if (
        isinstance(sync_interval, bool)
        or not isinstance(sync_interval, (int, np.integer))
        or not (1 <= sync_interval <= _MAX_SYNC_INTERVAL)
    ):
        raise ValueError(
            f"sync_interval must be an int in 1..{_MAX_SYNC_INTERVAL}. Received: sync_interval={sync_interval!r}"
        )
    return int(sync_interval)


def encode_tensor(t: SharedTensor, *, sync_interval: int = huffman.DEFAULT_SYNC_INTERVAL) -> bytes:
    """One shared-tensor block exactly as :func:`write` stores it (for size measurements).

    Raises:
        ValueError / TypeError: As :func:`write` for an invalid tensor.
    """
    sync_interval = _check_sync_interval(sync_interval)
    checked = _validate_shared(t)
    return _encode_block(checked, sync_interval)[0]


def tensor_report(t: SharedTensor, *, sync_interval: int = huffman.DEFAULT_SYNC_INTERVAL) -> dict:
    """Exact bytes of each part of a tensor's block, and what the encoder chose.

    Returns:
        dict with ``key``; byte counts ``codes`` (code payload), ``indices`` (gap payload), ``codebook``,
        ``tables`` (both length tables), ``sync`` (both sync-point lists), ``header`` (key, shape, axes, counts,
        section framing and crc32) and ``total`` (their sum, ``len(encode_tensor(t))``); ``n_elements``,
        ``n_nonzero``, ``density``, ``k``, ``index_bits`` (0 = dense mode), ``n_filler`` and
        ``bits_per_nonzero`` (total bits / non-zero weights).

    Example:
        >>> t = SharedTensor("w", np.array([0.0, 1.0], np.float32), np.array([0, 1, 0, 0, 1, 1]))
        >>> report = tensor_report(t)
        >>> report["total"] == len(encode_tensor(t)), report["index_bits"], report["n_nonzero"]
        (True, 0, 3)
    """
    sync_interval = _check_sync_interval(sync_interval)
    checked = _validate_shared(t)
    block, parts, plan = _encode_block(checked, sync_interval)
    n = checked.flat.size
    report = {
        "key": checked.key,
        **parts,
        "total": len(block),
        "n_elements": n,
        "n_nonzero": plan.n_nonzero,
        "density": plan.n_nonzero / n if n else 0.0,
        "k": checked.codebook.size,
        "index_bits": plan.index_bits,
        "n_filler": plan.n_filler,
        "bits_per_nonzero": 8 * len(block) / plan.n_nonzero if plan.n_nonzero else float("inf"),
    }
    return report


def _json_document(config, metadata) -> bytes:
    for name, value in (("config", config), ("metadata", metadata)):
        if not isinstance(value, dict):
            raise TypeError(f"{name} must be a dict (JSON object). Received {type(value).__name__}")
    try:
        text = json.dumps(
            {"config": config, "metadata": metadata}, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as error:
        raise type(error)(f"config and metadata must be JSON-serialisable (finite numbers): {error}") from None
    return text.encode("utf-8")


def _dense_entries(dense: Mapping[str, np.ndarray], taken: set[str]) -> bytes:
    if not isinstance(dense, Mapping):
        raise TypeError(f"dense must be a mapping of key -> array. Received {type(dense).__name__}")
    parts = []
    for key, value in dense.items():
        key = _check_key(key, "dense key")
        if key in taken:
            raise ValueError(f"key {key!r} appears twice (keys must be unique across shared and dense tensors)")
        taken.add(key)
        array = np.asarray(value)
        if array.dtype.name not in _DTYPES:
            raise TypeError(
                f"dense tensor {key!r}: dtype {array.dtype} is not accepted; accepted: {', '.join(_DTYPES)}"
            )
        if array.ndim > _MAX_NDIM:
            raise ValueError(f"dense tensor {key!r}: {array.ndim} dimensions; at most {_MAX_NDIM}")
        raw = key.encode("utf-8")
        parts += [huffman.varint_encode(len(raw)), raw, bytes([_DTYPES.index(array.dtype.name), array.ndim])]
        parts += [huffman.varint_encode(d) for d in array.shape]
        raw = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).reshape(-1)
        # Byte planes (all first bytes, then all second bytes, ...): the exponent bytes of float biases repeat, and
        # the codec finds that when they sit together (7-10 % smaller under LZMA for SqueezeNet's biases).
        parts.append(raw.view(np.uint8).reshape(raw.size, raw.dtype.itemsize).T.tobytes())
    return b"".join(parts)


def encode(
    *,
    config: dict,
    shared: Sequence[SharedTensor],
    dense: Mapping[str, np.ndarray],
    metadata: dict | None = None,
    sync_interval: int = huffman.DEFAULT_SYNC_INTERVAL,
) -> bytes:
    """The archive as bytes (layout: docs/archive_format.md).

    Args:
        config: JSON-serialisable dict, e.g. the Keras model config.
        shared: The weight-shared tensors, stored in this order; keys unique.
        dense: Other tensors (biases, BN statistics) by key, stored as raw little-endian bytes in this order.
        metadata: JSON-serialisable dict (recipe, accuracy, ...); default {}.
        sync_interval: Symbols between Huffman sync points, 1..65536 (speed of decoding vs. bytes).

    Returns:
        The archive bytes.

    Raises:
        TypeError: A non-dict config/metadata, non-JSON values, a non-SharedTensor entry, non-integer codes, or a
            dense dtype outside float16/32/64, (u)int8..64, bool.
        ValueError: codebook[0] != 0, non-finite or non-float32 codebook values, codes outside the codebook, axes
            not a permutation, duplicate keys, NaN/inf in JSON.
    """
    sync_interval = _check_sync_interval(sync_interval)
    document = _json_document(config, {} if metadata is None else metadata)
    if isinstance(shared, (SharedTensor, str, bytes)) or not isinstance(shared, Sequence):
        raise TypeError(f"shared must be a sequence of SharedTensor. Received {type(shared).__name__}")
    keys: set[str] = set()
    blocks = []
    for t in shared:
        checked = _validate_shared(t)
        if checked.key in keys:
            raise ValueError(f"key {checked.key!r} appears twice (keys must be unique across shared and dense tensors)")
        keys.add(checked.key)
        blocks.append(_encode_block(checked, sync_interval)[0])
    dense_body = _dense_entries(dense, keys)
    header = (
        huffman.varint_encode(len(shared))
        + huffman.varint_encode(len(dense))
        + huffman.varint_encode(sync_interval)
        + _codec_block(document)
    )
    data = b"".join(
        [MAGIC, struct.pack("<H", FORMAT_VERSION), _section(header), *blocks, _section(_codec_block(dense_body))]
    )
    return data + struct.pack("<I", zlib.crc32(data))


def write(
    path: str | os.PathLike,
    *,
    config: dict,
    shared: Sequence[SharedTensor],
    dense: Mapping[str, np.ndarray],
    metadata: dict | None = None,
    sync_interval: int = huffman.DEFAULT_SYNC_INTERVAL,
) -> int:
    """Encodes and writes the archive atomically (:func:`write_bytes`).

    Everything is validated and encoded before the file is opened; on any error nothing is left behind.

    Returns:
        Bytes written.

    Raises:
        As :func:`encode`, and OSError from the file system.
    """
    data = encode(config=config, shared=shared, dense=dense, metadata=metadata, sync_interval=sync_interval)
    return write_bytes(path, data)


def write_bytes(path: str | os.PathLike, data: bytes) -> int:
    """Writes already encoded archive bytes atomically (``keras_archs._files.write_bytes``: a temporary beside
    ``path``, fsync, rename; the permissions a plain ``open(path, "wb")`` would give). Returns the bytes written.

    Raises:
        TypeError: ``data`` is not bytes.
        FileNotFoundError: The destination folder does not exist.
        OSError: From the file system.
    """
    return _files.write_bytes(path, data)


# --- decoding ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _ParsedBlock:
    key: str
    shape: tuple[int, ...]
    axes: tuple[int, ...] | None
    codebook: np.ndarray
    index_bits: int
    n_entries: int
    streams: list  # (payload, huffman.PackedTable, sync offsets) of the code stream, then of the gap stream
    where: str


def _read_header(reader: _Reader) -> tuple[int, int, int, dict, dict]:
    section = reader.section("header")
    n_shared = section.varint("n_shared", 1 << 32)
    n_dense = section.varint("n_dense", 1 << 32)
    sync_interval = section.varint("sync_interval", _MAX_SYNC_INTERVAL)
    if sync_interval < 1:
        raise section.fail("sync_interval is 0; 1..65536 is accepted")
    raw = section.decompress("JSON", _MAX_JSON_BYTES)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise section.fail(f"the JSON document does not parse: {error}") from None
    if (
        not isinstance(document, dict)
        or set(document) != {"config", "metadata"}
        or not all(isinstance(document[name], dict) for name in ("config", "metadata"))
    ):
        raise section.fail('the JSON document must be {"config": {...}, "metadata": {...}}')
    return n_shared, n_dense, sync_interval, document["config"], document["metadata"]


def _read_shared(reader: _Reader, number: int, sync_interval: int, budget: int):
    start = reader.pos
    body = reader.section(f"shared block {number} (offset {start})")
    key = body.text("key")
    body.where = f"shared block {number} {key!r} (offset {start})"
    flags = body.u8("ndim")
    ndim = flags & 0x7F
    if ndim > _MAX_NDIM:
        raise body.fail(f"{ndim} dimensions; at most {_MAX_NDIM} are accepted")
    shape = body.shape(ndim, "shape")
    size = math.prod(shape)
    if size > budget:
        raise body.fail(
            f"shape {shape} has {size} elements, over the {budget} left of max_elements (pass a larger max_elements "
            "to decode/read if the archive is trusted)"
        )
    axes = None
    if flags & 0x80:
        axes = tuple(body.take(ndim, "axes"))
        if sorted(axes) != list(range(ndim)):
            raise body.fail(f"axes {axes} are not a permutation of 0..{ndim - 1}")
    k = body.varint("codebook size", MAX_CODEBOOK_SIZE)
    if k < 1:
        raise body.fail("codebook size 0; 1..65536 is accepted")
    mode = body.u8("mode")
    index_bits = mode & _INDEX_BITS_MASK
    coding = mode >> _CODEBOOK_SHIFT
    if index_bits > MAX_INDEX_BITS or coding >= len(_CODEBOOK_CODINGS):
        raise body.fail(f"mode byte {mode:#04x}: index_bits 0..{MAX_INDEX_BITS} and codebook coding 0..3 accepted")
    n_entries = body.varint("entry count", size) if index_bits else size
    codebook = _read_codebook(body, k, *_CODEBOOK_CODINGS[coding])
    alphabets = [(k, _CODE_MAX_LENGTH)] + ([(1 << index_bits, _GAP_MAX_LENGTH)] if index_bits else [])
    tables = []
    for alphabet, max_length in alphabets:
        try:
            table, body.pos = huffman.parse_table(body.view, body.pos, alphabet, max_length)
        except ValueError as error:
            raise body.fail(f"length table: {error}") from None
        tables.append(table)
    syncs = []
    for table in tables:
        n_sync = 0
        if not table.zero_bit and n_entries:
            # Every symbol of a coded stream takes at least one bit, and its payload lies in this body.
            if n_entries > 8 * body.remaining():
                raise body.fail(f"{n_entries} entries cannot fit in the {body.remaining()} bytes left")
            n_sync = -(-n_entries // sync_interval) - 1
        try:
            sync, body.pos = huffman.unpack_sync(body.view, body.pos, n_sync)
        except ValueError as error:
            raise body.fail(f"sync points: {error}") from None
        syncs.append(sync)
    if index_bits:
        code_bytes = body.varint("code payload length", body.remaining())
        payloads = [body.take(code_bytes, "code payload"), body.take(body.remaining(), "gap payload")]
    else:
        payloads = [body.take(body.remaining(), "code payload")]
    return _ParsedBlock(
        key, shape, axes, codebook, index_bits, n_entries, list(zip(payloads, tables, syncs)), body.where
    )


def _read_codebook(body: _Reader, k: int, width: int, delta: bool) -> np.ndarray:
    codebook = np.zeros(k, np.float32)
    if not delta:
        codebook[1:] = np.frombuffer(body.take(width // 8 * (k - 1), "codebook"), f"<f{width // 8}")
    elif k > 1:
        # k - 1 varints (zigzag keys take width + 2 bits): find their last bytes (high bit clear) at once.
        longest = (width + 8) // 7
        start = body.pos
        window = np.frombuffer(body.view, np.uint8, count=min(longest * (k - 1), body.remaining()), offset=start)
        last = np.flatnonzero(window < 0x80)[: k - 1]
        if last.size < k - 1:
            raise body.fail(f"codebook at offset {start}: {k - 1} varints do not fit in the bytes left")
        first = np.concatenate([[0], last[:-1] + 1])
        if np.any(last - first >= longest):
            raise body.fail(f"codebook at offset {start}: a varint longer than {longest} bytes")
        size = int(last[-1]) + 1
        group = np.repeat(np.arange(k - 1), last - first + 1)
        shift = 7 * (np.arange(size) - first[group])
        zigzag = np.add.reduceat((window[:size].astype(np.int64) & 0x7F) << shift, first)
        keys = np.cumsum((zigzag >> 1) ^ -(zigzag & 1))
        sign = 1 << (width - 1)
        if keys.min() < -sign or keys.max() >= sign:
            raise body.fail(f"codebook at offset {start}: value keys out of the float{width} range")
        bits = np.where(keys < 0, (-keys - 1) | sign, keys)
        codebook[1:] = bits.astype(f"<u{width // 8}").view(f"<f{width // 8}")
        body.take(size, "codebook")
    if not np.all(np.isfinite(codebook)):
        raise body.fail("the codebook holds non-finite values")
    return codebook


def _read_dense(reader: _Reader, n_dense: int, taken: set[str], max_elements: int) -> dict[str, np.ndarray]:
    start = reader.pos
    section = reader.section(f"dense section (offset {start})")
    raw = section.decompress("dense entries", 8 * max_elements + (1 << 20))
    entries = _Reader(raw, 0, len(raw), f"dense section (offset {start})")
    tensors = {}
    for number in range(n_dense):
        key = entries.text(f"dense entry {number} key")
        if key in taken:
            raise entries.fail(f"key {key!r} appears twice")
        taken.add(key)
        code = entries.u8(f"dense {key!r} dtype")
        if code >= len(_DTYPES):
            raise entries.fail(f"dense {key!r}: dtype code {code}; 0..{len(_DTYPES) - 1} are accepted")
        dtype = np.dtype(_DTYPES[code]).newbyteorder("<")
        ndim = entries.u8(f"dense {key!r} ndim")
        if ndim > _MAX_NDIM:
            raise entries.fail(f"dense {key!r}: {ndim} dimensions; at most {_MAX_NDIM}")
        shape = entries.shape(ndim, f"dense {key!r} shape")
        nbytes = math.prod(shape) * dtype.itemsize
        planes = np.frombuffer(entries.take(nbytes, f"dense {key!r} data"), np.uint8)
        values = planes.reshape(dtype.itemsize, -1).T.copy().view(dtype).reshape(shape)
        if dtype == np.bool_ and planes.max(initial=0) > 1:
            raise entries.fail(f"dense {key!r}: bool data holds bytes other than 0 and 1")
        tensors[key] = values.astype(dtype.newbyteorder("="))
    if entries.remaining():
        raise entries.fail(f"{entries.remaining()} bytes after the {n_dense} dense entries")
    return tensors


def decode(data: bytes, want_codes: bool = False, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> Archive:
    """Decodes archive bytes (the inverse of :func:`encode`).

    Every count and length is checked against the bytes that remain before anything is allocated, every section's
    crc32 before its body is read, and the whole file's crc32 at the end. All Huffman streams of all tensors are
    decoded in one vectorised :func:`huffman.decode_many` call.

    Args:
        data: The archive bytes.
        want_codes: Also return every shared tensor's code array (to resume weight-sharing fine-tuning).
        max_elements: Refuse archives whose shared tensors have more elements in total, or whose dense section
            inflates to more than ``8 * max_elements`` bytes (all-zero stretches cost almost no bytes, so the file
            size does not bound them).

    Returns:
        :class:`Archive`.

    Raises:
        ArchiveCorruptError: Wrong magic, unsupported version, truncation, checksum mismatch, or any invalid field;
            the message names the part and its offset.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes. Received {type(data).__name__}")
    data = bytes(data)
    if len(data) < 10:
        raise ArchiveCorruptError(f"{len(data)} bytes is too short for an archive (magic, version, ..., crc32)")
    if data[:4] != MAGIC:
        raise ArchiveCorruptError(f"not a keras_archs compressed archive: magic {data[:4]!r}, expected {MAGIC!r}")
    version = struct.unpack_from("<H", data, 4)[0]
    if version not in SUPPORTED_VERSIONS:
        raise ArchiveCorruptError(
            f"archive format version {version} is not supported; this reader supports versions {SUPPORTED_VERSIONS}"
        )
    reader = _Reader(data, 6, len(data) - 4, "archive")
    n_shared, n_dense, sync_interval, config, metadata = _read_header(reader)
    blocks, keys, budget = [], set(), max_elements
    for number in range(n_shared):
        block = _read_shared(reader, number, sync_interval, budget)
        if block.key in keys:
            raise ArchiveCorruptError(f"{block.where}: key {block.key!r} appears twice")
        keys.add(block.key)
        budget -= math.prod(block.shape)
        blocks.append(block)
    dense = _read_dense(reader, n_dense, keys, max_elements)
    if reader.remaining():
        raise reader.fail(f"{reader.remaining()} unexpected bytes at offset {reader.pos}, before the file crc32")
    if struct.unpack_from("<I", data, len(data) - 4)[0] != zlib.crc32(memoryview(data)[:-4]):
        raise ArchiveCorruptError(f"file crc32 (offset {len(data) - 4}) mismatch: the bytes are damaged")
    tensors, codes = _decode_blocks(blocks, sync_interval, want_codes)
    tensors.update(dense)
    return Archive(version, config, metadata, tensors, codes if want_codes else None)


def _decode_blocks(blocks: list[_ParsedBlock], sync_interval: int, want_codes: bool):
    owners = [(block, number) for block in blocks for number in range(len(block.streams))]
    try:
        expanded = huffman.unpack_tables([block.streams[n][1] for block, n in owners])
    except huffman.StreamDecodeError as error:
        block, number = owners[error.index]
        raise ArchiveCorruptError(f"{block.where}: {('code', 'gap')[number]} length table: {error.reason}") from None
    streams = []
    for (block, number), (lengths, only) in zip(owners, expanded):
        payload, _, sync = block.streams[number]
        streams.append(huffman.Stream(payload, lengths, block.n_entries, sync, sync_interval, only))
    try:
        decoded = huffman.decode_many(streams)
    except huffman.StreamDecodeError as error:
        block, number = owners[error.index]
        raise ArchiveCorruptError(f"{block.where}: {('code', 'gap')[number]} stream: {error.reason}") from None
    tensors, codes = {}, {}
    position = 0
    for block in blocks:
        symbols = decoded[position]
        size = math.prod(block.shape)
        if block.index_bits:
            gaps = decoded[position + 1]
            where = np.cumsum(gaps.astype(np.int64) + 1) - 1
            if where.size and where[-1] >= size:
                raise ArchiveCorruptError(
                    f"{block.where}: sparse positions run to {int(where[-1])}, past the {size} elements of "
                    f"{block.shape}"
                )
            flat = np.zeros(size, np.float32)
            flat[where] = block.codebook[symbols]
            if want_codes:
                flat_codes = np.zeros(size, symbols.dtype)
                flat_codes[where] = symbols
        else:
            flat = block.codebook[symbols]
            flat_codes = symbols
        position += len(block.streams)
        tensors[block.key] = _restore(flat, block)
        if want_codes:
            codes[block.key] = _restore(flat_codes, block)
    return tensors, codes


def _restore(flat: np.ndarray, block: _ParsedBlock) -> np.ndarray:
    if block.axes is None:
        return flat.reshape(block.shape)
    stored = flat.reshape(tuple(block.shape[a] for a in block.axes))
    return np.ascontiguousarray(stored.transpose(np.argsort(block.axes)))


def read(path: str | os.PathLike, want_codes: bool = False, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> Archive:
    """Reads and decodes an archive file; see :func:`decode`.

    Raises:
        ArchiveCorruptError: As :func:`decode`.
        OSError: The file cannot be read.
    """
    return decode(pathlib.Path(path).read_bytes(), want_codes, max_elements=max_elements)
