"""Keras vs TensorFlow Lite latency at batch 1, every TFLite mode side by side in one process; and, with
``--conversion-route``, the time of the two routes from a Keras model to a float32 flatbuffer.

Usage: python benchmarks/tflite_latency.py [--runs 50] [--warmup 10] [--threads 2]
                                          [--models squeezenet224 fashion_mnist mobilenet]
       python benchmarks/tflite_latency.py --conversion-route [--repeats 3]
                                          [--models squeezenet224 mobilenet inception_resnet_v2_75]

Models: ``squeezenet224`` (SqueezeNet 1.1, 224x224, 1000 classes, random weights: latency and size do not depend on the
values), ``fashion_mnist`` (the shipped Fashion-MNIST SqueezeNet 1.1, 28x28x1 raw pixels), ``mobilenet`` (MobileNet
1.0, 224, random weights). Each model is converted with ``keras_archs.export.to_tflite`` in the four modes (int8 with
uint8 I/O, calibrated on 200 Fashion-MNIST training images, or on 200 random images for the ImageNet models).

Timed, each the median of ``--runs`` calls after ``--warmup`` calls on one fixed input:
* ``keras eager``: ``model(x, training=False)`` then ``.numpy()``;
* ``keras tf.function``: the same call compiled once with ``tf.function`` (the fair Keras baseline; ratios use it);
* ``tflite <mode>``: ``set_tensor`` + ``invoke()`` + ``get_tensor`` in the LiteRT interpreter (XNNPACK, its default).
Threads: TensorFlow intra-op = ``--threads``, inter-op = 1; interpreter ``num_threads=--threads``.
Bytes: the ``.keras`` file for Keras, the ``.tflite`` file (and its gzip size) for TFLite. Prints a Markdown table.

``--conversion-route`` times, median of ``--repeats``, Keras model -> float32 flatbuffer bytes: (a) the route of
``keras_archs.export.convert`` (a ``tf.function`` of ``model(x)`` with the variables held by a ``tf.Module``, given to
``TFLiteConverter.from_concrete_functions``), (b) ``model.export()`` to a SavedModel then ``from_saved_model``; with the
bytes of each file, whether their op lists are equal, and the largest output difference on one random input.
``inception_resnet_v2_75`` is InceptionResNetV2 at 75x75 (its smallest input), random weights.
"""

from __future__ import annotations

import argparse
import gzip
import os
import pathlib
import platform
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def _median_ms(call, runs: int, warmup: int) -> float:
    from keras_archs.demo import _median_ms as median_ms  # one timing loop for the demo and the benchmarks

    return median_ms(call, runs, warmup)


_RANDOM_MODELS = {  # name -> (registry name, input size, preprocessing mode)
    "squeezenet224": ("SqueezeNet1_1", 224, "squeezenet_caffe"),
    "mobilenet": ("MobileNet", 224, "tf"),
    "inception_resnet_v2_75": ("InceptionResNetV2", 75, "tf"),
}


def _model_and_data(name: str):
    """(model, one input, calibration inputs, label names, preprocessing) for a benchmark model name."""
    from keras_archs import applications
    from keras_archs.data import DatasetNotFoundError, pipeline

    rng = np.random.default_rng(0)
    if name == "fashion_mnist":
        from keras_archs.data.fashion_mnist import CLASS_NAMES, load_arrays

        model = applications.get_model("SqueezeNet1_1", weights="fashion_mnist")
        try:
            images = load_arrays("train")[0]
            calibration = images[rng.permutation(len(images))[:200]].astype(np.float32)
        except DatasetNotFoundError:  # no Fashion-MNIST here: latency does not depend on the data
            calibration = rng.uniform(0, 255, (200, 28, 28, 1)).astype(np.float32)
        return model, calibration[:1], calibration, list(CLASS_NAMES), None
    spec_name, size, mode = _RANDOM_MODELS[name]
    model = applications.get_model(spec_name, weights=None, input_shape=(size, size, 3))
    calibration = np.asarray(pipeline.preprocess(rng.uniform(0, 255, (200, size, size, 3)).astype(np.float32), mode))
    return model, calibration[:1], calibration, None, mode


def _tflite_call(path: pathlib.Path, x: np.ndarray, threads: int):
    from keras_archs.export import _litert

    runner = _litert.LiteRTRunner(model_path=path, num_threads=threads)
    interpreter, source, target = runner.interpreter, runner.input, runner.output
    quantized = _litert.quantize_input(x, source)  # the same input quantisation verify_tflite uses

    def call():
        interpreter.set_tensor(source["index"], quantized)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"])

    return call


