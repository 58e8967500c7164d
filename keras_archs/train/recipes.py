"""Training recipes as data, each number cited, and the learning-rate schedule that stretches them to any budget.

A recipe's schedule is expressed in fractions of the whole run (milestones, warm-up) or in epochs where the paper says
"every N epochs", so ``epochs=`` can shrink a 200-epoch paper schedule to a 10-epoch run of the same shape.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import keras

__all__ = ["Recipe", "RECIPES", "get_recipe", "recipe_for", "RecipeSchedule", "schedule_for", "make_optimizer"]

OPTIMIZERS = ("sgd", "rmsprop", "adam")
SCHEDULES = ("constant", "step", "poly", "cosine", "exponential", "plateau")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A training recipe.

    Attributes:
        name: Registry key.
        citation: Where the numbers come from.
        optimizer: "sgd", "rmsprop" or "adam".
        learning_rate: Base (peak) learning rate for ``batch_size``.
        batch_size: The paper's batch size.
        epochs: The paper's length of training (in epochs of its dataset).
        momentum: SGD momentum, or RMSProp momentum.
        nesterov: Nesterov momentum (SGD).
        rho: RMSProp decay of the squared-gradient average.
        epsilon: Optimizer epsilon (RMSProp's 1.0 in the Inception recipe).
        weight_decay: L2 weight decay in the papers' (Caffe/Torch) convention: the gradient of every conv/dense
            kernel gets ``weight_decay * w`` added; BN parameters and biases are not decayed.
        decay_depthwise: Whether depthwise kernels are decayed (MobileNet: "very little or no weight decay").
        schedule: "constant", "step" (multiply by ``decay_factor`` at each milestone), "poly" (``(1 - t)^power``),
            "cosine", "exponential" (times ``decay_factor`` every ``decay_every_epochs``), or "plateau" (divide by
            ``1 / decay_factor`` when the training loss stops improving).
        milestones: Step milestones as fractions of the run.
        decay_factor: Multiplier at each step / exponential decay / plateau.
        power: Polynomial decay power.
        decay_every_epochs: Exponential decay interval.
        warmup_fraction: Linear warm-up from 0, as a fraction of the run.
        label_smoothing: Label smoothing of the cross-entropy.
        aux_loss_weight: Weight of auxiliary classifier losses (GoogLeNet/Inception), None for single-output models.
        model_kwargs: Constructor arguments the recipe needs (e.g. WRN's dropout).
        augment: Whether the data pipeline applies the paper's training augmentation.
    """

    name: str
    citation: str
    optimizer: str
    learning_rate: float
    batch_size: int
    epochs: int
    momentum: float = 0.0
    nesterov: bool = False
    rho: float = 0.9
    epsilon: float = 1e-7
    weight_decay: float = 0.0
    decay_depthwise: bool = True
    schedule: str = "constant"
    milestones: tuple[float, ...] = ()
    decay_factor: float = 0.1
    power: float = 1.0
    decay_every_epochs: float | None = None
    warmup_fraction: float = 0.0
    label_smoothing: float = 0.0
    aux_loss_weight: float | None = None
    model_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    augment: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"Recipe {self.name!r}: optimizer must be one of {OPTIMIZERS}. Received: {self.optimizer!r}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Recipe {self.name!r}: schedule must be one of {SCHEDULES}. Received: {self.schedule!r}")
        if any(not 0 < m < 1 for m in self.milestones):
            raise ValueError(f"Recipe {self.name!r}: milestones are fractions in (0, 1). Received: {self.milestones}")


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            name="imagenet_resnet",
            citation="He et al. 2016a, Sec. 3.4: SGD, batch 256, lr 0.1 divided by 10 when the error plateaus, "
            "weight decay 1e-4, momentum 0.9, up to 60e4 iterations (~120 epochs)",
            optimizer="sgd",
            learning_rate=0.1,
            batch_size=256,
            epochs=120,
            momentum=0.9,
            weight_decay=1e-4,
            schedule="plateau",
            decay_factor=0.1,
        ),
        Recipe(
            name="cifar_resnet",
            citation="He et al. 2016a, Sec. 4.2: SGD, batch 128, lr 0.1 divided by 10 at 32k and 48k iterations, stop "
            "at 64k (~182 epochs of 45k images), weight decay 1e-4, momentum 0.9, no dropout",
            optimizer="sgd",
            learning_rate=0.1,
            batch_size=128,
            epochs=182,
            momentum=0.9,
            weight_decay=1e-4,
            schedule="step",
            milestones=(32 / 64, 48 / 64),
            decay_factor=0.1,
        ),
        Recipe(
            name="wide_resnet",
            citation="Zagoruyko & Komodakis 2016, Sec. 3: SGD with Nesterov momentum 0.9, batch 128, lr 0.1 times 0.2 "
            "at epochs 60, 120, 160 of 200, weight decay 5e-4, dropout 0.3 between the convs",
            optimizer="sgd",
            learning_rate=0.1,
            batch_size=128,
            epochs=200,
            momentum=0.9,
            nesterov=True,
            weight_decay=5e-4,
            schedule="step",
            milestones=(60 / 200, 120 / 200, 160 / 200),
            decay_factor=0.2,
            model_kwargs={"dropout_rate": 0.3},
        ),
        Recipe(
            name="inception_v3",
            citation="Szegedy et al. 2016 (Rethinking the Inception Architecture), Sec. 8: RMSProp decay 0.9, epsilon "
            "1.0, lr 0.045 decayed by 0.94 every 2 epochs, label smoothing 0.1 (Sec. 7); auxiliary loss weight 0.4 "
            "(TF-slim train_image_classifier); batch 32 per replica x 50 replicas; ~100 epochs",
            optimizer="rmsprop",
            learning_rate=0.045,
            batch_size=32 * 50,
            epochs=100,
            rho=0.9,
            epsilon=1.0,
            weight_decay=4e-5,
            schedule="exponential",
            decay_factor=0.94,
            decay_every_epochs=2.0,
            label_smoothing=0.1,
            aux_loss_weight=0.4,
        ),
        Recipe(
            name="squeezenet",
            citation="forresti/SqueezeNet SqueezeNet_v1.0/solver.prototxt: SGD momentum 0.9, base_lr 0.04, "
            "lr_policy poly with power 1.0 over 170k iterations of batch 512 (~68 epochs), weight_decay 2e-4",
            optimizer="sgd",
            learning_rate=0.04,
            batch_size=512,
            epochs=68,
            momentum=0.9,
            weight_decay=2e-4,
            schedule="poly",
            power=1.0,
        ),
        Recipe(
            name="mobilenet",
            citation="Howard et al. 2017, Sec. 4: RMSProp as for Inception V3 (decay 0.9, epsilon 1.0, lr 0.045 x 0.94 "
            "every 2 epochs), little regularisation and no weight decay on the depthwise filters; 4e-5 on the others "
            "(TF-slim mobilenet_v1 arg scope)",
            optimizer="rmsprop",
            learning_rate=0.045,
            batch_size=32 * 50,
            epochs=100,
            rho=0.9,
            epsilon=1.0,
            weight_decay=4e-5,
            decay_depthwise=False,
            schedule="exponential",
            decay_factor=0.94,
            decay_every_epochs=2.0,
        ),
        Recipe(
            name="squeezenet_fashion_mnist",
            citation="This package (measured, docs/benchmarks.md): plain SqueezeNet without BN collapsed to chance on "
            "Fashion-MNIST with Adam, so this recipe trains the batch_norm=True, small_input=True variant of "
            "SqueezeNet 1.1 with Adam (Kingma & Ba 2015 defaults), 1 epoch of linear warm-up then cosine decay "
            "(Loshchilov & Hutter 2017), batch 128, label smoothing 0.1 (Szegedy et al. 2016 Sec. 7), "
            "weight decay 5e-5, flip + 10% translation augmentation",
            optimizer="adam",
            learning_rate=2e-3,
            batch_size=128,
            epochs=30,
            weight_decay=5e-5,
            schedule="cosine",
            warmup_fraction=1 / 30,
            label_smoothing=0.1,
            model_kwargs={"version": "1.1", "batch_norm": True, "small_input": True},
        ),
    )
}

