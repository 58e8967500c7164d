"""Recipes, schedules, weight decay and the training loop (on the real Fashion-MNIST files)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_archs import registry
from keras_archs.train import loop, recipes

FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST.exists(), reason=f"{FASHION_MNIST} absent (Debian package dataset-fashion-mnist; `make data`)"
)


def _rates(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_every_recipe_is_valid_and_cited():
    for recipe in recipes.RECIPES.values():
        assert recipe.citation and recipe.learning_rate > 0 and recipe.batch_size > 0 and recipe.epochs > 0
    with pytest.raises(ValueError, match="Unknown recipe 'nope'. Available: .*cifar_resnet"):
        recipes.get_recipe("nope")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        recipes.Recipe(name="x", citation="-", optimizer="lbfgs", learning_rate=1, batch_size=1, epochs=1)


def test_default_recipes_follow_family_and_data():
    assert recipes.recipe_for("squeezenet", "fashion_mnist").name == "squeezenet_fashion_mnist"
    assert recipes.recipe_for("squeezenet", "imagenet").name == "squeezenet"
    assert recipes.recipe_for("cifar_resnet", "cifar10").name == "cifar_resnet"
    assert recipes.recipe_for("vgg", "cifar10").name == "cifar_resnet"
    assert recipes.recipe_for("vgg", "imagenet").name == "imagenet_resnet"


def test_cifar_step_schedule_stretches_to_any_length():
    # He et al.: /10 at 32k and 48k of 64k iterations -> at 50 % and 75 % of any run.
    recipe = recipes.get_recipe("cifar_resnet")
    schedule = recipes.schedule_for(recipe, epochs=10, steps_per_epoch=100, batch_size=128)
    rates = _rates(schedule, [0, 499, 500, 749, 750, 999])
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)


def test_wrn_nesterov_and_batch_scaling():
    recipe = recipes.get_recipe("wide_resnet")
    optimizer = recipes.make_optimizer(recipe, epochs=20, steps_per_epoch=10, batch_size=64)
    assert optimizer.nesterov and optimizer.momentum == 0.9
    schedule = recipes.schedule_for(recipe, epochs=20, steps_per_epoch=10, batch_size=64)
    rates = _rates(schedule, [0, 59, 60, 119, 120, 160, 199])
    np.testing.assert_allclose(rates, [0.05, 0.05, 0.01, 0.01, 0.002, 0.0004, 0.0004], rtol=1e-5)


def test_poly_cosine_exponential_and_warmup():
    poly = recipes.RecipeSchedule(0.04, total_steps=100, steps_per_epoch=10, schedule="poly", power=1.0)
    np.testing.assert_allclose(_rates(poly, [0, 50, 100]), [0.04, 0.02, 0.0], atol=1e-7)
    cosine = recipes.RecipeSchedule(
        1.0, total_steps=110, steps_per_epoch=10, schedule="cosine", warmup_fraction=10 / 110
    )
    np.testing.assert_allclose(_rates(cosine, [0, 4, 9, 10, 60, 110]), [0.1, 0.5, 1.0, 1.0, 0.5, 0.0], atol=1e-6)
    exponential = recipes.RecipeSchedule(
        1.0, total_steps=100, steps_per_epoch=10, schedule="exponential", decay_factor=0.5, decay_every_epochs=2
    )
    np.testing.assert_allclose(_rates(exponential, [0, 19, 20, 45]), [1.0, 1.0, 0.5, 0.25])
    restored = recipes.RecipeSchedule.from_config(cosine.get_config())
    np.testing.assert_allclose(_rates(restored, [5, 70]), _rates(cosine, [5, 70]))


def test_weight_decay_matches_the_papers_convention():
    # Caffe/Torch weight decay adds wd * w to each kernel's gradient; BN parameters and biases are not decayed.
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.DepthwiseConv2D(3, name="dw"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, name="fc"),
        ]
    )
    assert loop.apply_weight_decay(model, 1e-2, decay_depthwise=False) == 2
    with tf.GradientTape() as tape:
        penalty = tf.add_n(model.losses)
    gradients = tape.gradient(penalty, model.trainable_weights)
    for variable, gradient in zip(model.trainable_weights, gradients):
        layer_name, variable_name = variable.path.split("/")[-2:]
        decayed = variable_name == "kernel" and layer_name in ("conv", "fc")
        if decayed:
            np.testing.assert_allclose(gradient.numpy(), 1e-2 * variable.numpy(), rtol=1e-5, atol=1e-8)
        else:
            assert gradient is None, variable.path
    with pytest.raises(ValueError, match="weight_decay=-1"):
        loop.apply_weight_decay(model, -1)


def test_raw_pixel_model_normalises_inside():
    backbone = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    wrapped = loop.raw_pixel_model(backbone, mean=72.94, std=90.021, name="wrapped")
    pixels = np.full((1, 28, 28, 1), 255.0, np.float32)
    np.testing.assert_allclose(
        wrapped.predict(pixels, verbose=0), backbone.predict((pixels - 72.94) / 90.021, verbose=0), rtol=1e-5
    )


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="data must be one of .*Received: data='mnist'"):
        loop.train("CifarResNet20", "mnist", out_dir=tmp_path)
    with pytest.raises(ValueError, match="epochs must be a positive integer. Received: epochs=0"):
        loop.train("CifarResNet20", "fashion_mnist", out_dir=tmp_path, epochs=0)
    with pytest.raises(ValueError, match="strategy must be one of"):
        loop.train("CifarResNet20", "fashion_mnist", out_dir=tmp_path, strategy="horovod")


@needs_fashion_mnist
def test_train_checkpoints_logs_and_resume(tmp_path):
    out = tmp_path / "run"
    result = loop.train(
        "CifarResNet20",
        "fashion_mnist",
        out_dir=out,
        epochs=1,
        batch_size=64,
        train_limit=256,
        verbose=0,
        command="keras-archs train CifarResNet20 ...",
    )
    assert result.model.input_shape == (None, 28, 28, 1) and result.model.output_shape == (None, 10)
    for name in ("model.keras", "log.csv", "result.json", "checkpoints/epoch_001.keras"):
        assert (out / name).exists(), name
    assert any((out / "tensorboard").rglob("*tfevents*"))
    saved = json.loads((out / "result.json").read_text())
    assert saved["recipe"] == "cifar_resnet" and saved["epochs"] == 1 and 0 <= saved["test_accuracy"] <= 1
    with pytest.raises(ValueError, match="already holds a training run"):
        loop.train("CifarResNet20", "fashion_mnist", out_dir=out, epochs=2, batch_size=64, train_limit=256, verbose=0)
    resumed = loop.train(
        "CifarResNet20", "fashion_mnist", out_dir=out, epochs=2, batch_size=64, train_limit=256, verbose=0, resume=True
    )
    assert len(resumed.history["loss"]) == 1  # only epoch 2 ran: epoch 1 came from the backup
    assert (out / "checkpoints" / "epoch_002.keras").exists()
    assert len((out / "log.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs


@needs_fashion_mnist
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    script = textwrap.dedent(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from keras_archs.train import loop
        result = loop.train("CifarResNet20", "fashion_mnist", out_dir={str(tmp_path / "dist")!r}, epochs=1,
                            batch_size=64, train_limit=256, strategy="mirrored", verbose=0)
        print("accuracy", result.test_accuracy)
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    saved = json.loads((tmp_path / "dist" / "result.json").read_text())
    assert saved["strategy"] == "mirrored" and saved["replicas"] == 2
    assert (tmp_path / "dist" / "model.keras").exists()


def test_cli_model_args_parse():
    from keras_archs import cli

    args = cli.build_parser().parse_args(
        [
            "train",
            "WideResNet16_8",
            "--data",
            "cifar10",
            "--out",
            "x",
            "--model-arg",
            "dropout_rate=0.3",
            "--model-arg",
            "block=B(3,3)",
        ]
    )
    assert dict(args.model_arg) == {"dropout_rate": 0.3, "block": "B(3,3)"}
    assert registry.get_spec(args.model).family == "wide_resnet"


@needs_fashion_mnist
def test_mixed_precision_run_restores_the_policy(tmp_path):
    result = loop.train(
        "CifarResNet20",
        "fashion_mnist",
        out_dir=tmp_path / "mp",
        epochs=1,
        batch_size=64,
        train_limit=128,
        mixed_precision=True,
        verbose=0,
    )
    assert result.model.layers[-1].dtype_policy.name == "mixed_float16" or any(
        layer.dtype_policy.name == "mixed_float16" for layer in result.model._flatten_layers()
    )
    assert keras.mixed_precision.global_policy().name == "float32"
    assert json.loads((tmp_path / "mp" / "result.json").read_text())["mixed_precision"] is True
