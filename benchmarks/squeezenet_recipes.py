"""The validation protocol of docs/compression.md: per recipe, the exact archive bytes and how closely the decoded
archive follows the 8-bit original on photos that chose nothing.

For each recipe (the registry's ``squeezenet1_0_imagenet*`` recipes, and variants kept here as data: changes to the
default recipe), ``deep_compress`` re-compresses the public Deep Compression SqueezeNet 1.0 (``--net``) with no data,
the archive is decoded (``compress.load``), and the decoded model is compared with the original
(``keras_archs.compress.fidelity``) on

* the HELD-OUT crops: ``--per-photo`` (24) random-resized crops (area 35-100 %, aspect 3/4-4/3, flips; seed 0) of
  each of the 24 held-out photos -- they choose nothing, they only measure;
* the TUNING crops: the same of the 16 tuning photos -- the set recipes, allocations and fine-tuning may be chosen on.

Prints one Markdown row per recipe: bytes; held-out top-1 agreement on the crops the original is confident about
(max probability > 0.3) with its Wilson 95 % interval and n, on all crops likewise, mean KL(original || compressed) on
the confident and on all crops, the photo-level bootstrap interval of the confident agreement; the tuning set's
confident agreement and KL; the compression time (meaningful only on an idle machine).

Usage::

    python benchmarks/squeezenet_recipes.py --net ../shared/fixtures/squeezenet/compressed_SqueezeNet.net \
        [--recipes squeezenet1_0_imagenet kmeans_7bit ...] [--bits NAME=b1,...,b26]

``--bits NAME=b1,...,b26`` adds a row with those per-layer bits (conv1 .. conv10, as printed by
benchmarks/squeezenet_bit_allocation.py). The photos must be installed (``make photos``; the script names any that
are missing). ``--tiny`` runs every step on a random-weight SqueezeNet 1.1 at 64x64 with one crop per photo and two
recipes, in seconds (the figures mean nothing; it checks the script).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
DC_NET = REPO.parent / "shared" / "fixtures" / "squeezenet" / "compressed_SqueezeNet.net"
# SqueezeNet 1.0's 26 conv layers in prototxt order: the order of --bits.
LAYERS = ["conv1"] + [f"fire{i}_{part}" for i in range(2, 10) for part in ("squeeze1x1", "expand1x1", "expand3x3")]
LAYERS.append("conv10")
PLANNER_BITS = {"conv1": 8, "*squeeze1x1": 8, "*": 6}  # "conv1 + squeeze 8 bit, rest 6" (docs/compression.md)

# Variants of the default recipe (name -> changes to recipes.get_recipe("squeezenet1_0_imagenet")): the rows of
# docs/compression.md's table that are not registry recipes.
VARIANTS = {
    "kmeans_8bit": {"bits": 8, "compensate": False},
    "kmeans_7bit": {"bits": 7, "compensate": False},
    "kmeans_6bit": {"bits": 6, "compensate": False},
    "kmeans_5bit": {"bits": 5, "compensate": False},
    "ecsq_0.001": {"bits": 8, "quantizer": "ecsq", "lam": 0.001, "compensate": False},
    "ecsq_0.003": {"bits": 8, "quantizer": "ecsq", "lam": 0.003, "compensate": False},
    "ecsq_0.01": {"bits": 8, "quantizer": "ecsq", "lam": 0.01, "compensate": False},
    "compensated_6bit": {"bits": 6},
    "planner_compensated": {"bits": PLANNER_BITS},
}
TINY_RECIPES = ["kmeans_6bit", "squeezenet1_0_imagenet"]


def parse_bits(text: str) -> tuple[str, dict]:
    """``NAME=b1,...,b26`` -> (name, {"bits": {layer: bits}})."""
    name, _, values = text.partition("=")
    bits = [int(value) for value in values.split(",") if value]
    if not name or len(bits) != len(LAYERS):
        raise argparse.ArgumentTypeError(
            f"--bits must be NAME= then {len(LAYERS)} comma-separated ints (conv1 .. conv10). Received: {text!r}"
        )
    return name, {"bits": dict(zip(LAYERS, bits))}


def recipe_rows(names: list[str], extra_bits: list[tuple[str, dict]]) -> list:
    """The recipes to measure, in order: registry names or variant names, then the ``--bits`` rows."""
    from keras_archs.compress import recipes

    base = recipes.get_recipe("squeezenet1_0_imagenet")
    rows = []
    for name in names:
        rows.append(base.with_overrides(name=name, **VARIANTS[name]) if name in VARIANTS else recipes.get_recipe(name))
    rows += [base.with_overrides(name=name, **changes) for name, changes in extra_bits]
    return rows


def main(argv=None) -> int:
    from keras_archs.compress import recipes

    registry = sorted(name for name in recipes.RECIPES if name.startswith("squeezenet1_0_imagenet"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", type=pathlib.Path, default=DC_NET, help="the Deep Compression SqueezeNet .net")
    parser.add_argument(
        "--recipes", nargs="+", choices=registry + sorted(VARIANTS), help="default: the registry's SqueezeNet 1.0 ones"
    )
    parser.add_argument("--bits", type=parse_bits, action="append", default=[], metavar="NAME=b1,...,b26")
    parser.add_argument("--per-photo", type=int, default=24, help="random-resized crops per photo")
    parser.add_argument("--seed", type=int, default=0, help="the crops' seed")
    parser.add_argument("--tiny", action="store_true", help="random-weight SqueezeNet 1.1 at 64x64: checks the script")
    args = parser.parse_args(argv)

    import keras_archs
    from keras_archs import compress
    from keras_archs.compress import fidelity
    from keras_archs.data import preprocessing

    missing = fidelity.missing_photos("tuning") + fidelity.missing_photos("held_out")
    if missing:
        print("photos not installed (run `make photos`):\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    rows = recipe_rows(args.recipes or (TINY_RECIPES if args.tiny else registry), args.bits)
    if args.tiny:
        model = keras_archs.SqueezeNet(version="1.1", weights=None, input_shape=(64, 64, 3))
        size, per_photo, threshold = 64, 1, 0.0  # a random network is never confident: count every crop
        rows = [recipe.with_overrides(calibration_images=8) for recipe in rows]
    else:
        model = keras_archs.SqueezeNet(weights=args.net)
        size, per_photo, threshold = 227, args.per_photo, fidelity.CONFIDENT
    crops = {split: fidelity.crop_set(split, per_photo, size, seed=args.seed) for split in ("held_out", "tuning")}
    inputs = {
        split: np.asarray(preprocessing.preprocess_input(crop.images.copy(), "squeezenet_caffe"))
        for split, crop in crops.items()
    }
    reference = {split: fidelity.predict(model, x) for split, x in inputs.items()}
    print(
        f"held-out: {len(crops['held_out'].photo_names)} photos, {len(crops['held_out'])} crops; "
        f"tuning: {len(crops['tuning'].photo_names)} photos, {len(crops['tuning'])} crops; seed {args.seed}"
    )
    print(
        "\n| recipe | bytes | held-out agreement, confident [95 % CI] (n) | all [95 % CI] (n) | KL confident | KL all "
        "| photo-bootstrap CI | tuning agreement, confident (n) | tuning KL all | compress s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for recipe in rows:
        started = time.perf_counter()
        result = compress.deep_compress(model, recipe=recipe)
        seconds = time.perf_counter() - started
        decoded = compress.load(result.to_bytes())
        measured = {
            split: fidelity.compare(
                reference[split], fidelity.predict(decoded, x), threshold, groups=crops[split].groups
            )
            for split, x in inputs.items()
        }
        held, tuning = measured["held_out"], measured["tuning"]
        low, high = held.photo_ci_confident
        print(
            f"| {recipe.name} | {result.size_bytes:,} | "
            + " | ".join(held.cells())
            + f" | [{low:.3f}, {high:.3f}] | {tuning.agreement_confident:.3f} ({tuning.n_confident}) "
            f"| {tuning.kl_all:.4f} | {seconds:.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
