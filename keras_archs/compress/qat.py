"""Quantization-aware training (QAT, PQAT, CQAT) of a Keras 3 model for int8 TFLite, through tfmot on a tf_keras copy.

tfmot 0.8.1 wraps only ``tf_keras`` models and importing it sets ``TF_USE_LEGACY_KERAS=1`` process-wide (DESIGN.md §5).
:func:`qat` therefore never imports it: it translates the model
(:func:`keras_archs.compress.tf_keras_copy.to_tf_keras_config`), writes config, weights and data to a temporary folder,
and runs ``python -m keras_archs.compress.qat run FOLDER`` with ``TF_USE_LEGACY_KERAS=1`` in the child's environment
only. The child builds the tf_keras copy, annotates it, applies tfmot's scheme, fine-tunes, optionally converts to an
int8 TFLite flatbuffer (builtin ops only) and measures it in the LiteRT interpreter (``keras_archs.export._litert``,
the input quantisation the interpreter itself applies), and writes the fine-tuned float weights and a JSON report
back; the parent copies the weights into a clone of the Keras 3 model.

Schemes (tfmot 0.8.1):

* ``preserve=None``: ``Default8BitQuantizeScheme`` (Jacob et al. 2018 fake quantization: int8 per-channel symmetric
  conv weights, per-tensor asymmetric activations).
* ``preserve="sparsity"``: ``tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme`` (PQAT): the zero
  pattern of Conv2D / Dense / DepthwiseConv2D kernels at the start is a fixed mask during fine-tuning.
* ``preserve="clusters"``: ``Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)`` (CQAT, PCQAT when
  kernels hold zeros): each Conv2D / Dense kernel's distinct values become trainable centroids; kernels keep at most
  their number of distinct values. tfmot skips kernels with more than 1024 distinct values, so :func:`qat` refuses them.

Layers tfmot's default registry does not know (Rescaling, Normalization, this package's custom layers, a
BatchNormalization that follows no Conv2D / DepthwiseConv2D / Dense) keep float weights and get their output
fake-quantized (8-bit, moving-average range); BatchNormalization after a convolution or Dense layer is handled by
tfmot's fold-aware transforms.

Example:
    >>> # result = qat(model, (x_train, y_train), (x_test, y_test), tflite_path="model_int8.tflite")
    >>> # result.model (Keras 3, fine-tuned float weights), result.tflite_bytes, result.val_accuracy_after
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from keras_archs import _files
from keras_archs.compress import tf_keras_copy
from keras_archs.export.convert import IO_DTYPES  # the TFLite I/O types, one list for the package

__all__ = [
    "PRESERVE",
    "IO_DTYPES",
    "QAT_EXTRA_MODULES",
    "MAX_CLUSTERS",
    "QATResult",
    "qat",
    "require_qat_extra",
]

PRESERVE = (None, "sparsity", "clusters")
QAT_EXTRA_MODULES = ("tensorflow_model_optimization", "tf_keras")  # pip install keras_archs[qat]
# tfmot 0.8.1 cluster_preserve_quantize_registry._build_clusters: "Too many centroids to cluster" above this.
MAX_CLUSTERS = 1024
# A tenth of Adam's default step (Kingma & Ba 2015): QAT fine-tunes a trained model, so its weights should move little.
DEFAULT_LEARNING_RATE = 1e-4
DEFAULT_REPRESENTATIVE_STEPS = 100  # single examples the TFLite converter sees for ranges QAT left open
MAX_DATA_BYTES = 2 * 1024**3  # a tf.data.Dataset is written to the exchange folder up to this size
# tfmot's default_8bit_transforms.SeparableConvQuantize splits SeparableConv2D into auto-named layers.
_QAT_UNSUPPORTED = {
    "SeparableConv2D": "tfmot splits it into auto-named DepthwiseConv2D + Conv2D layers whose fine-tuned weights "
    "cannot be mapped back by name (default_8bit_transforms.SeparableConvQuantize)",
}
_WEIGHT_LAYERS = ("Conv2D", "Dense", "DepthwiseConv2D")  # kernels the preserve schemes act on
_CLUSTERED_LAYERS = ("Conv2D", "Dense")  # CQAT leaves DepthwiseConv2D alone (_DISABLE_CLUSTER_PRESERVE)


@dataclasses.dataclass(frozen=True)
class QATResult:
    """What :func:`qat` returns.

    Attributes:
        model: A Keras 3 clone of the input model holding the QAT-fine-tuned float weights (uncompiled).
        history: ``tf_keras`` ``fit`` history (``loss``, ``accuracy``, ``val_*`` when ``val_data`` was given).
        val_accuracy_before: Accuracy of the float model on ``val_data`` before QAT (None without ``val_data``).
        val_accuracy_after: Accuracy of the fake-quantized QAT model on ``val_data`` (None without ``val_data``).
        tflite_path: Where the int8 TFLite model was written (None if not requested).
        tflite_bytes: Its size in bytes (None if not requested).
        tflite_val_accuracy: Accuracy of the TFLite model on ``val_data`` (None without both).
        preserve: The scheme used (None, "sparsity", "clusters").
        seconds: Wall time of the whole call.
        versions: tensorflow, tf_keras and tfmot versions of the child.
        timings: Seconds per phase in the child (build_tf_keras_model, quantize_apply, fit, convert, evaluate_*).
    """

    model: Any
    history: dict[str, list[float]]
    val_accuracy_before: float | None
    val_accuracy_after: float | None
    tflite_path: pathlib.Path | None
    tflite_bytes: int | None
    tflite_val_accuracy: float | None
    preserve: str | None
    seconds: float
    versions: dict[str, str]
    timings: dict[str, float]


def require_qat_extra() -> None:
    """Checks, without importing them, that tfmot and tf_keras are installed.

    Raises:
        ImportError: One is missing; the message says to ``pip install 'keras_archs[qat]'``.

    Example:
        >>> require_qat_extra()  # silent when keras_archs[qat] is installed
    """
    missing = [name for name in QAT_EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"Quantization-aware training needs the optional extra 'qat' (tensorflow-model-optimization and tf-keras); "
            f"missing module(s): {', '.join(missing)}. Install it with: pip install 'keras_archs[qat]'"
        )


def qat(
    model: Any,
    train_data: Any,
    val_data: Any = None,
    epochs: int = 1,
    *,
    steps_per_epoch: int | None = None,
    batch_size: int = 32,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    loss: str = "sparse_categorical_crossentropy",
    preserve: str | None = None,
    tflite_path: str | os.PathLike | None = None,
    io_dtype: str = "int8",
    representative_steps: int = DEFAULT_REPRESENTATIVE_STEPS,
    seed: int = 0,
    max_data_bytes: int = MAX_DATA_BYTES,
    timeout: float | None = None,
) -> QATResult:
    """Quantization-aware fine-tuning of a Keras 3 model (tfmot in a child process), optionally to int8 TFLite.

    Args:
        model: A Keras 3 functional model (see :func:`keras_archs.compress.tf_keras_copy.to_tf_keras_config`); not
            modified.
        train_data: ``(x, y)`` numpy arrays, or a ``tf.data.Dataset`` of ``(x, y)`` batches (finite; materialised up
            to ``max_data_bytes``). ``x`` is what the model takes (e.g. raw pixels 0..255), ``y`` integer labels (or
            one-hot with a matching ``loss``).
        val_data: Optional data in the same form, for accuracies before and after.
        epochs: Passes over ``train_data`` (or of ``steps_per_epoch`` batches), at least 1.
        steps_per_epoch: Batches per epoch (the data repeats); None: one pass.
        batch_size: Batch size of fine-tuning and evaluation (a Dataset is materialised, then re-batched to it).
        learning_rate: Adam's step size.
        loss: A tf_keras loss name ("sparse_categorical_crossentropy", "categorical_crossentropy").
        preserve: None (QAT), "sparsity" (PQAT) or "clusters" (CQAT; kernels keep their zeros too).
        tflite_path: Where to write the int8 TFLite model; None: no conversion.
        io_dtype: TFLite input/output type: "int8", "uint8" or "float32" (quantize/dequantize at the edges).
        representative_steps: Training examples the converter calibrates with (ranges QAT did not record).
        seed: Seed of TensorFlow and the shuffle in the child.
        max_data_bytes: Limit for materialising a ``tf.data.Dataset``.
        timeout: Seconds before the child is killed (None: no limit).

    Returns:
        A :class:`QATResult`.

    Raises:
        ImportError: tfmot or tf_keras is missing (``pip install 'keras_archs[qat]'``).
        ValueError: An argument is out of range (the message names it, the value and what is accepted), the model
            has no tf_keras copy or holds a layer QAT cannot map back (SeparableConv2D), ``preserve="sparsity"`` on
            kernels without zeros, or ``preserve="clusters"`` on kernels with more than :data:`MAX_CLUSTERS` distinct
            values.
        TypeError: ``train_data`` / ``val_data`` is neither ``(x, y)`` arrays nor a Dataset of ``(x, y)``.
        RuntimeError: The child failed (training or conversion); the message ends with its stderr.

    Example:
        >>> # import importlib, keras_archs
        >>> # from keras_archs.compress.qat import qat
        >>> # fm = importlib.import_module("keras_archs.data.fashion_mnist")
        >>> # model = keras_archs.SqueezeNet(version="1.1", weights="fashion_mnist")
        >>> # x, y, _ = fm.load_arrays("train"); xt, yt, _ = fm.load_arrays("test")
        >>> # result = qat(model, (x, y), (xt, yt), steps_per_epoch=100, tflite_path="squeezenet_int8.tflite")
    """
    started = time.perf_counter()
    _check_arguments(epochs, steps_per_epoch, batch_size, learning_rate, loss, preserve, io_dtype, representative_steps)
    require_qat_extra()
    config = tf_keras_copy.to_tf_keras_config(model)
    _check_qat_layers(config)
    weights = tf_keras_copy.layer_weights(model)
    _check_preserve(config, weights, preserve)
    x, y = _arrays(train_data, "train_data", max_data_bytes)
    val = None if val_data is None else _arrays(val_data, "val_data", max_data_bytes)
    options = {
        "epochs": int(epochs),
        "steps_per_epoch": None if steps_per_epoch is None else int(steps_per_epoch),
        "batch_size": int(batch_size),
        "learning_rate": float(learning_rate),
        "loss": loss,
        "preserve": preserve,
        "convert": tflite_path is not None,
        "io_dtype": io_dtype,
        "representative_steps": int(representative_steps),
        "seed": int(seed),
    }
    report, tuned, written = _run_child(config, weights, (x, y), val, options, tflite_path, timeout)
    return QATResult(
        model=_clone_with(model, tuned),
        history=report["history"],
        val_accuracy_before=report.get("val_accuracy_before"),
        val_accuracy_after=report.get("val_accuracy_after"),
        tflite_path=written,
        tflite_bytes=None if written is None else written.stat().st_size,
        tflite_val_accuracy=report.get("tflite_val_accuracy"),
        preserve=preserve,
        seconds=time.perf_counter() - started,
        versions=report["versions"],
        timings=report["timings"],
    )


def _run_child(
    config: Mapping[str, Any],
    weights: Mapping[str, list[np.ndarray]],
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray] | None,
    options: Mapping[str, Any],
    tflite_path: str | os.PathLike | None,
    timeout: float | None,
) -> tuple[dict[str, Any], dict[str, list[np.ndarray]], pathlib.Path | None]:
    """Writes the exchange folder, runs the child, reads back its report, the tuned weights and the .tflite."""
    with tempfile.TemporaryDirectory(prefix="keras_archs_qat_") as work:
        folder = pathlib.Path(work)
        _files.write_text(folder / "config.json", json.dumps(config))
        _files.write_text(folder / "options.json", json.dumps(options))
        tf_keras_copy.save_layer_weights(weights, folder / "weights.npz")
        _save_arrays(folder / "train.npz", train)
        if val is not None:
            _save_arrays(folder / "val.npz", val)
        tf_keras_copy.run_legacy_keras_child("keras_archs.compress.qat", ["run", str(folder)], timeout=timeout)
        report = json.loads((folder / "report.json").read_text())
        tuned = tf_keras_copy.load_layer_weights(folder / "qat_weights.npz")
        written = None
        if tflite_path is not None:
            written = pathlib.Path(tflite_path)
            written.parent.mkdir(parents=True, exist_ok=True)
            _files.write_bytes(written, (folder / "model.tflite").read_bytes())
    return report, tuned, written


def _save_arrays(path: pathlib.Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    with _files.atomic_path(path) as temporary:
        np.savez(temporary, x=data[0], y=data[1])


def _check_arguments(epochs, steps_per_epoch, batch_size, learning_rate, loss, preserve, io_dtype, steps) -> None:
    def positive_int(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")

    positive_int("epochs", epochs)
    if steps_per_epoch is not None:
        positive_int("steps_per_epoch", steps_per_epoch)
    positive_int("batch_size", batch_size)
    positive_int("representative_steps", steps)
    if not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be a positive number. Received: learning_rate={learning_rate!r}")
    if not isinstance(loss, str):
        raise ValueError(
            f"`loss` must be a tf_keras loss name (a string: it crosses a process boundary). Received: loss={loss!r}"
        )
    if preserve not in PRESERVE:
        raise ValueError(f"`preserve` must be one of {PRESERVE}. Received: preserve={preserve!r}")
    if io_dtype not in IO_DTYPES:
        raise ValueError(f"`io_dtype` must be one of {IO_DTYPES}. Received: io_dtype={io_dtype!r}")


def _check_qat_layers(config: Mapping[str, Any]) -> None:
    for layer in config["config"]["layers"]:
        if layer["class_name"] in _QAT_UNSUPPORTED:
            raise ValueError(
                f"Layer {layer['name']!r} ({layer['class_name']}) cannot go through QAT: "
                f"{_QAT_UNSUPPORTED[layer['class_name']]}."
            )


def _kernels(config: Mapping[str, Any], weights: Mapping[str, list[np.ndarray]], classes: tuple[str, ...]):
    """(layer name, class, kernel) of each layer of ``classes`` (the kernel is weight 0 of all of them)."""
    for layer in config["config"]["layers"]:
        if layer["class_name"] in classes and layer["name"] in weights:
            yield layer["name"], layer["class_name"], weights[layer["name"]][0]


def _check_preserve(config: Mapping[str, Any], weights: Mapping[str, list[np.ndarray]], preserve: str | None) -> None:
    if preserve == "sparsity":
        if not any((kernel == 0).any() for _, _, kernel in _kernels(config, weights, _WEIGHT_LAYERS)):
            raise ValueError(
                "preserve='sparsity' keeps the zeros of Conv2D / Dense / DepthwiseConv2D kernels, but no kernel of "
                "this model has any: prune it first (keras_archs.compress) or use preserve=None."
            )
    elif preserve == "clusters":
        for name, class_name, kernel in _kernels(config, weights, _CLUSTERED_LAYERS):
            if _cluster_count(class_name, kernel) > MAX_CLUSTERS:
                raise ValueError(
                    f"preserve='clusters' needs clustered kernels, but layer {name!r} ({class_name}) has "
                    f"{np.unique(kernel).size} distinct kernel values; tfmot preserves at most {MAX_CLUSTERS} per "
                    "kernel (per output channel for Conv2D). Cluster the weights first or use preserve=None."
                )


def _cluster_count(class_name: str, kernel: np.ndarray) -> int:
    """Centroids tfmot's CQAT would create (cluster_preserve_quantize_registry.get_centroids, channels_last)."""
    if class_name == "Conv2D":
        per_channel = [np.unique(kernel[..., c]).size for c in range(kernel.shape[-1])]
        if max(per_channel) - min(per_channel) <= 1:
            return max(per_channel)
    return int(np.unique(kernel).size)