# Which recipe a (registry family, dataset) pair trains with by default; the dataset-specific row wins.
_DEFAULTS = {
    ("squeezenet", "fashion_mnist"): "squeezenet_fashion_mnist",
    ("squeezenet", None): "squeezenet",
    ("resnet", None): "imagenet_resnet",
    ("cifar_resnet", None): "cifar_resnet",
    ("wide_resnet", None): "wide_resnet",
    ("inception_v3", None): "inception_v3",
    ("mobilenet", None): "mobilenet",
}
# Models trained at small resolution (Fashion-MNIST, CIFAR) default to the CIFAR ResNet schedule.
_SMALL_DATA = ("fashion_mnist", "cifar10", "cifar100")


def get_recipe(name: str) -> Recipe:
    """The recipe registered as ``name``.

    Raises:
        ValueError: Unknown name; the message lists the recipes.
    """
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}. Available: {', '.join(sorted(RECIPES))}.")
    return RECIPES[name]


def recipe_for(family: str, data: str) -> Recipe:
    """The default recipe for a model family trained on ``data``."""
    for key in ((family, data), (family, None)):
        if key in _DEFAULTS:
            return RECIPES[_DEFAULTS[key]]
    return RECIPES["cifar_resnet" if data in _SMALL_DATA else "imagenet_resnet"]


