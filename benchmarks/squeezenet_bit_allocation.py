"""Per-layer bits for the SqueezeNet 1.0 compression recipes: layer sensitivities, then a KL-budget allocation.

1. Decode the public Deep Compression SqueezeNet 1.0 (``--net``, 8-bit codes, 33 % dense).
2. Collect each conv layer's input second moments on 96 synthetic 1/f images (keras_archs.compress.calibrate), as
   ``deep_compress`` does with no data (so the allocation is for the codes deep_compress will choose).
3. Sensitivity: quantize one layer at a time at each of ``--bits`` (k-means with linear init + output-error
   compensation; ``--uncompensated``: plain k-means codes), measure the code+codebook bytes (entropy) and the mean KL
   divergence of the model's 1000-way output from the original's on the ``--data`` images:
   ``synthetic`` (the same 96 synthetic images; how ``squeezenet1_0_imagenet_small`` was chosen) or ``tuning``
   (``--per-photo`` random-resized crops of each TUNING photo of keras_archs.compress.fidelity; never the held-out
   photos).
4. Allocate: per budget B, the fewest bytes with sum of per-layer KLs <= B (Lagrangian bisection), then measure each
   allocation jointly (all layers quantized) on the same images.

Usage::

    python benchmarks/squeezenet_bit_allocation.py --net ../shared/fixtures/squeezenet/compressed_SqueezeNet.net \
        [--data tuning] [--budgets 0.01 0.02 0.03]

The allocations print as ``b1,...,b26`` (conv1 .. conv10), the form ``benchmarks/squeezenet_recipes.py --bits``
takes. ``--tiny`` runs every step on a random-weight SqueezeNet 1.1 at 64x64 with 8 synthetic images and bits 5 and
8, in seconds (the figures mean nothing; it checks the script).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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


def sensitivity_images(args, model, size: int) -> np.ndarray:
    """The images the KL is measured on, preprocessed for SqueezeNet (``--data``)."""
    from keras_archs.compress import calibrate, fidelity
    from keras_archs.data import preprocessing

    if args.data == "synthetic" or args.tiny:
        count = 8 if args.tiny else 96
        images = calibrate.synthetic_images(count, size, seed=0)
    else:
        missing = fidelity.missing_photos("tuning")
        if missing:
            raise SystemExit("tuning photos not installed (run `make photos`):\n  " + "\n  ".join(missing))
        images = fidelity.crop_set("tuning", args.per_photo, size, seed=args.seed).images
    return np.asarray(preprocessing.preprocess_input(images, "squeezenet_caffe"), np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", help="the Deep Compression SqueezeNet .net (required unless --tiny)")
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.015, 0.025, 0.04, 0.06])
    parser.add_argument("--bits", type=int, nargs="+", default=[4, 5, 6, 7, 8])
    parser.add_argument("--data", choices=["synthetic", "tuning"], default="synthetic", help="where KL is measured")
    parser.add_argument("--per-photo", type=int, default=12, help="--data tuning: crops per tuning photo")
    parser.add_argument("--seed", type=int, default=0, help="--data tuning: the crops' seed")
    parser.add_argument(
        "--uncompensated", action="store_true", help="plain k-means codes (the table's 'plain sensitivities' rows)"
    )
    parser.add_argument("--tiny", action="store_true", help="random-weight SqueezeNet 1.1 at 64x64: checks the script")
    args = parser.parse_args(argv)
    if not args.tiny and not args.net:
        parser.error("--net is required (or --tiny)")

    import keras

    import keras_archs
    from keras_archs.compress import calibrate, fidelity, recipes, share
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

    started = time.perf_counter()
    synthetic = preprocessing.preprocess_input(calibrate.synthetic_images(count, size, seed=0), "squeezenet_caffe")
    hessians = calibrate.layer_input_hessians(model, synthetic, [c.name for c in convs])
    images = sensitivity_images(args, model, size)
    reference = fidelity.predict(model, images)
    print(
        f"calibration statistics: {time.perf_counter() - started:.1f} s; "
        f"KL measured on {len(images)} {args.data} images"
    )

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

    def mean_kl(kernels):
        for layer, kernel in zip(convs, kernels):
            layer.kernel.assign(kernel)
        out = fidelity.predict(model, images)
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
            row[bits] = (nbytes, mean_kl(kernels)[0])
        table[layer.name] = row
        print(f"| {layer.name} | " + " | ".join(f"{int(c):,} / {s:.4f}" for c, s in row.values()) + " |", flush=True)

    print(
        f"\n| budget | bits per layer (conv1 .. conv10) | code+codebook bytes (entropy) | {args.data} KL (joint) "
        f"| {args.data} agreement, confident (n) |"
    )
    print("|---|---|---|---|---|")
    for budget in args.budgets:
        bits, nbytes, _ = allocate(table, budget)
        kernels = [quantize(i, bits[layer.name])[0] for i, layer in enumerate(convs)]
        joint, out = mean_kl(kernels)
        confident = reference.max(1) > (0.0 if args.tiny else fidelity.CONFIDENT)
        agreement = (out.argmax(1) == reference.argmax(1))[confident].mean()
        print(
            f"| {budget} | {','.join(str(bits[c.name]) for c in convs)} | {int(nbytes):,} | {joint:.4f} "
            f"| {agreement:.3f} ({confident.sum()}) |",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