def _arrays(data: Any, argument: str, max_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` numpy arrays from arrays or a finite tf.data.Dataset of ``(x, y)`` batches."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = np.asarray(data[0]), np.asarray(data[1])
        if x.shape[:1] != y.shape[:1]:
            raise ValueError(f"`{argument}` x and y differ in length: {x.shape[0]} vs {y.shape[0]}.")
        return x, y
    import tensorflow as tf

    if not isinstance(data, tf.data.Dataset):
        raise TypeError(
            f"`{argument}` must be (x, y) numpy arrays or a tf.data.Dataset of (x, y) batches. "
            f"Received: {argument}={type(data).__name__}"
        )
    xs, ys, size = [], [], 0
    for element in data.as_numpy_iterator():
        if not (isinstance(element, tuple) and len(element) == 2):
            raise TypeError(f"`{argument}` must yield (x, y) batches. Received an element {str(element)[:200]}")
        xs.append(np.asarray(element[0]))
        ys.append(np.asarray(element[1]))
        size += xs[-1].nbytes + ys[-1].nbytes
        if size > max_bytes:
            raise ValueError(
                f"`{argument}` holds more than max_data_bytes={max_bytes} bytes (an infinite .repeat() Dataset?). "
                "QAT runs in a child process and receives data as a file: pass a finite Dataset (take(n)), "
                "numpy arrays, or raise max_data_bytes."
            )
    if not xs:
        raise ValueError(f"`{argument}` is an empty Dataset.")
    return np.concatenate(xs), np.concatenate(ys)


def _clone_with(model: Any, weights: Mapping[str, list[np.ndarray]]) -> Any:
    import keras

    clone = keras.models.clone_model(model)
    tf_keras_copy.assign_layer_weights(clone, weights)
    return clone


# --- the child process (TF_USE_LEGACY_KERAS=1; tf_keras and tfmot may load here) ---


def _child_run(folder: pathlib.Path) -> None:
    import tensorflow as tf

    from keras_archs.compress.training_data import evaluate_accuracy  # any model callable as model(x, training=False)

    options = json.loads((folder / "options.json").read_text())
    tf_keras = tf_keras_copy._import_tf_keras()
    tfmot = importlib.import_module("tensorflow_model_optimization")  # only ever in this child process

    tf_keras.utils.set_random_seed(options["seed"])
    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(phase: str) -> None:
        nonlocal clock
        timings[phase] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    start_weights = tf_keras_copy.load_layer_weights(folder / "weights.npz")
    model = tf_keras_copy.build_tf_keras_model(json.loads((folder / "config.json").read_text()), start_weights)
    train = dict(np.load(folder / "train.npz"))
    val = dict(np.load(folder / "val.npz")) if (folder / "val.npz").exists() else None
    dtype = model.inputs[0].dtype.as_numpy_dtype
    report: dict[str, Any] = {
        "versions": {"tensorflow": tf.__version__, "tf_keras": tf_keras.__version__, "tfmot": tfmot.__version__},
        "timings": timings,
    }
    lap("build_tf_keras_model")
    if val is not None:
        report["val_accuracy_before"] = evaluate_accuracy(
            model, (val["x"].astype(dtype), val["y"]), options["batch_size"]
        )
        lap("evaluate_float")
    variable_names = {name: [v.name for v in model.get_layer(name).weights] for name in start_weights}
    qat_model = _quantize(model, options["preserve"], tf_keras, tfmot)
    lap("quantize_apply")
    report["history"] = _fine_tune(tf, tf_keras, qat_model, train, val, dtype, options)
    lap("fit")
    if val is not None:
        report["val_accuracy_after"] = evaluate_accuracy(
            qat_model, (val["x"].astype(dtype), val["y"]), options["batch_size"]
        )
        lap("evaluate_qat")
    # PQAT: masked kernel entries get zero gradients, so the variables keep their zeros; CQAT assigns the clustered
    # kernel to the variable at every training step (tfmot cluster_preserve_quantize_registry, __call__).
    tf_keras_copy.save_layer_weights(_read_float_weights(qat_model, variable_names), folder / "qat_weights.npz")
    if options["convert"]:
        blob = _convert(tf, qat_model, train["x"].astype(dtype), options)
        _files.write_bytes(folder / "model.tflite", blob)
        lap("convert")
        if val is not None:
            report["tflite_val_accuracy"] = _tflite_accuracy(blob, val, dtype)
            lap("evaluate_tflite")
    _files.write_text(folder / "report.json", json.dumps(report))


def _fine_tune(
    tf: Any, tf_keras: Any, qat_model: Any, train: Mapping, val: Mapping | None, dtype: Any, options: Mapping
) -> dict[str, list[float]]:
    """Adam on ``loss``; returns the fit history as plain floats."""
    qat_model.compile(
        optimizer=tf_keras.optimizers.Adam(options["learning_rate"]), loss=options["loss"], metrics=["accuracy"]
    )
    history = qat_model.fit(
        _dataset(tf, train, dtype, options, training=True),
        epochs=options["epochs"],
        steps_per_epoch=options["steps_per_epoch"],
        validation_data=None if val is None else _dataset(tf, val, dtype, options, training=False),
        verbose=2,
    )
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def _dataset(tf: Any, data: Mapping[str, np.ndarray], dtype: Any, options: Mapping[str, Any], training: bool) -> Any:
    dataset = tf.data.Dataset.from_tensor_slices((data["x"], data["y"]))
    if training:
        dataset = dataset.shuffle(len(data["x"]), seed=options["seed"], reshuffle_each_iteration=True)
        if options["steps_per_epoch"] is not None:
            dataset = dataset.repeat()
    dataset = dataset.batch(options["batch_size"]).map(lambda x, y: (tf.cast(x, dtype), y))
    return dataset.prefetch(tf.data.AUTOTUNE)


def _labels(y: np.ndarray) -> np.ndarray:
    return y.argmax(-1) if y.ndim == 2 else y.reshape(-1)


def _quantize(model: Any, preserve: str | None, tf_keras: Any, tfmot: Any) -> Any:
    """Annotates every layer (see the module docstring for which get an output-only config) and applies the scheme."""
    quantization = tfmot.quantization.keras
    registry = quantization.default_8bit.Default8BitQuantizeRegistry()
    output_only = _output_only_config_class(quantization)
    followers = _layers_after_weights(model, tf_keras)

    def annotate(layer: Any) -> Any:  # tfmot's pattern: annotate the layer itself, quantize_apply clones it
        if isinstance(layer, tf_keras.layers.InputLayer):
            return layer
        if registry.supports(layer) or layer.name in followers:
            return quantization.quantize_annotate_layer(layer)
        return quantization.quantize_annotate_layer(layer, quantize_config=output_only())

    annotated = tf_keras.models.clone_model(model, clone_function=annotate)
    schemes = {
        None: quantization.default_8bit.Default8BitQuantizeScheme,
        "sparsity": tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme,
        "clusters": lambda: tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True),
    }
    with quantization.quantize_scope({output_only.__name__: output_only}):
        return quantization.quantize_apply(annotated, scheme=schemes[preserve]())


def _layers_after_weights(model: Any, tf_keras: Any) -> set[str]:
    """BatchNormalization layers fed by a Conv2D / DepthwiseConv2D / Dense: tfmot's transforms fold those."""
    kinds = (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D, tf_keras.layers.Dense)
    names = set()
    for layer in model.layers:
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            inbound = [node.inbound_layers for node in layer.inbound_nodes]
            if len(inbound) == 1 and isinstance(inbound[0], kinds):
                names.add(layer.name)
    return names


def _output_only_config_class(quantization: Any) -> type:
    """A QuantizeConfig that keeps weights float and fake-quantizes the output (8-bit, moving-average range)."""

    class OutputOnlyQuantizeConfig(quantization.QuantizeConfig):
        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [
                quantization.quantizers.MovingAverageQuantizer(
                    num_bits=8, per_axis=False, symmetric=False, narrow_range=False
                )
            ]

        def get_config(self):
            return {}

    return OutputOnlyQuantizeConfig


def _read_float_weights(qat_model: Any, variable_names: Mapping[str, list[str]]) -> dict[str, list[np.ndarray]]:
    """Each layer's float weights, found in the QAT model by variable name (tfmot's wrappers keep the inner names)."""
    by_name: dict[str, list[Any]] = {}
    for variable in qat_model.weights:
        by_name.setdefault(variable.name, []).append(variable)
    tuned = {}
    for layer, names in variable_names.items():
        values = []
        for name in names:
            found = by_name.get(name, [])
            if len(found) != 1:
                raise RuntimeError(
                    f"After QAT, weight {name!r} of layer {layer!r} matches {len(found)} variables of the quantized "
                    "model (expected exactly 1); tfmot renamed or rewrote the layer."
                )
            values.append(found[0].numpy())
        tuned[layer] = values
    return tuned


def _convert(tf: Any, qat_model: Any, x: np.ndarray, options: Mapping[str, Any]) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(qat_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    steps = min(options["representative_steps"], len(x))

    def representative():
        for index in range(steps):
            yield [x[index : index + 1]]

    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io_type = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[options["io_dtype"]]
    converter.inference_input_type = io_type
    converter.inference_output_type = io_type
    return converter.convert()


def _tflite_accuracy(blob: bytes, data: Mapping[str, np.ndarray], dtype: Any) -> float:
    """Top-1 accuracy of a TFLite model on ``data`` in the LiteRT interpreter (inputs quantised as it would)."""
    from keras_archs.export._litert import LiteRTRunner

    outputs = LiteRTRunner(model_content=blob)(data["x"].astype(dtype))
    return float((outputs.argmax(-1) == _labels(data["y"])).mean())


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "run":
        raise SystemExit("usage: python -m keras_archs.compress.qat run WORK_DIR")
    _child_run(pathlib.Path(sys.argv[2]))