@keras.saving.register_keras_serializable(package="keras_archs")
class RecipeSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A recipe's learning rate as a function of the step, stretched to ``total_steps``.

    Args:
        base_rate: Peak learning rate.
        total_steps: Steps of the whole run.
        steps_per_epoch: Steps of one epoch (for "every N epochs" decays).
        schedule, milestones, decay_factor, power, decay_every_epochs, warmup_fraction: As in :class:`Recipe`.
    """

    def __init__(
        self,
        base_rate: float,
        total_steps: int,
        steps_per_epoch: int,
        schedule: str = "constant",
        milestones: tuple[float, ...] = (),
        decay_factor: float = 0.1,
        power: float = 1.0,
        decay_every_epochs: float | None = None,
        warmup_fraction: float = 0.0,
    ) -> None:
        if schedule == "plateau":
            schedule = "constant"  # the plateau decay is a callback acting on the optimizer
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}. Received: schedule={schedule!r}")
        if total_steps < 1 or steps_per_epoch < 1:
            raise ValueError(
                f"total_steps and steps_per_epoch must be >= 1. Received: {total_steps}, {steps_per_epoch}"
            )
        self.base_rate = float(base_rate)
        self.total_steps = int(total_steps)
        self.steps_per_epoch = int(steps_per_epoch)
        self.schedule = schedule
        self.milestones = tuple(float(m) for m in milestones)
        self.decay_factor = float(decay_factor)
        self.power = float(power)
        self.decay_every_epochs = decay_every_epochs
        self.warmup_fraction = float(warmup_fraction)

    def __call__(self, step: Any) -> Any:
        ops = keras.ops
        step = ops.cast(step, "float32")
        total = float(self.total_steps)
        warmup = self.warmup_fraction * total
        t = ops.clip(step / total, 0.0, 1.0)
        if self.schedule == "step":
            factor = 1.0
            for milestone in self.milestones:
                factor = factor * ops.where(t >= milestone, self.decay_factor, 1.0)
            rate = self.base_rate * factor
        elif self.schedule == "poly":
            rate = self.base_rate * ops.power(1.0 - t, self.power)
        elif self.schedule == "cosine":
            progress = ops.clip((step - warmup) / max(total - warmup, 1.0), 0.0, 1.0)
            rate = self.base_rate * 0.5 * (1.0 + ops.cos(math.pi * progress))
        elif self.schedule == "exponential":
            interval = float(self.decay_every_epochs or 1.0) * self.steps_per_epoch
            rate = self.base_rate * ops.power(self.decay_factor, ops.floor(step / interval))
        else:
            rate = self.base_rate * ops.ones_like(step)
        if warmup > 0:
            rate = rate * ops.minimum(1.0, (step + 1.0) / warmup)
        return rate

    def get_config(self) -> dict:
        return {
            "base_rate": self.base_rate,
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "schedule": self.schedule,
            "milestones": list(self.milestones),
            "decay_factor": self.decay_factor,
            "power": self.power,
            "decay_every_epochs": self.decay_every_epochs,
            "warmup_fraction": self.warmup_fraction,
        }


def schedule_for(recipe: Recipe, *, epochs: int, steps_per_epoch: int, batch_size: int) -> RecipeSchedule:
    """The recipe's learning-rate schedule stretched to ``epochs`` x ``steps_per_epoch`` steps.

    The learning rate scales linearly with the batch size relative to the recipe's (Goyal et al. 2017), so a
    paper recipe for batch 256 stays sensible at batch 64.
    """
    rate = recipe.learning_rate * batch_size / recipe.batch_size
    return RecipeSchedule(
        rate,
        total_steps=epochs * steps_per_epoch,
        steps_per_epoch=steps_per_epoch,
        schedule=recipe.schedule,
        milestones=recipe.milestones,
        decay_factor=recipe.decay_factor,
        power=recipe.power,
        # "Every N epochs" decays stretch with the run like everything else.
        decay_every_epochs=None
        if recipe.decay_every_epochs is None
        else recipe.decay_every_epochs * epochs / recipe.epochs,
        warmup_fraction=recipe.warmup_fraction,
    )


def make_optimizer(recipe: Recipe, *, epochs: int, steps_per_epoch: int, batch_size: int) -> keras.optimizers.Optimizer:
    """The recipe's optimizer, with :func:`schedule_for`'s learning rate."""
    schedule = schedule_for(recipe, epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size)
    # A plateau schedule needs a plain variable the ReduceLROnPlateau callback can lower.
    learning_rate = schedule.base_rate if recipe.schedule == "plateau" else schedule
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=recipe.momentum, nesterov=recipe.nesterov)
    if recipe.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, rho=recipe.rho, momentum=recipe.momentum, epsilon=recipe.epsilon)
    return keras.optimizers.Adam(learning_rate)
