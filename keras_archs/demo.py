"""``keras-archs demo``: the package end to end on the shipped Fashion-MNIST SqueezeNet, in a few minutes on a CPU.

1. load the shipped Keras model and evaluate it on the test images (all 10,000, or the first ``test_limit``);
2. deep-compress it (prune -> share -> Huffman) with a short fine-tune on a subset of the training set;
3. decode the archive back to Keras and evaluate it;
4. export the decoded model to int8 TFLite and evaluate it in the LiteRT interpreter;
5. also evaluate the shipped archive (the full-length ``keras-archs compress`` run);
6. print one table (format, bytes, accuracy, batch-1 latency) and write a plot (accuracy vs size);
7. when the Deep Compression ImageNet SqueezeNet 1.0 weights are given (a ``.net`` path, or "imagenet" to download),
   re-compress it with its default recipe and show its size next to the size of the file it was given (the published
   file is 675,763 bytes), with the top-1 agreement of the two on crops of scikit-image's photos.

:func:`run_demo` runs both parts; :func:`fashion_mnist_rows` and :func:`imagenet_rows` run one each.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import time
from typing import Any, Callable

import numpy as np

__all__ = ["DemoRow", "fashion_mnist_rows", "imagenet_rows", "run_demo"]

PUBLISHED_DC_SQUEEZENET_BYTES = 675_763  # songhan/SqueezeNet-Deep-Compression, SqueezeNet_v1.0 (DESIGN.md §5)
# Crops per held-out photo for the ImageNet agreement check (keras_archs.compress.fidelity: 24 photos that chose no
# recipe; 4 crops each keep the demo short, the full protocol of docs/compression.md uses 24).
HELD_OUT_CROPS_PER_PHOTO = 4


@dataclasses.dataclass
class DemoRow:
    """One line of the demo's table: a file format, its bytes, accuracy and batch-1 latency (None: not measured)."""

    format: str
    bytes: int
    accuracy: float | None
    latency_ms: float | None
    note: str = ""


class _Progress:
    """Numbered steps with elapsed time: ``[3/7 0:42] decoding the archive``."""

    def __init__(self, total: int, echo: Callable[[str], None] = print):
        self.total, self.step, self.started, self.echo = total, 0, time.perf_counter(), echo

    def __call__(self, message: str) -> None:
        self.step += 1
        elapsed = int(time.perf_counter() - self.started)
        self.echo(f"[{self.step}/{self.total} {elapsed // 60}:{elapsed % 60:02d}] {message}")


def _median_ms(function: Callable[[], Any], runs: int = 30, warmup: int = 5) -> float:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def keras_latency_ms(model: Any, example: np.ndarray, runs: int = 30) -> float:
    """Median wall time of one batch-1 forward pass through a traced ``tf.function`` of the model (graph mode, the
    way a serving Keras model runs; eager calls would add ~1 ms of Python per layer)."""
    import tensorflow as tf

    x = tf.constant(np.asarray(example[None], np.float32))
    forward = tf.function(lambda inputs: model(inputs, training=False))
    return _median_ms(lambda: forward(x).numpy(), runs)


def gzip_size(path: str | os.PathLike) -> int:
    """Bytes of the file after gzip -9 (what an app download or an APK's compressed asset costs)."""
    import gzip

    return len(gzip.compress(pathlib.Path(path).read_bytes(), compresslevel=9, mtime=0))


def tflite_latency_ms(path: str | os.PathLike, example: np.ndarray, runs: int = 30, num_threads: int = 2) -> float:
    """Median wall time of one ``invoke()`` of the interpreter on a batch-1 input (quantised if the file wants it)."""
    from keras_archs.export import _litert

    runner = _litert.LiteRTRunner(model_path=path, num_threads=num_threads)
    runner.interpreter.set_tensor(
        runner.input["index"], _litert.quantize_input(np.asarray(example[None], np.float32), runner.input)
    )
    return _median_ms(runner.interpreter.invoke, runs)


def _fashion_mnist(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    from keras_archs.data.fashion_mnist import load_arrays

    images, labels, _ = load_arrays(split)
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images.astype(np.float32), labels.astype(np.int64)


def _plot(rows: list[DemoRow], path: pathlib.Path) -> pathlib.Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from keras_archs import _files

    points = [row for row in rows if row.accuracy is not None]
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for row in points:
        axis.scatter(row.bytes / 1000, 100 * row.accuracy, s=40)
        axis.annotate(
            row.format, (row.bytes / 1000, 100 * row.accuracy), textcoords="offset points", xytext=(6, 4), fontsize=8
        )
    axis.set_xscale("log")
    axis.set_xlabel("size (kB, log scale)")
    axis.set_ylabel("Fashion-MNIST test accuracy (%)")
    axis.set_title("SqueezeNet 1.1 on Fashion-MNIST: accuracy vs size")
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    with _files.atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)
    return path


