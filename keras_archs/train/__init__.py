"""Paper training recipes (data) and the training loop (``keras-archs train``)."""

from keras_archs.train.loop import TrainResult, apply_weight_decay, export_trained_model, raw_pixel_model, train
from keras_archs.train.recipes import RECIPES, Recipe, RecipeSchedule, get_recipe, recipe_for

__all__ = [
    "RECIPES",
    "Recipe",
    "RecipeSchedule",
    "TrainResult",
    "apply_weight_decay",
    "export_trained_model",
    "get_recipe",
    "raw_pixel_model",
    "recipe_for",
    "train",
]
