"""Deep Compression end to end: prune -> share weights -> Huffman-code into one archive, and back to a Keras model.

:func:`deep_compress` runs the stages of Han et al. 2016 (Fig. 1) on a copy of a Keras 3 model, with the recipe's
per-layer densities and bits, fine-tuning after each stage when training data is given, and returns a
:class:`CompressedModel`: the compressed Keras model in memory plus everything the archive stores. :func:`load` reads
an archive back into a runnable Keras model.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from typing import Any, Sequence

import keras
import numpy as np

from keras_archs.compress import archive as archive_lib
from keras_archs.compress import calibrate, finetune, prune, share
from keras_archs.compress.recipes import CompressionRecipe, get_recipe, recipe_for

__all__ = ["CompressedModel", "deep_compress", "load", "weight_keys", "evaluate_accuracy"]

_FORMAT_NAME = "keras_archs.deep_compression"


def weight_keys(model: keras.Model) -> list[tuple[str, Any]]:
    """``(key, variable)`` for every weight of ``model`` in order; the key is the variable path, made unique."""
    keys, seen = [], {}
    for variable in model.weights:
        key = variable.path
        if key in seen:
            seen[key] += 1
            key = f"{key}#{seen[key]}"
        else:
            seen[key] = 0
        keys.append((key, variable))
    return keys


def _storage_axes(ndim: int) -> tuple[int, ...] | None:
    # Conv kernels stored as Caffe blobs (out, in, kh, kw): one filter's weights are contiguous, as in the .net files.
    return {4: (3, 2, 0, 1), 2: (1, 0)}.get(ndim)


@dataclasses.dataclass
class CompressedModel:
    """The result of :func:`deep_compress`.

    Attributes:
        model: The compressed Keras model (kernels = shared values, pruned weights exactly 0).
        config: The model's Keras config (what the archive stores to rebuild it).
        shared: The shared tensors (codebook + codes per kernel).
        dense: Every other weight as stored (biases, batch norm; float16 if the recipe says so).
        metadata: Recipe, source model, input description, measured accuracies.
    """

    model: keras.Model
    config: dict
    shared: list[archive_lib.SharedTensor]
    dense: dict[str, np.ndarray]
    metadata: dict
    _encoded: bytes | None = dataclasses.field(default=None, repr=False)

    def to_bytes(self) -> bytes:
        if self._encoded is None:
            self._encoded = archive_lib.encode(
                config=self.config, shared=self.shared, dense=self.dense, metadata=self.metadata
            )
        return self._encoded

    @property
    def size_bytes(self) -> int:
        """Size of the archive file in bytes."""
        return len(self.to_bytes())

    def save(self, path: str | os.PathLike) -> int:
        """Writes the archive (atomically); returns the bytes written."""
        return archive_lib.write_bytes(path, self.to_bytes())

    def report(self) -> list[dict]:
        """Per-layer rows: key, shape, density, bits, k, index_bits and exact bytes of codes / indices / codebook /
        tables / header; one row per dense tensor; a last ``total`` row whose ``total`` equals :attr:`size_bytes`."""
        bits = self.metadata.get("bits", {})
        rows = []
        for tensor in self.shared:
            row = archive_lib.tensor_report(tensor)
            row["shape"] = list(tensor.codes.shape)
            row["bits"] = bits.get(tensor.key)
            rows.append(row)
        shared_total = sum(row["total"] for row in rows)
        dense_raw = sum(int(value.nbytes) for value in self.dense.values())
        rows.append(
            {
                "key": "(dense tensors + config + framing)",
                "total": self.size_bytes - shared_total,
                "dense_raw_bytes": dense_raw,
            }
        )
        rows.append(
            {
                "key": "total",
                "total": self.size_bytes,
                "n_nonzero": sum(row.get("n_nonzero", 0) for row in rows[:-1]),
                "n_elements": sum(row.get("n_elements", 0) for row in rows[:-1]),
            }
        )
        return rows

    def report_table(self) -> str:
        """The :meth:`report` as an aligned text table."""
        header = ["tensor", "shape", "density", "bits", "codes", "indices", "codebook", "tables+hdr", "bytes"]
        lines = []
        for row in self.report():
            if "codes" in row:
                lines.append(
                    [
                        row["key"],
                        "x".join(map(str, row["shape"])),
                        f"{row['density']:.3f}",
                        str(row["bits"]),
                        f"{row['codes']:,}",
                        f"{row['indices']:,}",
                        f"{row['codebook']:,}",
                        f"{row['tables'] + row['sync'] + row['header']:,}",
                        f"{row['total']:,}",
                    ]
                )
            else:
                lines.append([row["key"], "", "", "", "", "", "", "", f"{row['total']:,}"])
        widths = [max(len(str(c)) for c in col) for col in zip(header, *lines)]

        def fmt(cells):
            return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, lines)])


# --- data helpers -------------------------------------------------------------------------------------------------


def _first_batches(data: Any, count: int) -> np.ndarray:
    """Up to ``count`` input examples from a dataset of (x, y) batches, an (x, y) tuple, or an array."""
    if isinstance(data, tuple) and len(data) >= 1 and isinstance(data[0], np.ndarray):
        return np.asarray(data[0][:count])
    if isinstance(data, np.ndarray):
        return data[:count]
    taken, total = [], 0
    for batch in data:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = np.asarray(x)
        taken.append(x)
        total += len(x)
        if total >= count:
            break
    if not taken:
        raise ValueError("The calibration / training data is empty.")
    return np.concatenate(taken)[:count]


def _fit(
    trainer: keras.Model,
    train_data: Any,
    val_data: Any,
    epochs: int,
    batch_size: int,
    callbacks: list,
    verbose: int,
    steps_per_epoch: int | None,
) -> None:
    if isinstance(train_data, tuple):
        trainer.fit(
            train_data[0],
            train_data[1],
            batch_size=batch_size,
            epochs=epochs,
            validation_data=val_data,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=True,
        )
    else:
        trainer.fit(
            train_data,
            epochs=epochs,
            validation_data=val_data,
            callbacks=callbacks,
            verbose=verbose,
            steps_per_epoch=steps_per_epoch,
        )


def _steps_per_epoch(train_data: Any, batch_size: int, steps_per_epoch: int | None) -> int:
    if steps_per_epoch:
        return int(steps_per_epoch)
    if isinstance(train_data, tuple):
        return math.ceil(len(train_data[0]) / batch_size)
    cardinality = int(train_data.cardinality()) if hasattr(train_data, "cardinality") else -1
    if cardinality <= 0:
        raise ValueError("train_data has no known length (e.g. a repeated tf.data.Dataset): pass steps_per_epoch.")
    return cardinality


def _loss_for(train_data: Any) -> str:
    y = train_data[1] if isinstance(train_data, tuple) else next(iter(train_data))[1]
    y = np.asarray(y)
    return "categorical_crossentropy" if y.ndim >= 2 and y.shape[-1] > 1 else "sparse_categorical_crossentropy"


def evaluate_accuracy(model: keras.Model, data: Any, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on ``data`` ((x, y) arrays or a dataset of (x, y) batches)."""
    correct = total = 0
    batches = (
        [(data[0][i : i + batch_size], data[1][i : i + batch_size]) for i in range(0, len(data[0]), batch_size)]
        if isinstance(data, tuple)
        else data
    )
    for x, y in batches:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The structure of `inputs`")  # named-input models
            predicted = np.argmax(np.asarray(model(x, training=False)), axis=-1)
        y = np.asarray(y)
        labels = np.argmax(y, axis=-1) if y.ndim >= 2 and y.shape[-1] > 1 else y.reshape(-1)
        correct += int(np.sum(predicted == labels))
        total += len(labels)
    if not total:
        raise ValueError("evaluate_accuracy: the data is empty.")
    return correct / total


