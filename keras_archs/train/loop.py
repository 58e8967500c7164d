"""Training: a registry model, a dataset and a recipe -> ``model.fit`` with checkpoints, resume, logs and a final eval.

``keras-archs train MODEL --data DATA --epochs N --out DIR`` is :func:`train`. What it writes under ``out_dir``:

* ``backup/``         Keras ``BackupAndRestore`` state (model + optimizer + epoch); ``resume=True`` continues from it
* ``checkpoints/``    ``epoch_NNN.keras`` after every epoch
* ``log.csv``         per-epoch loss / accuracy / test metrics / learning rate (``CSVLogger``)
* ``tensorboard/``    TensorBoard event files
* ``model.keras``     the final model
* ``result.json``     test metrics, epochs, wall time, recipe, arguments

The checkpoints, ``model.keras`` and ``result.json`` are written through ``keras_archs._files`` (a kill mid-write
leaves the previous file or none, never half a file); ``backup/`` is Keras' own format and writer, and the logs are
appended as training goes. ``eval_limit`` evaluates on the first N images of the monitored and final splits (each
epoch and at the end) for smoke runs; ``train_limit`` shortens the epochs.

Which data chooses and which data measures (:data:`SPLITS`): Fashion-MNIST fits on ``"train_without_validation"``
(54,000 images), reports every epoch on ``"validation"`` (the 6,000 held out of the training images: what any choice
of epochs, recipe or checkpoint may look at) and reads ``"test"`` once, after training. CIFAR has no held-out split
here yet, so its per-epoch curve is the test split and ``result.json`` says so; ImageNet's is its validation split,
the de facto test set.

Fashion-MNIST models take raw pixels (28x28x1, 0..255): the normalisation is a layer of the model (the dataset's
mean and std), so a phone app can feed the camera's grey values as they are. Other datasets are normalised by the data
pipeline for the model (``for_model``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import time
from typing import Any, Mapping

import keras

from keras_archs import _files
from keras_archs.train import recipes as recipes_lib

__all__ = [
    "TrainResult",
    "train",
    "apply_weight_decay",
    "raw_pixel_model",
    "make_strategy",
    "export_trained_model",
    "DATASETS",
]

DATASETS = ("fashion_mnist", "cifar10", "cifar100", "imagenet")
STRATEGIES = ("mirrored", "multiworker", "tpu")
# Fashion-MNIST train split, pixel mean and standard deviation on the 0..255 scale (measured on the 60,000 training
# images of the Debian dataset-fashion-mnist files: 72.940 and 90.021, i.e. 0.2860 and 0.3530 on 0..1).
FASHION_MNIST_MEAN = 72.940
FASHION_MNIST_STD = 90.021
_NUM_CLASSES = {"fashion_mnist": 10, "cifar10": 10, "cifar100": 100, "imagenet": 1000}
# (split fitted, split reported every epoch, split read once at the end) per dataset; see the module docstring.
SPLITS = {
    "fashion_mnist": ("train_without_validation", "validation", "test"),
    "cifar10": ("train", "test", "test"),
    "cifar100": ("train", "test", "test"),
    "imagenet": ("train", "validation", "validation"),
}


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns: the trained model, the Keras history and the final test metrics.

    Attributes:
        model: The trained model.
        history: ``model.fit``'s history (per-epoch loss, accuracy, val_* and learning_rate).
        test_accuracy: Top-1 accuracy on the final split (:data:`SPLITS`; its first ``eval_limit`` examples when set),
            read once after training.
        test_loss: Loss there.
        validation_accuracy: Top-1 accuracy on the split reported every epoch, after the last epoch.
        epochs: Epochs of the run.
        seconds: Wall time of ``fit``.
        out_dir: The run folder.
        eval_limit: The ``eval_limit`` used (None: the whole evaluation split).
    """

    model: Any
    history: dict
    test_accuracy: float
    test_loss: float
    epochs: int
    seconds: float
    out_dir: pathlib.Path
    eval_limit: int | None = None
    validation_accuracy: float | None = None


