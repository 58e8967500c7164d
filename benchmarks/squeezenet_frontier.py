"""Attempts to push the SqueezeNet 1.0 archive below the default's size at the same fidelity (docs/compression.md,
"The frontier"): each mode re-creates one experiment and prints its figures.

* ``distill``: data-free distillation from the 8-bit teacher. The ``--bits`` recipe is shared (compensated, as
  ``deep_compress`` does), then its centroids (and with ``--biases`` the conv biases) are fine-tuned with
  KL(teacher || student) on ``--per-photo`` random-resized crops (seed 1000) of 12 TUNING photos plus ``--synthetic``
  1/f images (and ``--mixup`` blends of pairs of them), in inference mode (no dropout). The other 4 tuning photos
  (every 4th) are the distillation's own validation: their crops never train, so they show whether the gain carries
  to photos it did not see. Prints per epoch the validation and training-photo figures, then the archive's held-out
  row.
* ``refit``: data-free centroid refit. After compensated sharing, each layer's codebook values are re-solved by least
  squares to minimise the layer's output error ``tr(dW H dW^T)`` (H = E[x x^T] on the synthetic calibration images,
  codes fixed). Prints each layer's error before/after and the archive's held-out row.
* ``uniform``: code entropy (bits per kept weight) and layer output error of k-means codebooks at 7 and 8 bits vs
  uniform grids of 96..384 levels, all with compensated codes, for a few layers: does a uniform, entropy-coded grid
  buy bits at equal error?

Usage::

    python benchmarks/squeezenet_frontier.py distill --net ../shared/fixtures/squeezenet/compressed_SqueezeNet.net \
        --bits 7 [--mixup 1024] [--biases]
    python benchmarks/squeezenet_frontier.py refit --net ... --bits 7
    python benchmarks/squeezenet_frontier.py uniform --net ...

``--tiny`` runs a mode on a random-weight SqueezeNet 1.1 at 64x64 with one crop per photo, in seconds (the figures
mean nothing; it checks the script). The photos must be installed (``make photos``).
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
VALIDATION_PHOTOS = (3, 7, 11, 15)  # every 4th tuning photo: the distillation's own validation photos
HELD_OUT_HEADER = (
    "\n| recipe | bytes | held-out confident [CI] (n) | all [CI] (n) | KL conf | KL all |"
    "\n|---|---:|---:|---:|---:|---:|"
)


def preprocess(images):
    from keras_archs.data import preprocessing

    return np.asarray(preprocessing.preprocess_input(images.copy(), "squeezenet_caffe"), np.float32)


def shared_state(model, bits, calibration_images: int):
    """The deep_compress state after pruning (kept) and compensated sharing at ``bits``."""
    from keras_archs.compress import recipes, stages

    recipe = recipes.get_recipe("squeezenet1_0_imagenet").with_overrides(
        name=f"frontier_{bits}", bits=bits, calibration_images=calibration_images
    )
    state = stages.start_state(model, recipe, stages.FineTuning())
    return stages.share_stage(stages.prune_stage(state))


def held_out_row(label, state, reference, held_out, inputs, threshold):
    from keras_archs import compress
    from keras_archs.compress import fidelity, stages

    state.assign_shared_values()
    result = stages.pack_stage(state).result
    decoded = compress.load(result.to_bytes())
    measured = fidelity.compare(reference, fidelity.predict(decoded, inputs), threshold, groups=held_out.groups)
    print(f"| {label} | {result.size_bytes:,} | " + " | ".join(measured.cells()) + " |", flush=True)


def distill(args, model, size, reference, held_out, inputs, tuning, tuning_x):
    import keras

    from keras_archs.compress import calibrate, fidelity, finetune, stages

    class Distiller(finetune.ConstrainedTrainer):
        def call(self, x, training=False):
            return self.inner(x, training=False)  # the teacher's outputs are inference-mode outputs: no dropout

    teacher_tuning = fidelity.predict(model, tuning_x)
    validation = np.isin(tuning.groups, VALIDATION_PHOTOS)
    train = fidelity.crop_set("tuning", args.per_photo if not args.tiny else 2, size, seed=1000)
    keep = ~np.isin(train.groups, VALIDATION_PHOTOS)
    x = preprocess(train.images[keep])
    if args.synthetic:
        x = np.concatenate([x, preprocess(calibrate.synthetic_images(args.synthetic, size, seed=5))])
    if args.mixup:
        rng = np.random.default_rng(7)
        first, second = rng.integers(0, len(x), (2, args.mixup))
        weight = rng.uniform(0, 1, (args.mixup, 1, 1, 1)).astype(np.float32)
        x = np.concatenate([x, weight * x[first] + (1 - weight) * x[second]])
    targets = fidelity.predict(model, x)
    state = shared_state(model, args.bits, 8 if args.tiny else 96)
    for layer in state.model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.bias.trainable = args.biases
    trainer = Distiller(state.model, shared=state.shared)
    trainer.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss=keras.losses.KLDivergence())
    print(
        f"training images: {len(x)}; validation: {int(validation.sum())} crops of the tuning photos {VALIDATION_PHOTOS}"
    )
    print(
        "\n| epoch | validation photos: confident [CI] (n) | all [CI] (n) | KL conf | KL all | training photos: "
        "confident | KL all |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for epoch in range(args.epochs + 1):
        if epoch:
            trainer.fit(x, targets, batch_size=32, epochs=1, verbose=0, shuffle=True)
        predicted = fidelity.predict(state.model, tuning_x)
        seen = fidelity.compare(teacher_tuning[~validation], predicted[~validation], threshold=args.threshold)
        unseen = fidelity.compare(teacher_tuning[validation], predicted[validation], threshold=args.threshold)
        print(
            f"| {epoch} | " + " | ".join(unseen.cells()) + f" | {seen.agreement_confident:.3f} | {seen.kl_all:.4f} |",
            flush=True,
        )
    state.shared = {
        name: (stages._float16_codebook(book), codes) for name, (book, codes) in trainer.codebooks().items()
    }
    print(HELD_OUT_HEADER)
    held_out_row(f"distilled_{args.bits}bit", state, reference, held_out, inputs, args.threshold)


def refit_codebook(kernel, codes, codebook, hessian, damp: float = 0.1, ridge: float = 1e-3) -> np.ndarray:
    """The codebook (codes fixed, code 0 = 0) minimising tr(dW (H + damp) dW^T) for a (d, out) kernel."""
    size = codebook.size
    damped = hessian.copy()
    damped[np.diag_indices_from(damped)] += damp * np.mean(np.diag(damped))
    right = np.bincount(codes.ravel(), weights=(damped @ kernel).ravel(), minlength=size)
    normal = np.zeros(size * size)
    for column in codes.T:  # sum over output channels of onehot^T H onehot, accumulated by code pairs
        normal += np.bincount((column[:, None] * size + column[None, :]).ravel(), damped.ravel(), size * size)
    normal = normal.reshape(size, size)[1:, 1:]
    lam = ridge * np.mean(np.diag(normal)) + 1e-12  # keeps unused entries at their value
    values = np.linalg.solve(normal + lam * np.eye(size - 1), right[1:] + lam * codebook[1:])
    return np.concatenate([[0.0], values])


def layer_error(kernel, quantized, hessian) -> float:
    delta = quantized - kernel
    return float(np.einsum("io,ij,jo->", delta, hessian, delta))


def refit(args, model, size, reference, held_out, inputs):
    import keras

    from keras_archs.compress import calibrate, stages

    state = shared_state(model, args.bits, 8 if args.tiny else 96)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    synthetic = preprocess(calibrate.synthetic_images(8 if args.tiny else 96, size, seed=0))
    hessians = calibrate.layer_input_hessians(model, synthetic, [layer.name for layer in convs])
    print("| layer | output error before | after refit |\n|---|---:|---:|")
    for layer in convs:
        kernel = layer.kernel.numpy()
        flat = kernel.reshape(-1, kernel.shape[-1]).astype(np.float64)
        codebook, codes = state.shared[layer.name]
        flat_codes = codes.reshape(flat.shape)
        before = layer_error(flat, codebook[flat_codes], hessians[layer.name])
        new = stages._float16_codebook(
            refit_codebook(flat, flat_codes, codebook.astype(np.float64), hessians[layer.name]).astype(np.float32)
        )
        after = layer_error(flat, new[flat_codes], hessians[layer.name])
        state.shared[layer.name] = (new, codes)
        print(f"| {layer.name} | {before:.4g} | {after:.4g} ({after / before - 1:+.1%}) |", flush=True)
    print(HELD_OUT_HEADER)
    held_out_row(f"refit_{args.bits}bit", state, reference, held_out, inputs, args.threshold)


def uniform(args, model, size):
    import keras

    from keras_archs.compress import calibrate, share

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    names = [convs[-1].name, convs[-2].name] if args.tiny else ["conv10", "fire9_expand3x3", "fire8_squeeze1x1"]
    synthetic = preprocess(calibrate.synthetic_images(8 if args.tiny else 96, size, seed=0))
    hessians = calibrate.layer_input_hessians(model, synthetic, names)

    def entropy(codes):
        kept = codes[codes != 0]
        counts = np.bincount(kept)
        p = counts[counts > 0] / kept.size
        return float(-(p * np.log2(p)).sum())

    print("| layer | codebook | code entropy (bits per kept weight) | output error |\n|---|---|---:|---:|")
    for name in names:
        kernel = model.get_layer(name).kernel.numpy()
        flat = kernel.reshape(-1, kernel.shape[-1]).astype(np.float64)
        books = {}
        for bits in (7, 8):
            books[f"k-means {bits} bit"] = share.share_weights(kernel, bits).codebook.astype(np.float16)
        kept = kernel[kernel != 0]
        for levels in (96, 128, 192, 256, 384):
            grid = np.linspace(kept.min(), kept.max(), levels).astype(np.float16)
            books[f"uniform, {levels} levels"] = np.concatenate([[0], grid[grid != 0]]).astype(np.float16)
        for label, book in books.items():
            book = book.astype(np.float32)
            codes = share.compensated_codes(kernel, book, hessians[name], 0.1)
            error = layer_error(flat, book[codes].reshape(flat.shape), hessians[name])
            print(f"| {name} | {label} | {entropy(codes):.3f} | {error:.4g} |", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["distill", "refit", "uniform"])
    parser.add_argument("--net", type=pathlib.Path, default=DC_NET, help="the Deep Compression SqueezeNet .net")
    parser.add_argument("--bits", type=int, default=7, help="code width of every layer")
    parser.add_argument("--epochs", type=int, default=3, help="distill: epochs")
    parser.add_argument("--per-photo", type=int, default=64, help="distill: training crops per tuning photo")
    parser.add_argument("--synthetic", type=int, default=256, help="distill: synthetic 1/f training images")
    parser.add_argument("--mixup", type=int, default=0, help="distill: blends of two training images added")
    parser.add_argument("--biases", action="store_true", help="distill: train the conv biases too")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="distill: Adam's")
    parser.add_argument("--tiny", action="store_true", help="random-weight SqueezeNet 1.1 at 64x64: checks the script")
    args = parser.parse_args(argv)

    import keras_archs
    from keras_archs.compress import fidelity

    missing = fidelity.missing_photos("tuning") + fidelity.missing_photos("held_out")
    if missing:
        print("photos not installed (run `make photos`):\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    if args.tiny:
        model = keras_archs.SqueezeNet(version="1.1", weights=None, input_shape=(64, 64, 3))
        size, per_photo, args.threshold, args.epochs = 64, 1, 0.0, 1
        args.synthetic, args.mixup = min(args.synthetic, 4), min(args.mixup, 4)
    else:
        model = keras_archs.SqueezeNet(weights=args.net)
        size, per_photo, args.threshold = 227, 24, fidelity.CONFIDENT
    if args.mode == "uniform":
        uniform(args, model, size)
        return 0
    held_out = fidelity.crop_set("held_out", per_photo, size, seed=0)
    inputs = preprocess(held_out.images)
    reference = fidelity.predict(model, inputs)
    if args.mode == "refit":
        refit(args, model, size, reference, held_out, inputs)
    else:
        tuning = fidelity.crop_set("tuning", per_photo, size, seed=0)
        distill(args, model, size, reference, held_out, inputs, tuning, preprocess(tuning.images))
    return 0


if __name__ == "__main__":
    sys.exit(main())
