"""The Deep Compression archive (keras_archs.compress.archive): round trips, determinism, validation, corruption."""

from __future__ import annotations

import math
import os
import pathlib
import re
import struct

import fuzzing
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_archs.compress import archive
from keras_archs.compress.archive import ArchiveCorruptError, SharedTensor

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KERAS_TO_CAFFE = (3, 2, 0, 1)


def sparse_tensor(key, shape, bits=4, density=0.3, seed=0, axes=KERAS_TO_CAFFE) -> SharedTensor:
    """A pruned, shared conv-like tensor: codes peaked around the middle of the codebook, as k-means leaves them."""
    rng = np.random.default_rng(seed)
    k = 2**bits
    codebook = np.concatenate([[0.0], np.sort(rng.normal(0, 0.1, k - 1))]).astype(np.float32)
    codes = np.clip(np.round(rng.normal(k / 2, k / 6, shape)), 1, k - 1).astype(np.int32)
    codes[rng.random(shape) > density] = 0
    return SharedTensor(key, codebook, codes, axes)


def small_inputs():
    shared = [
        sparse_tensor("conv1/kernel", (3, 3, 3, 8), bits=5, seed=1),
        sparse_tensor("fire2/squeeze1x1/kernel", (1, 1, 8, 4), bits=3, density=0.9, seed=2),
        SharedTensor("dense/kernel", np.array([0.0, -1.5, 2.25], np.float32), np.array([[0, 1], [2, 2], [0, 0]])),
    ]
    dense = {
        "conv1/bias": np.linspace(-1, 1, 8, dtype=np.float32),
        "bn/moving_var": np.array([0.5, 1.5], np.float16),
        "step": np.array(123456789012, np.int64),
        "mask": np.array([[True, False], [False, True]]),
        "ids": np.arange(6, dtype=np.uint16).reshape(2, 3),
    }
    config = {
        "name": "tiny",
        "layers": [{"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": [3, 3]}}],
        "unicode": "Ünïcødé ✓",
    }
    metadata = {"recipe": {"density": 0.33, "bits": 5}, "top1": 0.575}
    return config, shared, dense, metadata


@pytest.fixture(scope="module")
def small_archive() -> bytes:
    config, shared, dense, metadata = small_inputs()
    return archive.encode(config=config, shared=shared, dense=dense, metadata=metadata)


def assert_bit_exact(actual: np.ndarray, expected: np.ndarray):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert actual.tobytes() == expected.tobytes()


# --- round trips ---------------------------------------------------------------------------------------------------


def test_round_trip_is_exact(small_archive):
    config, shared, dense, metadata = small_inputs()
    decoded = archive.decode(small_archive, want_codes=True)
    assert decoded.version == archive.FORMAT_VERSION
    assert decoded.config == config and decoded.metadata == metadata
    assert list(decoded.tensors) == [t.key for t in shared] + list(dense)
    for t in shared:
        assert_bit_exact(decoded.tensors[t.key], t.codebook[t.codes])
        assert np.array_equal(decoded.codes[t.key], t.codes) and decoded.codes[t.key].shape == t.codes.shape
        assert decoded.codes[t.key].dtype == np.uint8
    for key, value in dense.items():
        assert_bit_exact(decoded.tensors[key], value)
    assert archive.decode(small_archive).codes is None


def test_read_write_and_determinism(tmp_path):
    config, shared, dense, metadata = small_inputs()
    first = tmp_path / "a.kadc"
    written = archive.write(first, config=config, shared=shared, dense=dense, metadata=metadata)
    assert written == first.stat().st_size
    again = archive.encode(config=config, shared=shared, dense=dense, metadata=metadata)
    assert first.read_bytes() == again  # same input, same bytes
    decoded = archive.read(first, want_codes=True)
    assert np.array_equal(decoded.codes["conv1/kernel"], shared[0].codes)
    assert sorted(os.listdir(tmp_path)) == ["a.kadc"]