def _copy_model(model: keras.Model) -> keras.Model:
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    clone.set_weights(model.get_weights())
    return clone


def _calibration_inputs(
    model: keras.Model, recipe: CompressionRecipe, train_data: Any, calibration_data: Any
) -> np.ndarray:
    if calibration_data is not None:
        return _first_batches(calibration_data, recipe.calibration_images)
    if train_data is not None:
        return _first_batches(train_data, recipe.calibration_images)
    shape = model.inputs[0].shape
    height, width, channels = shape[1], shape[2], shape[3]
    if height is None or width is None:
        raise ValueError("The model's input size is not fixed: pass calibration_data to the compensated quantizer.")
    images = calibrate.synthetic_images(recipe.calibration_images, (height, width), channels, seed=0)
    try:
        from keras_archs import registry

        spec = registry.get_spec(model.name)
    except ValueError:
        return images  # raw 0..255 pixels, e.g. a model with its own normalisation layer
    import importlib

    family = importlib.import_module(spec.builder.__module__)
    return np.asarray(family.preprocess_input(images))


# --- the pipeline -------------------------------------------------------------------------------------------------


def deep_compress(
    model: keras.Model,
    recipe: str | CompressionRecipe | None = None,
    train_data: Any = None,
    val_data: Any = None,
    epochs: int | None = None,
    *,
    batch_size: int = 128,
    steps_per_epoch: int | None = None,
    calibration_data: Any = None,
    loss: Any = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
) -> CompressedModel:
    """Prunes, shares weights and Huffman-codes ``model`` (Han et al. 2016); the input model is not changed.

    Args:
        model: A Keras 3 model (functional, nested models allowed).
        recipe: A :class:`CompressionRecipe` or its name; default :func:`recipe_for` ``(model)`` (by registry name).
        train_data: ``(x, y)`` arrays or a ``tf.data.Dataset`` of ``(x, y)`` batches. With it, the model is pruned
            gradually (polynomial schedule) while fine-tuning, and the centroids are fine-tuned after sharing; without
            it, pruning is one-shot and sharing is not fine-tuned (the right thing for an already pruned model).
        val_data: Like ``train_data``; accuracy before and after is measured and stored in the metadata.
        epochs: Total fine-tuning epochs (split between the stages like the recipe's ``prune_epochs`` and
            ``share_epochs``); default the recipe's.
        batch_size: For array ``train_data``.
        steps_per_epoch: Limit each epoch (needed for endless datasets).
        calibration_data: Inputs for the compensated quantizer (default: ``train_data``, else synthetic images).
        loss: Fine-tuning loss (default: sparse or categorical cross-entropy from the labels' shape).
        callbacks: Extra Keras callbacks for the fine-tuning ``fit`` calls.
        verbose: ``fit``'s verbosity.

    Returns:
        :class:`CompressedModel`.

    Raises:
        ValueError: Unknown recipe, a recipe pattern that matches no layer, bad epochs.

    Example:
        >>> import keras_archs
        >>> from keras_archs.compress import deep_compress
        >>> model = keras_archs.SqueezeNet(version="1.1", weights=None, input_shape=(64, 64, 3), classes=10)
        >>> compressed = deep_compress(model, recipe="deep_compression")
        >>> compressed.size_bytes < 0.4 * 4 * model.count_params()
        True
    """
    recipe = recipe_for(model) if recipe is None else get_recipe(recipe)
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0):
        raise ValueError(f"epochs must be an int >= 0. Received: epochs={epochs!r}")
    work = _copy_model(model)
    kernels = prune.prunable_weights(work)
    names = [name for name, _ in kernels]
    if len(set(names)) != len(names):
        raise ValueError(f"Layer names of {model.name!r} are not unique; the recipe cannot address them.")
    bits = prune.resolve_per_layer(recipe.bits, names, f"recipe {recipe.name!r} bits", recipe.strict_patterns)
    missing = [name for name in names if bits[name] is None]
    if missing:
        raise ValueError(f"Recipe {recipe.name!r} gives no bits for {missing} (add a '*' entry).")
    prune_epochs, share_epochs = recipe.prune_epochs, recipe.share_epochs
    if train_data is None:
        prune_epochs = share_epochs = 0
    elif epochs is not None:
        planned = max(recipe.prune_epochs + recipe.share_epochs, 1)
        prune_epochs = round(epochs * recipe.prune_epochs / planned) if recipe.densities is not None else 0
        share_epochs = epochs - prune_epochs
    metadata: dict[str, Any] = {
        "format": _FORMAT_NAME,
        "source_model": model.name,
        "recipe": dataclasses.asdict(recipe),
        "fine_tune_epochs": {"prune": prune_epochs, "share": share_epochs},
    }
    if val_data is not None:
        metadata["val_accuracy_before"] = evaluate_accuracy(model, val_data)
    loss = loss or (_loss_for(train_data) if train_data is not None else None)

    # 1. Pruning.
    if recipe.densities is None:
        masks = {name: variable.numpy() != 0 for name, variable in kernels}
    else:
        densities = prune.resolve_per_layer(
            recipe.densities, names, f"recipe {recipe.name!r} densities", recipe.strict_patterns
        )
        if prune_epochs:
            masks = _gradual_prune(
                work,
                densities,
                train_data,
                val_data,
                prune_epochs,
                recipe,
                batch_size,
                steps_per_epoch,
                loss,
                list(callbacks),
                verbose,
            )
        else:
            prune.prune_kernels(work, densities)
        masks = {name: variable.numpy() != 0 for name, variable in kernels}

    # 2. Weight sharing (k-means, or entropy-constrained, optionally output-error compensated).
    hessians = {}
    if recipe.compensate:
        inputs = _calibration_inputs(work, recipe, train_data, calibration_data)
        hessians = calibrate.layer_input_hessians(work, inputs, [n for n, v in kernels if v.ndim in (2, 4)])
    shared = {}
    for name, variable in kernels:
        kernel = variable.numpy()
        sharing = share.share_weights(
            kernel, bits[name], mask=masks[name], lam=recipe.lam if recipe.quantizer == "ecsq" else 0.0
        )
        codebook = sharing.codebook
        if recipe.codebook_dtype == "float16":
            codebook = _float16_codebook(codebook)
        codes = sharing.codes
        if name in hessians:
            codes = share.compensated_codes(np.where(masks[name], kernel, 0), codebook, hessians[name], recipe.damp)
        shared[name] = (codebook, codes)
        variable.assign(codebook[codes].astype(kernel.dtype))
    if share_epochs:
        trainer = finetune.ConstrainedTrainer(work, shared=shared)
        trainer.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate), loss=loss, metrics=["accuracy"])
        _fit(trainer, train_data, val_data, share_epochs, batch_size, list(callbacks), verbose, steps_per_epoch)
        shared = trainer.codebooks()
        if recipe.codebook_dtype == "float16":
            shared = {name: (_float16_codebook(cb), codes) for name, (cb, codes) in shared.items()}
        for name, variable in kernels:
            codebook, codes = shared[name]
            variable.assign(codebook[codes].astype(variable.dtype))

    # 3. What the archive stores.
    kernel_ids = {id(variable): name for name, variable in kernels}
    shared_tensors, dense, bits_by_key = [], {}, {}
    for key, variable in weight_keys(work):
        name = kernel_ids.get(id(variable))
        if name is not None:
            codebook, codes = shared[name]
            shared_tensors.append(archive_lib.SharedTensor(key, codebook, codes, _storage_axes(codes.ndim)))
            bits_by_key[key] = int(bits[name])
        else:
            value = np.asarray(variable.numpy())
            if recipe.bias_dtype == "float16" and value.dtype == np.float32:
                value = value.astype(np.float16)
                variable.assign(value.astype(np.float32))
            dense[key] = value
    metadata["bits"] = bits_by_key
    metadata["input"] = {"shape": list(work.inputs[0].shape[1:]), "dtype": str(work.inputs[0].dtype)}
    if val_data is not None:
        metadata["val_accuracy_after"] = evaluate_accuracy(work, val_data)
    config = keras.saving.serialize_keras_object(work)
    return CompressedModel(model=work, config=config, shared=shared_tensors, dense=dense, metadata=metadata)


