"""Canonical Huffman coding with sync points, decoded by vectorised numpy (Deep Compression, Han et al. 2016, §4).

Deep Compression Huffman-codes the weight codes and the sparse-index gaps of every layer. This module is that coder on
its own; it knows nothing about archives.

* :func:`code_lengths` -- optimal length-limited code lengths by package-merge (Larmore & Hirschberg 1990), so no
  ad-hoc repair of over-long codes is needed. Deterministic: ties are broken by symbol index.
* :func:`canonical_codes` -- the canonical codewords (shorter codes first, ties by symbol index), so a code is fully
  described by its lengths.
* :func:`encode` / :func:`decode` / :func:`decode_many` -- bits are packed MSB-first. :func:`encode` also returns
  *sync points*: the bit offset of symbol ``j * sync_interval`` for ``j >= 1``. The decoder starts one cursor per
  chunk and advances all of them together, one Python iteration per position within a chunk, each iteration a
  table lookup (``2 ** max_length`` entries of ``(symbol, length)``) over every chunk of every stream at once.
* :func:`pack_table` / :func:`parse_table` / :func:`unpack_tables` and :func:`pack_sync` / :func:`unpack_sync` --
  compact byte forms of a code's lengths and of the sync points (formats in their docstrings).

A stream with a single distinct symbol costs zero bits: every length is 0 and the decoder is told the symbol
(``only_symbol``) and the count.

Example:
    >>> symbols = np.array([0, 1, 1, 2, 1, 1, 3, 1])
    >>> lengths = code_lengths(np.bincount(symbols))
    >>> lengths.tolist()
    [2, 1, 3, 3]
    >>> payload, sync = encode(symbols, lengths, sync_interval=4)
    >>> len(payload), sync.tolist()
    (2, [7])
    >>> decode(payload, lengths, symbols.size, sync, sync_interval=4).tolist()
    [0, 1, 1, 2, 1, 1, 3, 1]
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_SYNC_INTERVAL",
    "MAX_CODE_LENGTH",
    "PackedTable",
    "Stream",
    "StreamDecodeError",
    "canonical_codes",
    "code_lengths",
    "decode",
    "decode_many",
    "encode",
    "encoded_size_bits",
    "pack_sync",
    "pack_table",
    "parse_table",
    "sync_points",
    "unpack_sync",
    "unpack_tables",
    "varint_decode",
    "varint_encode",
]

# The decoder reads a 32-bit big-endian window at a bit offset of up to 7, so a codeword may have up to 25 bits; 24
# keeps a 2**24-entry table (64 MiB) the worst case.
MAX_CODE_LENGTH = 24
# 4-bit length tables hold 0..15 (the DEFLATE limit, RFC 1951 §3.2.7); a 2**15-entry table is 128 KiB.
DEFAULT_MAX_LENGTH = 15
# One sync point per 1024 symbols: about 9-12 bits per chunk of ~3000-8000 bits (< 0.4 % of the payload), and 1024
# Python iterations for a whole archive (benchmarks/archive_decode.py has the measurements).
DEFAULT_SYNC_INTERVAL = 1024
MAX_SYNC_INTERVAL = 1 << 20
_MAX_ALPHABET = 1 << 24
_MAX_TOTAL_FREQUENCY = 1 << 38  # package weights reach total * 2**max_length, kept inside int64
_MAX_DECODE_BYTES = 1 << 28  # cursors are uint32 bit offsets into the joint buffer
# Decode-table entry: symbol << 5 | length. An unassigned codeword (incomplete code) has length 0, so a cursor that
# reads one stalls, and a symbol no alphabet reaches, so the decoder can report it.
_LENGTH_MASK = 31
_INVALID_SYMBOL = (1 << 27) - 1
_INVALID_ENTRY = _INVALID_SYMBOL << 5

# pack_table modes (low 2 bits of the first byte).
_TABLE_EMPTY, _TABLE_SINGLE, _TABLE_RAW, _TABLE_DELTA = 0, 1, 2, 3
_META_MAX_LENGTH = 15  # the delta code's own lengths are stored as 4-bit nibbles
# A delta table is decoded as one chunk (no sync points inside), so its loop length is its symbol count: capped.
_DELTA_MAX_SYMBOLS = 4096
_MAX_SYNC_WIDTH = 40
_MAX_VARINT_BYTES = 9  # values < 2**63


# --- validation -------------------------------------------------------------------------------------------------


def _check_int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in {low}..{high}. Received: {name}={value!r}")
    return int(value)


def _as_frequencies(frequencies) -> np.ndarray:
    freqs = np.asarray(frequencies)
    if freqs.ndim != 1:
        raise ValueError(f"frequencies must be a 1-D array (one count per symbol). Received shape {freqs.shape}")
    if freqs.size > _MAX_ALPHABET:
        raise ValueError(f"frequencies has {freqs.size} symbols; at most {_MAX_ALPHABET} are accepted")
    if freqs.dtype.kind == "f":
        if not np.all(np.isfinite(freqs)) or np.any(freqs != np.floor(freqs)):
            raise ValueError("frequencies must be non-negative integers (counts). Received non-integral floats")
    elif freqs.dtype.kind not in "iu":
        raise ValueError(f"frequencies must be non-negative integers (counts). Received dtype {freqs.dtype}")
    freqs = freqs.astype(np.int64)
    if freqs.size and freqs.min() < 0:
        symbol = int(np.argmin(freqs))
        raise ValueError(f"frequencies must be >= 0. Received frequencies[{symbol}]={int(freqs[symbol])}")
    if freqs.sum() >= _MAX_TOTAL_FREQUENCY:
        raise ValueError(f"frequencies sum to {int(freqs.sum())}; at most {_MAX_TOTAL_FREQUENCY - 1} is accepted")
    return freqs


def _as_lengths(lengths) -> np.ndarray:
    """Validated int64 code lengths: 1-D, each in 0..MAX_CODE_LENGTH, Kraft sum <= 1."""
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise ValueError(
            f"lengths must be a 1-D integer array (one code length per symbol). Received dtype {lengths.dtype}, "
            f"shape {lengths.shape}"
        )
    if lengths.size > _MAX_ALPHABET:
        raise ValueError(f"lengths has {lengths.size} symbols; at most {_MAX_ALPHABET} are accepted")
    lengths = lengths.astype(np.int64)
    bad = np.flatnonzero((lengths < 0) | (lengths > MAX_CODE_LENGTH))
    if bad.size:
        raise ValueError(
            f"code lengths must be in 0..{MAX_CODE_LENGTH}. Received lengths[{bad[0]}]={int(lengths[bad[0]])}"
        )
    used = lengths[lengths > 0]
    kraft = int(np.sum(np.left_shift(np.int64(1), MAX_CODE_LENGTH - used)))
    if kraft > 1 << MAX_CODE_LENGTH:
        raise ValueError(
            f"code lengths violate the Kraft inequality: sum(2 ** -length) = {kraft / (1 << MAX_CODE_LENGTH):.6g} "
            "> 1, so no prefix code has them"
        )
    return lengths


def _as_symbols(symbols, alphabet_size: int) -> np.ndarray:
    symbols = np.asarray(symbols)
    if symbols.dtype.kind not in "iu" or symbols.ndim != 1:
        raise ValueError(f"symbols must be a 1-D integer array. Received dtype {symbols.dtype}, shape {symbols.shape}")
    symbols = symbols.astype(np.int64)
    if symbols.size:
        bad = np.flatnonzero((symbols < 0) | (symbols >= alphabet_size))
        if bad.size:
            raise ValueError(
                f"symbols must be in 0..{alphabet_size - 1} (the alphabet of {alphabet_size} code lengths). "
                f"Received symbols[{bad[0]}]={int(symbols[bad[0]])}"
            )
    return symbols


def _symbol_dtype(alphabet_size: int) -> np.dtype:
    if alphabet_size <= 1 << 8:
        return np.dtype(np.uint8)
    if alphabet_size <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32)


def _as_payload(payload) -> np.ndarray:
    if isinstance(payload, np.ndarray):
        if payload.dtype != np.uint8 or payload.ndim != 1:
            raise ValueError(f"payload must be bytes or a 1-D uint8 array. Received {payload.dtype} {payload.shape}")
        return payload
    try:
        return np.frombuffer(payload, np.uint8)
    except TypeError:
        raise ValueError(f"payload must be bytes or a 1-D uint8 array. Received {type(payload).__name__}") from None


# --- code construction ------------------------------------------------------------------------------------------


def code_lengths(frequencies, max_length: int = DEFAULT_MAX_LENGTH) -> np.ndarray:
    """Optimal prefix-code lengths with no codeword longer than ``max_length`` (package-merge).

    Package-merge (Larmore & Hirschberg 1990) gives the minimum of ``sum(frequencies * lengths)`` over all prefix
    codes whose lengths are at most ``max_length``: a plain Huffman code when that already fits, and the optimal
    limited code otherwise. With two or more used symbols the lengths satisfy the Kraft equality
    ``sum(2 ** -length) == 1``.

    Args:
        frequencies: 1-D non-negative integer counts, one per symbol of the alphabet.
        max_length: Longest codeword allowed, 1..24. The number of used symbols must be at most ``2 ** max_length``.

    Returns:
        uint8 array of ``frequencies``' size: each used symbol's code length, 0 for unused symbols. A single used
        symbol gets length 0 too: its stream costs zero bits (the decoder is given the symbol and the count).

    Raises:
        ValueError: Negative or non-integral frequencies, ``max_length`` outside 1..24, or more used symbols than
            ``2 ** max_length``.

    Example:
        >>> code_lengths([10, 1, 1, 0, 2]).tolist()
        [1, 3, 3, 0, 2]
        >>> code_lengths([1, 1, 2, 3, 5, 8, 13, 21], max_length=4).tolist()  # Huffman would give 7,7,6,5,4,3,2,1
        [4, 4, 4, 4, 3, 3, 2, 2]
    """
    freqs = _as_frequencies(frequencies)
    max_length = _check_int("max_length", max_length, 1, MAX_CODE_LENGTH)
    lengths = np.zeros(freqs.size, np.uint8)
    used = np.flatnonzero(freqs)
    n = used.size
    if n < 2:
        return lengths
    if n > 1 << max_length:
        raise ValueError(
            f"{n} used symbols cannot have codes of at most max_length={max_length} bits "
            f"(at most {1 << max_length}); raise max_length"
        )
    # Leaves sorted by frequency, ties by descending symbol, so among equal frequencies lower symbols get codes no
    # longer than higher ones.
    order = used[np.lexsort((-used, freqs[used]))]
    leaf_weights = freqs[order]
    # levels[0] is the deepest list (leaves only); each next list merges the leaves with the pairs of the previous
    # one. An item is a leaf's rank in `order`, or -1 for a package.
    levels = [np.arange(n)]
    weights = leaf_weights
    for _ in range(max_length - 1):
        pairs = weights.size // 2
        package_weights = weights[0 : 2 * pairs : 2] + weights[1 : 2 * pairs : 2]
        merged = np.concatenate([leaf_weights, package_weights])
        rank = np.argsort(merged, kind="stable")  # ties: leaves before packages
        weights = merged[rank]
        levels.append(np.where(rank < n, rank, -1))
    # The 2n - 2 cheapest items of the last list are the solution. A package selects the two items it was made of,
    # which are always a prefix of the deeper list, so each level's selection is a prefix.
    depth = np.zeros(n, np.int64)
    take = 2 * n - 2
    for items in reversed(levels):
        selected = items[:take]
        depth[selected[selected >= 0]] += 1
        take = 2 * int(np.count_nonzero(selected < 0))
    lengths[order] = depth
    return lengths


def canonical_codes(lengths) -> np.ndarray:
    """Canonical codewords for ``lengths``: symbols sorted by (length, symbol index) get consecutive codes.

    Args:
        lengths: 1-D integer code lengths, 0 for unused symbols, satisfying the Kraft inequality.

    Returns:
        uint32 array: each symbol's codeword (its ``lengths[s]`` low bits), 0 for unused symbols.

    Raises:
        ValueError: Lengths outside 0..24 or violating the Kraft inequality.

    Example:
        >>> [format(int(c), f"0{n}b") for c, n in zip(canonical_codes([2, 1, 3, 3]), [2, 1, 3, 3])]
        ['10', '0', '110', '111']
    """
    lengths = _as_lengths(lengths)
    codes = np.zeros(lengths.size, np.uint32)
    used = np.flatnonzero(lengths)
    if used.size == 0:
        return codes
    order = used[np.lexsort((used, lengths[used]))]
    ordered = lengths[order]
    longest = int(ordered[-1])
    # Code of the i-th symbol = (sum of 2**(longest - l) over the symbols before it) >> (longest - l_i).
    span = np.left_shift(np.int64(1), longest - ordered)
    start = np.cumsum(span) - span
    codes[order] = (start >> (longest - ordered)).astype(np.uint32)
    return codes


def encoded_size_bits(frequencies, lengths) -> int:
    """Exact payload size in bits of a stream with these symbol counts under these code lengths (no encoding).

    Raises:
        ValueError: Sizes differ, or a used symbol has no codeword (length 0 while the code is not zero-bit).

    Example:
        >>> encoded_size_bits([10, 1, 1, 0, 2], [1, 3, 3, 0, 2])
        20
    """
    freqs = _as_frequencies(frequencies)
    lengths = _as_lengths(lengths)
    if freqs.size != lengths.size:
        raise ValueError(f"frequencies has {freqs.size} symbols but lengths has {lengths.size}")
    used = freqs > 0
    if not lengths.any():
        if np.count_nonzero(used) > 1:
            raise ValueError("every code length is 0 (a zero-bit code) but more than one symbol is used")
        return 0
    missing = np.flatnonzero(used & (lengths == 0))
    if missing.size:
        raise ValueError(f"symbol {missing[0]} is used but has code length 0")
    return int(freqs @ lengths)


# --- encoding ---------------------------------------------------------------------------------------------------


def sync_points(symbols, lengths, sync_interval: int = DEFAULT_SYNC_INTERVAL) -> np.ndarray:
    """Bit offsets of symbols ``sync_interval, 2 * sync_interval, ...`` in the encoded stream (what :func:`encode`
    returns as its second value). Empty for a zero-bit code."""
    lengths = _as_lengths(lengths)
    symbols = _as_symbols(symbols, lengths.size)
    interval = _check_int("sync_interval", sync_interval, 1, MAX_SYNC_INTERVAL)
    if not lengths.any():
        return np.zeros(0, np.int64)
    sizes = lengths[symbols]
    starts = np.cumsum(sizes) - sizes
    return starts[interval::interval].copy()


def encode(symbols, lengths, sync_interval: int = DEFAULT_SYNC_INTERVAL) -> tuple[bytes, np.ndarray]:
    """Huffman-codes ``symbols`` with the canonical code of ``lengths``, MSB-first.

    Args:
        symbols: 1-D integers in ``0..len(lengths) - 1``.
        lengths: Code lengths (e.g. from :func:`code_lengths`). All zero means a zero-bit code: then ``symbols``
            must hold a single distinct value, and the payload is empty.
        sync_interval: Symbols per chunk, 1..2**20.

    Returns:
        ``(payload, sync)``: the bits padded with zeros to whole bytes, and int64 bit offsets of symbols
        ``sync_interval, 2 * sync_interval, ...`` (``ceil(n / sync_interval) - 1`` of them; none for a zero-bit
        code).

    Raises:
        ValueError: A symbol outside the alphabet, a used symbol with length 0, invalid lengths or interval.
    """
    lengths = _as_lengths(lengths)
    symbols = _as_symbols(symbols, lengths.size)
    interval = _check_int("sync_interval", sync_interval, 1, MAX_SYNC_INTERVAL)
    if not lengths.any():
        if symbols.size and np.any(symbols != symbols[0]):
            other = int(symbols[np.flatnonzero(symbols != symbols[0])[0]])
            raise ValueError(
                "every code length is 0 (a zero-bit code), which carries one distinct symbol; symbols holds "
                f"{int(symbols[0])} and {other}"
            )
        return b"", np.zeros(0, np.int64)
    sizes = lengths[symbols]
    if sizes.size and sizes.min() == 0:
        symbol = int(symbols[np.argmin(sizes)])
        raise ValueError(f"symbol {symbol} occurs in symbols but has code length 0 (no codeword)")
    ends = np.cumsum(sizes)
    starts = ends - sizes
    total_bits = int(ends[-1]) if ends.size else 0
    nbytes = (total_bits + 7) // 8
    codes = canonical_codes(lengths).astype(np.int64)[symbols]
    # Each codeword sits in the 32-bit big-endian window of the byte it starts in (offset <= 7, length <= 24). The
    # codewords' bits are disjoint, so adding the window bytes per byte position is the same as OR-ing them.
    window = codes << (32 - (starts & 7) - sizes)
    first = starts >> 3
    packed = np.zeros(nbytes + 3, np.float64)
    for k in range(4):
        byte = (window >> (24 - 8 * k)) & 0xFF
        packed += np.bincount(first + k, weights=byte, minlength=nbytes + 3)[: nbytes + 3]
    payload = packed[:nbytes].astype(np.uint8).tobytes()
    return payload, starts[interval::interval].copy()


# --- decoding ---------------------------------------------------------------------------------------------------


class Stream(NamedTuple):
    """One encoded stream, as :func:`decode_many` takes it."""

    payload: bytes
    lengths: np.ndarray
    count: int
    sync: np.ndarray | None = None  # None: the stream is one chunk (no sync points)
    sync_interval: int = DEFAULT_SYNC_INTERVAL
    only_symbol: int | None = None  # the symbol of a zero-bit stream (every length 0)


class StreamDecodeError(ValueError):
    """A stream of :func:`decode_many` (or a table of :func:`unpack_tables`) is malformed; ``index`` says which."""

    def __init__(self, index: int, reason: str, what: str = "stream"):
        super().__init__(f"{what} {index}: {reason}")
        self.index = index
        self.reason = reason


class _DecodeTask(NamedTuple):
    """A validated stream that needs bit decoding, with its lookup table and the bit offset of every chunk."""

    index: int  # position of the stream in the decode_many call
    payload: np.ndarray
    alphabet: int
    count: int
    interval: int
    starts: np.ndarray  # bit offset of each chunk in the payload
    longest: int
    table: np.ndarray


def _decode_table(lengths: np.ndarray) -> tuple[int, np.ndarray]:
    """The 2**longest-entry lookup table: entry = symbol << 5 | length for every window starting with a codeword."""
    longest = int(lengths.max())
    used = np.flatnonzero(lengths)
    order = used[np.lexsort((used, lengths[used]))]
    ordered = lengths[order]
    entries = (order.astype(np.uint32) << 5) | ordered.astype(np.uint32)
    filled = np.repeat(entries, np.left_shift(1, longest - ordered))
    table = np.full(1 << longest, _INVALID_ENTRY, np.uint32)
    table[: filled.size] = filled
    return longest, table


def _prepare_stream(index: int, stream) -> _DecodeTask | np.ndarray:
    """Validates one stream; returns its symbols at once when it needs no bit decoding, else a task."""
    if not isinstance(stream, Stream):
        stream = Stream(*stream)
    lengths = _as_lengths(stream.lengths)
    count = _check_int("count", stream.count, 0, 1 << 62)
    payload = _as_payload(stream.payload)
    dtype = _symbol_dtype(lengths.size)
    if not lengths.any():
        if payload.size:
            raise ValueError(
                f"a zero-bit stream (every length 0) must have an empty payload; this one has {payload.size} bytes"
            )
        if stream.only_symbol is None:
            if count:
                raise ValueError(
                    f"count is {count} but every code length is 0: pass only_symbol, the one symbol of a "
                    "zero-bit stream"
                )
            return np.zeros(0, dtype)
        symbol = _check_int("only_symbol", stream.only_symbol, 0, max(lengths.size - 1, 0))
        if lengths.size == 0:
            raise ValueError("only_symbol needs an alphabet of at least one symbol; lengths is empty")
        return np.full(count, symbol, dtype)
    if stream.only_symbol is not None:
        raise ValueError("only_symbol is for zero-bit streams (every length 0); these lengths are not all 0")
    if count == 0:
        if payload.size:
            raise ValueError(f"count is 0 but the payload has {payload.size} bytes")
        return np.zeros(0, dtype)
    shortest = int(lengths[lengths > 0].min())
    if count * shortest > 8 * payload.size:
        raise ValueError(
            f"count={count} symbols of at least {shortest} bits cannot fit in a payload of {payload.size} bytes"
        )
    if stream.sync is None:
        interval = count
        sync = np.zeros(0, np.int64)
    else:
        interval = _check_int("sync_interval", stream.sync_interval, 1, MAX_SYNC_INTERVAL)
        sync = np.asarray(stream.sync)
        n_sync = -(-count // interval) - 1
        if sync.shape != (n_sync,) or (sync.size and sync.dtype.kind not in "iu"):
            raise ValueError(
                f"sync must hold {n_sync} integer bit offsets (count={count}, sync_interval={interval}). "
                f"Received dtype {sync.dtype}, shape {sync.shape}"
            )
    starts = np.concatenate([[0], sync.astype(np.int64)])
    if np.any(np.diff(starts) < 0) or starts[-1] > 8 * payload.size:
        raise ValueError(
            f"sync offsets must be non-decreasing bit offsets within the payload's {8 * payload.size} bits"
        )
    longest, table = _decode_table(lengths)
    return _DecodeTask(index, payload, lengths.size, count, interval, starts, longest, table)


def decode(
    payload, lengths, count: int, sync=None, sync_interval: int = DEFAULT_SYNC_INTERVAL, only_symbol: int | None = None
) -> np.ndarray:
    """Decodes ``count`` symbols; the inverse of :func:`encode`. See :func:`decode_many` for the arguments.

    Returns:
        The symbols as uint8 (alphabet <= 256), uint16 (<= 65536) or uint32.

    Raises:
        ValueError: Invalid arguments, or a payload that does not decode to exactly ``count`` symbols ending in its
            last byte (invalid codeword, chunk not ending at the next sync point, wrong length).
    """
    try:
        return decode_many([Stream(payload, lengths, count, sync, sync_interval, only_symbol)])[0]
    except StreamDecodeError as error:
        raise ValueError(error.reason) from None


def decode_many(streams: Sequence[Stream]) -> list[np.ndarray]:
    """Decodes several streams, each with its own code, in one vectorised loop.

    Every chunk (the symbols between two sync points) of every stream gets a cursor; each Python iteration reads a
    window at every cursor, looks up ``(symbol, length)`` in its stream's table and advances the cursor. The loop runs
    ``max(sync_interval)`` times however many streams there are.

    Args:
        streams: :class:`Stream` records (or tuples in its field order): ``payload`` (bytes or uint8 array),
            ``lengths``, ``count``, ``sync`` (the offsets :func:`encode` returned, or None for a single chunk),
            ``sync_interval`` and ``only_symbol`` (the symbol of a zero-bit stream).

    Returns:
        One array of symbols per stream, uint8 / uint16 / uint32 by alphabet size.

    Raises:
        StreamDecodeError: (a ValueError) naming the stream index, for invalid arguments or a corrupt stream: an
            unassigned codeword, a chunk that does not end where the next begins, or a last chunk that does not end
            in the payload's last byte.
    """
    results: list[np.ndarray | None] = [None] * len(streams)
    tasks = []
    for index, stream in enumerate(streams):
        try:
            task = _prepare_stream(index, stream)
        except ValueError as error:
            raise StreamDecodeError(index, str(error)) from None
        if isinstance(task, _DecodeTask):
            tasks.append(task)
        else:
            results[index] = task
    if tasks:
        for task, symbols in zip(tasks, _decode_chunks(tasks)):
            results[task.index] = symbols
    return results


def _joint_buffer(tasks: list[_DecodeTask], pad: int):
    """All payloads in one zero-padded buffer, the 32-bit big-endian window starting at every byte, and all decode
    tables concatenated."""
    byte_base = np.cumsum([0] + [task.payload.size for task in tasks])
    if byte_base[-1] + pad > _MAX_DECODE_BYTES:
        raise StreamDecodeError(tasks[0].index, f"one decode_many call takes at most {_MAX_DECODE_BYTES} payload bytes")
    buffer = np.zeros(byte_base[-1] + pad + 3, np.uint8)
    for task, base in zip(tasks, byte_base):
        buffer[base : base + task.payload.size] = task.payload
    wide = buffer.astype(np.uint32)
    windows = (wide[:-3] << 24) | (wide[1:-2] << 16) | (wide[2:-1] << 8) | wide[3:]
    table = np.concatenate([task.table for task in tasks] + [np.array([_INVALID_ENTRY], np.uint32)])
    table_base = np.cumsum([0] + [task.table.size for task in tasks])
    return byte_base, windows, table, table_base


def _check_end(task: _DecodeTask, symbols: np.ndarray, chunk_starts: np.ndarray, chunk_ends: np.ndarray) -> np.ndarray:
    """Rejects a stream that hit an unassigned codeword, whose chunks do not meet at the sync points, or that does
    not end in its payload's last byte."""
    if symbols.max() >= task.alphabet:
        position = int(np.argmax(symbols >= task.alphabet))
        raise StreamDecodeError(task.index, f"symbol {position} is not a codeword of this code (corrupt payload)")
    broken = np.flatnonzero(chunk_ends[:-1] != chunk_starts[1:])
    if broken.size:
        chunk = int(broken[0])
        raise StreamDecodeError(
            task.index,
            f"chunk {chunk} ends at bit {int(chunk_ends[chunk] - chunk_starts[0])} but the next sync point is at "
            f"bit {int(chunk_starts[chunk + 1] - chunk_starts[0])} (corrupt payload or sync points)",
        )
    used_bits = int(chunk_ends[-1] - chunk_starts[0])
    if (used_bits + 7) // 8 != task.payload.size:
        raise StreamDecodeError(
            task.index, f"the {task.count} symbols take {used_bits} bits but the payload has {task.payload.size} bytes"
        )
    return symbols.astype(_symbol_dtype(task.alphabet))


