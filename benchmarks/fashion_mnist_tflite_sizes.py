"""Smallest runnable .tflite for the Fashion-MNIST SqueezeNet: uncompressed vs deep-compressed (pruned + clustered)
weights, each in every TFLite mode; bytes, gzip -9 bytes and accuracy on the 10,000 test images in the interpreter.

TFLite stores dense tensors, so pruning and clustering shrink the file only once it is compressed (gzip, an APK's
deflate): zeros and 32 distinct values per kernel compress far better than trained float weights.

Usage: python benchmarks/fashion_mnist_tflite_sizes.py [--archive saved_models/squeezenet_fashion_mnist.kadc]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser()
    root = pathlib.Path(__file__).resolve().parents[1]
    parser.add_argument("--archive", default=str(root / "saved_models" / "squeezenet_fashion_mnist.kadc"))
    args = parser.parse_args(argv)

    from keras_archs import applications, compress, demo
    from keras_archs.data.fashion_mnist import load_arrays
    from keras_archs.export import to_tflite, verify_tflite

    images, labels, _ = load_arrays("test")
    x_test, y_test = images.astype(np.float32), labels
    train, _, _ = load_arrays("train")
    representative = train[:500].astype(np.float32)
    models = {
        "uncompressed (.keras)": applications.get_model("SqueezeNet1_1", weights="fashion_mnist"),
        "deep-compressed (.kadc decoded)": compress.load(args.archive),
    }
    print(f"archive {args.archive}: {os.path.getsize(args.archive):,} bytes")
    print("| weights | TFLite mode | I/O | bytes | gzip -9 bytes | test accuracy (interpreter) |")
    print("|---|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models.items():
            for mode, io in (("float32", "float32"), ("float16", "float32"), ("dynamic", "float32"), ("int8", "uint8")):
                path = pathlib.Path(tmp) / f"{name.split()[0]}_{mode}.tflite"
                exported = to_tflite(  # the model as it is (1-channel input); with metadata: +~1 kB, grey inside
                    model,
                    path,
                    mode=mode,
                    io_dtype=io,
                    representative_data=representative if mode == "int8" else None,
                    metadata=False,
                )
                check = verify_tflite(path, model, (x_test, y_test))
                print(
                    f"| {name} | {mode} | {io} | {exported.bytes:,} | {demo.gzip_size(path):,} | "
                    f"{check.tflite_accuracy:.4f} |",
                    flush=True,
                )


if __name__ == "__main__":
    sys.exit(main())