def test_block_matches_encode_tensor_and_report(small_archive):
    _, shared, _, _ = small_inputs()
    for t in shared:
        block = archive.encode_tensor(t)
        assert block in small_archive
        report = archive.tensor_report(t)
        parts = sum(report[p] for p in ("codes", "indices", "codebook", "tables", "sync", "header"))
        assert parts == report["total"] == len(block)
        assert report["n_nonzero"] == np.count_nonzero(t.codes) and report["k"] == t.codebook.size
        assert report["density"] == pytest.approx(np.count_nonzero(t.codes) / t.codes.size)


def test_mode_choice():
    dense_codes = SharedTensor("w", np.array([0.0, 1.0, 2.0], np.float32), np.tile([1, 2, 1, 1], 500))
    assert archive.tensor_report(dense_codes)["index_bits"] == 0  # no zeros: no gap stream
    sparse = sparse_tensor("w", (3, 3, 64, 64), bits=6, density=0.1)
    report = archive.tensor_report(sparse)
    assert 1 <= report["index_bits"] <= 8 and report["indices"] > 0
    sparse = SharedTensor("s", sparse.codebook, sparse.codes, sparse.axes)
    decoded = archive.decode(archive.encode(config={}, shared=[dense_codes, sparse], dense={}))
    assert np.array_equal(decoded.tensors["w"], dense_codes.codebook[dense_codes.codes])
    assert np.array_equal(decoded.tensors["s"], sparse.codebook[sparse.codes])


def test_fillers_for_long_gaps():
    codes = np.zeros(5000, np.int64)
    codes[[0, 1, 4000, 4999]] = [1, 2, 1, 2]
    t = SharedTensor("sparse", np.array([0.0, 0.5, -0.5], np.float32), codes)
    report = archive.tensor_report(t)
    assert report["n_filler"] == sum(g >> report["index_bits"] for g in (3998, 998))
    decoded = archive.decode(archive.encode(config={}, shared=[t], dense={}), want_codes=True)
    assert np.array_equal(decoded.codes["sparse"], codes)


@pytest.mark.parametrize(
    "codebook, codes",
    [
        (np.array([0.0], np.float32), np.zeros((4, 5), np.int64)),  # k = 1, everything pruned
        (np.array([0.0, 3.0], np.float32), np.ones((7,), np.int8)),  # one symbol, no zeros: zero-bit code stream
        (np.array([0.0, 3.0], np.float32), np.zeros((0, 3), np.int64)),  # empty tensor
        (np.array([0.0, 3.0], np.float32), np.array(1)),  # scalar
        (np.array([0.0, -0.0, 1e-45, -3.4e38, 3.4e38], np.float32), np.array([1, 2, 3, 4, 0, 4])),  # odd floats
        (np.array([-0.0, 1.0], np.float32), np.array([0, 1, 1])),  # codebook[0] == -0.0 is accepted as 0.0
    ],
)
def test_edge_tensors_round_trip(codebook, codes):
    t = SharedTensor("t", codebook, codes)
    decoded = archive.decode(archive.encode(config={}, shared=[t], dense={}), want_codes=True)
    stored = codebook.copy()
    stored[0] = 0.0
    assert_bit_exact(decoded.tensors["t"], stored[codes])
    assert np.array_equal(decoded.codes["t"], codes) and decoded.codes["t"].shape == codes.shape


@pytest.mark.parametrize("float16", [False, True])
@pytest.mark.parametrize("first", [0.0, -0.0])
def test_codebook_codings_round_trip(float16, first):
    rng = np.random.default_rng(8)
    values = np.sort(rng.normal(0, 0.05, 200)).astype(np.float16 if float16 else np.float32).astype(np.float32)
    codebook = np.concatenate([[first], values]).astype(np.float32)
    codes = rng.integers(0, codebook.size, 3000)
    t = SharedTensor("t", codebook, codes)
    report = archive.tensor_report(t)
    # Sorted values are delta-coded: well under 4 bytes (float32) or 2 bytes (float16-exact) per entry.
    assert report["codebook"] < (1.6 if float16 else 3.3) * values.size
    decoded = archive.decode(archive.encode(config={}, shared=[t], dense={}))
    codebook[0] = 0.0
    assert_bit_exact(decoded.tensors["t"], codebook[codes])


