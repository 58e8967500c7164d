"""What the sparse indices of the published SqueezeNet 1.0 pruning cost, and why fewer bits cannot remove them.

For every conv layer of the public Deep Compression SqueezeNet 1.0 (``--net``; 33 % of the weights kept), prints:

* the bytes of the layer's gap (relative index) stream in the archive, as the writer codes it (the cheapest
  ``index_bits`` of 1..8, canonical Huffman, tables and sync points included: ``archive.tensor_report``'s
  ``indices + `` the gap part of ``tables`` and ``sync``) when the kept weights are shared at ``--bits`` (default 5
  and 8): the index bytes barely depend on the bits;
* the i.i.d. entropy of the mask, ``n * H(density) / 8`` bytes: what any coder of positions that treats each weight
  as an independent coin pays;
* the entropy of the mask given the output channel, the input channel, or the kernel position
  (``sum over groups of n_g * H(density_g) / 8``): how much a coder could save by knowing per-channel or
  per-position densities.

Totals in the last row (docs/compression.md: "the indices cost 107-116 kB whatever the bits; conditioning saves
< 2 %"). ``--tiny`` runs on a random-weight SqueezeNet 1.1 pruned to 33 % by magnitude, three layers, in seconds.

Usage::

    python benchmarks/squeezenet_index_cost.py --net ../shared/fixtures/squeezenet/compressed_SqueezeNet.net
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
DC_NET = REPO.parent / "shared" / "fixtures" / "squeezenet" / "compressed_SqueezeNet.net"


def entropy_bytes(kept: np.ndarray, groups: np.ndarray | None = None) -> float:
    """``sum over groups of n_g * H(p_g) / 8``: the mask's entropy in bytes, i.i.d. within each group."""
    kept = kept.reshape(-1).astype(np.float64)
    groups = np.zeros(kept.size, np.int64) if groups is None else groups.reshape(-1)
    n = np.bincount(groups)
    ones = np.bincount(groups, weights=kept)
    used = n > 0
    p = ones[used] / n[used]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return float(np.sum(n[used] * np.nan_to_num(h)) / 8)


def index_bytes(kernel: np.ndarray, bits: int) -> tuple[int, int]:
    """(gap-stream bytes, chosen index_bits) of the layer's block in the archive, at ``bits``-bit sharing."""
    from keras_archs.compress import archive, share
    from keras_archs.compress.compressed_model import storage_axes

    sharing = share.share_weights(kernel, bits)
    tensor = archive.SharedTensor("kernel", sharing.codebook, sharing.codes, storage_axes(kernel.ndim))
    report = archive.tensor_report(tensor)
    if not report["index_bits"]:
        return 0, 0
    # tables / sync hold both streams; the gap stream's share of them is re-derived from the stream itself.
    from keras_archs.compress import huffman

    flat = np.transpose(sharing.codes, storage_axes(kernel.ndim)).reshape(-1)
    gaps, _ = archive.sparse_gaps(np.flatnonzero(flat), report["index_bits"])
    frequencies = np.bincount(gaps, minlength=1 << report["index_bits"])
    lengths = huffman.code_lengths(frequencies)
    sync = huffman.sync_points(gaps, lengths)
    overhead = len(huffman.pack_table(lengths)) + len(huffman.pack_sync(sync))
    return report["indices"] + overhead, report["index_bits"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", type=pathlib.Path, default=DC_NET, help="the Deep Compression SqueezeNet .net")
    parser.add_argument("--bits", type=int, nargs="+", default=[5, 8], help="sharing widths to code the indices at")
    parser.add_argument("--tiny", action="store_true", help="random-weight SqueezeNet 1.1, 3 layers: checks the script")
    args = parser.parse_args(argv)

    import keras

    import keras_archs
    from keras_archs.compress import prune

    if args.tiny:
        model = keras_archs.SqueezeNet(version="1.1", weights=None, input_shape=(64, 64, 3))
        prune.prune_kernels(model, 0.33)
    else:
        model = keras_archs.SqueezeNet(weights=args.net)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if args.tiny:
        convs = convs[:3]

    header = ["layer", "weights", "density"] + [f"index bytes @{b} bit (index_bits)" for b in args.bits]
    header += ["i.i.d. entropy", "given out channel", "given in channel", "given kernel position"]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    totals = np.zeros(len(args.bits) + 4)
    for layer in convs:
        kernel = layer.kernel.numpy()  # (kh, kw, in, out)
        kept = kernel != 0
        kh, kw, cin, cout = kernel.shape
        position, in_channel, out_channel = np.meshgrid(
            np.arange(kh * kw), np.arange(cin), np.arange(cout), indexing="ij"
        )
        coded = [index_bytes(kernel, bits) for bits in args.bits]
        entropies = [
            entropy_bytes(kept),
            entropy_bytes(kept, out_channel.reshape(kh, kw, cin, cout)),
            entropy_bytes(kept, in_channel.reshape(kh, kw, cin, cout)),
            entropy_bytes(kept, position.reshape(kh, kw, cin, cout)),
        ]
        totals += [size for size, _ in coded] + entropies
        cells = [layer.name, f"{kernel.size:,}", f"{kept.mean():.3f}"]
        # index_bits 0: the writer chose the dense mode (every code, zeros included, in the code stream).
        cells += [f"{size:,} ({index_bits})" if index_bits else "dense mode" for size, index_bits in coded]
        cells += [f"{value:,.0f}" for value in entropies]
        print("| " + " | ".join(cells) + " |", flush=True)
    iid = totals[len(args.bits)]
    cells = ["total", "", ""] + [f"{value:,.0f}" for value in totals[: len(args.bits)]] + [f"{iid:,.0f}"]
    cells += [f"{value:,.0f} ({(value / iid - 1) * 100:+.1f} %)" for value in totals[len(args.bits) + 1 :]]
    print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