def _float16_codebook(codebook: np.ndarray) -> np.ndarray:
    """Rounds shared values to float16 precision (kept as float32; 0 stays the pruned code, others stay non-zero)."""
    rounded = codebook.astype(np.float16).astype(np.float32)
    rounded[1:] = np.where(rounded[1:] == 0, np.sign(codebook[1:]) * np.float32(6e-8), rounded[1:])
    return rounded


def _gradual_prune(
    work, densities, train_data, val_data, epochs, recipe, batch_size, steps_per_epoch, loss, callbacks, verbose
) -> dict[str, np.ndarray]:
    targets = {name: d for name, d in densities.items() if d is not None and d < 1}
    steps = _steps_per_epoch(train_data, batch_size, steps_per_epoch) * epochs
    # Prune over the first two thirds of the steps, then train at the final density (Zhu & Gupta 2017, §3).
    schedule = prune.PruningSchedule(begin_step=0, end_step=max(1, (2 * steps) // 3), frequency=max(1, steps // 50))
    trainer = finetune.ConstrainedTrainer(work, target_densities=targets, schedule=schedule)
    trainer.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate), loss=loss, metrics=["accuracy"])
    _fit(
        trainer,
        train_data,
        val_data,
        epochs,
        batch_size,
        [finetune.PruningStep(trainer), *callbacks],
        verbose,
        steps_per_epoch,
    )
    return trainer.masks()