def test_large_codebook_round_trip():
    rng = np.random.default_rng(7)
    codebook = np.concatenate([[0.0], np.sort(rng.normal(0, 1, 65535))]).astype(np.float32)
    codes = rng.integers(0, 65536, (40, 2000))
    t = SharedTensor("big", codebook, codes, (1, 0))
    decoded = archive.decode(archive.encode(config={}, shared=[t], dense={}), want_codes=True)
    assert decoded.codes["big"].dtype == np.uint16 and np.array_equal(decoded.codes["big"], codes)
    assert_bit_exact(decoded.tensors["big"], codebook[codes])


def test_empty_archive_and_json():
    data = archive.encode(config={"tuple": (1, 2), "nested": {"a": [None, True, 1.5]}}, shared=[], dense={})
    decoded = archive.decode(data)
    assert decoded.config == {"tuple": [1, 2], "nested": {"a": [None, True, 1.5]}}  # JSON: tuples come back as lists
    assert decoded.metadata == {} and decoded.tensors == {}


def test_the_example_of_the_format_specification_is_what_the_encoder_writes():
    spec = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "archive_format.md").read_text()
    block = re.search(r"<!-- archive-example-hex .*?-->\n```\n(.*?)```", spec, re.S).group(1)
    expected = bytes.fromhex(block)
    t = SharedTensor("w", np.array([0.0, -0.5, 0.5], np.float32), np.array([0, 1, 0, 0, 2, 0, 0, 1]))
    data = archive.encode(config={"name": "tiny"}, shared=[t], dense={"b": np.array([1.0], np.float32)})
    assert data == expected
    assert len(expected) == 97 and archive.decode(expected).tensors["b"].tolist() == [1.0]


def test_max_elements_refuses_oversized_tensors(small_archive):
    with pytest.raises(ArchiveCorruptError, match="max_elements"):
        archive.decode(small_archive, max_elements=100)


def test_synthetic_squeezenet_size_is_close_to_the_entropy():
    """1.25M weights (SqueezeNet 1.0's larger kernels) at 33 % density with peaked 8-bit codes: the code and index
    payloads, tables and sync points come within 3 % of the empirical entropies of the streams the encoder chose."""
    rng = np.random.default_rng(0)
    shapes = [(1, 1, 512, 1000), (7, 7, 3, 96), (1, 1, 512, 64), (1, 1, 384, 64)]
    shapes += [(3, 3, 64, 256), (3, 3, 48, 192), (3, 3, 32, 128), (1, 1, 256, 256)] * 2
    entropy, coded = 0.0, 0
    for number, shape in enumerate(shapes):
        weights = rng.standard_normal(shape)
        kept = np.abs(weights) > np.quantile(np.abs(weights), 0.67)
        levels = np.linspace(weights[kept].min(), weights[kept].max(), 255)
        codes = np.zeros(shape, np.int64)
        codes[kept] = np.searchsorted((levels[1:] + levels[:-1]) / 2, weights[kept]) + 1
        t = SharedTensor(f"layer{number}", np.concatenate([[0.0], levels]).astype(np.float32), codes, KERAS_TO_CAFFE)
        report = archive.tensor_report(t)  # exact block bytes (== len(encode_tensor(t)), tested above)
        assert report["index_bits"] > 0
        flat = np.transpose(codes, KERAS_TO_CAFFE).reshape(-1)
        positions = np.flatnonzero(flat)
        gaps, filler = archive.sparse_gaps(positions, report["index_bits"])
        stream = np.zeros(gaps.size, np.int64)
        stream[~filler] = flat[positions]
        for symbols in (stream, gaps):
            counts = np.bincount(symbols)
            counts = counts[counts > 0]
            entropy += -(counts * np.log2(counts / symbols.size)).sum() / 8
        coded += report["codes"] + report["indices"] + report["tables"] + report["sync"]
    assert sum(math.prod(s) for s in shapes) > 1_200_000
    assert entropy < coded < 1.03 * entropy, (coded, entropy)