def _decode_chunks(tasks: list[_DecodeTask]) -> list[np.ndarray]:
    """The chunked decoder: one cursor per chunk, all advanced together, one iteration per symbol of a chunk."""
    n_iter = max(min(task.interval, task.count) for task in tasks)
    longest = max(task.longest for task in tasks)
    # A finished chunk keeps reading (its results are dropped), up to n_iter * longest bits past its end.
    byte_base, windows, table, table_base = _joint_buffer(tasks, (n_iter * longest + 7) // 8 + 8)
    starts, shifts, bases, counts = [], [], [], []
    for task, byte, tbase in zip(tasks, byte_base, table_base):
        n_chunks = task.starts.size
        starts.append(task.starts + 8 * int(byte))
        shifts.append(np.full(n_chunks, 32 - task.longest))
        bases.append(np.full(n_chunks, tbase))
        chunk_counts = np.full(n_chunks, task.interval)
        chunk_counts[-1] = task.count - task.interval * (n_chunks - 1)
        counts.append(chunk_counts)
    start = np.concatenate(starts)
    shift = np.concatenate(shifts).astype(np.uint32)
    base = np.concatenate(bases).astype(np.uint32)
    chunk_count = np.concatenate(counts)
    # Where each chunk's cursor is after its last symbol: snapshot at the iterations where some chunk finishes.
    finish = {int(c): np.flatnonzero(chunk_count == c) for c in np.unique(chunk_count)}
    ends = np.zeros(start.size, np.int64)
    cursor = start.astype(np.uint32)
    out = np.empty((n_iter, start.size), np.uint32)
    for i in range(n_iter):
        window = windows[cursor >> 3]
        window <<= cursor & 7
        window >>= shift
        window += base
        entry = out[i]
        table.take(window, out=entry)
        cursor += entry & _LENGTH_MASK
        done = finish.get(i + 1)
        if done is not None:
            ends[done] = cursor[done]
    results = []
    column = 0
    for task in tasks:
        columns = slice(column, column + task.starts.size)
        column += task.starts.size
        rows = min(task.interval, task.count)
        symbols = out[:rows, columns].T.reshape(-1)[: task.count] >> 5
        results.append(_check_end(task, symbols, start[columns], ends[columns]))
    return results


def _decode_by_pointer_doubling(tasks: list[_DecodeTask]) -> list[np.ndarray]:
    """Decoder for short one-chunk streams (the delta-coded length tables): the codeword starting at *every* bit,
    then pointer doubling to find the chain of codeword starts, in log2(count) vectorised steps and no per-symbol
    loop."""
    byte_base, windows, table, table_base = _joint_buffer(tasks, 8)
    sizes = np.diff(byte_base)
    total = 8 * int(byte_base[-1])
    owner = np.repeat(np.arange(len(tasks)), 8 * sizes)
    longest = np.array([task.longest for task in tasks])
    bit = np.arange(total, dtype=np.int64)
    window = windows[bit >> 3] << (bit & 7).astype(np.uint32)
    index = (window >> (32 - longest[owner]).astype(np.uint32)).astype(np.int64) + table_base[:-1][owner]
    entry = np.append(table[index], np.uint32(_INVALID_ENTRY))  # position `total` is the dead end
    jump = bit + (entry[:-1] & _LENGTH_MASK)
    jump[jump >= 8 * byte_base[1:][owner]] = total  # a codeword may not run past its stream
    jump = np.append(jump, total)
    chain = (8 * byte_base[:-1])[:, None]
    for _ in range(max(task.count for task in tasks).bit_length()):
        chain = np.concatenate([chain, jump[chain]], axis=1)
        jump = jump[jump]
    results = []
    for row, task in enumerate(tasks):
        positions = chain[row, : task.count]
        found = entry[positions]
        symbols = found >> 5
        end = positions[-1:] + (found[-1:] & _LENGTH_MASK)
        results.append(_check_end(task, symbols, positions[:1], end))
    return results


# --- byte forms -------------------------------------------------------------------------------------------------


def varint_encode(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, low group first, high bit set on all bytes but the last.

    Example:
        >>> varint_encode(300).hex()
        'ac02'
    """
    value = _check_int("value", value, 0, (1 << 63) - 1)
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def varint_decode(buffer, offset: int = 0) -> tuple[int, int]:
    """Reads an unsigned LEB128 value at ``offset``; returns ``(value, offset after it)``.

    Raises:
        ValueError: Truncated, or longer than 9 bytes.

    Example:
        >>> varint_decode(bytes.fromhex("ac02"))
        (300, 2)
    """
    value = 0
    for i in range(_MAX_VARINT_BYTES):
        if offset + i >= len(buffer):
            raise ValueError(f"varint at offset {offset} is truncated (buffer ends at {len(buffer)})")
        byte = buffer[offset + i]
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return value, offset + i + 1
    raise ValueError(f"varint at offset {offset} is longer than {_MAX_VARINT_BYTES} bytes")


def _pack_bits(values: np.ndarray, width: int) -> bytes:
    """Fixed-width unsigned fields, MSB-first, zero-padded to a whole byte."""
    if width == 0 or values.size == 0:
        return b""
    bits = (np.asarray(values, np.int64)[:, None] >> np.arange(width - 1, -1, -1)) & 1
    return np.packbits(bits.astype(np.uint8).reshape(-1)).tobytes()


def _take(buffer, offset: int, nbytes: int, what: str) -> np.ndarray:
    if nbytes > len(buffer) - offset:
        raise ValueError(f"{what} at offset {offset} needs {nbytes} bytes; only {len(buffer) - offset} remain")
    return np.frombuffer(buffer, np.uint8, count=nbytes, offset=offset)


def _unpack_bits(buffer, offset: int, count: int, width: int, what: str) -> tuple[np.ndarray, int]:
    nbytes = (count * width + 7) // 8
    data = _take(buffer, offset, nbytes, what)
    if width == 0 or count == 0:
        return np.zeros(count, np.int64), offset + nbytes
    bits = np.unpackbits(data)[: count * width].reshape(count, width).astype(np.int64)
    return bits @ np.left_shift(np.int64(1), np.arange(width - 1, -1, -1)), offset + nbytes


def pack_sync(sync) -> bytes:
    """Byte form of sync points: chunk sizes in bits, frame-of-reference coded.

    Layout: nothing when there are no sync points; else varint ``base`` (the smallest chunk size), one byte
    ``width``, then ``(size - base)`` of every chunk but the last as ``width``-bit fields, MSB-first. Chunks of one
    stream have similar sizes, so ``width`` is typically 7-10 bits per 1024 symbols.

    Example:
        >>> pack_sync([100, 205, 300]).hex()
        '5f045a00'
        >>> unpack_sync(pack_sync([100, 205, 300]), 0, 3)[0].tolist()
        [100, 205, 300]
    """
    sync = np.asarray(sync)
    if sync.ndim != 1 or (sync.size and sync.dtype.kind not in "iu"):
        raise ValueError(f"sync must be a 1-D integer array. Received dtype {sync.dtype}, shape {sync.shape}")
    if sync.size == 0:
        return b""
    sizes = np.diff(sync.astype(np.int64), prepend=0)
    if sizes.min() < 0:
        raise ValueError("sync offsets must be non-decreasing and >= 0")
    base = int(sizes.min())
    rest = sizes - base
    width = int(rest.max()).bit_length()
    if width > _MAX_SYNC_WIDTH or base >= 1 << _MAX_SYNC_WIDTH:
        raise ValueError(f"sync offsets must be below 2**{_MAX_SYNC_WIDTH}")
    return varint_encode(base) + bytes([width]) + _pack_bits(rest, width)


def unpack_sync(buffer, offset: int, count: int) -> tuple[np.ndarray, int]:
    """Reads ``count`` sync points written by :func:`pack_sync`; returns ``(offsets, offset after them)``.

    Raises:
        ValueError: Truncated data or a width over 40 bits.
    """
    if count == 0:
        return np.zeros(0, np.int64), offset
    base, offset = varint_decode(buffer, offset)
    width = int(_take(buffer, offset, 1, "sync width")[0])
    if width > _MAX_SYNC_WIDTH or base >= 1 << _MAX_SYNC_WIDTH:
        raise ValueError(f"sync points at offset {offset} have width {width} / base {base}; at most 2**40 is accepted")
    rest, end = _unpack_bits(buffer, offset + 1, count, width, "sync points")
    return np.cumsum(rest + base), end


class PackedTable(NamedTuple):
    """A length table read by :func:`parse_table`, not yet expanded (see :func:`unpack_tables`)."""

    mode: int
    alphabet_size: int
    max_length: int
    only_symbol: int | None
    lengths: np.ndarray | None  # raw mode: the first n lengths; delta mode: None
    meta_lengths: np.ndarray | None  # delta mode: the code of the zigzag deltas
    count: int  # delta mode: number of deltas
    payload: bytes  # delta mode: the coded deltas

    @property
    def zero_bit(self) -> bool:
        """True when the stream this table codes takes no bits (no symbol, or a single one)."""
        return self.mode in (_TABLE_EMPTY, _TABLE_SINGLE)


def pack_table(lengths, only_symbol: int | None = None) -> bytes:
    """Compact byte form of a code's lengths (what a decoder needs to rebuild the canonical code).

    The first byte's low 2 bits give the mode:

    * 0 -- empty: no symbol (all lengths 0).
    * 1 -- single: a zero-bit code; varint ``only_symbol`` follows.
    * 2 -- raw: high 6 bits = ``width`` (1..5); varint ``n``; ``n`` lengths of ``width`` bits, MSB-first (symbols
      ``>= n`` have length 0).
    * 3 -- delta: varint ``n``; one byte ``m``; ``m`` 4-bit code lengths of the delta code; varint ``nbytes``;
      ``nbytes`` of Huffman-coded zigzag deltas ``lengths[i] - lengths[i - 1]`` (``lengths[-1] = 0``).
      Neighbouring codebook entries of a k-means codebook have similar frequencies, so deltas are mostly 0 / +-1.

    The smaller of raw and delta is written (raw on a tie). Deterministic.

    Args:
        lengths: Code lengths (all zero for an empty or one-symbol code).
        only_symbol: The symbol of a one-symbol code (every length 0); None otherwise.

    Example:
        >>> pack_table(code_lengths([10, 1, 1, 0, 2])).hex()
        '0a057c80'
        >>> pack_table([0, 0, 0], only_symbol=2).hex()
        '0102'
    """
    lengths = _as_lengths(lengths)
    if not lengths.any():
        if only_symbol is None:
            return bytes([_TABLE_EMPTY])
        symbol = _check_int("only_symbol", only_symbol, 0, max(lengths.size - 1, 0))
        return bytes([_TABLE_SINGLE]) + varint_encode(symbol)
    if only_symbol is not None:
        raise ValueError("only_symbol is for zero-bit codes (every length 0); these lengths are not all 0")
    n = int(np.flatnonzero(lengths)[-1]) + 1
    body = lengths[:n]
    width = int(body.max()).bit_length()
    best = bytes([_TABLE_RAW | width << 2]) + varint_encode(n) + _pack_bits(body, width)
    if 2 <= n <= _DELTA_MAX_SYMBOLS:
        delta = np.diff(body, prepend=0)
        zigzag = (delta << 1) ^ (delta >> 63)
        frequencies = np.bincount(zigzag)
        if np.count_nonzero(frequencies) >= 2:
            meta = code_lengths(frequencies, _META_MAX_LENGTH)
            payload, _ = encode(zigzag, meta, sync_interval=n)
            packed = (
                bytes([_TABLE_DELTA])
                + varint_encode(n)
                + bytes([meta.size])
                + _pack_bits(meta, 4)
                + varint_encode(len(payload))
                + payload
            )
            if len(packed) < len(best):
                best = packed
    return best


def parse_table(buffer, offset: int, alphabet_size: int, max_length: int) -> tuple[PackedTable, int]:
    """Reads the extent of a :func:`pack_table` table at ``offset`` without decoding its deltas.

    Args:
        buffer: bytes-like.
        offset: Where the table starts.
        alphabet_size: Symbols of the code (lengths beyond the stored ones are 0).
        max_length: Longest code length accepted.

    Returns:
        ``(table, offset after it)``; pass tables to :func:`unpack_tables`.

    Raises:
        ValueError: Truncated, unknown mode, or a field out of range (named with its offset).
    """
    head = int(_take(buffer, offset, 1, "table mode")[0])
    mode, param = head & 3, head >> 2
    position = offset + 1
    if mode != _TABLE_RAW and param:
        raise ValueError(f"table at offset {offset}: mode byte {head:#04x} has unknown flag bits")
    if mode == _TABLE_EMPTY:
        return PackedTable(mode, alphabet_size, max_length, None, None, None, 0, b""), position
    if mode == _TABLE_SINGLE:
        symbol, position = varint_decode(buffer, position)
        if symbol >= alphabet_size:
            raise ValueError(
                f"table at offset {offset}: single symbol {symbol} outside the alphabet of {alphabet_size}"
            )
        return PackedTable(mode, alphabet_size, max_length, symbol, None, None, 0, b""), position
    n, position = varint_decode(buffer, position)
    if not 1 <= n <= alphabet_size:
        raise ValueError(f"table at offset {offset}: {n} lengths for an alphabet of {alphabet_size} symbols")
    if mode == _TABLE_RAW:
        if not 1 <= param <= max_length.bit_length():
            raise ValueError(f"table at offset {offset}: width {param} bits; 1..{max_length.bit_length()} accepted")
        lengths, position = _unpack_bits(buffer, position, n, param, f"table at offset {offset}: lengths")
        return PackedTable(mode, alphabet_size, max_length, None, lengths, None, n, b""), position
    if n > _DELTA_MAX_SYMBOLS:
        raise ValueError(f"table at offset {offset}: delta table of {n} lengths; at most {_DELTA_MAX_SYMBOLS} accepted")
    m = int(_take(buffer, position, 1, "delta alphabet size")[0])
    if not 2 <= m <= 2 * max_length + 1:
        raise ValueError(f"table at offset {offset}: delta alphabet of {m} symbols; 2..{2 * max_length + 1} accepted")
    meta, position = _unpack_bits(buffer, position + 1, m, 4, f"table at offset {offset}: delta code")
    nbytes, position = varint_decode(buffer, position)
    payload = _take(buffer, position, nbytes, f"table at offset {offset}: deltas").tobytes()
    return PackedTable(mode, alphabet_size, max_length, None, None, meta, n, payload), position + nbytes


def unpack_tables(tables: Sequence[PackedTable]) -> list[tuple[np.ndarray, int | None]]:
    """Expands parsed tables to ``(lengths, only_symbol)``, decoding all delta tables together (vectorised).

    Raises:
        StreamDecodeError: (a ValueError) with the table's ``index``: deltas that do not decode, lengths outside
            ``0..max_length``, or lengths violating the Kraft inequality.
    """
    decoded, tasks = {}, []
    for number, table in enumerate(tables):
        if table.mode != _TABLE_DELTA:
            continue
        try:
            task = _prepare_stream(number, Stream(table.payload, table.meta_lengths, table.count))
        except ValueError as error:
            raise StreamDecodeError(number, f"delta code: {error}", "table") from None
        if isinstance(task, _DecodeTask):
            tasks.append(task)
        else:
            decoded[number] = task
    try:
        decoded.update(zip((task.index for task in tasks), _decode_by_pointer_doubling(tasks) if tasks else []))
    except StreamDecodeError as error:
        raise StreamDecodeError(error.index, f"delta code: {error.reason}", "table") from None
    results = []
    for number, table in enumerate(tables):
        lengths = np.zeros(table.alphabet_size, np.int64)
        if table.mode == _TABLE_RAW:
            lengths[: table.count] = table.lengths
        elif table.mode == _TABLE_DELTA:
            zigzag = decoded[number].astype(np.int64)
            lengths[: table.count] = np.cumsum((zigzag >> 1) ^ -(zigzag & 1))
        if lengths.size and (lengths.min() < 0 or lengths.max() > table.max_length):
            raise StreamDecodeError(number, f"code lengths outside 0..{table.max_length}", "table")
        try:
            lengths = _as_lengths(lengths)
        except ValueError as error:
            raise StreamDecodeError(number, str(error), "table") from None
        if table.mode in (_TABLE_RAW, _TABLE_DELTA) and not lengths.any():
            raise StreamDecodeError(number, "a raw or delta table with every length 0", "table")
        results.append((lengths.astype(np.uint8), table.only_symbol))
    return results
