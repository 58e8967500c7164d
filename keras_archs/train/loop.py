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

Distributed runs (``strategy=``, :mod:`keras_archs.train.strategies`, docs/distributed.md): ``batch_size`` is the
global batch, the learning rate scales with it, each input pipeline reads its own shard and every worker takes the
same number of steps. Under "multiworker" only the chief writes the files above; the other workers keep only their
own ``backup_<type>_<index>/`` and write the rest to a temporary folder they delete.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import pathlib
import shutil
import tempfile
import time
from typing import Any, Mapping

import keras

from keras_archs import _files
from keras_archs.train import recipes as recipes_lib
from keras_archs.train import strategies
from keras_archs.train.strategies import STRATEGIES, make_strategy

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
        replicas: Replicas that shared each global batch.
        is_chief: Whether this process wrote the run's files (False on the other workers of a multi-worker run).
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
    replicas: int = 1
    is_chief: bool = True


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


def _build_model(spec: Any, data: str, model_kwargs: Mapping[str, Any]) -> keras.Model:
    classes = _NUM_CLASSES[data]
    if data == "fashion_mnist":
        backbone = spec.build(weights=None, classes=classes, input_shape=(28, 28, 1), **model_kwargs)
        return raw_pixel_model(backbone, FASHION_MNIST_MEAN, FASHION_MNIST_STD, name=f"{backbone.name}_fashion_mnist")
    size = spec.default_size if data == "imagenet" else 32
    return spec.build(weights=None, classes=classes, input_shape=(size, size, 3), **model_kwargs)


def _pipeline(data: str, spec: Any, seed: int, data_dir: Any) -> tuple[Any, dict]:
    """The dataset function for ``data`` and the arguments every split shares (model size and normalisation)."""
    from keras_archs import data as data_lib

    loader = getattr(data_lib, data)
    common: dict[str, Any] = dict(seed=seed, data_dir=data_dir)
    if data != "fashion_mnist":  # Fashion-MNIST models take raw pixels (raw_pixel_model)
        common["for_model"] = spec.name
    if data in ("cifar10", "cifar100"):
        common["image_size"] = 32
    if data in ("fashion_mnist", "cifar10", "cifar100"):
        common["download"] = False
    return loader, common