def load(path: str | os.PathLike | bytes) -> keras.Model:
    """Rebuilds the Keras model stored in a Deep Compression archive.

    Args:
        path: The archive file (or its bytes).

    Returns:
        A Keras model with the decoded weights (kernels = shared values, pruned weights 0).

    Raises:
        keras_archs.compress.ArchiveCorruptError: The file is not a valid archive, or its tensors do not fit the
            model its config describes.
        FileNotFoundError: No such file.

    Example:
        >>> from keras_archs.compress import load
        >>> model = load(keras_archs.saved_models.path("squeezenet_fashion_mnist.kadc"))  # doctest: +SKIP
    """
    stored = archive_lib.decode(path) if isinstance(path, (bytes, bytearray)) else archive_lib.read(path)
    if stored.metadata.get("format") != _FORMAT_NAME:
        raise archive_lib.ArchiveCorruptError(
            f"The archive's metadata says format {stored.metadata.get('format')!r}, not {_FORMAT_NAME!r}: it was not "
            "written by keras_archs.compress.deep_compress."
        )
    try:
        model = keras.saving.deserialize_keras_object(stored.config)
    except Exception as error:  # noqa: BLE001 - any failure to rebuild means the stored config is unusable
        raise archive_lib.ArchiveCorruptError(f"The archive's model config cannot be rebuilt: {error}") from error
    keys = weight_keys(model)
    missing = [key for key, _ in keys if key not in stored.tensors]
    extra = sorted(set(stored.tensors) - {key for key, _ in keys})
    if missing or extra:
        raise archive_lib.ArchiveCorruptError(
            f"The archive's tensors do not match its model: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}."
        )
    for key, variable in keys:
        value = stored.tensors[key]
        if tuple(value.shape) != tuple(variable.shape):
            raise archive_lib.ArchiveCorruptError(
                f"Tensor {key!r} has shape {tuple(value.shape)} in the archive; "
                f"the model needs {tuple(variable.shape)}."
            )
        variable.assign(value.astype(variable.dtype))
    return model
