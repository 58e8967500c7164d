"""Throughput (images/s) of the keras_archs.data pipelines, next to the decode-only rate of the same data, same run.

Usage: python benchmarks/data_throughput.py [--repeats 3] [--seconds 3]

Data:
* Fashion-MNIST: the real files of Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist); skipped with a
  note when absent (`apt-get install dataset-fashion-mnist`).
* CIFAR-10: 2,000 generated records in the binary format (5 x 400 in data_batch_{1..5}.bin), in a temporary directory.
* ImageNet: 256 JPEGs of 500x375 / 375x500 (quality 90, made from scikit-image's sample photos by random rescaling,
  cropping, flipping, colour jitter and grain; smooth synthetic images if scikit-image is absent) in 4 TFRecord shards.

"decode-only" is the floor of each dataset in tf.data: batches of the in-memory arrays (Fashion-MNIST, CIFAR: their
files are parsed once, when the dataset is built) or TFRecord read + parse + full ``decode_jpeg`` (ImageNet). Each
rate is the median of ``--repeats`` runs of about ``--seconds`` seconds each, after one warm-up batch, iterating
``ds.repeat()``. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras_archs.data as kd  # noqa: E402

# keras_archs.data.fashion_mnist etc. are the dataset functions; the modules behind them:
fashion_module = importlib.import_module("keras_archs.data.fashion_mnist")
cifar_module = importlib.import_module("keras_archs.data.cifar")
imagenet_module = importlib.import_module("keras_archs.data.imagenet")

BATCH = 128
CIFAR_RECORDS_PER_BATCH = 400  # x 5 training batches = 2,000 records
IMAGENET_IMAGES = 256
IMAGENET_SHARDS = 4
GRAIN_SIGMA = 10.0  # mean JPEG ~70 kB (ImageNet's train set: ~110 kB mean, at ~400x350 mean resolution)


def rate(dataset: tf.data.Dataset, seconds: float) -> float:
    """Images per second of iterating ``dataset.repeat()`` for about ``seconds`` (after one warm-up batch)."""
    iterator = iter(dataset.repeat())
    next(iterator)
    images, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        batch = next(iterator)
        images += int((batch[0] if isinstance(batch, tuple) else batch).shape[0])
    return images / (time.perf_counter() - started)


def median_rate(make, repeats: int, seconds: float) -> float:
    return statistics.median(rate(make(), seconds) for _ in range(repeats))


def write_cifar10_binary(root: Path) -> Path:
    rng = np.random.default_rng(0)
    directory = root / "cifar-10-batches-bin"
    directory.mkdir(parents=True)
    for name, count in [(f"data_batch_{i}.bin", CIFAR_RECORDS_PER_BATCH) for i in range(1, 6)] + [
        ("test_batch.bin", 400)
    ]:
        records = np.concatenate(
            [rng.integers(0, 10, (count, 1), dtype=np.uint8), rng.integers(0, 256, (count, 3072), dtype=np.uint8)], 1
        )
        (directory / name).write_bytes(records.tobytes())
    return root


def _photos() -> list[np.ndarray]:
    try:
        import skimage.data
    except ImportError:
        grid = np.linspace(0, 1, 640)
        smooth = (np.outer(np.sin(7 * grid), np.cos(5 * grid)) * 127 + 128).astype(np.uint8)
        return [np.stack([smooth, smooth.T[:640, :640], 255 - smooth], -1)]
    return [getattr(skimage.data, name)() for name in ("chelsea", "coffee", "astronaut", "rocket")]


def write_imagenet_tfrecords(root: Path) -> tuple[Path, float]:
    """256 JPEGs of ~500x375 in TFRecord shards; returns the directory and the mean JPEG size in bytes."""
    rng = np.random.default_rng(0)
    photos = _photos()
    sizes = []
    writers = [
        tf.io.TFRecordWriter(str(root / f"train-{i:05d}-of-{IMAGENET_SHARDS:05d}")) for i in range(IMAGENET_SHARDS)
    ]
    for index in range(IMAGENET_IMAGES):
        photo = tf.constant(photos[index % len(photos)], tf.float32)
        height, width = (375, 500) if rng.random() < 0.75 else (500, 375)
        scale = max(height / photo.shape[0], width / photo.shape[1]) * rng.uniform(1.0, 1.5)
        resized = tf.image.resize(photo, [int(np.ceil(photo.shape[0] * scale)), int(np.ceil(photo.shape[1] * scale))])
        top = rng.integers(0, resized.shape[0] - height + 1)
        left = rng.integers(0, resized.shape[1] - width + 1)
        image = resized[top : top + height, left : left + width]
        if rng.random() < 0.5:
            image = image[:, ::-1]
        image = image * rng.uniform(0.8, 1.2, size=3) + rng.uniform(-20, 20)
        # Sensor-like grain: upscaled sample photos alone compress to ~40 kB, a third of ImageNet's mean.
        image = image + rng.normal(0, GRAIN_SIGMA, size=image.shape)
        jpeg = tf.io.encode_jpeg(tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8), quality=90).numpy()
        sizes.append(len(jpeg))
        example = tf.train.Example(
            features=tf.train.Features(
                feature={
                    "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg])),
                    "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1 + index % 1000])),
                }
            )
        )
        writers[index % IMAGENET_SHARDS].write(example.SerializeToString())
    for writer in writers:
        writer.close()
    return root, float(np.mean(sizes))


def arrays_decode_only(images: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(images).batch(BATCH).prefetch(tf.data.AUTOTUNE)


def imagenet_decode_only(directory: Path) -> tf.data.Dataset:
    files = imagenet_module.find_tfrecords(directory, "train")
    records = tf.data.TFRecordDataset(files, num_parallel_reads=len(files))
    records = records.map(imagenet_module.parse_tfrecord, num_parallel_calls=tf.data.AUTOTUNE)
    # Reduce each decoded image to a scalar so the batch is cheap; the full decode still runs.
    decoded = records.map(
        lambda encoded, label: tf.reduce_max(tf.io.decode_jpeg(encoded, channels=3)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return decoded.batch(BATCH).prefetch(tf.data.AUTOTUNE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
        f"{load[0]:.2f} at start; tensorflow {tf.__version__}; batch {BATCH}; median of {args.repeats} x "
        f"~{args.seconds:.0f} s"
    )
    rows = []  # (pipeline, images/s, decode-only images/s)
    measure = lambda make: median_rate(make, args.repeats, args.seconds)  # noqa: E731

    if (fashion_module.DEBIAN_DIR / "train-images-idx3-ubyte.gz").is_file():
        images, _, _ = fashion_module.load_arrays("train")
        floor = measure(lambda: arrays_decode_only(images))
        for label, kwargs in (
            ("fashion_mnist train, raw uint8 28x28", {}),
            ("fashion_mnist train, augment", {"augment": True}),
            ("fashion_mnist train, augment + erasing", {"augment": True, "erasing": True}),
            ("fashion_mnist train, for_model=SqueezeNet1_1 (227x227x3)", {"for_model": "SqueezeNet1_1"}),
        ):
            rows.append(
                (
                    label,
                    measure(lambda kwargs=kwargs: kd.fashion_mnist("train", batch_size=BATCH, seed=0, **kwargs)),
                    floor,
                )
            )
    else:
        print(f"(Fashion-MNIST skipped: {fashion_module.DEBIAN_DIR} is absent; apt-get install dataset-fashion-mnist)")

    with tempfile.TemporaryDirectory(prefix="keras_archs_bench_") as scratch:
        cifar_dir = write_cifar10_binary(Path(scratch) / "cifar")
        cifar_images = cifar_module.load_arrays("cifar10", "train", data_dir=cifar_dir)[0]
        floor = measure(lambda: arrays_decode_only(cifar_images))
        for label, kwargs in (
            ("cifar10 train (2,000 records), raw float32", {}),
            ("cifar10 train, augment (pad 4 + crop + flip)", {"augment": True}),
            (
                "cifar10 train, augment + erasing, for_model=MobileNet @32",
                {"augment": True, "erasing": True, "for_model": "MobileNet", "image_size": 32},
            ),
        ):
            rows.append(
                (
                    label,
                    measure(
                        lambda kwargs=kwargs: kd.cifar10(
                            "train", batch_size=BATCH, seed=0, data_dir=cifar_dir, **kwargs
                        )
                    ),
                    floor,
                )
            )

        imagenet_dir = Path(scratch) / "imagenet"
        imagenet_dir.mkdir()
        _, mean_bytes = write_imagenet_tfrecords(imagenet_dir)
        floor = measure(lambda: imagenet_decode_only(imagenet_dir))
        for label, kwargs in (
            ("imagenet eval, centre crop 0.875 -> 224 (fused decode)", {"shuffle": False}),
            ("imagenet train, random-area crop + flip -> 224 (fused)", {"augment": True}),
            ("imagenet eval, for_model=ResNet50 (224, caffe)", {"shuffle": False, "for_model": "ResNet50"}),
            ("imagenet eval, 10 crops of 224 from 256", {"shuffle": False, "crops": 10}),
        ):
            rows.append(
                (
                    label,
                    measure(
                        lambda kwargs=kwargs: kd.imagenet(
                            "train", batch_size=BATCH, seed=0, data_dir=imagenet_dir, **kwargs
                        )
                    ),
                    floor,
                )
            )
        print(f"ImageNet fixture: {IMAGENET_IMAGES} JPEGs, mean {mean_bytes / 1000:.0f} kB, {IMAGENET_SHARDS} shards")

    print()
    print("| pipeline | images/s | decode-only images/s | ratio |")
    print("|---|---:|---:|---:|")
    for label, pipeline_rate, floor in rows:
        print(f"| {label} | {pipeline_rate:,.0f} | {floor:,.0f} | {pipeline_rate / floor:.2f} |")
    print()
    print(f"load average at end: {os.getloadavg()[0]:.2f} (other processes share these {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
