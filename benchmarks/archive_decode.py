"""Size and speed of the Deep Compression archive (keras_archs.compress.archive) on SqueezeNet 1.0-sized data.

Usage: python benchmarks/archive_decode.py [--repeats 5] [--sync-interval 1024] [--net PATH] [--archive PATH]

Rows:
* synthetic 6-bit / 8-bit: SqueezeNet 1.0's 26 conv kernels (Iandola et al. 2016, Table 1; 1,244,448 weights), normal
  weights pruned by magnitude to 33 % density (Han et al. 2016, Table 4 keeps 33 % of SqueezeNet's conv weights),
  the survivors quantized to 2**bits - 1 evenly spaced levels between their min and max (k-means' linear
  initialisation, §3.2), so the codes peak near the pruning threshold; the 3,976 biases as dense float32.
* Deep Compression .net: the real codes of the public 8-bit DC SqueezeNet (songhan/SqueezeNet-Deep-Compression,
  675,763 bytes, no Huffman), read from ``--net`` (default: ../shared/fixtures/squeezenet/), biases as dense float32.
* ``--archive PATH``: decode time of an existing archive file.

Times are the median of ``--repeats`` runs; "decode" is :func:`archive.decode`, "+codes" with ``want_codes=True``.
The parts table sums :func:`archive.tensor_report` over the shared tensors; "other" is the file header, JSON, dense
section and file crc32. Prints Markdown.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from keras_archs.compress import archive, huffman  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
DC_NET = REPO.parent / "shared" / "fixtures" / "squeezenet" / "compressed_SqueezeNet.net"
DENSITY = 0.33
# SqueezeNet 1.0 (Iandola et al. 2016, Table 1): (name, in, squeeze 1x1, expand 1x1, expand 3x3) per fire module.
FIRES = [
    ("fire2", 96, 16, 64, 64),
    ("fire3", 128, 16, 64, 64),
    ("fire4", 128, 32, 128, 128),
    ("fire5", 256, 32, 128, 128),
    ("fire6", 256, 48, 192, 192),
    ("fire7", 384, 48, 192, 192),
    ("fire8", 384, 64, 256, 256),
    ("fire9", 512, 64, 256, 256),
]
CAFFE_TO_KERAS = (2, 3, 1, 0)  # Caffe (out, in, kh, kw) -> Keras (kh, kw, in, out)
KERAS_TO_CAFFE = (3, 2, 0, 1)  # SharedTensor.axes: store Keras kernels in Caffe order, as the .net files do


def squeezenet_kernels() -> list[tuple[str, tuple[int, int, int, int]]]:
    """(name, Keras kernel shape (kh, kw, in, out)) of SqueezeNet 1.0's conv layers in prototxt order."""
    shapes = [("conv1", (7, 7, 3, 96))]
    for name, cin, squeeze, expand1, expand3 in FIRES:
        shapes += [
            (f"{name}/squeeze1x1", (1, 1, cin, squeeze)),
            (f"{name}/expand1x1", (1, 1, squeeze, expand1)),
            (f"{name}/expand3x3", (3, 3, squeeze, expand3)),
        ]
    shapes.append(("conv10", (1, 1, 512, 1000)))
    return shapes