def apply_weight_decay(model: keras.Model, weight_decay: float, decay_depthwise: bool = True) -> int:
    """Adds L2 weight decay to every conv/dense kernel of ``model`` (not to BN parameters or biases).

    Papers (Caffe, Torch) state weight decay as the term added to the gradient, ``weight_decay * w``; that is the
    gradient of ``weight_decay / 2 * sum(w ** 2)``, so the Keras L2 regulariser gets ``weight_decay / 2``.

    Returns:
        The number of kernels decayed.
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0. Received: weight_decay={weight_decay}")
    if weight_decay == 0:
        return 0
    regularizer = keras.regularizers.L2(weight_decay / 2)
    depthwise = set()
    for layer in model._flatten_layers(include_self=True):  # nested models too
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            depthwise.add(id(layer.kernel))
        elif isinstance(layer, keras.layers.SeparableConv2D):
            depthwise.add(id(layer.depthwise_kernel))
    decayed = 0
    for variable in model.trainable_weights:
        if not variable.path.rsplit("/", 1)[-1].endswith("kernel"):
            continue  # BN gamma/beta and biases are not decayed
        if id(variable) in depthwise and not decay_depthwise:
            continue
        variable.regularizer = regularizer
        decayed += 1
    return decayed


def raw_pixel_model(backbone: keras.Model, mean: float, std: float, name: str) -> keras.Model:
    """Wraps ``backbone`` so it takes raw pixels: (x - mean) / std happens inside the model."""
    inputs = keras.Input(shape=backbone.input_shape[1:], name="pixels")
    x = keras.layers.Rescaling(1.0 / std, offset=-mean / std, name="normalize")(inputs)
    outputs = backbone(x)
    return keras.Model(inputs, outputs, name=name)


def make_strategy(name: str | None) -> Any:
    """A ``tf.distribute`` strategy by name ("mirrored", "multiworker", "tpu"), or None for the default."""
    if name is None:
        return None
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"strategy must be one of {STRATEGIES} or None. Received: strategy={name!r}")


def _build_model(spec: Any, data: str, model_kwargs: Mapping[str, Any]) -> keras.Model:
    classes = _NUM_CLASSES[data]
    if data == "fashion_mnist":
        backbone = spec.build(weights=None, classes=classes, input_shape=(28, 28, 1), **model_kwargs)
        return raw_pixel_model(backbone, FASHION_MNIST_MEAN, FASHION_MNIST_STD, name=f"{backbone.name}_fashion_mnist")
    size = spec.default_size if data == "imagenet" else 32
    return spec.build(weights=None, classes=classes, input_shape=(size, size, 3), **model_kwargs)


def _datasets(
    data: str,
    spec: Any,
    batch_size: int,
    augment: bool,
    seed: int,
    data_dir: Any,
    train_limit: int | None,
    eval_limit: int | None,
):
    import tensorflow as tf

    from keras_archs import data as data_lib

    loader = getattr(data_lib, data)
    model_kwargs = {} if data == "fashion_mnist" else {"for_model": spec.name}
    if data in ("cifar10", "cifar100"):
        model_kwargs["image_size"] = 32
    common = dict(batch_size=batch_size, seed=seed, data_dir=data_dir, **model_kwargs)
    if data in ("fashion_mnist", "cifar10", "cifar100"):
        common["download"] = False
    fit_split, monitor_split, final_split = SPLITS[data]
    train_ds = loader(fit_split, augment=augment, shuffle=True, drop_remainder=True, **common)
    if train_limit is not None:
        train_ds = train_ds.take(max(1, train_limit // batch_size))

    def evaluation(split: str):
        dataset = loader(split, augment=False, shuffle=False, **common)
        if eval_limit is not None:  # exactly the first eval_limit examples (the split is not shuffled)
            batches = -(-eval_limit // batch_size)
            dataset = dataset.unbatch().take(eval_limit).batch(batch_size)
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))  # known length for Keras
        return dataset

    monitor_ds = evaluation(monitor_split)
    final_ds = monitor_ds if final_split == monitor_split else evaluation(final_split)
    return train_ds, monitor_ds, final_ds


@contextlib.contextmanager
def _precision_policy(mixed_precision: bool):
    previous = keras.mixed_precision.global_policy().name
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def train(
    model: str,
    data: str = "fashion_mnist",
    *,
    out_dir: str | os.PathLike,
    epochs: int | None = None,
    recipe: str | None = None,
    batch_size: int | None = None,
    resume: bool = False,
    strategy: str | None = None,
    mixed_precision: bool = False,
    model_kwargs: Mapping[str, Any] | None = None,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    train_limit: int | None = None,
    eval_limit: int | None = None,
    verbose: Any = "auto",
    command: str | None = None,
) -> TrainResult:
    """Trains registry model ``model`` on ``data`` with a paper recipe stretched to ``epochs``.

    Args:
        model: Registry name (``keras-archs list``).
        data: "fashion_mnist", "cifar10", "cifar100" or "imagenet".
        out_dir: Where checkpoints, logs, the final model and ``result.json`` go.
        epochs: Length of training; default the recipe's. The schedule is stretched to it.
        recipe: Recipe name (``keras_archs.train.recipes.RECIPES``); default from the model family and dataset.
        batch_size: Default the recipe's; the learning rate scales linearly with it.
        resume: Continue from ``out_dir/backup`` (model, optimizer and epoch). Without it an existing backup is an
            error, so a finished or running experiment is never overwritten by accident.
        strategy: None, "mirrored", "multiworker" or "tpu" (``tf.distribute``).
        mixed_precision: Train with the "mixed_float16" policy.
        model_kwargs: Constructor arguments on top of the recipe's.
        data_dir: Passed to the dataset function.
        seed: Seeds Keras/NumPy/TF and the data pipeline.
        train_limit: Use only about this many training examples per epoch (smoke tests).
        eval_limit: Evaluate on the first this many examples of the evaluation split, each epoch and at the end
            (smoke tests; None: the whole split).
        verbose: ``model.fit`` verbosity (the progress bar).
        command: The command line, recorded in ``result.json``.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: Unknown model/data/recipe/strategy, bad epochs, batch size or limits, or a backup without
            ``resume``.
    """
    from keras_archs import applications

    spec = applications.get_spec(model)
    if data not in DATASETS:
        raise ValueError(f"data must be one of {DATASETS}. Received: data={data!r}")
    chosen = recipes_lib.get_recipe(recipe) if recipe else recipes_lib.recipe_for(spec.family, data)
    epochs = chosen.epochs if epochs is None else epochs
    batch_size = chosen.batch_size if batch_size is None else batch_size
    limits = (("epochs", epochs), ("batch_size", batch_size), ("train_limit", train_limit), ("eval_limit", eval_limit))
    for label, value in limits:
        if label in ("train_limit", "eval_limit") and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be a positive integer. Received: {label}={value!r}")
    if strategy is not None and strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES} or None. Received: strategy={strategy!r}")
    out = pathlib.Path(out_dir)
    backup = out / "backup"
    if backup.exists() and any(backup.iterdir()) and not resume:
        raise ValueError(
            f"{out} already holds a training run ({backup}). Pass resume=True (--resume) to continue it, or choose "
            "another out_dir."
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "checkpoints").mkdir(exist_ok=True)
    for folder in (
        out,
        out / "checkpoints",
    ):  # temporaries of a killed earlier run (a resumed run may not rewrite them)
        _files.remove_stale_partials_in(folder)
    keras.utils.set_random_seed(seed)

    train_ds, monitor_ds, final_ds = _datasets(
        data, spec, batch_size, chosen.augment, seed, data_dir, train_limit, eval_limit
    )
    steps_per_epoch = int(train_ds.cardinality())
    if steps_per_epoch < 1:
        raise ValueError(f"The {data} training split gives no full batch of {batch_size}.")

    distribution = make_strategy(strategy)
    scope = distribution.scope() if distribution is not None else contextlib.nullcontext()
    kwargs = {**dict(chosen.model_kwargs), **dict(model_kwargs or {})}
    with _precision_policy(mixed_precision), scope:
        net = _build_model(spec, data, kwargs)
        apply_weight_decay(net, chosen.weight_decay, chosen.decay_depthwise)
        optimizer = recipes_lib.make_optimizer(
            chosen, epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size
        )
        net.compile(
            optimizer=optimizer,
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=chosen.label_smoothing),
            metrics=["accuracy"],
        )
    one_hot = _one_hot(_NUM_CLASSES[data])
    callbacks = [
        keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False),
        _EpochCheckpoint(out / "checkpoints"),
        keras.callbacks.CSVLogger(str(out / "log.csv"), append=resume),
        keras.callbacks.TensorBoard(str(out / "tensorboard"), write_graph=False),
        _LearningRateLogger(),
    ]
    if chosen.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=chosen.decay_factor, patience=5))
    started = time.perf_counter()
    history = net.fit(
        train_ds.map(one_hot),
        validation_data=monitor_ds.map(one_hot),
        epochs=epochs,
        callbacks=callbacks,
        verbose=verbose,
    )
    seconds = time.perf_counter() - started
    validation_accuracy = float(history.history["val_accuracy"][-1]) if history.history.get("val_accuracy") else None
    test_loss, test_accuracy = net.evaluate(final_ds.map(one_hot), verbose=0)  # the final split, read once
    with _files.atomic_path(out / "model.keras") as temporary:
        net.save(temporary)
    result = {
        "model": spec.name,
        "data": data,
        "recipe": chosen.name,
        "recipe_citation": chosen.citation,
        "model_kwargs": kwargs,
        "epochs": epochs,
        "batch_size": batch_size,
        "strategy": strategy,
        "replicas": distribution.num_replicas_in_sync if distribution is not None else 1,
        "mixed_precision": mixed_precision,
        "seed": seed,
        "splits": dict(zip(("fit", "monitored_each_epoch", "final"), SPLITS[data])),
        "validation_accuracy": validation_accuracy,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "train_limit": train_limit,
        "eval_limit": eval_limit,
        "train_seconds": round(seconds, 1),
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "command": command,
    }
    _files.write_text(out / "result.json", json.dumps(result, indent=2) + "\n")
    return TrainResult(
        net,
        history.history,
        float(test_accuracy),
        float(test_loss),
        epochs,
        seconds,
        out,
        eval_limit=eval_limit,
        validation_accuracy=validation_accuracy,
    )


def _one_hot(classes: int):
    import tensorflow as tf

    def convert(images: Any, labels: Any) -> tuple:
        return images, tf.one_hot(tf.cast(labels, tf.int32), classes)

    return convert


class _EpochCheckpoint(keras.callbacks.Callback):
    """Saves the model after every epoch as ``epoch_NNN.keras`` (1-based), through ``keras_archs._files``."""

    def __init__(self, folder: pathlib.Path) -> None:
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        with _files.atomic_path(self.folder / f"epoch_{epoch + 1:03d}.keras") as temporary:
            self.model.save(temporary)


class _LearningRateLogger(keras.callbacks.Callback):
    """Puts the learning rate of each epoch's last step into the logs (CSV, TensorBoard)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        optimizer = self.model.optimizer
        rate = optimizer.learning_rate
        if callable(rate) and not hasattr(rate, "numpy"):
            rate = rate(optimizer.iterations)
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(rate))


