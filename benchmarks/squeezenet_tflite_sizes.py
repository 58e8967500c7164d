"""The smallest ImageNet SqueezeNet 1.0 ``.tflite`` that MediaPipe runs while keeping the Keras model's predictions.

Every file is made by ``keras_archs.export.to_tflite`` with metadata (RGB pixels 0..255 in, the Caffe preprocessing
inside, labels embedded), from ``SqueezeNet(weights=<the Deep Compression .net>)``: 8-bit shared weights, 66 % of them
zero. Variants: float32; fp16 weights; weight-only int8 (``mode="dynamic"``); full int8 with uint8 I/O (the dense
baseline); each also with ``sparse=True`` (the converter's EXPERIMENTAL_SPARSITY: tensors with enough zeros stored in
TFLite's sparse format, densified when the interpreter prepares the graph).

Columns: file bytes, change against dense int8, gzip -9 bytes, whether it runs in the LiteRT interpreter (default CPU
delegate XNNPACK), top-1 agreement with Keras in LiteRT over all evaluation crops and over the confident ones (Keras
top probability > 0.3) with a 95 % Wilson interval, mean KL(Keras || file), MediaPipe ImageClassifier top-1 agreement
(when ``.venv-mediapipe`` exists: ``make install``), and with ``--latency`` the LiteRT batch-1 latency (median of
``--runs`` after ``--warmup``, ``--threads`` threads).

Images (scikit-image's and matplotlib's sample photos; keras_archs.compress.fidelity's held-out crops are not on
main yet), split by photo: int8 calibration on random crops of astronaut, rocket and stereo_motorcycle (left view);
evaluation on multi-crops and random crops of chelsea, coffee and grace_hopper, which play no part in making the files.
Calibration needs natural photos: calibrated on hubble_deep_field, immunohistochemistry and colorwheel added to the
first two, the int8 file agreed on 0.67 of the crops; on crops of natural photos, 0.93 (docs/benchmarks.md). Crops are
rounded to uint8 (what a camera frame holds) for every model.

Usage: python benchmarks/squeezenet_tflite_sizes.py [--weights PATH|imagenet] [--random-crops 20]
                                                    [--calibration 200] [--calibration-photos a,b,c]
                                                    [--evaluation-photos a,b,c] [--variants "label,label"]
                                                    [--latency --runs 100 --warmup 20 --threads 1]
                                                    [--mediapipe-python .venv-mediapipe/bin/python] [--tiny]
``--tiny``: a random-weight SqueezeNet 1.1 at 64x64 and a handful of crops; the figures mean nothing, the table's
shape does (the slow test lane runs it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _photos  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
CALIBRATION_PHOTOS = ("astronaut", "rocket", "stereo_motorcycle")
EVALUATION_PHOTOS = ("chelsea", "coffee", "grace_hopper")
VARIANTS = (  # (label, mode, sparse)
    ("float32", "float32", False),
    ("float32 sparse", "float32", True),
    ("fp16 weights", "float16", False),
    ("int8 weights (dynamic)", "dynamic", False),
    ("int8 weights (dynamic) sparse", "dynamic", True),
    ("int8 (uint8 I/O)", "int8", False),
    ("int8 (uint8 I/O) sparse", "int8", True),
)
CONFIDENT = 0.3  # Keras top probability above which a crop counts as confident (docs/compression.md's protocol)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion (Wilson 1927)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _model(args: argparse.Namespace):
    from keras_archs import applications

    if args.tiny:
        return applications.get_model("SqueezeNet1_1", weights=None, input_shape=(64, 64, 3)), "squeezenet_caffe"
    return applications.get_model("SqueezeNet1_0", weights=args.weights), "squeezenet_caffe"


def _load(names: list[str]) -> list[np.ndarray]:
    """RGB float32 photos by name: scikit-image's sample photos, stereo_motorcycle (left view), grace_hopper."""
    motorcycle, grace_hopper = _photos.load_photos((), extra=True)
    extra = {"stereo_motorcycle": motorcycle, "grace_hopper": grace_hopper}
    return [extra[name] if name in extra else _photos.load_photos((name,))[0] for name in names]


