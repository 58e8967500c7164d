"""``profile(model)``: what a model costs — parameters, MACs and parameters by layer kind, other work, activation
memory, and time per image against batch size in Keras and in the LiteRT interpreter (Canziani et al. 2016).

Timing protocol (:func:`time_call`): ``warmup`` untimed calls (they include tracing or allocating for that batch
size), then timed calls until ``repeats`` are done, or until ``max_seconds`` have passed once ``min_repeats`` are done;
the figure is the median. Per image = median / batch size; images/s = batch size / median.

* ``"keras"``: a ``tf.function`` of ``model(x, training=False)`` (graph mode, the way a served Keras model runs; one
  trace per batch size, in the warm-up), output fetched to NumPy.
* ``"tflite"``: the model converted once to a float32 ``.tflite`` by :func:`keras_archs.export.to_tflite` (builtin ops,
  batch 1), run by the LiteRT interpreter (``ai_edge_litert``, else ``tf.lite``) with its input resized to each batch
  size; the first resized run is checked against the batch-1 output (a file whose graph fixed the batch is converted
  again at that batch size instead). ``set_tensor`` + ``invoke`` + ``get_tensor`` are timed.

Threads are stated in the result: TensorFlow's intra-/inter-op settings (0 = TensorFlow's default, one per core) and
the interpreter's ``num_threads``. They can only be chosen before TensorFlow runs anything (``keras-archs profile
--threads`` does that); a figure taken while other programs run measures the machine's load, not the model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import platform
import tempfile
import time
from typing import Any, Callable, Sequence

import numpy as np

from keras_archs.analysis import macs as macs_lib

__all__ = [
    "RUNTIMES",
    "DEFAULT_BATCH_SIZES",
    "LatencyPoint",
    "Profile",
    "profile",
    "time_call",
    "set_threads",
    "load_profiles",
]

RUNTIMES = ("keras", "tflite")
DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)  # Canziani et al. 2016, Fig. 3 (1 to 64)
FORMAT = "keras_archs.profile/1"
_OUTPUT_TOLERANCE = 1e-3  # resized interpreter vs batch 1: float32 reassociation only (relative to the output range)


@dataclasses.dataclass(frozen=True)
class LatencyPoint:
    """One runtime at one batch size.

    Attributes:
        runtime: "keras" or "tflite".
        batch_size: Images per call.
        median_s: Median seconds per call.
        ms_per_image: ``1000 * median_s / batch_size``.
        images_per_s: ``batch_size / median_s``.
        repeats: Timed calls.
        warmup: Untimed calls before them.
    """

    runtime: str
    batch_size: int
    median_s: float
    ms_per_image: float
    images_per_s: float
    repeats: int
    warmup: int


@dataclasses.dataclass(frozen=True)
class Profile:
    """What :func:`profile` measured for one model.

    Attributes:
        name: The model's name (registry name from the CLI).
        input_shape: Input shape without the batch dimension.
        params: ``count_params()``; ``trainable_params``: trainable weights only.
        macs: Multiply-accumulates per image (:func:`keras_archs.analysis.count_macs`).
        macs_by_kind, params_by_kind: By layer kind (``conv1x1``, ``conv_kxk``, ``depthwise``, ``dense``; params also
            ``other``: BN and the rest).
        other_ops: Element operations outside the MACs by kind (normalization, activation, pooling, ...).
        activation_bytes: Bytes of every tensor of one forward pass at batch 1; ``peak_activation_bytes``: the most
            alive at once when tensors are freed after their last use.
        latency: :class:`LatencyPoint` per runtime and batch size.
        threads: The thread settings the times were taken with.
        environment: Machine, versions and interpreter.
        notes: What did not go as planned (a runtime that failed, a conversion per batch size).
    """

    name: str
    input_shape: tuple[int, ...]
    params: int
    trainable_params: int
    macs: int
    macs_by_kind: dict[str, int]
    params_by_kind: dict[str, int]
    other_ops: dict[str, int]
    activation_bytes: int
    peak_activation_bytes: int
    latency: tuple[LatencyPoint, ...] = ()
    threads: dict[str, Any] = dataclasses.field(default_factory=dict)
    environment: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def latency_at(self, runtime: str, batch_size: int) -> LatencyPoint | None:
        """The point of ``runtime`` at ``batch_size``, or None when it was not measured."""
        for point in self.latency:
            if point.runtime == runtime and point.batch_size == batch_size:
                return point
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        """The profile as JSON (:func:`load_profiles` reads it back)."""
        return json.dumps(self.as_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Profile":
        data = {key: value for key, value in data.items() if key != "format"}
        data["input_shape"] = tuple(data["input_shape"])
        data["latency"] = tuple(LatencyPoint(**point) for point in data.get("latency", ()))
        data["notes"] = tuple(data.get("notes", ()))
        return cls(**data)

    def table(self) -> str:
        """A plain-text report: totals, the split by layer kind, other work, memory and the latency table."""
        size = "x".join(str(d) for d in self.input_shape)
        lines = [
            f"{self.name}  (input {size})",
            f"params {self.params:,} (trainable {self.trainable_params:,}), MACs {self.macs / 1e9:.3f} G per image",
            "",
            f"{'kind':<10} {'MACs':>14} {'%':>7} {'params':>12} {'%':>7}",
        ]
        counted = sum(self.params_by_kind.get(kind, 0) for kind in macs_lib.KINDS)
        for kind in macs_lib.KINDS:
            m, p = self.macs_by_kind.get(kind, 0), self.params_by_kind.get(kind, 0)
            lines.append(
                f"{kind:<10} {m:>14,} {100 * m / max(self.macs, 1):>6.2f}% {p:>12,} {100 * p / max(counted, 1):>6.2f}%"
            )
        lines.append(f"{'other':<10} {'':>14} {'':>7} {self.params_by_kind.get('other', 0):>12,}  (BN and the rest)")
        other = ", ".join(f"{kind} {count / 1e6:.1f} M" for kind, count in self.other_ops.items() if count)
        lines.append(f"other work (element operations, not in the MACs): {other or 'none'}")
        lines.append(
            f"activations (batch 1): {self.activation_bytes / 2**20:.1f} MiB all tensors, "
            f"{self.peak_activation_bytes / 2**20:.1f} MiB peak alive"
        )
        if self.latency:
            lines += ["", f"latency ({_describe_threads(self.threads)}):"]
            lines.append(f"{'runtime':<8} {'batch':>5} {'ms/image':>10} {'images/s':>10} {'repeats':>8}")
            for p in self.latency:
                lines.append(
                    f"{p.runtime:<8} {p.batch_size:>5} {p.ms_per_image:>10.3f} {p.images_per_s:>10.1f} {p.repeats:>8}"
                )
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def load_profiles(path: str | os.PathLike) -> list[Profile]:
    """Profiles from a JSON file: one profile (:meth:`Profile.to_json`) or ``keras-archs profile --json``'s list.

    Raises:
        ValueError: The file holds no profile of this format.
    """
    data = json.loads(pathlib.Path(path).read_text())
    items = data.get("profiles", []) if isinstance(data, dict) and "profiles" in data else data
    items = items if isinstance(items, list) else [items]
    if not items or any(not isinstance(i, dict) or i.get("format") != FORMAT for i in items):
        raise ValueError(f"{path} holds no {FORMAT} profiles.")
    return [Profile.from_dict(item) for item in items]


def _describe_threads(threads: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        return "0 (TensorFlow's default: one per core)" if v == 0 else str(v)

    return ", ".join(f"{key} {value(v)}" for key, v in threads.items()) or "threads not recorded"


def time_call(
    function: Callable[[], Any],
    warmup: int = 2,
    repeats: int = 10,
    min_repeats: int = 3,
    max_seconds: float = 10.0,
) -> list[float]:
    """Seconds of each timed call of ``function`` (module docstring: warm-up, then up to ``repeats`` calls, stopping
    once ``min_repeats`` are done and ``max_seconds`` have passed).

    Example:
        >>> times = time_call(lambda: sum(range(1000)), warmup=1, repeats=5)
        >>> len(times), all(t > 0 for t in times)
        (5, True)
    """
    for _ in range(warmup):
        function()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < repeats:
        begin = time.perf_counter()
        function()
        times.append(time.perf_counter() - begin)
        if len(times) >= min_repeats and time.perf_counter() - started >= max_seconds:
            break
    return times


def set_threads(threads: int | None) -> dict[str, Any]:
    """Sets TensorFlow's intra-op threads to ``threads`` and inter-op to 1 if TensorFlow has not run yet; returns the
    settings in force (``0``: TensorFlow's default, one per core). None changes nothing."""
    import tensorflow as tf

    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already initialised its thread pools: the settings in force are reported
            pass
    return {
        "tensorflow_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "tensorflow_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def _point(runtime: str, batch: int, times: list[float], warmup: int) -> LatencyPoint:
    median = float(np.median(times))
    return LatencyPoint(runtime, batch, median, 1000 * median / batch, batch / median, len(times), warmup)


def _keras_points(model, inputs, batch_sizes, timing, say) -> list[LatencyPoint]:
    import tensorflow as tf

    points = []
    for batch in batch_sizes:
        forward = tf.function(lambda x: model(x, training=False))  # one per batch size: one trace each
        x = tf.constant(inputs[:batch])
        times = time_call(lambda: np.asarray(forward(x)), **timing)
        points.append(_point("keras", batch, times, timing["warmup"]))
        say(f"keras batch {batch}: {points[-1].ms_per_image:.3f} ms/image")
    return points


class _Interpreter:
    """A LiteRT interpreter of one ``.tflite`` resized to a batch size; ``call()`` runs it once on the set input."""

    def __init__(self, path: pathlib.Path, threads: int | None) -> None:
        from keras_archs.export import interpreter_class

        cls, self.kind = interpreter_class()
        self.interpreter = cls(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def resize(self, batch: int) -> None:
        shape = [batch, *self.input["shape"][1:]]
        if int(self.input["shape"][0]) != batch:
            self.interpreter.resize_tensor_input(self.input["index"], shape)
            self.interpreter.allocate_tensors()
            self.input = self.interpreter.get_input_details()[0]
            self.output = self.interpreter.get_output_details()[0]

    def set(self, x: np.ndarray) -> None:
        self.interpreter.set_tensor(self.input["index"], x)

    def call(self) -> np.ndarray:
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    scale = max(float(np.abs(b).max()), 1e-6)
    return a.shape == b.shape and float(np.abs(a - b).max()) <= _OUTPUT_TOLERANCE * scale


def _tflite_points(model, inputs, batch_sizes, timing, threads, say, notes) -> list[LatencyPoint]:
    from keras_archs.export import to_tflite

    points = []
    with tempfile.TemporaryDirectory(prefix="keras_archs_profile_") as folder:
        say("tflite: converting (float32, batch 1)")
        # The model's own graph (metadata=False): the same computation as the Keras runtime's, nothing wrapped in.
        base = to_tflite(
            model, pathlib.Path(folder) / "model.tflite", mode="float32", labels=_indices(model), metadata=False
        )
        runner = _Interpreter(base.path, threads)
        runner.set(inputs[:1])
        reference = runner.call().copy()
        for batch in batch_sizes:
            x = inputs[:batch]
            try:
                runner.resize(batch)
                runner.set(x)
                fits = _close(runner.call()[:1], reference)
            except (RuntimeError, ValueError):
                fits = False
            active = runner
            if not fits:  # the graph fixed its batch size: a file for this one
                notes.append(f"tflite batch {batch}: converted at that batch size (resizing the batch-1 file failed)")
                path = pathlib.Path(folder) / f"model_b{batch}.tflite"
                to_tflite(model, path, mode="float32", batch_size=batch, labels=_indices(model), metadata=False)
                active = _Interpreter(path, threads)
                runner = _Interpreter(base.path, threads)
            active.set(x)
            times = time_call(active.call, **timing)
            points.append(_point("tflite", batch, times, timing["warmup"]))
            say(f"tflite batch {batch}: {points[-1].ms_per_image:.3f} ms/image")
    return points


def _indices(model: Any) -> list[str] | None:
    """Class 'names' for the card when the output is a class vector: indices (a profile needs no real names)."""
    shape = tuple(model.outputs[0].shape[1:])
    return [str(i) for i in range(shape[0])] if len(shape) == 1 else None


def _environment(runtimes: Sequence[str]) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    environment = {
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    if "tflite" in runtimes:
        from keras_archs.export import interpreter_class

        environment["interpreter"] = interpreter_class()[1]
    return environment


def _check_arguments(batch_sizes, runtimes, warmup, repeats, min_repeats) -> tuple[tuple[int, ...], tuple[str, ...]]:
    batch_sizes = tuple(batch_sizes)
    if any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in batch_sizes):
        raise ValueError(f"Expected `batch_sizes` to be positive ints. Received: batch_sizes={batch_sizes!r}")
    runtimes = (runtimes,) if isinstance(runtimes, str) else tuple(runtimes)
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown:
        raise ValueError(f"Expected `runtimes` from {RUNTIMES}. Received: runtimes={runtimes!r}")
    for label, value, low in (("warmup", warmup, 0), ("repeats", repeats, 1), ("min_repeats", min_repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"Expected `{label}` to be an int >= {low}. Received: {label}={value!r}")
    return tuple(sorted(set(batch_sizes))), runtimes


def profile(
    model: Any,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    runtimes: Sequence[str] = RUNTIMES,
    *,
    name: str | None = None,
    warmup: int = 2,
    repeats: int = 10,
    min_repeats: int = 3,
    max_seconds: float = 10.0,
    threads: int | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Profile:
    """Parameters, MACs by layer kind, other work, activation memory and latency vs batch size of ``model``.

    Args:
        model: A Functional or Sequential ``keras.Model`` with a fixed input size; single input for the latency.
        batch_sizes: Batch sizes to time (empty: no timing).
        runtimes: ``"keras"`` and/or ``"tflite"`` (module docstring).
        name: Name in the result (default ``model.name``).
        warmup, repeats, min_repeats, max_seconds: The timing protocol (:func:`time_call`).
        threads: The interpreter's ``num_threads`` and, if TensorFlow has not run yet, its intra-op threads (None:
            the defaults). The settings in force are recorded.
        seed: Seed of the random inputs (times do not depend on the values).
        progress: Called with a line per stage (None: silent).

    Returns:
        A :class:`Profile`; ``.table()`` prints it, ``.to_json()`` stores it.

    Raises:
        TypeError: ``model`` is not a Functional/Sequential keras.Model.
        ValueError: Bad ``batch_sizes``/``runtimes``/timing arguments, or an input size that is not fixed.

    Example:
        >>> import keras
        >>> inputs = keras.Input((16, 16, 3))
        >>> x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
        >>> outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x))
        >>> result = profile(keras.Model(inputs, outputs), batch_sizes=(1, 2), runtimes=("keras",), repeats=3)
        >>> result.macs, [p.batch_size for p in result.latency]
        (55328, [1, 2])
    """
    batch_sizes, runtimes = _check_arguments(batch_sizes, runtimes, warmup, repeats, min_repeats)
    say = progress or (lambda message: None)
    summary = macs_lib.cost_summary(model)
    input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    say(f"{summary.macs / 1e9:.3f} GMACs, {summary.params:,} params")
    timing = {"warmup": warmup, "repeats": repeats, "min_repeats": min_repeats, "max_seconds": max_seconds}
    latency: list[LatencyPoint] = []
    notes: list[str] = []
    thread_settings: dict[str, Any] = {}
    if batch_sizes and runtimes:
        if len(model.inputs) != 1:
            raise ValueError(f"profile times single-input models; {model.name!r} has {len(model.inputs)} inputs.")
        thread_settings = set_threads(threads) if "keras" in runtimes else {}
        if "tflite" in runtimes:
            thread_settings["tflite_num_threads"] = threads if threads is not None else "interpreter default"
        rng = np.random.default_rng(seed)
        inputs = rng.standard_normal((max(batch_sizes), *input_shape)).astype(np.float32)
        if "keras" in runtimes:
            latency += _keras_points(model, inputs, batch_sizes, timing, say)
        if "tflite" in runtimes:
            try:
                latency += _tflite_points(model, inputs, batch_sizes, timing, threads, say, notes)
            except ValueError as error:  # TFLiteConversionError is a ValueError: the model is reported, not lost
                notes.append(f"tflite not measured: {error}")
                say(notes[-1])
    return Profile(
        name=name or model.name,
        input_shape=input_shape,
        params=summary.params,
        trainable_params=trainable,
        macs=summary.macs,
        macs_by_kind=summary.macs_by_kind,
        params_by_kind=summary.params_by_kind,
        other_ops=summary.other_ops,
        activation_bytes=summary.activation_bytes,
        peak_activation_bytes=summary.peak_activation_bytes,
        latency=tuple(latency),
        threads=thread_settings,
        environment=_environment(runtimes) if latency else {},
        notes=tuple(notes),
    )
