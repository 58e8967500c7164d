"""The recipe table of docs/compression.md: exact archive bytes and agreement with the 8-bit original, per recipe.

For each recipe variant (below, as data: changes to the registry recipe ``squeezenet1_0_imagenet``, which keeps the
published pruning and uses float16 codebooks and biases), ``deep_compress`` re-compresses the public Deep Compression
SqueezeNet 1.0 (``--net``) with no data, and the decoded archive is compared with the original on two crop sets of
photos (benchmarks/_photos.py): "R" random crops and "M" multi-crops, counting only the crops where the original's
top probability is > 0.3. Prints one Markdown row per recipe: bytes, R and M agreement (with n) and KL, and the
compression time.

Usage::

    python benchmarks/squeezenet_recipes.py --net ../shared/fixtures/squeezenet/compressed_SqueezeNet.net \
        --extra-photos [--photos DIR] [--variants kmeans_6bit default] [--bits budget_0.04=5,7,8,...]

``--bits NAME=b1,...,b26`` adds a row with those per-layer bits (conv1 .. conv10, as printed by
benchmarks/squeezenet_bit_allocation.py for a KL budget). ``--tiny`` runs every step on a random-weight SqueezeNet
1.1 at 64x64 with synthetic photos and two variants, in seconds (the figures mean nothing; it checks the script).
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

REPO = pathlib.Path(__file__).resolve().parents[1]
DC_NET = REPO.parent / "shared" / "fixtures" / "squeezenet" / "compressed_SqueezeNet.net"
# SqueezeNet 1.0's 26 conv layers in prototxt order: the order of --bits.
LAYERS = ["conv1"] + [f"fire{i}_{part}" for i in range(2, 10) for part in ("squeeze1x1", "expand1x1", "expand3x3")]
LAYERS.append("conv10")
PLANNER_BITS = {"conv1": 8, "*squeeze1x1": 8, "*": 6}  # "conv1 + squeeze 8 bit, rest 6" (docs/compression.md)

# The rows of docs/compression.md's recipe table: name -> changes to recipes.get_recipe("squeezenet1_0_imagenet").
VARIANTS = {
    "kmeans_8bit": {"bits": 8, "compensate": False},
    "kmeans_7bit": {"bits": 7, "compensate": False},
    "kmeans_6bit": {"bits": 6, "compensate": False},
    "kmeans_5bit": {"bits": 5, "compensate": False},
    "ecsq_0.001": {"bits": 8, "quantizer": "ecsq", "lam": 0.001, "compensate": False},
    "ecsq_0.003": {"bits": 8, "quantizer": "ecsq", "lam": 0.003, "compensate": False},
    "ecsq_0.01": {"bits": 8, "quantizer": "ecsq", "lam": 0.01, "compensate": False},
    "ecsq_0.03": {"bits": 8, "quantizer": "ecsq", "lam": 0.03, "compensate": False},
    "kmeans_6bit_compensated_damp0.01": {"bits": 6, "compensate": True, "damp": 0.01},
    "kmeans_6bit_compensated_damp0.1": {"bits": 6, "compensate": True, "damp": 0.1},
    "planner_plain": {"bits": PLANNER_BITS, "compensate": False},
    "planner_compensated": {"bits": PLANNER_BITS, "compensate": True},
    "default": {},  # the registry recipe: KL-budget 0.025 allocation, compensated
}
TINY_VARIANTS = ["kmeans_6bit", "default"]


def parse_bits(text: str) -> tuple[str, dict]:
    """``NAME=b1,...,b26`` -> (name, {"bits": {layer: bits}})."""
    name, _, values = text.partition("=")
    bits = [int(value) for value in values.split(",") if value]
    if not name or len(bits) != len(LAYERS):
        raise argparse.ArgumentTypeError(
            f"--bits must be NAME= then {len(LAYERS)} comma-separated ints (conv1 .. conv10). Received: {text!r}"
        )
    return name, {"bits": dict(zip(LAYERS, bits))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", type=pathlib.Path, default=DC_NET, help="the Deep Compression SqueezeNet .net")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), help="default: every variant")
    parser.add_argument("--bits", type=parse_bits, action="append", default=[], metavar="NAME=b1,...,b26")
    parser.add_argument("--extra-photos", action="store_true", help="add the motorcycle and grace_hopper (M6/R6)")
    parser.add_argument("--photos", type=pathlib.Path, help="a folder of more photos (the 7th of docs' sets)")
    parser.add_argument("--random-crops", type=int, default=48, help="R crops per photo")
    parser.add_argument("--threshold", type=float, default=0.3, help="the original's confidence for a crop to count")
    parser.add_argument("--tiny", action="store_true", help="random-weight SqueezeNet 1.1 at 64x64: checks the script")
    args = parser.parse_args(argv)

    import keras_archs
    from keras_archs import compress
    from keras_archs.compress import calibrate, recipes
    from keras_archs.data import preprocessing

    base = recipes.get_recipe("squeezenet1_0_imagenet")
    names = args.variants or (TINY_VARIANTS if args.tiny else list(VARIANTS))
    variants = [(name, VARIANTS[name]) for name in names] + list(args.bits)
    if args.tiny:
        model = keras_archs.SqueezeNet(version="1.1", weights=None, input_shape=(64, 64, 3))
        size, threshold = 64, 0.0  # a random network is never confident: count every crop
        photos = list(calibrate.synthetic_images(2, 96, seed=1))
        base = base.with_overrides(calibration_images=8)
    else:
        model = keras_archs.SqueezeNet(weights=args.net)
        size, threshold = 227, args.threshold
        photos = _photos.load_photos(extra=args.extra_photos, directory=args.photos)
    crop_sets = {
        "R": _photos.random_crops(photos, size, 2 if args.tiny else args.random_crops),
        "M": _photos.multi_crops(photos, size),
    }
    inputs = {key: preprocessing.preprocess_input(crops.copy(), "squeezenet_caffe") for key, crops in crop_sets.items()}

    def predict(network, x):
        return np.concatenate([np.asarray(network(x[i : i + 32], training=False)) for i in range(0, len(x), 32)])

    reference = {key: predict(model, x) for key, x in inputs.items()}
    print(f"{len(photos)} photos; crops: " + ", ".join(f"{key} {len(x)}" for key, x in inputs.items()))
    print("\n| recipe | bytes | R agreement (n) | R KL | M agreement (n) | M KL | compress s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, changes in variants:
        recipe = base.with_overrides(name=name, **changes)
        started = time.perf_counter()
        result = compress.deep_compress(model, recipe=recipe)
        seconds = time.perf_counter() - started
        decoded = compress.load(result.to_bytes())
        cells = []
        for key in ("R", "M"):
            agree, kl, count = _photos.agreement(reference[key], predict(decoded, inputs[key]), threshold)
            cells += [f"{agree:.3f} ({count})", f"{kl:.4f}"]
        print(f"| {name} | {result.size_bytes:,} | " + " | ".join(cells) + f" | {seconds:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