# --- sparse_gaps ---------------------------------------------------------------------------------------------------


def test_sparse_gaps_paper_example():
    # Han et al. 2016, Fig. 2: 3-bit gaps; a run of more than 7 zeros needs a filler zero.
    gaps, filler = archive.sparse_gaps([1, 4, 15], 3)
    assert gaps.tolist() == [1, 2, 7, 2] and filler.tolist() == [False, False, True, False]
    assert (np.cumsum(gaps.astype(int) + 1) - 1)[~filler].tolist() == [1, 4, 15]


@given(st.sets(st.integers(0, 3000), max_size=200), st.integers(1, 8))
@FAST
def test_sparse_gaps_inverse(positions, bits):
    positions = np.array(sorted(positions), np.int64)
    gaps, filler = archive.sparse_gaps(positions, bits)
    assert gaps.dtype == np.uint8 and int(gaps.max(initial=0)) < 2**bits
    where = np.cumsum(gaps.astype(np.int64) + 1) - 1
    assert np.array_equal(where[~filler], positions)
    assert np.all(gaps[filler] == 2**bits - 1)


def test_sparse_gaps_validation():
    with pytest.raises(ValueError, match=r"index_bits must be an int in 1\.\.8\. Received: index_bits=9"):
        archive.sparse_gaps([1], 9)
    with pytest.raises(ValueError, match="strictly increasing"):
        archive.sparse_gaps([3, 3], 4)
    with pytest.raises(ValueError, match="strictly increasing"):
        archive.sparse_gaps([-2], 4)


# --- validation on write -------------------------------------------------------------------------------------------


def good(**changes) -> SharedTensor:
    fields = {
        "key": "conv/kernel",
        "codebook": np.array([0.0, 1.0, 2.0], np.float32),
        "codes": np.array([[0, 1], [2, 0]]),
        "axes": None,
    }
    fields.update(changes)
    return SharedTensor(**fields)


