"""The degradation experiment of He et al. 2016 ("Deep Residual Learning for Image Recognition", arXiv:1512.03385,
Sec. 4.1-4.2, Fig. 6): plain networks of 20 and 56 layers next to residual networks of the same depths.

The paper's finding, on CIFAR-10 with 164 epochs: the deeper *plain* network has the *higher training error*
(plain-56 above plain-20, Fig. 6 left) while the residual ones get better with depth (Fig. 6 middle). Here the four
networks are ``CifarResNet20`` / ``CifarResNet56`` and their ``plain=True`` twins (no shortcuts; option A shortcuts
have no parameters, so each residual net has exactly its twin's weights), each trained by
:func:`keras_archs.train.train` with the same recipe (``cifar_resnet``: He et al. Sec. 4.2, stretched to the budget),
the same seed, the same data and the same number of steps.

Curves, per epoch (and which data each one is):

* training error: 1 - Keras' running accuracy over the epoch's mini-batches, in training mode, on the augmented
  training images of the fitted split (as the paper's dashed curves, measured during training);
* held-out error: 1 - accuracy on the split :data:`keras_archs.train.loop.SPLITS` monitors each epoch: Fashion-MNIST's
  ``"validation"`` (6,000 images held out of the training set); CIFAR-10 has no held-out split here, so its per-epoch
  curve is the test split (the paper's bold curves are test error too);
* test error: once, after the last epoch, on the test split.

:func:`run_degradation` trains what is not trained yet (each network in its own folder, resumable), writes
``degradation.json`` (the curves, the budget, the command) and ``degradation.png`` (:func:`plots.degradation_figure`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import time
from typing import Any, Callable, Sequence

from keras_archs import _files

__all__ = ["DATASETS", "NetworkCurve", "DegradationResult", "run_degradation", "load_result", "choose_dataset"]

DATASETS = ("auto", "fashion_mnist", "cifar10")
# He et al. 2016a, Sec. 4.2: 6n+2 layers; Fig. 6 shows 20, 32, 44, 56 (and 110 for the residual nets).
DEPTHS = (20, 32, 44, 56, 110)
RECIPE = "cifar_resnet"  # He et al. 2016a, Sec. 4.2 (keras_archs.train.recipes)
FORMAT = "keras_archs.degradation/1"


@dataclasses.dataclass(frozen=True)
class NetworkCurve:
    """One network's run.

    Attributes:
        name: ``"plain-20"``, ``"resnet-56"``...
        model: Registry name (``"CifarResNet56"``).
        plain: Whether the shortcuts were removed.
        depth: Weighted layers (6n+2).
        params: Trainable parameters of the trained model (raw-pixel input layer included).
        train_error: Per epoch, 1 - running training accuracy (module docstring).
        heldout_error: Per epoch, 1 - accuracy on the monitored split.
        test_error: After the last epoch, 1 - accuracy on the test split.
        seconds: Wall time of training.
        run_dir: The :func:`keras_archs.train.train` folder of the run.
    """

    name: str
    model: str
    plain: bool
    depth: int
    params: int
    train_error: tuple[float, ...]
    heldout_error: tuple[float, ...]
    test_error: float
    seconds: float
    run_dir: str


@dataclasses.dataclass(frozen=True)
class DegradationResult:
    """The four (or more) curves and the budget that produced them.

    Attributes:
        data: "fashion_mnist" or "cifar10".
        splits: Which split each curve is: ``{"fit", "monitored_each_epoch", "final"}``.
        epochs, train_limit, eval_limit, batch_size, seed, recipe: The budget, the same for every network.
        networks: One :class:`NetworkCurve` per network.
        command: The command line that produced it (None from Python).
    """

    data: str
    splits: dict[str, str]
    epochs: int
    train_limit: int | None
    eval_limit: int | None
    batch_size: int
    seed: int
    recipe: str
    networks: tuple[NetworkCurve, ...]
    command: str | None = None

    def curve(self, name: str) -> NetworkCurve:
        for network in self.networks:
            if network.name == name:
                return network
        raise KeyError(f"No network {name!r} in this result; it has {[n.name for n in self.networks]}.")

    def summary(self) -> str:
        """A plain-text table: final training, held-out and test error of every network."""
        lines = [f"{'network':<10} {'params':>9} {'train err':>10} {'held-out':>9} {'test err':>9} {'minutes':>8}"]
        for n in self.networks:
            lines.append(
                f"{n.name:<10} {n.params:>9,} {100 * n.train_error[-1]:>9.2f}% {100 * n.heldout_error[-1]:>8.2f}% "
                f"{100 * n.test_error:>8.2f}% {n.seconds / 60:>8.1f}"
            )
        held = self.splits["monitored_each_epoch"]
        lines.append(
            f"(training error: running, augmented '{self.splits['fit']}' batches; held-out: '{held}'; test: "
            f"'{self.splits['final']}', read once at the end)"
        )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"


def load_result(path: str | os.PathLike) -> DegradationResult:
    """Reads a ``degradation.json`` written by :func:`run_degradation`.

    Raises:
        ValueError: The file is not a degradation result of this format.
    """
    data = json.loads(pathlib.Path(path).read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file (format={data.get('format')!r}).")
    networks = tuple(
        NetworkCurve(**{**n, "train_error": tuple(n["train_error"]), "heldout_error": tuple(n["heldout_error"])})
        for n in data.pop("networks")
    )
    data.pop("format")
    return DegradationResult(**data, networks=networks)


def choose_dataset(data: str, data_dir: str | os.PathLike | None = None) -> str:
    """``data``, or for ``"auto"``: "cifar10" when its files are present here, else "fashion_mnist".

    Raises:
        ValueError: ``data`` is not one of :data:`DATASETS`.
    """
    if data not in DATASETS:
        raise ValueError(f"Expected `data` to be one of {DATASETS}. Received: data={data!r}")
    if data != "auto":
        return data
    from keras_archs.data import DatasetNotFoundError
    from keras_archs.data.cifar import load_arrays

    try:
        load_arrays("cifar10", "test", data_dir=data_dir, download=False)
    except DatasetNotFoundError:
        return "fashion_mnist"
    return "cifar10"


def _check_depths(depths: Sequence[int]) -> tuple[int, ...]:
    depths = tuple(depths)
    if not depths or any(isinstance(d, bool) or d not in DEPTHS for d in depths):
        raise ValueError(f"Expected `depths` to be a non-empty sequence of {DEPTHS}. Received: depths={depths!r}")
    return tuple(sorted(set(depths)))


def _settings(data: str, epochs: int, train_limit, eval_limit, batch_size: int, seed: int) -> dict[str, Any]:
    return {
        "data": data,
        "epochs": epochs,
        "train_limit": train_limit,
        "eval_limit": eval_limit,
        "batch_size": batch_size,
        "seed": seed,
        "recipe": RECIPE,
    }


def _finished(run_dir: pathlib.Path, settings: dict[str, Any]) -> dict | None:
    """The run's result.json when it finished with the same budget, else None."""
    path = run_dir / "result.json"
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    same = (result.get(key) == settings[key] for key in ("data", "epochs", "train_limit", "eval_limit", "batch_size"))
    if not all(same) or result.get("seed") != settings["seed"] or result.get("recipe") != settings["recipe"]:
        raise ValueError(
            f"{run_dir} holds a finished run with another budget ({path}); choose another out_dir or remove it."
        )
    return result


