"""The smallest ImageNet SqueezeNet 1.0 ``.tflite`` that MediaPipe runs while keeping the Keras model's predictions.

Every file is made by ``keras_archs.export.to_tflite`` with metadata (RGB pixels 0..255 in, the Caffe preprocessing
inside, labels embedded), from ``SqueezeNet(weights=<the Deep Compression .net>)``: 8-bit shared weights, 66 % of them
zero. Variants: float32; fp16 weights; weight-only int8 (``mode="dynamic"``); full int8 with uint8 I/O (the dense
baseline); each also with ``sparse=True`` (the converter's EXPERIMENTAL_SPARSITY: tensors with enough zeros stored in
TFLite's sparse format, densified when the interpreter prepares the graph).

Columns (``keras_archs.compress.fidelity.compare`` of Keras' and the file's outputs in LiteRT): file bytes, change
against dense int8, gzip -9 bytes, top-1 agreement with Keras over the confident crops (Keras' top probability > 0.3)
with its Wilson 95 % interval and a photo-level bootstrap interval, over all crops, mean KL(Keras || file) on both,
MediaPipe ImageClassifier top-1 agreement with Keras over all crops (when ``.venv-mediapipe`` exists: ``make
install``), and with ``--latency`` the LiteRT batch-1 latency (median of ``--runs`` after ``--warmup``, ``--threads``
threads). A variant that does not run in the LiteRT interpreter (default CPU delegate XNNPACK) gets a row saying so.

Images: the held-out photo protocol of ``keras_archs.compress.fidelity`` (docs/compression.md "Validation
protocol"): int8 calibration on random-resized crops of the *tuning* photos (``--calibration`` crops, the first of each
photo's sequence), agreement measured on ``--per-photo`` crops of each of the 24 *held-out* photos, which play no part
in making the files. Crops are rounded to 0..255 integers (what a camera frame holds) for every model. The photos come
from installed packages (``make photos``); the script stops and names any that is missing.

Usage: python benchmarks/squeezenet_tflite_sizes.py [--weights PATH|imagenet] [--per-photo 10] [--seed 0]
                                                    [--calibration 200] [--variants "label,label"]
                                                    [--latency --runs 100 --warmup 20 --threads 1]
                                                    [--mediapipe-python .venv-mediapipe/bin/python] [--tiny]
``--tiny``: a random-weight SqueezeNet 1.1 at 64x64 and one crop per photo; the figures mean nothing, the table's shape
does (the slow test lane runs it).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
VARIANTS = (  # (label, mode, sparse)
    ("float32", "float32", False),
    ("float32 sparse", "float32", True),
    ("fp16 weights", "float16", False),
    ("int8 weights (dynamic)", "dynamic", False),
    ("int8 weights (dynamic) sparse", "dynamic", True),
    ("int8 (uint8 I/O)", "int8", False),
    ("int8 (uint8 I/O) sparse", "int8", True),
)


def _model(args: argparse.Namespace):
    from keras_archs import applications

    if args.tiny:
        return applications.get_model("SqueezeNet1_1", weights=None, input_shape=(64, 64, 3)), "squeezenet_caffe"
    return applications.get_model("SqueezeNet1_0", weights=args.weights), "squeezenet_caffe"


def _crops(size: int, args: argparse.Namespace) -> tuple[np.ndarray, Any]:
    """(calibration crops of the tuning photos, the held-out crop set), RGB rounded to 0..255 integers."""
    from keras_archs.compress import fidelity

    per_photo = 1 if args.tiny else args.per_photo
    tuning_photos = len(fidelity.photos("tuning"))
    calibration_count = 8 if args.tiny else args.calibration
    tuning = fidelity.crop_set("tuning", math.ceil(calibration_count / tuning_photos), size, seed=args.seed + 1)
    held_out = fidelity.crop_set("held_out", per_photo, size, seed=args.seed)
    calibration = np.clip(np.round(tuning.images[:calibration_count]), 0, 255).astype(np.float32)
    return calibration, dataclasses.replace(held_out, images=np.clip(np.round(held_out.images), 0, 255))


def _latency_ms(path: pathlib.Path, x: np.ndarray, args: argparse.Namespace) -> float:
    from keras_archs.demo import _median_ms
    from keras_archs.export import _litert

    runner = _litert.LiteRTRunner(model_path=path, num_threads=args.threads)
    interpreter, source, target = runner.interpreter, runner.input, runner.output
    quantized = _litert.quantize_input(x[:1], source)

    def call():
        interpreter.set_tensor(source["index"], quantized)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"])

    return _median_ms(call, args.runs, args.warmup)


def _mediapipe(python: pathlib.Path, path: pathlib.Path, images: np.ndarray) -> np.ndarray | str:
    """MediaPipe ImageClassifier's top-1 index per crop (tests/mediapipe_runner.py in its environment), or why not."""
    crops, job = path.with_suffix(".crops.npy"), path.with_suffix(".job.json")
    np.save(crops, images.astype(np.uint8))
    job.write_text(json.dumps({"models": [{"path": str(path), "images": str(crops)}]}))
    done = subprocess.run(
        [str(python), str(ROOT / "tests" / "mediapipe_runner.py"), str(job)], capture_output=True, text=True
    )
    if done.returncode != 0:
        return "fails: " + (done.stderr.strip().splitlines() or ["(no message)"])[-1][:80]
    return np.array([row[0] for row in json.loads(done.stdout)[str(path)]["top1"]])


