"""Canonical Huffman coding (keras_archs.compress.huffman), checked against a bit-by-bit reference coder."""

from __future__ import annotations

import ast
import itertools
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_archs.compress import huffman

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- a scalar reference coder, written from the definition of a canonical code --------------------------------------


def reference_codes(lengths) -> dict[int, str]:
    """symbol -> codeword bit string: sort by (length, symbol); code = (previous + 1) << (length step)."""
    code, previous, codes = -1, 0, {}
    for symbol in sorted((s for s in range(len(lengths)) if lengths[s]), key=lambda s: (lengths[s], s)):
        code = (code + 1) << (int(lengths[symbol]) - previous)
        previous = int(lengths[symbol])
        codes[symbol] = format(code, f"0{previous}b")
    return codes


def reference_encode(symbols, lengths, interval) -> tuple[bytes, list[int]]:
    codes = reference_codes(lengths)
    bits, sync = "", []
    for i, symbol in enumerate(symbols):
        if i and i % interval == 0:
            sync.append(len(bits))
        bits += codes[int(symbol)]
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)), sync


def reference_decode(payload: bytes, lengths, count: int, start_bit: int = 0) -> tuple[list[int], int]:
    by_code = {code: symbol for symbol, code in reference_codes(lengths).items()}
    bits = "".join(format(b, "08b") for b in payload)
    out, position, current = [], start_bit, ""
    while len(out) < count:
        current += bits[position]
        position += 1
        if current in by_code:
            out.append(by_code[current])
            current = ""
    return out, position


def entropy_bits(counts) -> float:
    counts = np.asarray(counts, float)
    p = counts[counts > 0] / counts.sum()
    return float(-(counts[counts > 0] * np.log2(p)).sum())


def fibonacci(n: int) -> list[int]:
    values = [1, 1]
    while len(values) < n:
        values.append(values[-1] + values[-2])
    return values[:n]


def kraft(lengths) -> float:
    return sum(2.0 ** -int(length) for length in lengths if length)


# --- code lengths --------------------------------------------------------------------------------------------------


def test_code_lengths_basic_and_deterministic():
    lengths = huffman.code_lengths([10, 1, 1, 0, 2])
    assert lengths.dtype == np.uint8
    assert lengths.tolist() == [1, 3, 3, 0, 2]
    # Equal frequencies: ties broken by symbol index, the same answer every time.
    assert huffman.code_lengths([5, 5, 5]).tolist() == huffman.code_lengths([5, 5, 5]).tolist() == [1, 2, 2]


def test_code_lengths_single_and_empty():
    assert huffman.code_lengths([0, 7, 0]).tolist() == [0, 0, 0]
    assert huffman.code_lengths([0, 0]).tolist() == [0, 0]
    assert huffman.code_lengths(np.zeros(0, int)).tolist() == []


def test_uniform_256_symbols_get_8_bits():
    assert set(huffman.code_lengths(np.full(256, 3)).tolist()) == {8}


def test_max_length_is_enforced_on_fibonacci_frequencies():
    frequencies = fibonacci(30)  # plain Huffman gives a 29-bit code
    unlimited = huffman.code_lengths(frequencies, max_length=24)
    limited = huffman.code_lengths(frequencies, max_length=15)
    assert int(unlimited.max()) == 24 and int(limited.max()) == 15
    assert kraft(limited) == 1.0
    assert huffman.encoded_size_bits(frequencies, limited) >= huffman.encoded_size_bits(frequencies, unlimited)
    symbols = np.repeat(np.arange(30), np.minimum(frequencies, 50))
    payload, sync = huffman.encode(symbols, limited, 64)
    assert np.array_equal(huffman.decode(payload, limited, symbols.size, sync, 64), symbols)


@pytest.mark.parametrize("n, max_length", [(5, 3), (6, 3), (6, 4), (7, 4)])
def test_limited_lengths_are_optimal_by_brute_force(n, max_length):
    rng = np.random.default_rng(n * 10 + max_length)
    for _ in range(5):
        frequencies = rng.integers(1, 100, n) * rng.integers(1, 30, n) ** 2
        lengths = huffman.code_lengths(frequencies, max_length)
        best = min(
            int(np.dot(frequencies, candidate))
            for candidate in itertools.product(range(1, max_length + 1), repeat=n)
            if kraft(candidate) <= 1
        )
        assert int(np.dot(frequencies, lengths)) == best
        assert int(lengths.max()) <= max_length