def _rows(name: str, args: argparse.Namespace, workdir: pathlib.Path) -> list[list[str]]:
    import tensorflow as tf

    from keras_archs.export import to_tflite

    model, x, calibration, labels, preprocessing = _model_and_data(name)
    keras_file = workdir / f"{name}.keras"
    model.save(keras_file)
    compiled = tf.function(lambda t: model(t, training=False))
    tensor = tf.constant(x)
    timings = [
        (
            "keras eager",
            keras_file.stat().st_size,
            None,
            _median_ms(lambda: model(tensor, training=False).numpy(), args.runs, args.warmup),
        ),
        (
            "keras tf.function",
            keras_file.stat().st_size,
            None,
            _median_ms(lambda: compiled(tensor).numpy(), args.runs, args.warmup),
        ),
    ]
    for mode in ("float32", "float16", "dynamic", "int8"):
        result = to_tflite(
            model,
            workdir / f"{name}_{mode}.tflite",
            mode=mode,
            labels=labels,
            preprocessing=preprocessing,
            representative_data=calibration if mode == "int8" else None,
            io_dtype="uint8" if mode == "int8" else None,
            metadata=False,  # the model as it is, as in the recorded figures; squeezenet_tflite_sizes.py: with metadata
        )
        gzipped = len(gzip.compress(result.path.read_bytes(), compresslevel=9))
        latency = _median_ms(_tflite_call(result.path, x, args.threads), args.runs, args.warmup)
        timings.append((f"tflite {mode}", result.bytes, gzipped, latency))
    baseline = timings[1][3]
    return [
        [name, label, f"{size:,}", "-" if gz is None else f"{gz:,}", f"{ms:.2f}", f"{ms / baseline:.2f}"]
        for label, size, gz, ms in timings
    ]


def _conversion_rows(name: str, repeats: int, workdir: pathlib.Path) -> list[str]:
    import time

    import tensorflow as tf

    from keras_archs.export import _arguments, _litert, convert

    model, x, _, _, _ = _model_and_data(name)
    example_shape, dtype, input_name = _arguments.model_io(model)

    def concrete_function_route() -> bytes:
        converter = convert._make_converter(model, (1, *example_shape), dtype, input_name)
        convert._configure(converter, "float32", "float32", None)
        return converter.convert()

    def saved_model_route() -> bytes:
        folder = workdir / f"{name}_saved_model"
        model.export(str(folder), verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(folder))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()

    results = {}
    for label, route in (
        ("concrete function (keras_archs)", concrete_function_route),
        ("SavedModel", saved_model_route),
    ):
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            content = route()
            seconds.append(time.perf_counter() - started)
        runner = _litert.LiteRTRunner(model_content=content)
        ops = [op for op, _ in _litert.op_names(runner.interpreter) or []]
        results[label] = (float(np.median(seconds)), len(content), ops, runner(x))
    (_, _, ops_a, out_a), (_, _, ops_b, out_b) = results.values()
    same_ops = "yes" if sorted(ops_a) == sorted(ops_b) else "no"
    difference = float(np.abs(out_a - out_b).max())
    return [
        f"| {name} | {label} | {seconds:.2f} | {size:,} | {same_ops} | {difference:.3g} |"
        for label, (seconds, size, _, _) in results.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--models", nargs="+", default=["squeezenet224", "fashion_mnist"], choices=("fashion_mnist", *_RANDOM_MODELS)
    )
    parser.add_argument("--conversion-route", action="store_true", help="time the two conversion routes instead")
    parser.add_argument("--repeats", type=int, default=3, help="--conversion-route: conversions per route")
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)  # before TF runs anything
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from keras_archs.export import interpreter_class

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; python "
        f"{sys.version.split()[0]}, tensorflow {tf.__version__}, keras {keras.__version__}, interpreter "
        f"{interpreter_class()[1]}; batch 1, {args.threads} threads, median of {args.runs} runs after "
        f"{args.warmup} warm-up; ratio = median / keras tf.function"
    )
    print()
    if args.conversion_route:
        print("| model | route | median s | bytes | same ops | max output diff |")
        print("|---|---|---:|---:|---|---:|")
        with tempfile.TemporaryDirectory() as workdir:
            for name in args.models:
                for row in _conversion_rows(name, args.repeats, pathlib.Path(workdir)):
                    print(row, flush=True)
        return
    print("| model | format | bytes | gzip bytes | median ms | ratio vs Keras |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.models:
            for row in _rows(name, args, pathlib.Path(workdir)):
                print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