def _row(label, result, reference, outputs, groups, int8_bytes, mediapipe, latency, threshold) -> str:
    from keras_archs.compress import fidelity

    measured = fidelity.compare(reference, outputs, threshold, groups=groups)
    gz = len(gzip.compress(result.path.read_bytes(), compresslevel=9, mtime=0))
    change = f"{100 * (result.bytes / int8_bytes - 1):+.1f} %" if int8_bytes else "-"
    low, high = measured.photo_ci_confident
    mp = mediapipe if isinstance(mediapipe, str) else f"{np.mean(mediapipe == reference.argmax(1)):.3f}"
    ms = "-" if latency is None else f"{latency:.2f}"
    confident, everything, kl_confident, kl_all = measured.cells()
    return (
        f"| {label} | {result.bytes:,} | {change} | {gz:,} | {confident} | [{low:.3f}, {high:.3f}] | {everything} | "
        f"{kl_confident} | {kl_all} | {mp} | {ms} |"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(ROOT.parent / "shared/fixtures/squeezenet/compressed_SqueezeNet.net"))
    parser.add_argument("--per-photo", type=int, default=10, help="random-resized crops per held-out photo")
    parser.add_argument("--seed", type=int, default=0, help="the crops' seed (calibration crops: seed + 1)")
    parser.add_argument("--calibration", type=int, default=200, help="int8 calibration crops of the tuning photos")
    parser.add_argument("--variants", default=None, help="comma-separated labels of VARIANTS to run (default all)")
    parser.add_argument("--latency", action="store_true", help="time each file (run on an idle machine)")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mediapipe-python", default=str(ROOT / ".venv-mediapipe" / "bin" / "python"))
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)

    from keras_archs.compress import fidelity
    from keras_archs.export import TFLiteConversionError, to_tflite
    from keras_archs.export._litert import LiteRTRunner

    missing = fidelity.missing_photos("tuning") + fidelity.missing_photos("held_out")
    if missing:
        print("photos not installed (run `make photos`):\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    model, preprocessing = _model(args)
    size = int(model.input_shape[1])
    calibration, held_out = _crops(size, args)
    evaluation = held_out.images
    threshold = 0.0 if args.tiny else fidelity.CONFIDENT  # a random network is never confident: count every crop
    mediapipe_python = pathlib.Path(args.mediapipe_python)
    print(
        f"model {model.name}: {len(calibration)} calibration crops, {len(evaluation)} evaluation crops; "
        f"MediaPipe: {mediapipe_python if mediapipe_python.exists() else 'absent (make install)'}"
    )
    header = "| file | bytes | vs dense int8 | gzip -9 bytes | agreement, confident [Wilson] (n) | photo bootstrap "
    header += "| agreement, all [Wilson] (n) | KL confident | KL all | MediaPipe agreement, all | latency ms |"
    print(header)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        results, failed = [], []
        chosen = None if args.variants is None else set(args.variants.split(","))
        for label, mode, sparse in VARIANTS:
            if chosen is not None and label not in chosen:
                continue
            path = workdir / f"{label.split()[0]}_{mode}{'_sparse' if sparse else ''}.tflite"
            try:
                result = to_tflite(
                    model,
                    path,
                    mode=mode,
                    sparse=sparse,
                    preprocessing=preprocessing,
                    representative_data=calibration if mode == "int8" else None,
                    calibration_steps=len(calibration),
                )
            except TFLiteConversionError as error:
                reason = str(error).split(": ", 1)[-1][:90]
                failed.append(f"| {label} | - | - | - | does not run in LiteRT: {reason} | | | | | | |")
                continue
            results.append((label, result))
        reference = np.asarray(results[0][1].keras_model(evaluation, training=False))
        int8_bytes = next((r.bytes for label, r in results if label == "int8 (uint8 I/O)"), None)  # None: "-"
        for label, result in results:
            outputs = LiteRTRunner(model_path=result.path)(evaluation)
            latency = _latency_ms(result.path, evaluation, args) if args.latency else None
            mediapipe = _mediapipe(mediapipe_python, result.path, evaluation) if mediapipe_python.exists() else "-"
            print(_row(label, result, reference, outputs, held_out.groups, int8_bytes, mediapipe, latency, threshold))
        for line in failed:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