@given(st.lists(st.integers(0, 1000), min_size=2, max_size=300), st.integers(8, 16))
@FAST
def test_kraft_equality_and_size_bounds(frequencies, max_length):
    frequencies = np.array(frequencies)
    used = np.count_nonzero(frequencies)
    lengths = huffman.code_lengths(frequencies, max_length)
    assert np.array_equal(lengths > 0, (frequencies > 0) & (used >= 2))
    if used >= 2:
        assert kraft(lengths) == 1.0
        bits = huffman.encoded_size_bits(frequencies, lengths)
        total = int(frequencies.sum())
        shannon = entropy_bits(frequencies)
        assert shannon - 1e-6 <= bits <= shannon + total  # within 1 bit per symbol of the entropy
        assert bits <= total * math.ceil(math.log2(used))  # never worse than a fixed-length code


def test_code_lengths_validation():
    with pytest.raises(ValueError, match=r"frequencies must be >= 0.*frequencies\[1\]=-1"):
        huffman.code_lengths([3, -1])
    with pytest.raises(ValueError, match="1-D"):
        huffman.code_lengths([[1, 2]])
    with pytest.raises(ValueError, match="non-integral"):
        huffman.code_lengths([1.5, 2])
    with pytest.raises(ValueError, match=r"max_length must be an int in 1\.\.24\. Received: max_length=30"):
        huffman.code_lengths([1, 2], max_length=30)
    with pytest.raises(ValueError, match="5 used symbols cannot have codes of at most max_length=2"):
        huffman.code_lengths([1] * 5, max_length=2)


# --- canonical codes -----------------------------------------------------------------------------------------------


@given(st.lists(st.integers(0, 500), min_size=2, max_size=200))
@FAST
def test_canonical_codes_match_reference_and_are_prefix_free(frequencies):
    lengths = huffman.code_lengths(frequencies)
    codes = huffman.canonical_codes(lengths)
    reference = reference_codes(lengths)
    words = {s: format(int(codes[s]), f"0{int(lengths[s])}b") for s in range(len(lengths)) if lengths[s]}
    assert words == reference
    ordered = sorted(words, key=lambda s: (lengths[s], s))
    values = [int(codes[s]) << (24 - int(lengths[s])) for s in ordered]
    assert values == sorted(values) and len(set(values)) == len(values)  # shorter first, then by symbol
    for a, b in itertools.combinations(words.values(), 2):
        assert not a.startswith(b) and not b.startswith(a)


def test_canonical_codes_validation():
    with pytest.raises(ValueError, match="Kraft inequality"):
        huffman.canonical_codes([1, 1, 1])
    with pytest.raises(ValueError, match=r"code lengths must be in 0\.\.24\. Received lengths\[0\]=25"):
        huffman.canonical_codes([25, 1])
    with pytest.raises(ValueError, match="integer array"):
        huffman.canonical_codes([1.0, 1.0])


# --- encode / decode -----------------------------------------------------------------------------------------------


def random_stream(rng, alphabet, count, skew):
    p = rng.dirichlet(np.full(alphabet, skew))
    return rng.choice(alphabet, count, p=p)


@pytest.mark.parametrize("seed", range(6))
def test_round_trip_matches_reference_coder(seed):
    rng = np.random.default_rng(seed)
    alphabet = int(rng.integers(2, 40))
    symbols = random_stream(rng, alphabet, int(rng.integers(1, 600)), float(rng.uniform(0.1, 3)))
    lengths = huffman.code_lengths(np.bincount(symbols, minlength=alphabet), max_length=int(rng.integers(7, 16)))
    interval = int(rng.integers(1, 100))
    payload, sync = huffman.encode(symbols, lengths, interval)
    expected_payload, expected_sync = reference_encode(symbols, lengths, interval)
    assert payload == expected_payload
    assert sync.tolist() == expected_sync
    assert np.array_equal(huffman.decode(payload, lengths, symbols.size, sync, interval), symbols)
    # Every sync point is where the scalar decoder is after that many symbols.
    for j, offset in enumerate(sync, start=1):
        decoded, _ = reference_decode(payload, lengths, min(interval, symbols.size - j * interval), int(offset))
        assert decoded == symbols[j * interval : (j + 1) * interval].tolist()


def test_skewed_stream_round_trip_and_size():
    rng = np.random.default_rng(1)
    symbols = np.minimum(rng.geometric(0.6, 20000) - 1, 255)
    frequencies = np.bincount(symbols, minlength=256)
    lengths = huffman.code_lengths(frequencies)
    payload, sync = huffman.encode(symbols, lengths)
    assert len(payload) * 8 - 7 <= huffman.encoded_size_bits(frequencies, lengths) <= len(payload) * 8
    assert 8 * len(payload) < entropy_bits(frequencies) + symbols.size  # < 1 bit/symbol above entropy
    assert np.array_equal(huffman.decode(payload, lengths, symbols.size, sync), symbols)


