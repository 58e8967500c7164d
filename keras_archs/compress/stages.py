"""Deep Compression as stages (Han et al. 2016, Fig. 1), and :func:`deep_compress`, which runs them in order.

Every stage has one contract: it takes a :class:`CompressionState` and returns it, having done its part to the
working copy of the model and recorded what the later stages need (masks, shared tensors, metadata):

1. :func:`prune_stage` -- magnitude pruning to the recipe's densities: one-shot without training data, else gradual
   while fine-tuning (the polynomial schedule reaches the final density after two thirds of the steps, and the last
   third fine-tunes at it: Zhu & Gupta 2017, §3). ``densities=None`` keeps the model's own zeros.
2. :func:`share_stage` -- per-layer k-means (or entropy-constrained) weight sharing, the codes optionally chosen to
   compensate each layer's output error on calibration images.
3. :func:`centroid_stage` -- with training data, fine-tunes the shared values (the centroid gradient is the sum over
   its cluster, Han et al. 2016, eq. 3).
4. :func:`pack_stage` -- what the archive stores: shared tensors, dense tensors, Keras config, metadata; the result is
   :attr:`CompressionState.result`.

The recipe (:mod:`.recipes`) is data; the stages read it from the state and never change it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import keras
import numpy as np

from keras_archs._backend import require_tensorflow
from keras_archs.compress import archive as archive_lib
from keras_archs.compress import calibrate, finetune, prune, share, training_data
from keras_archs.compress.compressed_model import FORMAT_NAME, CompressedModel, storage_axes, weight_keys
from keras_archs.compress.recipes import CompressionRecipe, get_recipe, recipe_for

__all__ = [
    "STAGES",
    "CompressionState",
    "FineTuning",
    "centroid_stage",
    "deep_compress",
    "pack_stage",
    "prune_stage",
    "share_stage",
    "start_state",
]


@dataclasses.dataclass(frozen=True)
class FineTuning:
    """How the stages may train: the data, the epochs each stage gets (0 = it does not train) and ``fit``'s options.

    Attributes:
        train_data: ``(x, y)`` arrays or a dataset of ``(x, y)`` batches; None = no fine-tuning at all.
        val_data: Like ``train_data``; accuracy before and after is recorded when given.
        calibration_data: Inputs for the compensated quantizer (default: ``train_data``, else synthetic images).
        prune_epochs: Epochs of gradual pruning (with fine-tuning at the final density).
        share_epochs: Epochs of centroid fine-tuning.
        batch_size: For array ``train_data``.
        steps_per_epoch: Limit of each epoch (needed for endless datasets).
        loss: The fine-tuning loss.
        callbacks: Extra Keras callbacks for every ``fit``.
        verbose: ``fit``'s verbosity.
    """

    train_data: Any = None
    val_data: Any = None
    calibration_data: Any = None
    prune_epochs: int = 0
    share_epochs: int = 0
    batch_size: int = 128
    steps_per_epoch: int | None = None
    loss: Any = None
    callbacks: tuple = ()
    verbose: int | str = "auto"


@dataclasses.dataclass
class CompressionState:
    """What passes from stage to stage.

    Attributes:
        model: The working copy of the model; every stage updates its weights in place.
        recipe: The compression recipe (read only).
        fine_tuning: Training data and per-stage epochs.
        kernels: ``(layer name, kernel variable)`` of every prunable kernel of ``model``, in model order.
        bits: Code width per layer name.
        masks: ``{layer name: bool mask}`` of the kept weights, set by :func:`prune_stage`.
        shared: ``{layer name: (codebook, codes)}``, set by :func:`share_stage` (updated by :func:`centroid_stage`).
        metadata: What the archive records besides the tensors (JSON); stages add keys in order.
        result: The :class:`CompressedModel`, set by :func:`pack_stage`.
    """

    model: keras.Model
    recipe: CompressionRecipe
    fine_tuning: FineTuning
    kernels: list[tuple[str, Any]]
    bits: dict[str, int]
    masks: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    shared: dict[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)
    metadata: dict = dataclasses.field(default_factory=dict)
    result: CompressedModel | None = None

    def current_masks(self) -> dict[str, np.ndarray]:
        """``{layer name: kernel != 0}`` of the working model now."""
        return {name: variable.numpy() != 0 for name, variable in self.kernels}

    def assign_shared_values(self) -> None:
        """Sets every shared kernel to ``codebook[codes]``."""
        for name, variable in self.kernels:
            codebook, codes = self.shared[name]
            variable.assign(codebook[codes].astype(variable.dtype))


def _copy_model(model: keras.Model) -> keras.Model:
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    clone.set_weights(model.get_weights())
    return clone


def _split_epochs(recipe: CompressionRecipe, train_data: Any, epochs: int | None) -> tuple[int, int]:
    """(prune, share) epochs: the recipe's, or ``epochs`` split in the recipe's proportion; none without data."""
    if train_data is None:
        return 0, 0
    if epochs is None:
        return recipe.prune_epochs, recipe.share_epochs
    planned = max(recipe.prune_epochs + recipe.share_epochs, 1)
    prune_epochs = round(epochs * recipe.prune_epochs / planned) if recipe.densities is not None else 0
    return prune_epochs, epochs - prune_epochs


def start_state(
    model: keras.Model, recipe: CompressionRecipe, fine_tuning: FineTuning, epochs: int | None = None
) -> CompressionState:
    """The state before the first stage: a copy of ``model``, its prunable kernels, each one's bits, the epochs.

    Raises:
        ValueError: Layer names that are not unique, or a kernel the recipe gives no bits.
    """
    work = _copy_model(model)
    kernels = prune.prunable_weights(work)
    names = [name for name, _ in kernels]
    if len(set(names)) != len(names):
        raise ValueError(f"Layer names of {model.name!r} are not unique; the recipe cannot address them.")
    bits = prune.resolve_per_layer(recipe.bits, names, f"recipe {recipe.name!r} bits", recipe.strict_patterns)
    missing = [name for name in names if bits[name] is None]
    if missing:
        raise ValueError(f"Recipe {recipe.name!r} gives no bits for {missing} (add a '*' entry).")
    prune_epochs, share_epochs = _split_epochs(recipe, fine_tuning.train_data, epochs)
    fine_tuning = dataclasses.replace(fine_tuning, prune_epochs=prune_epochs, share_epochs=share_epochs)
    metadata: dict[str, Any] = {
        "format": FORMAT_NAME,
        "source_model": model.name,
        "recipe": dataclasses.asdict(recipe),
        "fine_tune_epochs": {"prune": prune_epochs, "share": share_epochs},
    }
    if fine_tuning.val_data is not None:
        metadata["val_accuracy_before"] = training_data.evaluate_accuracy(model, fine_tuning.val_data)
    if fine_tuning.loss is None and fine_tuning.train_data is not None:
        fine_tuning = dataclasses.replace(fine_tuning, loss=training_data.default_loss(fine_tuning.train_data))
    return CompressionState(work, recipe, fine_tuning, kernels, bits, metadata=metadata)


def _fit(state: CompressionState, trainer: keras.Model, epochs: int, callbacks: Sequence) -> None:
    tuning = state.fine_tuning
    trainer.compile(optimizer=keras.optimizers.Adam(state.recipe.learning_rate), loss=tuning.loss, metrics=["accuracy"])
    training_data.fit(
        trainer,
        tuning.train_data,
        tuning.val_data,
        epochs,
        tuning.batch_size,
        [*callbacks, *tuning.callbacks],
        tuning.verbose,
        tuning.steps_per_epoch,
    )


def prune_stage(state: CompressionState) -> CompressionState:
    """Prunes the working model to the recipe's densities; sets :attr:`CompressionState.masks`."""
    recipe, tuning = state.recipe, state.fine_tuning
    if recipe.densities is not None:
        names = [name for name, _ in state.kernels]
        densities = prune.resolve_per_layer(
            recipe.densities, names, f"recipe {recipe.name!r} densities", recipe.strict_patterns
        )
        if tuning.prune_epochs:
            targets = {name: d for name, d in densities.items() if d is not None and d < 1}
            steps = (
                training_data.steps_per_epoch(tuning.train_data, tuning.batch_size, tuning.steps_per_epoch)
                * tuning.prune_epochs
            )
            # Prune over the first two thirds of the steps, then train at the final density (Zhu & Gupta 2017, §3).
            schedule = prune.PruningSchedule(
                begin_step=0, end_step=max(1, (2 * steps) // 3), frequency=max(1, steps // 50)
            )
            trainer = finetune.ConstrainedTrainer(state.model, target_densities=targets, schedule=schedule)
            _fit(state, trainer, tuning.prune_epochs, [finetune.PruningStep(trainer)])
        else:
            prune.prune_kernels(state.model, densities)
    state.masks = state.current_masks()
    return state


def _calibration_inputs(state: CompressionState) -> np.ndarray:
    """The compensated quantizer's inputs: the calibration or training data, else synthetic 1/f images normalised
    as the model's registry spec says (raw 0..255 pixels for a model the registry does not know)."""
    count, tuning = state.recipe.calibration_images, state.fine_tuning
    if tuning.calibration_data is not None:
        return training_data.first_inputs(tuning.calibration_data, count)
    if tuning.train_data is not None:
        return training_data.first_inputs(tuning.train_data, count)
    shape = state.model.inputs[0].shape
    height, width, channels = shape[1], shape[2], shape[3]
    if height is None or width is None:
        raise ValueError("The model's input size is not fixed: pass calibration_data to the compensated quantizer.")
    images = calibrate.synthetic_images(count, (height, width), channels, seed=0)
    from keras_archs import applications  # importing it fills the registry
    from keras_archs.data import preprocessing

    try:
        spec = applications.get_spec(state.model.name)
    except ValueError:
        return images  # raw 0..255 pixels, e.g. a model with its own normalisation layer
    return np.asarray(preprocessing.preprocess_input(images, spec.preprocessing))


def _float16_codebook(codebook: np.ndarray) -> np.ndarray:
    """Rounds shared values to float16 precision (kept as float32; 0 stays the pruned code, others stay non-zero)."""
    rounded = codebook.astype(np.float16).astype(np.float32)
    rounded[1:] = np.where(rounded[1:] == 0, np.sign(codebook[1:]) * np.float32(6e-8), rounded[1:])
    return rounded


def share_stage(state: CompressionState) -> CompressionState:
    """Shares each kernel's kept weights among ``2 ** bits - 1`` values; sets :attr:`CompressionState.shared` and
    gives every kernel its shared values."""
    recipe = state.recipe
    hessians = {}
    if recipe.compensate:
        inputs = _calibration_inputs(state)
        layers = [name for name, variable in state.kernels if variable.ndim in (2, 4)]
        hessians = calibrate.layer_input_hessians(state.model, inputs, layers)
    lam = recipe.lam if recipe.quantizer == "ecsq" else 0.0
    for name, variable in state.kernels:
        kernel = variable.numpy()
        mask = state.masks[name]
        sharing = share.share_weights(kernel, state.bits[name], mask=mask, lam=lam)
        codebook = sharing.codebook
        if recipe.codebook_dtype == "float16":
            codebook = _float16_codebook(codebook)
        codes = sharing.codes
        if name in hessians:
            codes = share.compensated_codes(np.where(mask, kernel, 0), codebook, hessians[name], recipe.damp)
        state.shared[name] = (codebook, codes)
    state.assign_shared_values()
    return state


def centroid_stage(state: CompressionState) -> CompressionState:
    """With training data, fine-tunes the shared values (codes fixed) and gives every kernel its new values."""
    if not state.fine_tuning.share_epochs:
        return state
    trainer = finetune.ConstrainedTrainer(state.model, shared=state.shared)
    _fit(state, trainer, state.fine_tuning.share_epochs, [])
    shared = trainer.codebooks()
    if state.recipe.codebook_dtype == "float16":
        shared = {name: (_float16_codebook(codebook), codes) for name, (codebook, codes) in shared.items()}
    state.shared = shared
    state.assign_shared_values()
    return state


def pack_stage(state: CompressionState) -> CompressionState:
    """Collects what the archive stores (shared + dense tensors, config, metadata); sets
    :attr:`CompressionState.result`."""
    layer_of = {id(variable): name for name, variable in state.kernels}
    shared_tensors, dense, bits_by_key = [], {}, {}
    for key, variable in weight_keys(state.model):
        name = layer_of.get(id(variable))
        if name is not None:
            codebook, codes = state.shared[name]
            shared_tensors.append(archive_lib.SharedTensor(key, codebook, codes, storage_axes(codes.ndim)))
            bits_by_key[key] = int(state.bits[name])
            continue
        value = np.asarray(variable.numpy())
        if state.recipe.bias_dtype == "float16" and value.dtype == np.float32:
            value = value.astype(np.float16)
            variable.assign(value.astype(np.float32))  # the model in memory = the model the archive decodes to
        dense[key] = value
    inputs = state.model.inputs[0]
    state.metadata["bits"] = bits_by_key
    state.metadata["input"] = {"shape": list(inputs.shape[1:]), "dtype": str(inputs.dtype)}
    if state.fine_tuning.val_data is not None:
        state.metadata["val_accuracy_after"] = training_data.evaluate_accuracy(state.model, state.fine_tuning.val_data)
    config = keras.saving.serialize_keras_object(state.model)
    state.result = CompressedModel(state.model, config, shared_tensors, dense, state.metadata)
    return state


# The stages deep_compress runs, in order.
STAGES: tuple[Callable[[CompressionState], CompressionState], ...] = (
    prune_stage,
    share_stage,
    centroid_stage,
    pack_stage,
)


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

    Runs :data:`STAGES` on one :class:`CompressionState` (module docstring).

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
        TypeError: ``model`` is not a ``keras.Model`` (e.g. a registry name: build it first).
        ValueError: Unknown recipe, a recipe pattern that matches no layer, bad epochs.

    Example:
        >>> import keras_archs
        >>> from keras_archs.compress import deep_compress
        >>> model = keras_archs.SqueezeNet(version="1.1", weights=None, input_shape=(64, 64, 3), classes=10)
        >>> compressed = deep_compress(model, recipe="deep_compression")
        >>> compressed.size_bytes < 0.4 * 4 * model.count_params()
        True
    """
    require_tensorflow("keras_archs.compress.deep_compress")
    if not isinstance(model, keras.Model):
        hint = f" (build it first: keras_archs.get_model({model!r}, ...))" if isinstance(model, str) else ""
        raise TypeError(
            f"deep_compress needs a keras.Model{hint}. Received: model={model!r} of type {type(model).__name__}"
        )
    recipe = recipe_for(model) if recipe is None else get_recipe(recipe)
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0):
        raise ValueError(f"epochs must be an int >= 0. Received: epochs={epochs!r}")
    fine_tuning = FineTuning(
        train_data=train_data,
        val_data=val_data,
        calibration_data=calibration_data,
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
        loss=loss or None,
        callbacks=tuple(callbacks),
        verbose=verbose,
    )
    state = start_state(model, recipe, fine_tuning, epochs)
    for stage in STAGES:
        state = stage(state)
    return state.result