@pytest.mark.parametrize(
    "tensor, error, message",
    [
        (
            good(codebook=np.array([0.5, 1.0], np.float32), codes=np.array([1])),
            ValueError,
            r"'conv/kernel': codebook\[0\] is 0.5, expected 0.0",
        ),
        (good(codes=np.array([[0, 3], [1, 0]])), ValueError, r"'conv/kernel': code 3 is outside 0\.\.2"),
        (good(codes=np.array([-1, 0])), ValueError, "code -1 is outside"),
        (good(codes=np.array([0.0, 1.0])), TypeError, "codes must be an integer array. Received dtype float64"),
        (good(codes=np.array([True, False])), TypeError, "dtype bool"),
        (good(codebook=np.array([0.0, np.nan], np.float32)), ValueError, r"codebook\[1\] is nan; .* finite"),
        (good(codebook=np.array([0.0, np.inf], np.float32)), ValueError, r"codebook\[1\] is inf"),
        (good(codebook=np.array([0.0, 0.1])), ValueError, "must be float32"),
        (good(codebook=np.zeros((2, 2), np.float32)), ValueError, r"1-D float32 .* shape \(2, 2\)"),
        (good(codebook=np.zeros(65537, np.float32)), ValueError, r"1\.\.65536 entries"),
        (good(codebook=np.array(["0", "1"])), ValueError, "float32"),
        (good(axes=(0, 0)), ValueError, r"axes must be a permutation of 0\.\.1 .* axes=\(0, 0\)"),
        (
            good(axes=(1, 0, 2)),
            ValueError,
            r"axes=\(1, 0, 2\) has 3 entries but the codes have 2 dimensions \(shape \(2, 2\)\)",
        ),
        (good(axes=(0.0, 1.0)), ValueError, "permutation"),
        (good(key=""), TypeError, "non-empty str"),
        (good(key=3), TypeError, "non-empty str"),
        ("not a tensor", TypeError, "SharedTensor. Received str"),
    ],
)
def test_invalid_shared_tensor_is_rejected_and_nothing_is_written(tmp_path, tensor, error, message):
    path = tmp_path / "out.kadc"
    with pytest.raises(error, match=message):
        archive.write(path, config={}, shared=[tensor], dense={})
    assert os.listdir(tmp_path) == []
    if isinstance(tensor, SharedTensor):
        with pytest.raises(error, match=message):
            archive.encode_tensor(tensor)


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ({"shared": [good(), good()]}, ValueError, "key 'conv/kernel' appears twice"),
        ({"shared": [good()], "dense": {"conv/kernel": np.zeros(2)}}, ValueError, "'conv/kernel' appears twice"),
        ({"dense": {"names": np.array(["a", "b"], object)}}, TypeError, r"'names': dtype object is not accepted"),
        ({"dense": {"z": np.zeros(2, np.complex64)}}, TypeError, "dtype complex64"),
        ({"dense": [np.zeros(2)]}, TypeError, "dense must be a mapping"),
        ({"config": []}, TypeError, "config must be a dict"),
        ({"config": {"f": object()}}, TypeError, "JSON-serialisable"),
        ({"metadata": {"loss": float("nan")}}, ValueError, "JSON-serialisable"),
        ({"shared": good()}, TypeError, "sequence of SharedTensor"),
        ({"sync_interval": 0}, ValueError, r"sync_interval must be an int in 1\.\.65536"),
    ],
)
def test_invalid_archive_arguments(tmp_path, arguments, error, message):
    fields = {"config": {}, "shared": [], "dense": {}, "metadata": None}
    fields.update(arguments)
    path = tmp_path / "out.kadc"
    with pytest.raises(error, match=message):
        archive.write(path, **fields)
    assert os.listdir(tmp_path) == []