def test_all_256_symbols_round_trip():
    symbols = np.random.default_rng(2).permutation(np.repeat(np.arange(256), 7))
    lengths = huffman.code_lengths(np.bincount(symbols))
    payload, sync = huffman.encode(symbols, lengths, 100)
    assert len(payload) == symbols.size  # 8 bits each
    out = huffman.decode(payload, lengths, symbols.size, sync, 100)
    assert out.dtype == np.uint8 and np.array_equal(out, symbols)


def test_single_symbol_costs_zero_bits():
    symbols = np.full(5000, 3)
    lengths = huffman.code_lengths(np.bincount(symbols, minlength=8))
    assert not lengths.any()
    assert huffman.encoded_size_bits(np.bincount(symbols, minlength=8), lengths) == 0
    payload, sync = huffman.encode(symbols, lengths, 10)
    assert payload == b"" and sync.size == 0
    assert huffman.decode(payload, lengths, 5000, sync, 10, only_symbol=3).tolist() == [3] * 5000
    with pytest.raises(ValueError, match="pass only_symbol"):
        huffman.decode(payload, lengths, 5000)


def test_empty_stream():
    lengths = huffman.code_lengths([0, 0, 0])
    payload, sync = huffman.encode(np.zeros(0, int), lengths)
    assert payload == b"" and sync.size == 0
    assert huffman.decode(b"", lengths, 0).size == 0
    lengths = np.array([1, 1])
    assert huffman.encode(np.zeros(0, int), lengths)[0] == b""
    assert huffman.decode(b"", lengths, 0, np.zeros(0, int)).size == 0


def test_without_sync_points_decodes_as_one_chunk():
    symbols = np.random.default_rng(3).integers(0, 5, 3000)
    lengths = huffman.code_lengths(np.bincount(symbols))
    payload, _ = huffman.encode(symbols, lengths)
    assert np.array_equal(huffman.decode(payload, lengths, symbols.size), symbols)


def test_decode_many_matches_single_decodes():
    rng = np.random.default_rng(4)
    streams, expected = [], []
    for alphabet, count, interval in [(256, 5000, 512), (16, 70, 1024), (3, 0, 8), (300, 2500, 100), (9, 1, 1)]:
        symbols = random_stream(rng, alphabet, count, 0.5)
        lengths = huffman.code_lengths(np.bincount(symbols, minlength=alphabet))
        payload, sync = huffman.encode(symbols, lengths, interval)
        only = int(symbols[0]) if count and not lengths.any() else None
        streams.append(huffman.Stream(payload, lengths, count, sync, interval, only))
        expected.append(symbols)
    streams.append(huffman.Stream(b"", np.zeros(4, int), 9, None, 16, 2))  # zero-bit
    expected.append(np.full(9, 2))
    results = huffman.decode_many(streams)
    for result, symbols, stream in zip(results, expected, streams):
        assert np.array_equal(result, symbols)
        assert np.array_equal(result, huffman.decode(*stream))
    assert results[3].dtype == np.uint16


@given(st.data())
@FAST
def test_round_trip_fuzz(data):
    alphabet = data.draw(st.integers(1, 70))
    symbols = np.array(data.draw(st.lists(st.integers(0, alphabet - 1), max_size=400)), np.int64)
    interval = data.draw(st.integers(1, 80))
    max_length = data.draw(st.integers(max(1, math.ceil(math.log2(alphabet))), 16))
    lengths = huffman.code_lengths(np.bincount(symbols, minlength=alphabet), max_length)
    payload, sync = huffman.encode(symbols, lengths, interval)
    only = int(symbols[0]) if symbols.size and not lengths.any() else None
    assert np.array_equal(huffman.decode(payload, lengths, symbols.size, sync, interval, only), symbols)


def test_encode_validation():
    lengths = np.array([1, 2, 2, 0])
    with pytest.raises(ValueError, match=r"symbols must be in 0\.\.3 .* Received symbols\[1\]=4"):
        huffman.encode([0, 4], lengths)
    with pytest.raises(ValueError, match=r"Received symbols\[0\]=-1"):
        huffman.encode([-1], lengths)
    with pytest.raises(ValueError, match="symbol 3 occurs in symbols but has code length 0"):
        huffman.encode([0, 3], lengths)
    with pytest.raises(ValueError, match="Kraft"):
        huffman.encode([0], [1, 1, 2])
    with pytest.raises(ValueError, match="holds 1 and 2"):
        huffman.encode([1, 2], [0, 0, 0])
    with pytest.raises(ValueError, match="sync_interval must be an int"):
        huffman.encode([0], lengths, 0)
    with pytest.raises(ValueError, match="1-D integer"):
        huffman.encode([0.0], lengths)