def _trainable(model: Any) -> int:
    return sum(int(v.numpy().size) for v in model.trainable_weights)


def _load_model(path: pathlib.Path) -> Any:
    import keras

    from keras_archs import applications  # noqa: F401  (registers ZeroPaddedIdentity for loading)

    return keras.saving.load_model(path, compile=False)


def _curve(
    name: str, model: str, plain: bool, depth: int, params: int, result: dict, run_dir: pathlib.Path
) -> NetworkCurve:
    history = result["history"]
    return NetworkCurve(
        name=name,
        model=model,
        plain=plain,
        depth=depth,
        params=params,
        train_error=tuple(1.0 - a for a in history["accuracy"]),
        heldout_error=tuple(1.0 - a for a in history["val_accuracy"]),
        test_error=1.0 - float(result["test_accuracy"]),
        seconds=float(result["train_seconds"]),
        run_dir=str(run_dir),
    )


def run_degradation(
    out_dir: str | os.PathLike,
    *,
    data: str = "auto",
    depths: Sequence[int] = (20, 56),
    epochs: int = 10,
    train_limit: int | None = None,
    eval_limit: int | None = None,
    batch_size: int = 128,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = print,
    verbose: Any = 0,
    command: str | None = None,
) -> DegradationResult:
    """Trains plain and residual CIFAR networks of ``depths`` with one budget; writes the curves and their plot.

    Each network trains in ``out_dir/<name>/`` (``plain-20``, ``plain-56``, ``resnet-20``, ``resnet-56``) with
    :func:`keras_archs.train.train`. A network whose folder holds a finished run with this budget is read, not
    trained again; an interrupted one is resumed from its last epoch. So the same call continues an interrupted
    experiment.

    Args:
        out_dir: Folder of the runs, ``degradation.json`` and ``degradation.png``.
        data: "fashion_mnist", "cifar10", or "auto" (CIFAR-10 when its files are present, else Fashion-MNIST).
        depths: Depths (6n+2) of :data:`DEPTHS`; each gets a plain and a residual network.
        epochs: Epochs of every network (the recipe's schedule is stretched to them).
        train_limit: Training images per epoch (None: the whole fitted split).
        eval_limit: Evaluate on the first this many images of the held-out and test splits (None: all).
        batch_size: Mini-batch size (the recipe's learning rate scales with it).
        seed: The seed of every network (initialisation, data order, augmentation).
        data_dir: Where the dataset is (None: the default places).
        progress: Called with one line per stage (None: silent).
        verbose: ``model.fit`` verbosity.
        command: The command line, recorded in the JSON.

    Returns:
        A :class:`DegradationResult`.

    Raises:
        ValueError: Bad ``data``/``depths``/budget, or a folder that holds a finished run with another budget.
        DatasetNotFoundError: The dataset is not here.
    """
    from keras_archs.analysis import plots
    from keras_archs.train import loop

    depths = _check_depths(depths)
    for label, value, optional in (
        ("epochs", epochs, False),
        ("train_limit", train_limit, True),
        ("eval_limit", eval_limit, True),
        ("batch_size", batch_size, False),
    ):
        if value is None and optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Expected `{label}` to be a positive int. Received: {label}={value!r}")
    data = choose_dataset(data, data_dir)
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = _settings(data, epochs, train_limit, eval_limit, batch_size, seed)
    say = progress or (lambda message: None)
    started = time.perf_counter()
    networks = []
    plan = [(plain, depth) for plain in (True, False) for depth in depths]
    for step, (plain, depth) in enumerate(plan, 1):
        name = f"{'plain' if plain else 'resnet'}-{depth}"
        model = f"CifarResNet{depth}"
        run_dir = out / name
        result = _finished(run_dir, settings)
        elapsed = time.perf_counter() - started
        if result is None:
            say(f"[{step}/{len(plan)} {elapsed / 60:.1f} min] training {name} ({epochs} epochs, {data})")
            resume = (run_dir / "backup").is_dir() and any((run_dir / "backup").iterdir())
            trained = loop.train(
                model,
                data,
                out_dir=run_dir,
                epochs=epochs,
                recipe=RECIPE,
                batch_size=batch_size,
                resume=resume,
                model_kwargs={"plain": plain},
                data_dir=data_dir,
                seed=seed,
                train_limit=train_limit,
                eval_limit=eval_limit,
                verbose=verbose,
                command=command,
            )
            result = json.loads((run_dir / "result.json").read_text())
            params = _trainable(trained.model)
        else:
            say(f"[{step}/{len(plan)} {elapsed / 60:.1f} min] {name}: finished run found in {run_dir}")
            params = _trainable(_load_model(run_dir / "model.keras"))
        curve = _curve(name, model, plain, depth, params, result, run_dir)
        say(
            f"    {name}: training error {100 * curve.train_error[-1]:.2f} %, held-out "
            f"{100 * curve.heldout_error[-1]:.2f} %, test {100 * curve.test_error:.2f} % ({curve.seconds / 60:.1f} min)"
        )
        networks.append(curve)
    splits = dict(zip(("fit", "monitored_each_epoch", "final"), loop.SPLITS[data]))
    outcome = DegradationResult(
        data=data,
        splits=splits,
        epochs=epochs,
        train_limit=train_limit,
        eval_limit=eval_limit,
        batch_size=batch_size,
        seed=seed,
        recipe=RECIPE,
        networks=tuple(networks),
        command=command,
    )
    _files.write_text(out / "degradation.json", outcome.to_json())
    plots.save_figure(plots.degradation_figure(outcome), out / "degradation.png")
    say(outcome.summary())
    return outcome