def synthetic(bits: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    shared, dense = [], {}
    for name, shape in squeezenet_kernels():
        weights = rng.standard_normal(shape).astype(np.float32) * np.sqrt(2.0 / np.prod(shape[:3]))
        threshold = np.quantile(np.abs(weights), 1 - DENSITY)
        kept = np.abs(weights) > threshold
        levels = 2**bits - 1
        low, high = weights[kept].min(), weights[kept].max()
        centroids = np.linspace(low, high, levels).astype(np.float32)
        codes = np.zeros(shape, np.int32)
        codes[kept] = np.abs(weights[kept][:, None] - centroids[None, :]).argmin(1) + 1
        shared.append(
            archive.SharedTensor(
                f"{name}/kernel", np.concatenate([[0.0], centroids]).astype(np.float32), codes, KERAS_TO_CAFFE
            )
        )
        dense[f"{name}/bias"] = (rng.standard_normal(shape[-1]) * 0.05).astype(np.float32)
    return shared, dense


def deep_compression_net(path: pathlib.Path):
    """The public DC SqueezeNet .net: uint32[26] entry counts, then per layer float32[256] codebook, float32[out]
    bias, uint8[n] codes, uint8[ceil(n/2)] 4-bit gaps (low nibble first); positions in Caffe order."""
    data = path.read_bytes()
    layers = squeezenet_kernels()
    counts = np.frombuffer(data, "<u4", count=len(layers))
    offset = 4 * len(layers)
    shared, dense = [], {}
    for (name, shape), n in zip(layers, counts.tolist()):
        codebook = np.frombuffer(data, "<f4", 256, offset).copy()
        offset += 1024
        bias = np.frombuffer(data, "<f4", shape[-1], offset).copy()
        offset += 4 * shape[-1]
        entries = np.frombuffer(data, np.uint8, n, offset)
        offset += n
        nibbles = np.frombuffer(data, np.uint8, math.ceil(n / 2), offset)
        offset += math.ceil(n / 2)
        gaps = np.stack([nibbles & 15, nibbles >> 4], 1).reshape(-1)[:n]
        caffe_shape = tuple(shape[a] for a in KERAS_TO_CAFFE)
        flat = np.zeros(math.prod(shape), np.int32)
        flat[np.cumsum(gaps.astype(np.int64) + 1) - 1] = entries
        codes = flat.reshape(caffe_shape).transpose(CAFFE_TO_KERAS)
        codebook[0] = 0.0
        shared.append(archive.SharedTensor(f"{name}/kernel", codebook, codes, KERAS_TO_CAFFE))
        dense[f"{name}/bias"] = bias
    if offset != len(data):
        raise ValueError(f"{path} is not the DC SqueezeNet 1.0 .net ({offset} bytes parsed of {len(data)})")
    return shared, dense


def median_time(function, repeats: int) -> tuple[float, object]:
    return timings(function, repeats)[::2]


def timings(function, repeats: int) -> tuple[float, float, object]:
    """(median, min, last result) of ``repeats`` calls."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times), result


def entropy_bytes(shared) -> float:
    """Sum over tensors of n * H(codes of non-zeros) + n * H(gaps) at the index_bits the encoder picked."""
    total = 0.0
    for t in shared:
        report = archive.tensor_report(t)
        flat = np.transpose(t.codes, t.axes).reshape(-1)
        positions = np.flatnonzero(flat)
        symbols = [flat]
        if report["index_bits"]:
            gaps, filler = archive.sparse_gaps(positions, report["index_bits"])
            codes = np.zeros(gaps.size, np.int64)
            codes[~filler] = flat[positions]
            symbols = [codes, gaps]
        for stream in symbols:
            counts = np.bincount(stream)
            p = counts[counts > 0] / stream.size
            total += -(counts[counts > 0] * np.log2(p)).sum() / 8
    return total


def run_case(label: str, shared, dense, repeats: int, sync_interval: int) -> dict:
    config = {"name": "SqueezeNet", "layers": [name for name, _ in squeezenet_kernels()]}
    encode_s, data = median_time(
        lambda: archive.encode(config=config, shared=shared, dense=dense, sync_interval=sync_interval), repeats
    )
    decode_s, decode_min, decoded = timings(lambda: archive.decode(data), repeats)
    codes_s, _ = median_time(lambda: archive.decode(data, want_codes=True), repeats)
    for t in shared:
        assert np.array_equal(decoded.tensors[t.key], t.codebook[t.codes]), t.key
    parts = {"codes": 0, "indices": 0, "codebook": 0, "tables": 0, "sync": 0, "header": 0}
    index_bits = []
    for t in shared:
        report = archive.tensor_report(t, sync_interval=sync_interval)
        for part in parts:
            parts[part] += report[part]
        index_bits.append(report["index_bits"])
    parts["other"] = len(data) - sum(parts.values())
    nonzero = sum(int(np.count_nonzero(t.codes)) for t in shared)
    return {
        "label": label,
        "bytes": len(data),
        "encode": encode_s,
        "decode": decode_s,
        "decode_min": decode_min,
        "codes": codes_s,
        "parts": parts,
        "entropy": entropy_bytes(shared),
        "nonzero": nonzero,
        "index_bits": index_bits,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sync-interval", type=int, default=huffman.DEFAULT_SYNC_INTERVAL)
    parser.add_argument("--net", type=pathlib.Path, default=DC_NET, help="Deep Compression SqueezeNet .net file")
    parser.add_argument("--archive", type=pathlib.Path, help="an existing archive to time the decoding of")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}; "
        f"median of {args.repeats}; sync_interval {args.sync_interval}"
    )
    print()
    cases = [("synthetic 6-bit", *synthetic(6)), ("synthetic 8-bit", *synthetic(8))]
    if args.net.exists():
        cases.append((f"DC .net ({args.net.stat().st_size:,} B)", *deep_compression_net(args.net)))
    else:
        print(f"({args.net} is absent: no Deep Compression row)\n")
    rows = [run_case(label, shared, dense, args.repeats, args.sync_interval) for label, shared, dense in cases]
    print(
        "| data | bytes | bits / non-zero | entropy of codes + gaps (bytes) | encode s | decode ms (min) | "
        "decode +codes ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['label']} | {row['bytes']:,} | {8 * row['bytes'] / row['nonzero']:.2f} | "
            f"{row['entropy']:,.0f} | {row['encode']:.2f} | "
            f"{1e3 * row['decode']:.1f} ({1e3 * row['decode_min']:.1f}) | {1e3 * row['codes']:.1f} |"
        )
    print()
    names = list(rows[0]["parts"])
    print("| data | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for row in rows:
        print(f"| {row['label']} | " + " | ".join(f"{row['parts'][n]:,}" for n in names) + " |")
    print()
    for row in rows:
        print(f"{row['label']}: index_bits per layer {row['index_bits']}")
    print()
    print("Sync interval (synthetic 6-bit): bytes of sync points vs. decode time")
    print()
    print("| sync_interval | bytes | sync bytes | decode ms (min) |")
    print("|---:|---:|---:|---:|")
    shared, dense = synthetic(6)
    for interval in (256, 512, 1024, 2048, 4096):
        data = archive.encode(config={}, shared=shared, dense=dense, sync_interval=interval)
        median, fastest, _ = timings(lambda: archive.decode(data), args.repeats)
        sync = sum(archive.tensor_report(t, sync_interval=interval)["sync"] for t in shared)
        print(f"| {interval} | {len(data):,} | {sync:,} | {1e3 * median:.1f} ({1e3 * fastest:.1f}) |")
    if args.archive:
        data = args.archive.read_bytes()
        decode_s, decoded = median_time(lambda: archive.decode(data), args.repeats)
        print(f"\n{args.archive}: {len(data):,} bytes, {len(decoded.tensors)} tensors, decode {1e3 * decode_s:.1f} ms")


if __name__ == "__main__":
    main()