def test_decode_validation_and_corruption():
    symbols = np.random.default_rng(5).integers(0, 6, 400)
    lengths = huffman.code_lengths(np.bincount(symbols))
    payload, sync = huffman.encode(symbols, lengths, 64)
    with pytest.raises(ValueError, match="sync must hold 6 integer bit offsets"):
        huffman.decode(payload, lengths, 400, sync[:-1], 64)
    with pytest.raises(ValueError, match="within the payload"):
        huffman.decode(payload, lengths, 400, sync * 100, 64)
    with pytest.raises(ValueError, match="cannot fit"):
        huffman.decode(payload, lengths, 10**6, None)
    with pytest.raises(ValueError, match="payload has"):
        huffman.decode(payload + b"\0", lengths, 400, sync, 64)
    with pytest.raises(ValueError, match="only_symbol is for zero-bit"):
        huffman.decode(payload, lengths, 400, sync, 64, only_symbol=1)
    shifted = sync.copy()
    shifted[2] += 1
    with pytest.raises(ValueError, match="chunk [12] ends at bit"):
        huffman.decode(payload, lengths, 400, shifted, 64)
    # An incomplete code: the unassigned codeword 11 is reported.
    with pytest.raises(ValueError, match="not a codeword"):
        huffman.decode(b"\xc0", [1, 2, 0], 1)