def _steps_per_epoch(loader: Any, common: dict, split: str, batch_size: int, train_limit: int | None) -> int:
    """Full global batches per epoch: the whole split (or ``train_limit`` examples, at least one batch).

    Every worker of a sharded run takes exactly this many steps: with ``N`` examples in ``n`` shards of at least
    ``N // n`` each, a shard holds ``(N // n) // (B / n) = N // B`` batches of ``B / n`` or more, so no worker runs out
    first (the collectives of an uneven last step would wait for ever).
    """
    whole = loader(split, batch_size=batch_size, augment=False, shuffle=False, drop_remainder=True, **common)
    steps = int(whole.cardinality())
    if train_limit is not None and steps > 0:
        steps = min(steps, max(1, train_limit // batch_size))
    return steps


def _evaluation(loader: Any, common: dict, split: str, batch_size: int, eval_limit: int | None, sharded: bool):
    import tensorflow as tf

    dataset = loader(split, batch_size=batch_size, augment=False, shuffle=False, **common)
    if eval_limit is not None:  # exactly the first eval_limit examples (the split is not shuffled)
        batches = -(-eval_limit // batch_size)
        dataset = dataset.unbatch().take(eval_limit).batch(batch_size)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))  # known length for Keras
    if sharded:
        # tf.distribute splits each global batch among the replicas of every worker (AutoShardPolicy.DATA): every
        # worker sees the same number of steps, and the metrics add up over exactly the examples above.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = dataset.with_options(options)
    return dataset


def _training_input(
    placement: strategies.Placement,
    loader: Any,
    common: dict,
    split: str,
    batch_size: int,
    steps: int,
    augment: bool,
    shuffle: bool,
    one_hot: Any,
) -> tuple[Any, dict]:
    """The training input for ``fit`` and the ``fit`` arguments it needs.

    Without ``tf.distribute``: the split in global batches (keras.distribution splits them among JAX devices).
    With it: ``distribute_datasets_from_function``, one input pipeline per worker (per replica under "mirrored"),
    each reading its own shard (``data.for_input_context``: pipeline ``i`` of ``n`` takes examples ``i, i + n, ...``
    before any shuffling) in per-replica batches of ``batch_size / replicas``, ``steps`` global steps an epoch. So
    the replicas see the same examples whether they sit on one machine or on several.
    """
    import tensorflow as tf

    shared = dict(augment=augment, shuffle=shuffle, drop_remainder=True, **common)
    if not placement.uses_tf_distribute:
        return loader(split, batch_size=batch_size, **shared).take(steps).map(one_hot), {}
    from keras_archs.data import for_input_context

    options = None
    if placement.name == "mirrored":
        options = tf.distribute.InputOptions(
            experimental_replication_mode=tf.distribute.InputReplicationMode.PER_REPLICA
        )
    replicas_per_pipeline = placement.replicas_per_pipeline

    def dataset_fn(context: Any) -> Any:
        shard = loader(split, **for_input_context(context, global_batch_size=batch_size), **shared).map(one_hot)
        if replicas_per_pipeline == 1:
            return shard.take(steps)  # Keras reads the epoch's length from this dataset
        # A pipeline feeding several replicas holds replicas x steps batches, which Keras would take for the epoch's
        # length: steps_per_epoch says it, and the repetition keeps the dataset from running dry (a new shuffle each
        # pass). Keras then takes its first batch to build the model (Keras 3.15), shifting the data by one batch.
        return shard.take(steps * replicas_per_pipeline).repeat()

    distributed = placement.strategy.distribute_datasets_from_function(dataset_fn, options)
    return distributed, ({} if replicas_per_pipeline == 1 else {"steps_per_epoch": steps})


@contextlib.contextmanager
def _precision_policy(mixed_precision: bool):
    previous = keras.mixed_precision.global_policy().name
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def epoch_history(log_csv: pathlib.Path, fitted: Mapping[str, list], epochs: int) -> dict[str, list[float | None]]:
    """The per-epoch history of a whole run: ``fitted`` (``model.fit``'s, which after ``--resume`` holds only the epochs
    that process ran) preceded by the earlier epochs' rows of the run's ``log.csv``. A value the log lacks (a metric
    logged only by the resumed process) is None.

    Example:
        >>> import pathlib, tempfile
        >>> log = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = log.write_text("epoch,accuracy\\n0,0.5\\n1,0.6\\n")
        >>> epoch_history(log, {"accuracy": [0.7], "learning_rate": [0.1]}, epochs=3)
        {'accuracy': [0.5, 0.6, 0.7], 'learning_rate': [None, None, 0.1]}
    """
    ran = max((len(values) for values in fitted.values()), default=0)
    earlier = epochs - ran
    if earlier <= 0 or not log_csv.exists():
        return {key: [float(v) for v in values] for key, values in fitted.items()}
    with open(log_csv, newline="") as handle:
        rows = {int(row["epoch"]): row for row in csv.DictReader(handle)}  # a repeated epoch: its last row
    history = {}
    for key, values in fitted.items():
        before = [rows.get(epoch, {}).get(key) or None for epoch in range(earlier)]
        history[key] = [None if v is None else float(v) for v in before] + [float(v) for v in values]
    return history


def _save_model(model: keras.Model, path: pathlib.Path) -> None:
    with _files.atomic_path(path) as temporary:
        model.save(temporary)


def _check_arguments(data: str, strategy: Any, limits: tuple, flags: tuple) -> None:
    if data not in DATASETS:
        raise ValueError(f"data must be one of {DATASETS}. Received: data={data!r}")
    for label, value in limits:
        if label in ("train_limit", "eval_limit") and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be a positive integer. Received: {label}={value!r}")
    for label, value in flags:
        if not isinstance(value, bool):
            raise TypeError(
                f"{label} must be True or False. Received: {label}={value!r} of type {type(value).__name__}"
            )
    if strategy is not None and strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES} or None. Received: strategy={strategy!r}")


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
    augment: bool | None = None,
    shuffle: bool = True,
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
        batch_size: The global batch (all replicas together); default the recipe's. The learning rate scales
            linearly with it (``recipe.learning_rate * batch_size / recipe.batch_size``, Goyal et al. 2017); each of
            the ``R`` replicas computes ``batch_size / R`` examples a step.
        resume: Continue from ``out_dir/backup`` (model, optimizer and epoch). Without it an existing backup is an
            error, so a finished or running experiment is never overwritten by accident.
        strategy: None, "mirrored", "multiworker" or "tpu" (:mod:`keras_archs.train.strategies`; on JAX
            "mirrored" is ``keras.distribution.DataParallel``). Under "multiworker" only the chief writes
            ``model.keras``, ``result.json``, ``log.csv``, ``checkpoints/`` and ``tensorboard/``; the other workers
            write theirs to a temporary folder they delete, and keep only their ``backup_<type>_<index>/`` for
            ``resume``.
        mixed_precision: Train with the "mixed_float16" policy.
        model_kwargs: Constructor arguments on top of the recipe's.
        data_dir: Passed to the dataset function.
        seed: Seeds Keras/NumPy/TF and the data pipeline.
        train_limit: Use only about this many training examples per epoch (smoke tests).
        eval_limit: Evaluate on the first this many examples of the evaluation split, each epoch and at the end
            (smoke tests; None: the whole split).
        augment: The training augmentation; None: the recipe's.
        shuffle: Shuffle the training examples every epoch (False: the split's order, for reproducibility checks).
        verbose: ``model.fit`` verbosity (the progress bar).
        command: The command line, recorded in ``result.json``.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: Unknown model/data/recipe/strategy, bad epochs, batch size or limits, a global batch the replicas
            cannot share, a missing or malformed ``TF_CONFIG``, or a backup without ``resume``.
        keras_archs.train.strategies.StrategyOrderError: "multiworker" asked for after TensorFlow already ran in this
            process.
    """
    from keras_archs import applications

    spec = applications.get_spec(model)
    backend = keras.backend.backend()
    if data in DATASETS:
        chosen = recipes_lib.get_recipe(recipe) if recipe else recipes_lib.recipe_for(spec.family, data)
        epochs = chosen.epochs if epochs is None else epochs
        batch_size = chosen.batch_size if batch_size is None else batch_size
        augment = chosen.augment if augment is None else augment
    limits = (("epochs", epochs), ("batch_size", batch_size), ("train_limit", train_limit), ("eval_limit", eval_limit))
    flags = (("resume", resume), ("augment", augment), ("shuffle", shuffle))
    _check_arguments(data, strategy, limits, flags)
    # First TensorFlow work of the run: MultiWorkerMirroredStrategy configures collective ops at start-up.
    placement = strategies.place(strategy, backend)
    if batch_size % placement.replicas:
        raise ValueError(
            f"batch_size is the global batch and must split evenly among the {placement.replicas} replicas. "
            f"Received: batch_size={batch_size}"
        )
    out = pathlib.Path(out_dir)
    backup = out / placement.backup_name()
    if backup.exists() and any(backup.iterdir()) and not resume:
        raise ValueError(
            f"{out} already holds a training run ({backup}). Pass resume=True (--resume) to continue it, or choose "
            "another out_dir."
        )
    out.mkdir(parents=True, exist_ok=True)
    # Temporaries of a killed earlier run (a resumed run may not rewrite them).
    for folder in (out, out / "checkpoints"):
        if folder.is_dir():
            _files.remove_stale_partials_in(folder)
    # Workers other than the chief write what every worker must write (saves may read distributed variables) to a
    # folder of their own that is deleted afterwards (TensorFlow's multi-worker guide).
    writes = out if placement.is_chief else pathlib.Path(tempfile.mkdtemp(prefix=f"keras_archs_{backup.name}_"))
    try:
        return _train(
            spec,
            data,
            chosen,
            placement,
            out=out,
            writes=writes,
            backup=backup,
            epochs=epochs,
            batch_size=batch_size,
            resume=resume,
            mixed_precision=mixed_precision,
            model_kwargs=model_kwargs,
            data_dir=data_dir,
            seed=seed,
            train_limit=train_limit,
            eval_limit=eval_limit,
            augment=augment,
            shuffle=shuffle,
            verbose=verbose,
            command=command,
        )
    finally:
        if writes != out:
            shutil.rmtree(writes, ignore_errors=True)


def _train(
    spec: Any,
    data: str,
    chosen: recipes_lib.Recipe,
    placement: strategies.Placement,
    *,
    out: pathlib.Path,
    writes: pathlib.Path,
    backup: pathlib.Path,
    epochs: int,
    batch_size: int,
    resume: bool,
    mixed_precision: bool,
    model_kwargs: Mapping[str, Any] | None,
    data_dir: Any,
    seed: int,
    train_limit: int | None,
    eval_limit: int | None,
    augment: bool,
    shuffle: bool,
    verbose: Any,
    command: str | None,
) -> TrainResult:
    (writes / "checkpoints").mkdir(exist_ok=True)
    keras.utils.set_random_seed(seed)
    loader, common = _pipeline(data, spec, seed, data_dir)
    fit_split, monitor_split, final_split = SPLITS[data]
    steps_per_epoch = _steps_per_epoch(loader, common, fit_split, batch_size, train_limit)
    if steps_per_epoch < 1:
        raise ValueError(f"The {data} training split gives no full batch of {batch_size}.")
    one_hot = _one_hot(_NUM_CLASSES[data])
    train_input, fit_kwargs = _training_input(
        placement, loader, common, fit_split, batch_size, steps_per_epoch, augment, shuffle, one_hot
    )
    sharded = placement.uses_tf_distribute
    monitor_ds = _evaluation(loader, common, monitor_split, batch_size, eval_limit, sharded)
    final_ds = (
        monitor_ds
        if final_split == monitor_split
        else _evaluation(loader, common, final_split, batch_size, eval_limit, sharded)
    )
    kwargs = {**dict(chosen.model_kwargs), **dict(model_kwargs or {})}
    with _precision_policy(mixed_precision), placement.scope():
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
        callbacks = [
            _LearningRateLogger(),
            _Throughput(steps_per_epoch * batch_size),
            keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False),
            _EpochCheckpoint(writes / "checkpoints"),
            keras.callbacks.TensorBoard(str(writes / "tensorboard"), write_graph=False),
        ]
        if placement.workers > 1:
            callbacks.insert(  # after BackupAndRestore restored
                3,
                _SameEpochOnEveryWorker(placement.strategy, placement.is_chief, placement.replicas_per_pipeline),
            )
        if placement.is_chief:
            callbacks.append(keras.callbacks.CSVLogger(str(out / "log.csv"), append=resume))
        if chosen.schedule == "plateau":
            callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=chosen.decay_factor, patience=5))
        started = time.perf_counter()
        history = net.fit(
            train_input,
            validation_data=monitor_ds.map(one_hot),
            epochs=epochs,
            callbacks=callbacks,
            verbose=verbose,
            **fit_kwargs,
        )
        seconds = time.perf_counter() - started
        full_history = epoch_history(out / "log.csv", history.history, epochs)
        validation_accuracy = (
            float(history.history["val_accuracy"][-1]) if history.history.get("val_accuracy") else None
        )
        test_loss, test_accuracy = net.evaluate(final_ds.map(one_hot), verbose=0)  # the final split, read once
        _save_model(net, writes / "model.keras")
    base_rate = recipes_lib.schedule_for(
        chosen, epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size
    ).base_rate
    result = {
        "model": spec.name,
        "data": data,
        "recipe": chosen.name,
        "recipe_citation": chosen.citation,
        "model_kwargs": kwargs,
        "epochs": epochs,
        "batch_size": batch_size,
        "backend": placement.backend,
        "strategy": placement.name,
        "replicas": placement.replicas,
        "workers": placement.workers,
        "per_replica_batch_size": batch_size // placement.replicas,
        "learning_rate": base_rate,
        "learning_rate_scaling": (
            f"linear in the global batch (Goyal et al. 2017): recipe {chosen.learning_rate:g} at batch "
            f"{chosen.batch_size} -> {base_rate:g} at batch {batch_size}"
        ),
        "steps_per_epoch": steps_per_epoch,
        "augment": augment,
        "shuffle": shuffle,
        "mixed_precision": mixed_precision,
        "seed": seed,
        "splits": dict(zip(("fit", "monitored_each_epoch", "final"), SPLITS[data])),
        "validation_accuracy": validation_accuracy,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "train_limit": train_limit,
        "eval_limit": eval_limit,
        "train_seconds": round(seconds, 1),
        "history": full_history,  # every epoch, also after --resume (the earlier ones from log.csv)
        "command": command,
    }
    if placement.is_chief:
        _files.write_text(out / "result.json", json.dumps(result, indent=2) + "\n")
    return TrainResult(
        net,
        full_history,
        float(test_accuracy),
        float(test_loss),
        epochs,
        seconds,
        out,
        eval_limit=eval_limit,
        validation_accuracy=validation_accuracy,
        replicas=placement.replicas,
        is_chief=placement.is_chief,
    )


def _one_hot(classes: int):
    """``(images, labels) -> (float32 images, one-hot labels)``: the models take float32 (Fashion-MNIST's raw uint8
    pixels are cast here), and collective ops reduce no uint8 (Keras averages a first batch across replicas)."""
    import tensorflow as tf

    def convert(images: Any, labels: Any) -> tuple:
        return tf.cast(images, tf.float32), tf.one_hot(tf.cast(labels, tf.int32), classes)

    return convert


class _EpochCheckpoint(keras.callbacks.Callback):
    """Saves the model after every epoch as ``epoch_NNN.keras`` (1-based), through ``keras_archs._files``."""

    def __init__(self, folder: pathlib.Path) -> None:
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        _save_model(self.model, self.folder / f"epoch_{epoch + 1:03d}.keras")


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


class _Throughput(keras.callbacks.Callback):
    """Puts each epoch's training wall time and images per second (all replicas together) into the logs.

    The clock runs from the epoch's first step to its last (validation excluded); the first epoch includes tracing
    and compilation, so throughput figures use the later ones.
    """

    def __init__(self, images_per_epoch: int) -> None:
        super().__init__()
        self.images_per_epoch = images_per_epoch
        self._started = 0.0
        self._seconds = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_test_begin(self, logs: dict | None = None) -> None:  # validation starts: the training steps are done
        self._seconds = time.perf_counter() - self._started

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        seconds = self._seconds or (time.perf_counter() - self._started)
        self._seconds = 0.0
        logs["epoch_seconds"] = seconds
        logs["images_per_second"] = self.images_per_epoch / seconds


class _SameEpochOnEveryWorker(keras.callbacks.Callback):
    """After ``BackupAndRestore`` restored each worker's own backup: every worker must go on from the same state.

    Workers write their backups one after another, so a job killed between two of them leaves one worker's backup an
    epoch ahead of another's; going on from different epochs would end in a collective that never completes. The
    restored epochs are compared across workers (sums of ``e`` and ``e**2``: all equal iff ``n * sum(e**2) ==
    sum(e)**2``); if they differ, the chief's restored state (model and optimizer variables, epoch) is sent to every
    worker (an all-reduce in which the others contribute zeros), so the run resumes from the chief's backup.
    """

    def __init__(self, strategy: Any, is_chief: bool, local_replicas: int) -> None:
        super().__init__()
        self.strategy = strategy
        self.is_chief = is_chief
        self.local_replicas = local_replicas  # each adds this worker's value once to an all-reduce

    def _all_sum(self, value: Any) -> Any:
        import numpy as np
        import tensorflow as tf

        def step() -> Any:
            return tf.distribute.get_replica_context().all_reduce("SUM", tf.convert_to_tensor(value))

        return np.asarray(self.strategy.experimental_local_results(self.strategy.run(step))[0])

    def _from_chief(self, value: Any) -> Any:
        import numpy as np

        value = np.asarray(value)
        total = self._all_sum(value if self.is_chief else np.zeros_like(value))
        return (total // self.local_replicas if value.dtype.kind in "iu" else total / self.local_replicas).astype(
            value.dtype
        )

    def on_train_begin(self, logs: dict | None = None) -> None:
        import numpy as np

        epoch = float(self.model._initial_epoch or 0)  # what BackupAndRestore restored (Keras 3.15)
        replicas = self.strategy.num_replicas_in_sync
        total, squares = self._all_sum(np.array([epoch, epoch * epoch], np.float64))
        if abs(replicas * squares - total * total) < 0.5:
            return
        chief_epoch = int(self._from_chief(np.int64(epoch)))
        optimizer = self.model.optimizer
        for variable in [*self.model.weights, *(optimizer.variables if optimizer is not None else [])]:
            variable.assign(self._from_chief(keras.ops.convert_to_numpy(variable)))
        self.model._initial_epoch = chief_epoch
        print(
            "keras-archs train: the workers' backups held different epochs; every worker resumes from the chief's "
            f"(epoch {chief_epoch})",
            flush=True,
        )


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