def _table(rows: list[DemoRow]) -> str:
    header = ["format", "bytes", "accuracy", "latency b=1", "note"]
    cells = [
        [
            r.format,
            f"{r.bytes:,}",
            "-" if r.accuracy is None else f"{r.accuracy:.4f}",
            "-" if r.latency_ms is None else f"{r.latency_ms:.2f} ms",
            r.note,
        ]
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *cells)]
    line = lambda cs: "  ".join(str(c).ljust(w) for c, w in zip(cs, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, cells)])


def fashion_mnist_rows(
    out: pathlib.Path,
    progress: Callable[[str], None],
    train_limit: int = 12000,
    epochs: int = 2,
    test_limit: int | None = None,
    echo: Callable[[str], None] = print,
) -> list[DemoRow]:
    """Steps 1-5 of the module docstring: the shipped Keras model, the demo archive, its int8 TFLite, the shipped
    archive; evaluated on the first ``test_limit`` test images (None: all 10,000)."""
    from keras_archs import applications, compress, saved_models, weights
    from keras_archs.export import to_tflite, verify_tflite

    rows: list[DemoRow] = []
    progress("loading the shipped Fashion-MNIST SqueezeNet and the test set")
    model = applications.get_model("SqueezeNet1_1", weights="fashion_mnist")
    entry = next(e for e in applications.get_spec("SqueezeNet1_1").weights if e.tag == "fashion_mnist")
    keras_path = weights.shipped_path(entry)
    x_test, y_test = _fashion_mnist("test", test_limit)
    test_set = f"{len(x_test):,} test images"
    example = x_test[0]
    accuracy = compress.evaluate_accuracy(model, (x_test, y_test))
    rows.append(
        DemoRow(
            "Keras .keras (float32)", keras_path.stat().st_size, accuracy, keras_latency_ms(model, example), "shipped"
        )
    )
    echo(f"    test accuracy {accuracy:.4f} ({test_set})")

    progress(f"deep-compressing: prune -> share -> Huffman, fine-tuning {epochs} epoch(s) on {train_limit:,} images")
    x_train, y_train = _fashion_mnist("train_without_validation", train_limit)  # validation images stay unseen
    result = compress.deep_compress(model, train_data=(x_train, y_train), epochs=epochs, verbose=2)
    archive_path = out / "squeezenet_fashion_mnist_demo.kadc"
    result.save(archive_path)

    progress("decoding the archive back to a Keras model and evaluating it")
    started = time.perf_counter()
    decoded = compress.load(archive_path)
    decode_seconds = time.perf_counter() - started
    accuracy = compress.evaluate_accuracy(decoded, (x_test, y_test))
    rows.append(
        DemoRow(
            "Deep Compression .kadc (demo run)",
            archive_path.stat().st_size,
            accuracy,
            keras_latency_ms(decoded, example),
            f"{epochs}-epoch fine-tune on {train_limit:,}; decoded in {decode_seconds:.2f} s",
        )
    )
    echo(f"    {archive_path.stat().st_size:,} bytes, test accuracy {accuracy:.4f}")

    progress("exporting the decoded model to int8 TFLite and evaluating it in the interpreter")
    exported = to_tflite(
        decoded,
        out / "squeezenet_fashion_mnist_int8.tflite",
        mode="int8",
        representative_data=x_train[:500],
        io_dtype="int8",
        metadata=False,  # the decoded model's own 1-channel input, compared with it on the test images
    )
    check = verify_tflite(exported.path, decoded, (x_test, y_test))
    rows.append(
        DemoRow(
            "TFLite int8 (from the archive)",
            exported.bytes,
            check.tflite_accuracy,
            tflite_latency_ms(exported.path, example),
            f"{check.interpreter}, top-1 agreement "
            f"{check.top1_agreement:.4f} with Keras; gzip -9: {gzip_size(exported.path):,} B",
        )
    )
    echo(f"    {exported.bytes:,} bytes, test accuracy {check.tflite_accuracy:.4f}")

    progress("evaluating the shipped archive (full `keras-archs compress` run)")
    shipped = pathlib.Path(saved_models.__file__).parent / "squeezenet_fashion_mnist.kadc"  # checked by path() below
    if shipped.exists():
        full = compress.load(saved_models.path(shipped.name))
        rows.append(
            DemoRow(
                "Deep Compression .kadc (shipped)",
                shipped.stat().st_size,
                compress.evaluate_accuracy(full, (x_test, y_test)),
                None,
                "full fine-tune, MANIFEST.json",
            )
        )
    else:
        echo(f"    {shipped} is not installed; skipped")
    return rows


def _dc_net_path(dc_weights: str | os.PathLike) -> pathlib.Path:
    """The ``.net`` file: ``dc_weights`` itself, or for "imagenet" the registry's file (downloaded, hash-checked)."""
    if str(dc_weights) != "imagenet":
        path = pathlib.Path(dc_weights)
        if not path.is_file():
            raise FileNotFoundError(f"No Deep Compression .net file at dc_weights={str(dc_weights)!r}.")
        return path
    from keras_archs import applications, weights

    entry = applications.get_spec("SqueezeNet1_0").find_weights("imagenet", include_top=True)
    return weights.fetch(entry)