def test_failed_replace_leaves_no_temporary_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.kadc"
    path.write_bytes(b"old")

    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(archive._files.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        archive.write(path, config={}, shared=[good()], dense={})
    assert os.listdir(tmp_path) == ["model.kadc"] and path.read_bytes() == b"old"


# --- corruption ----------------------------------------------------------------------------------------------------


def test_every_truncation_is_detected(small_archive):
    for length in range(len(small_archive)):
        with pytest.raises(ArchiveCorruptError):
            archive.decode(small_archive[:length])


def test_every_single_byte_change_is_detected(small_archive):
    data = bytearray(small_archive)
    for position in range(len(data)):
        for flip in (0x01, 0x80, 0xFF):
            data[position] ^= flip
            with pytest.raises(ArchiveCorruptError):
                archive.decode(bytes(data))
            data[position] ^= flip


def test_damage_is_located(small_archive):
    data = bytearray(small_archive)
    first_block = small_archive.index(archive.encode_tensor(small_inputs()[1][0]))
    data[first_block + 20] ^= 0x10
    with pytest.raises(ArchiveCorruptError, match=rf"shared block 0 \(offset {first_block}\).*crc32 mismatch"):
        archive.decode(bytes(data))
    data = bytearray(small_archive)
    data[-1] ^= 1
    with pytest.raises(ArchiveCorruptError, match="file crc32"):
        archive.decode(bytes(data))


def test_wrong_magic_and_future_version(small_archive):
    with pytest.raises(ArchiveCorruptError, match="magic b'PK"):
        archive.decode(b"PK\x03\x04" + small_archive[4:])
    future = small_archive[:4] + struct.pack("<H", 2) + small_archive[6:]
    with pytest.raises(ArchiveCorruptError, match=r"version 2 is not supported; this reader supports versions \(1,\)"):
        archive.decode(future)
    with pytest.raises(ArchiveCorruptError, match="too short"):
        archive.decode(b"KADC")
    with pytest.raises(TypeError, match="bytes"):
        archive.decode("KADC")


# Recomputes every section crc32 and the file crc32, so a mutated archive reaches the field checks (the fuzz
# battery's helper, tests/fuzzing.py).
reseal = fuzzing.reseal_kadc


def test_reseal_is_the_identity_on_valid_archives(small_archive):
    assert reseal(small_archive) == small_archive


def decode_only_corrupt_error(data: bytes):
    try:
        archive.decode(data, want_codes=True)
    except ArchiveCorruptError:
        pass


@given(st.binary(max_size=300))
@FAST
def test_arbitrary_bytes_raise_only_corrupt_error(data):
    decode_only_corrupt_error(data)
    decode_only_corrupt_error(archive.MAGIC + struct.pack("<H", 1) + data)


@given(data=st.data())
@FAST
def test_mutated_archives_raise_only_corrupt_error(small_archive, data):
    """Random byte edits (checksums left as they are, and recomputed so the parser sees the damaged fields)."""
    mutated = bytearray(small_archive)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(6, len(mutated) - 1))
        mutated[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    mutated = bytes(mutated[:cut]) if data.draw(st.booleans()) else bytes(mutated)
    decode_only_corrupt_error(mutated)
    decode_only_corrupt_error(reseal(mutated))


@st.composite
def archive_inputs(draw):
    shared = []
    for number in range(draw(st.integers(0, 3))):
        ndim = draw(st.integers(0, 4))
        shape = tuple(draw(st.lists(st.integers(0, 9), min_size=ndim, max_size=ndim)))
        k = draw(st.sampled_from([1, 2, 3, 16, 255, 256, 300]))
        seed = draw(st.integers(0, 2**32 - 1))
        density = draw(st.sampled_from([0.0, 0.05, 0.3, 0.9, 1.0]))
        rng = np.random.default_rng(seed)
        codes = rng.integers(1, k, shape) if k > 1 else np.zeros(shape, np.int64)
        codes[rng.random(shape) >= density] = 0
        codebook = np.concatenate([[0.0], rng.normal(0, 1, k - 1)]).astype(np.float32)
        axes = tuple(rng.permutation(ndim).tolist()) if draw(st.booleans()) else None
        shared.append(
            SharedTensor(f"t{number}", codebook, codes.astype(draw(st.sampled_from(["int32", "uint16"]))), axes)
        )
    dense = {}
    for number in range(draw(st.integers(0, 3))):
        dtype = draw(st.sampled_from(archive._DTYPES))
        shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
        dense[f"d{number}"] = (np.random.default_rng(number).random(shape) * 100).astype(dtype)
    config = draw(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=8) | st.none(), max_size=4))
    return config, shared, dense


@given(archive_inputs(), st.integers(1, 300))
@FAST
def test_round_trip_fuzz(inputs, sync_interval):
    config, shared, dense = inputs
    data = archive.encode(config=config, shared=shared, dense=dense, sync_interval=sync_interval)
    decoded = archive.decode(data, want_codes=True)
    assert decoded.config == config
    for t in shared:
        assert np.array_equal(decoded.codes[t.key], t.codes)
        assert_bit_exact(decoded.tensors[t.key], t.codebook[t.codes])
    for key, value in dense.items():
        assert_bit_exact(decoded.tensors[key], value)


# --- slow lane -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
@given(st.binary(max_size=2000))
@SLOW
def test_arbitrary_bytes_many(data):
    test_arbitrary_bytes_raise_only_corrupt_error.hypothesis.inner_test(data)


@pytest.mark.slow
@given(data=st.data())
@SLOW
def test_mutated_archives_many(small_archive, data):
    test_mutated_archives_raise_only_corrupt_error.hypothesis.inner_test(small_archive, data)


@pytest.mark.slow
@given(archive_inputs(), st.integers(1, 3000))
@SLOW
def test_round_trip_fuzz_many(inputs, sync_interval):
    test_round_trip_fuzz.hypothesis.inner_test(inputs, sync_interval)
