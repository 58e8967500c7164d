"""Reproduces the per-layer bits of the ``squeezenet1_0_imagenet`` compression recipe, data-free, and prints tables.

1. Decode the public Deep Compression SqueezeNet 1.0 (``--net``, 8-bit codes, 33 % dense).
2. Collect each conv layer's input second moments on 96 synthetic 1/f images (keras_archs.compress.calibrate).
3. Sensitivity: quantize one layer at a time at 4..8 bits (k-means with linear init + output-error compensation;
   ``--uncompensated``: plain k-means codes),
   measure the code+codebook bytes and the KL divergence of the model's 1000-way output on the synthetic images.
4. Allocate: per budget B, the fewest bytes with sum of per-layer KLs <= B (Lagrangian bisection).
5. Optionally (``--skimage``) report the top-1 agreement with the 8-bit original on the M4 multi-crops of
   scikit-image photos (benchmarks/_photos.py) it is confident about (> 0.3) — the photos never influence the
   allocation.

Usage::

    python benchmarks/squeezenet_bit_allocation.py --net ../shared/fixtures/squeezenet/compressed_SqueezeNet.net \
        --budgets 0.015 0.025 0.04 --skimage

``--tiny`` runs every step on a random-weight SqueezeNet 1.1 at 64x64 with 8 synthetic images and bits 5 and 8, in
seconds (the figures mean nothing; it checks the script).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _photos  # noqa: E402
import numpy as np  # noqa: E402


def kl(p, q):
    return np.sum(p * (np.log(p + 1e-12) - np.log(q + 1e-12)), axis=1)


def allocate(table, budget):
    """{layer: bits} minimising bytes subject to sum KL <= budget (Lagrangian over each layer's options)."""

    def pick(mu):
        return {n: min(((c + mu * s, b, c, s) for b, (c, s) in row.items())) for n, row in table.items()}

    low, high = 0.0, 1e12
    for _ in range(200):
        mid = (low + high) / 2
        if sum(v[3] for v in pick(mid).values()) > budget:
            low = mid
        else:
            high = mid
    chosen = pick(high)
    return {n: v[1] for n, v in chosen.items()}, sum(v[2] for v in chosen.values()), sum(v[3] for v in chosen.values())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", help="the Deep Compression SqueezeNet .net (required unless --tiny)")
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.015, 0.025, 0.04, 0.06])
    parser.add_argument("--bits", type=int, nargs="+", default=[4, 5, 6, 7, 8])
    parser.add_argument("--skimage", action="store_true", help="report agreement on scikit-image photo crops")
    parser.add_argument(
        "--uncompensated", action="store_true", help="plain k-means codes (the table's 'plain sensitivities' rows)"
    )
    parser.add_argument("--tiny", action="store_true", help="random-weight SqueezeNet 1.1 at 64x64: checks the script")
    args = parser.parse_args(argv)
    if not args.tiny and not args.net:
        parser.error("--net is required (or --tiny)")

    import keras

    import keras_archs
    from keras_archs.compress import calibrate, recipes, share
    from keras_archs.data import preprocessing

    recipe = recipes.get_recipe("squeezenet1_0_imagenet")
    if args.tiny:
        model = keras_archs.SqueezeNet(version="1.1", weights=None, input_shape=(64, 64, 3))
        size, count, args.bits, args.budgets = 64, 8, [5, 8], [0.025]
    else:
        model = keras_archs.SqueezeNet(weights=args.net)
        size, count = 227, recipe.calibration_images
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    original = [layer.kernel.numpy() for layer in convs]

    def preprocess(images):
        return preprocessing.preprocess_input(images, "squeezenet_caffe")

    def predict(x):  # model.predict, as when the recipe's bits were chosen (its graph's numerics)
        return model.predict(x, batch_size=32, verbose=0)

    synthetic = preprocess(calibrate.synthetic_images(count, size, seed=0))
    started = time.perf_counter()
    hessians = calibrate.layer_input_hessians(model, synthetic, [c.name for c in convs])
    reference = predict(synthetic)
    print(f"calibration statistics: {time.perf_counter() - started:.1f} s")

    def quantize(index, bits):
        kernel = original[index]
        sharing = share.share_weights(kernel, bits)
        codebook = sharing.codebook.astype(np.float16).astype(np.float32)
        if args.uncompensated:
            codes = sharing.codes
        else:
            codes = share.compensated_codes(kernel, codebook, hessians[convs[index].name], recipe.damp)
        kept = codes[codes != 0]
        counts = np.bincount(kept)
        p = counts[counts > 0] / kept.size
        nbytes = float(-(p * np.log2(p)).sum() * kept.size / 8 + 2 * (counts > 0).sum())
        return codebook[codes], nbytes

    def synthetic_kl(kernels):
        for layer, kernel in zip(convs, kernels):
            layer.kernel.assign(kernel)
        out = predict(synthetic)
        for layer, kernel in zip(convs, original):
            layer.kernel.assign(kernel)
        return float(kl(reference, out).mean()), out

    table = {}
    print("\n| layer | " + " | ".join(f"{b}-bit bytes / KL" for b in args.bits) + " |")
    print("|---|" + "---|" * len(args.bits))
    for index, layer in enumerate(convs):
        row = {}
        for bits in args.bits:
            values, nbytes = quantize(index, bits)
            kernels = list(original)
            kernels[index] = values
            row[bits] = (nbytes, synthetic_kl(kernels)[0])
        table[layer.name] = row
        print(f"| {layer.name} | " + " | ".join(f"{int(c):,} / {s:.4f}" for c, s in row.values()) + " |", flush=True)

    photos = reference_photos = None
    if args.skimage:
        photos = preprocess(_photos.multi_crops(_photos.load_photos(), size))
        reference_photos = predict(photos)
    print(
        "\n| budget | bits per layer (conv1 .. conv10) | code+codebook bytes (entropy) | synthetic KL (joint) |"
        + (" photo agreement | photo KL |" if photos is not None else "")
    )
    print("|---|---|---|---|" + ("---|---|" if photos is not None else ""))
    for budget in args.budgets:
        bits, nbytes, _ = allocate(table, budget)
        kernels = [quantize(i, bits[layer.name])[0] for i, layer in enumerate(convs)]
        joint, _ = synthetic_kl(kernels)
        line = f"| {budget} | {' '.join(str(bits[c.name]) for c in convs)} | {int(nbytes):,} | {joint:.4f} |"
        if photos is not None:
            for layer, kernel in zip(convs, kernels):
                layer.kernel.assign(kernel)
            out = predict(photos)
            for layer, kernel in zip(convs, original):
                layer.kernel.assign(kernel)
            confident = reference_photos.max(1) > 0.3
            agreement = (out.argmax(1) == reference_photos.argmax(1))[confident].mean()
            line += f" {agreement:.3f} (n={confident.sum()}) | {kl(reference_photos, out)[confident].mean():.4f} |"
        print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