def imagenet_rows(
    dc_weights: str | os.PathLike,
    out: pathlib.Path,
    progress: Callable[[str], None],
    echo: Callable[[str], None] = print,
    crops_per_photo: int = HELD_OUT_CROPS_PER_PHOTO,
) -> list[DemoRow]:
    """Step 7 of the module docstring: the given Deep Compression SqueezeNet 1.0 ``.net`` (its own size) and its
    re-compression with the default recipe, no data; agreement measured on random-resized crops of the held-out
    photos of :mod:`keras_archs.compress.fidelity` (photos that played no part in choosing the recipe)."""
    from keras_archs import compress
    from keras_archs.applications import squeezenet
    from keras_archs.compress import fidelity

    progress("re-compressing the Deep Compression ImageNet SqueezeNet 1.0 (no data, default recipe)")
    net_path = _dc_net_path(dc_weights)
    given = net_path.stat().st_size
    imagenet_model = squeezenet.SqueezeNet(weights=str(net_path))
    started = time.perf_counter()
    recompressed = compress.deep_compress(imagenet_model)
    path = out / "squeezenet1_0_imagenet.kadc"
    size = recompressed.save(path)
    seconds = time.perf_counter() - started
    echo(f"    {size:,} bytes vs {given:,} of {net_path.name} ({size / given:.1%}), {seconds:.0f} s")
    published = " (the published file)" if given == PUBLISHED_DC_SQUEEZENET_BYTES else ""
    rows = [DemoRow(f"ImageNet SqueezeNet 1.0 {net_path.name}{published}", given, None, None, "the file given")]
    note = f"recipe {recompressed.metadata['recipe']['name']}"
    missing = fidelity.missing_photos("held_out")
    if missing:
        note += f"; photo agreement skipped ({len(missing)} held-out photos not installed: `make photos`)"
    else:
        crops = fidelity.crop_set("held_out", crops_per_photo, squeezenet.DEFAULT_SIZE)
        x = squeezenet.preprocess_input(crops.images.astype(np.float32))
        measured = fidelity.compare(
            fidelity.predict(imagenet_model, x), fidelity.predict(compress.load(path), x), groups=crops.groups
        )
        low, high = measured.agreement_confident_ci
        note += (
            f"; top-1 agreement {measured.agreement_confident:.3f} [{low:.3f}, {high:.3f}] with the .net on "
            f"{measured.n_confident} confident crops of {len(crops.photo_names)} held-out photos "
            f"(KL {measured.kl_all:.4f})"
        )
    rows.append(DemoRow("ImageNet SqueezeNet 1.0 re-compressed .kadc", size, None, None, note))
    return rows


def run_demo(
    out_dir: str | os.PathLike = "demo_output",
    train_limit: int = 12000,
    epochs: int = 2,
    dc_weights: str | os.PathLike | None = None,
    echo: Callable[[str], None] = print,
    test_limit: int | None = None,
) -> list[DemoRow]:
    """Runs the demo (module docstring) and returns the table rows; writes archive, .tflite, table and plot.

    Args:
        out_dir: Where to write ``squeezenet_fashion_mnist_demo.kadc``, ``.tflite``, ``results.json`` and
            ``accuracy_vs_size.png``.
        train_limit: Training images used by the short fine-tune.
        epochs: Fine-tuning epochs of the short run (split between pruning and weight sharing).
        dc_weights: Path of the Deep Compression SqueezeNet 1.0 ``.net`` (or "imagenet" to download); None skips it.
        echo: Where progress lines go.
        test_limit: Evaluate on the first this many test images (None: all 10,000).

    Raises:
        keras_archs.data.DatasetNotFoundError: Fashion-MNIST is not installed (see README).
        FileNotFoundError: ``dc_weights`` is a path that does not exist.
    """
    from keras_archs import _files

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    progress = _Progress(8 if dc_weights else 7, echo)
    rows = fashion_mnist_rows(out, progress, train_limit, epochs, test_limit, echo)
    if dc_weights:
        rows += imagenet_rows(dc_weights, out, progress, echo)

    progress("writing the table and the plot")
    _files.write_text(out / "results.json", json.dumps([dataclasses.asdict(r) for r in rows], indent=2) + "\n")
    plot = _plot([r for r in rows if "ImageNet" not in r.format], out / "accuracy_vs_size.png")
    progress("done")
    echo("")
    echo(_table(rows))
    echo(
        f"\nlatency: median of 30 batch-1 calls after 5 warm-up calls, TFLite with 2 threads; files in {out}"
        + (f"; plot {plot}" if plot else "; plot skipped (matplotlib not installed)")
    )
    return rows