def _crops(size: int, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """(calibration crops, evaluation crops), RGB rounded to 0..255 integers, float32."""
    calibration_photos = _load(args.calibration_photos.split(","))
    evaluation_photos = _load(args.evaluation_photos.split(","))
    if args.tiny:
        calibration = _photos.random_crops(calibration_photos[:2], size, 4, seed=1)
        evaluation = _photos.random_crops(evaluation_photos[:2], size, 3, seed=2)
    else:
        per_photo = math.ceil(args.calibration / len(calibration_photos))
        calibration = _photos.random_crops(calibration_photos, size, per_photo, seed=1)[: args.calibration]
        evaluation = np.concatenate(
            [
                _photos.multi_crops(evaluation_photos, size),
                _photos.random_crops(evaluation_photos, size, args.random_crops, seed=2),
            ]
        )
    return np.clip(np.round(calibration), 0, 255), np.clip(np.round(evaluation), 0, 255).astype(np.float32)


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


def _row(label, result, reference, outputs, int8_bytes, mediapipe, latency):
    confident = reference.max(1) > CONFIDENT
    agree = outputs.argmax(1) == reference.argmax(1)
    low, high = wilson(int(agree[confident].sum()), int(confident.sum()))
    kl = float(np.mean(np.sum(reference * (np.log(reference + 1e-12) - np.log(outputs + 1e-12)), axis=1)))
    gz = len(gzip.compress(result.path.read_bytes(), compresslevel=9, mtime=0))
    change = f"{100 * (result.bytes / int8_bytes - 1):+.1f} %" if int8_bytes else "-"
    mp = mediapipe if isinstance(mediapipe, str) else f"{np.mean(mediapipe == reference.argmax(1)):.3f}"
    ms = "-" if latency is None else f"{latency:.2f}"
    n = int(confident.sum())
    on_confident = f"{agree[confident].mean():.3f} [{low:.3f}, {high:.3f}] (n={n})" if n else "- (n=0)"
    return (
        f"| {label} | {result.bytes:,} | {change} | {gz:,} | yes | {agree.mean():.3f} | {on_confident} | {kl:.4f} | "
        f"{mp} | {ms} |"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(ROOT.parent / "shared/fixtures/squeezenet/compressed_SqueezeNet.net"))
    parser.add_argument("--random-crops", type=int, default=20, help="random crops per evaluation photo")
    parser.add_argument("--calibration", type=int, default=200, help="int8 calibration crops")
    parser.add_argument("--calibration-photos", default=",".join(CALIBRATION_PHOTOS), help="comma-separated names")
    parser.add_argument("--evaluation-photos", default=",".join(EVALUATION_PHOTOS), help="comma-separated names")
    parser.add_argument("--variants", default=None, help="comma-separated labels of VARIANTS to run (default all)")
    parser.add_argument("--latency", action="store_true", help="time each file (run on an idle machine)")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mediapipe-python", default=str(ROOT / ".venv-mediapipe" / "bin" / "python"))
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)

    from keras_archs.export import TFLiteConversionError, to_tflite
    from keras_archs.export._litert import LiteRTRunner

    model, preprocessing = _model(args)
    size = int(model.input_shape[1])
    calibration, evaluation = _crops(size, args)
    mediapipe_python = pathlib.Path(args.mediapipe_python)
    print(
        f"model {model.name}: {len(calibration)} calibration crops, {len(evaluation)} evaluation crops; "
        f"MediaPipe: {mediapipe_python if mediapipe_python.exists() else 'absent (make install)'}"
    )
    header = "| file | bytes | vs dense int8 | gzip -9 bytes | runs in LiteRT | agreement, all | agreement, confident "
    header += "[95 % CI] | KL | MediaPipe agreement | latency ms |"
    print(header)
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
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
                failed.append(f"| {label} | - | - | - | no: {str(error).split(': ', 1)[-1][:90]} | | | | | |")
                continue
            results.append((label, result))
        reference = np.asarray(results[0][1].keras_model(evaluation, training=False))
        int8_bytes = next((r.bytes for label, r in results if label == "int8 (uint8 I/O)"), None)  # None: "-"
        for label, result in results:
            outputs = LiteRTRunner(model_path=result.path)(evaluation)
            latency = _latency_ms(result.path, evaluation, args) if args.latency else None
            mediapipe = _mediapipe(mediapipe_python, result.path, evaluation) if mediapipe_python.exists() else "-"
            print(_row(label, result, reference, outputs, int8_bytes, mediapipe, latency))
        for line in failed:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