def export_trained_model(run_dir: str | os.PathLike, destination: str | os.PathLike) -> dict:
    """Writes a run's final model without its optimizer state (inference only) and returns its manifest record.

    Args:
        run_dir: A :func:`train` output directory (``model.keras`` and ``result.json``).
        destination: The ``.keras`` file to write (e.g. ``saved_models/squeezenet_fashion_mnist.keras``).

    Returns:
        Dict with the file name, bytes, sha256 and the run's metrics, command, epochs and time.

    Raises:
        FileNotFoundError: ``run_dir`` lacks ``model.keras`` or ``result.json``.
    """
    import hashlib

    run = pathlib.Path(run_dir)
    result = json.loads((run / "result.json").read_text())
    trained = keras.saving.load_model(run / "model.keras")
    # A fresh Functional over the same layers is not compiled, so only the weights and the graph are saved.
    inference = keras.Model(trained.inputs, trained.outputs, name=trained.name)
    destination = pathlib.Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with _files.atomic_path(destination) as temporary:
        inference.save(temporary)
    data = destination.read_bytes()
    return {
        "file": destination.name,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "params": int(inference.count_params()),
        "input": {
            "shape": list(inference.input_shape[1:]),
            "dtype": "float32",
            # Fashion-MNIST models normalise inside (raw_pixel_model); the others take the pipeline's preprocessing
            "range": "raw pixels 0..255" if result["data"] == "fashion_mnist" else "preprocessed by the data pipeline",
        },
        **{
            key: result.get(key)  # runs from before the validation split lack "splits" / "validation_accuracy"
            for key in (
                "model",
                "data",
                "recipe",
                "model_kwargs",
                "epochs",
                "batch_size",
                "seed",
                "splits",
                "validation_accuracy",
                "test_accuracy",
                "test_loss",
                "train_seconds",
                "command",
            )
        },
        "curve": {
            key: result["history"][key]
            for key in ("accuracy", "val_accuracy", "learning_rate")
            if key in result["history"]
        },
    }