@given(
    st.binary(max_size=64),
    st.lists(st.integers(0, 6), min_size=1, max_size=12),
    st.integers(0, 300),
    st.integers(1, 40),
)
@FAST
def test_decode_of_arbitrary_bytes_raises_only_value_error(payload, lengths, count, interval):
    n_sync = max(0, -(-count // interval) - 1)
    sync = np.sort(np.random.default_rng(count).integers(0, 8 * len(payload) + 1, n_sync))
    try:
        huffman.decode(payload, lengths, count, sync, interval)
    except ValueError:
        pass


# --- byte forms ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_varint_round_trip(value):
    encoded = huffman.varint_encode(value)
    assert huffman.varint_decode(b"\xff" + encoded, 1) == (value, 1 + len(encoded))


def test_varint_errors():
    with pytest.raises(ValueError, match="truncated"):
        huffman.varint_decode(b"\x80\x80")
    with pytest.raises(ValueError, match="longer than 9 bytes"):
        huffman.varint_decode(b"\x80" * 10 + b"\x01")


def table_round_trip(lengths, only=None, alphabet=None, max_length=15):
    alphabet = len(lengths) if alphabet is None else alphabet
    packed = huffman.pack_table(lengths, only)
    table, end = huffman.parse_table(b"\x07" + packed + b"\x09", 1, alphabet, max_length)
    assert end == 1 + len(packed)
    [(decoded, decoded_only)] = huffman.unpack_tables([table])
    assert decoded.tolist() == list(lengths) + [0] * (alphabet - len(lengths))
    assert decoded_only == only
    return packed


def test_tables_round_trip_in_every_mode():
    assert table_round_trip([0, 0, 0]) == b"\x00"
    assert table_round_trip([0, 0, 0], only=2) == b"\x01\x02"
    assert table_round_trip([1, 2, 2, 0, 0], alphabet=9)[0] & 3 == 2  # raw, trailing zeros trimmed
    # A peaked code distribution, as after k-means on pruned weights: neighbouring lengths differ by 0 or 1.
    smooth = huffman.code_lengths(np.round(1e5 * np.exp(-(((np.arange(256) - 128) / 40.0) ** 2))).astype(int) + 1)
    packed = table_round_trip(smooth.tolist())
    assert packed[0] & 3 == 3 and len(packed) < 128  # delta mode beats 4 bits per symbol


@given(st.lists(st.integers(0, 2000), min_size=1, max_size=300))
@FAST
def test_tables_round_trip_fuzz(frequencies):
    lengths = huffman.code_lengths(frequencies)
    used = np.flatnonzero(frequencies)
    only = int(used[0]) if used.size == 1 else None
    table_round_trip(lengths.tolist(), only)


def test_unpack_tables_decodes_many_at_once():
    rng = np.random.default_rng(6)
    tables, expected = [], []
    for alphabet in (256, 64, 32, 4, 2):
        lengths = huffman.code_lengths(rng.integers(1, 1000, alphabet) ** 2)
        tables.append(huffman.parse_table(huffman.pack_table(lengths), 0, alphabet, 15)[0])
        expected.append(lengths)
    for (lengths, only), reference in zip(huffman.unpack_tables(tables), expected):
        assert np.array_equal(lengths, reference) and only is None


@given(st.binary(max_size=40), st.integers(1, 300))
@FAST
def test_parse_table_of_arbitrary_bytes_raises_only_value_error(data, alphabet):
    try:
        table, _ = huffman.parse_table(data, 0, alphabet, 15)
        huffman.unpack_tables([table])
    except ValueError:
        pass


def test_table_errors():
    with pytest.raises(ValueError, match="needs 1 bytes"):
        huffman.parse_table(b"", 0, 4, 15)
    with pytest.raises(ValueError, match="single symbol 9 outside the alphabet of 4"):
        huffman.parse_table(b"\x01\x09", 0, 4, 15)
    with pytest.raises(ValueError, match="Kraft"):
        huffman.unpack_tables([huffman.parse_table(b"\x06\x03\xe0", 0, 4, 15)[0]])  # raw lengths 1, 1, 1
    with pytest.raises(ValueError, match="only_symbol is for zero-bit"):
        huffman.pack_table([1, 1], only_symbol=0)


@pytest.mark.parametrize("sync", [[], [5], [100, 205, 300], [0, 0, 0], [3000, 9000, 12001, 30000]])
def test_sync_round_trip(sync):
    packed = huffman.pack_sync(sync)
    offsets, end = huffman.unpack_sync(packed + b"\xee", 0, len(sync))
    assert offsets.tolist() == sync and end == len(packed)


def test_sync_errors():
    with pytest.raises(ValueError, match="non-decreasing"):
        huffman.pack_sync([5, 3])
    with pytest.raises(ValueError, match="needs 2 bytes"):
        huffman.unpack_sync(huffman.pack_sync([100, 205, 300])[:-1], 0, 3)


# --- module hygiene ------------------------------------------------------------------------------------------------


# What each format module may import from the package: the sibling coder, and the stdlib-only atomic writer.
_PACKAGE_IMPORTS = {
    "huffman": set(),
    "archive": {("keras_archs", "_files"), ("keras_archs.compress", "huffman")},
    "recipes": {("keras_archs", "applications")},  # inside recipe_for only (a registry name -> default recipe)
}


@pytest.mark.parametrize("module", sorted(_PACKAGE_IMPORTS))
def test_modules_import_only_numpy_and_the_standard_library(module):
    path = pathlib.Path(huffman.__file__).with_name(f"{module}.py")
    allowed = {
        "__future__",
        "dataclasses",
        "fnmatch",
        "json",
        "lzma",
        "math",
        "os",
        "pathlib",
        "struct",
        "typing",
        "zlib",
        "numpy",
        "keras_archs",
    }
    imported, from_package = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
            if node.module.startswith("keras_archs"):
                from_package |= {(node.module, alias.name) for alias in node.names}
    assert imported <= allowed, imported - allowed
    assert from_package == _PACKAGE_IMPORTS[module]
    assert "keras" not in imported and "tensorflow" not in imported


def test_compress_package_imports_neither_keras_nor_tensorflow_until_needed():
    # keras_archs/__init__ is replaced by an empty package so that only keras_archs.compress is measured; the names
    # that need Keras (deep_compress, load, ...) load on first access (every deep_compress test goes through it).
    package_dir = str(pathlib.Path(huffman.__file__).parents[1])
    script = (
        "import sys, types\n"
        f"package = types.ModuleType('keras_archs'); package.__path__ = [{package_dir!r}]\n"
        "sys.modules['keras_archs'] = package\n"
        "import keras_archs.compress as compress, keras_archs.compress.archive, keras_archs.compress.huffman\n"
        "assert compress.get_recipe('deep_compression').name == 'deep_compression'\n"
        "heavy = sorted(m for m in ('keras', 'tensorflow') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "assert {'deep_compress', 'load', 'qat'} <= set(dir(compress))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


# --- slow lane -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
@given(st.data())
@SLOW
def test_round_trip_fuzz_many(data):
    test_round_trip_fuzz.hypothesis.inner_test(data)


@pytest.mark.slow
@given(
    st.binary(max_size=200),
    st.lists(st.integers(0, 12), min_size=1, max_size=40),
    st.integers(0, 2000),
    st.integers(1, 300),
)
@SLOW
def test_decode_of_arbitrary_bytes_many(payload, lengths, count, interval):
    test_decode_of_arbitrary_bytes_raises_only_value_error.hypothesis.inner_test(payload, lengths, count, interval)
