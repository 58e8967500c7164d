"""Recipes, schedules, weight decay and the training loop (on the real Fashion-MNIST files, small budgets)."""

from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_archs import applications
from keras_archs.train import loop, recipes

FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST.exists(), reason=f"{FASHION_MNIST} absent (Debian package dataset-fashion-mnist; `make data`)"
)


def _rates(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


# Each recipe's source, and numbers of the recipe that its citation must state. A new recipe must be added here.
CITATIONS = {
    "imagenet_resnet": ("He et al. 2016a", ["lr 0.1", "batch 256", "weight decay 1e-4", "momentum 0.9"]),
    "cifar_resnet": ("He et al. 2016a, Sec. 4.2", ["lr 0.1", "batch 128", "weight decay 1e-4", "32k and 48k"]),
    "wide_resnet": ("Zagoruyko & Komodakis 2016", ["lr 0.1", "batch 128", "weight decay 5e-4", "dropout 0.3"]),
    "inception_v3": ("Szegedy et al. 2016 (Rethinking the Inception Architecture)", ["lr 0.045", "epsilon 1.0"]),
    "squeezenet": ("forresti/SqueezeNet SqueezeNet_v1.0/solver.prototxt", ["base_lr 0.04", "batch 512", "2e-4"]),
    "mobilenet": ("Howard et al. 2017", ["lr 0.045", "no weight decay on the depthwise filters"]),
    "squeezenet_fashion_mnist": ("docs/benchmarks.md", ["Kingma & Ba 2015", "Loshchilov & Hutter 2017", "batch 128"]),
}


def test_every_recipe_is_valid_and_cites_its_paper():
    assert set(recipes.RECIPES) == set(CITATIONS)
    for name, recipe in recipes.RECIPES.items():
        source, stated = CITATIONS[name]
        assert recipe.citation.startswith(source) or source in recipe.citation, (name, recipe.citation)
        for text in stated:
            assert text in recipe.citation, (name, text)
        assert recipe.learning_rate > 0 and recipe.batch_size > 0 and recipe.epochs > 0
    # the numbers the citations state are the recipes' numbers
    assert recipes.get_recipe("cifar_resnet").milestones == (0.5, 0.75)  # 32k and 48k of 64k iterations
    assert recipes.get_recipe("squeezenet").learning_rate == 0.04 and recipes.get_recipe("squeezenet").batch_size == 512
    assert recipes.get_recipe("wide_resnet").model_kwargs == {"dropout_rate": 0.3}
    assert recipes.get_recipe("mobilenet").decay_depthwise is False
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
    with pytest.raises(ValueError, match="eval_limit must be a positive integer. Received: eval_limit=0"):
        loop.train("CifarResNet20", "fashion_mnist", out_dir=tmp_path, eval_limit=0)
    assert list(tmp_path.iterdir()) == []  # nothing written for a refused call


def _first_test_images(n: int):
    from keras_archs.data.fashion_mnist import load_arrays

    images, labels, _ = load_arrays("test")
    return images[:n].astype(np.float32), labels[:n]


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory):
    """CifarResNet20 on 8,192 Fashion-MNIST images for one epoch (256 steps of 32), evaluated on 500 validation and 500
    test images. (128 steps left BN's moving statistics, momentum 0.99, too far from the data: 0.24 on test.)"""
    if not FASHION_MNIST.exists():
        pytest.skip(f"{FASHION_MNIST} absent (Debian package dataset-fashion-mnist; `make data`)")
    out = tmp_path_factory.mktemp("learned") / "run"
    result = loop.train(
        "CifarResNet20",
        "fashion_mnist",
        out_dir=out,
        epochs=1,
        batch_size=32,
        train_limit=8192,
        eval_limit=500,
        verbose=0,
        command="keras-archs train CifarResNet20 --train-limit 8192 --eval-limit 500",
    )
    return result, out


def test_a_short_run_learns_and_records_what_it_measured(learned_run):
    result, out = learned_run
    # 10 classes: chance is 0.1; measured 0.73 test, 0.72 validation (the recipe's step schedule, seed 0)
    assert result.test_accuracy > 0.45 and result.history["accuracy"][-1] > 0.45
    assert result.validation_accuracy > 0.45
    saved = json.loads((out / "result.json").read_text())
    assert saved["eval_limit"] == 500 and saved["train_limit"] == 8192 and saved["recipe"] == "cifar_resnet"
    assert saved["test_accuracy"] == pytest.approx(result.test_accuracy)
    assert saved["splits"] == {"fit": "train_without_validation", "monitored_each_epoch": "validation", "final": "test"}
    assert saved["validation_accuracy"] == pytest.approx(result.history["val_accuracy"][-1])
    # the recorded accuracy is that of the saved model on exactly the first 500 test images
    model = keras.saving.load_model(out / "model.keras")
    images, labels = _first_test_images(500)
    predicted = np.argmax(np.asarray(model(images, training=False)), axis=-1)
    assert saved["test_accuracy"] == pytest.approx(float(np.mean(predicted == labels)), abs=1e-6)
    assert not [p for p in out.rglob("*") if ".partial" in p.name]


def test_export_trained_model_writes_an_inference_model_and_its_record(learned_run, tmp_path):
    result, out = learned_run
    destination = tmp_path / "saved" / "resnet20_fashion_mnist.keras"
    record = loop.export_trained_model(out, destination)
    data = destination.read_bytes()
    assert record["file"] == destination.name and record["bytes"] == len(data)
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["test_accuracy"] == pytest.approx(result.test_accuracy) and record["epochs"] == 1
    assert record["command"] == "keras-archs train CifarResNet20 --train-limit 8192 --eval-limit 500"
    assert record["input"] == {"shape": [28, 28, 1], "dtype": "float32", "range": "raw pixels 0..255"}
    assert record["curve"]["val_accuracy"] == result.history["val_accuracy"]
    exported = keras.saving.load_model(destination)
    assert not exported.compiled and keras.saving.load_model(out / "model.keras").compiled  # no optimizer state
    assert record["params"] == exported.count_params() == result.model.count_params()
    images, _ = _first_test_images(8)
    np.testing.assert_allclose(
        np.asarray(exported(images, training=False)), np.asarray(result.model(images, training=False)), atol=1e-5
    )
    assert len(data) < (out / "model.keras").stat().st_size  # the run's model.keras carries the optimizer
    with pytest.raises(FileNotFoundError):
        loop.export_trained_model(tmp_path / "no_run", tmp_path / "x.keras")


@needs_fashion_mnist
def test_train_checkpoints_logs_and_resume(tmp_path):
    out = tmp_path / "run"
    small = dict(batch_size=64, train_limit=256, eval_limit=64, verbose=0)
    result = loop.train("CifarResNet20", "fashion_mnist", out_dir=out, epochs=1, **small)
    assert result.model.input_shape == (None, 28, 28, 1) and result.model.output_shape == (None, 10)
    for name in ("model.keras", "log.csv", "result.json", "checkpoints/epoch_001.keras"):
        assert (out / name).exists(), name
    assert any((out / "tensorboard").rglob("*tfevents*"))
    saved = json.loads((out / "result.json").read_text())
    assert saved["recipe"] == "cifar_resnet" and saved["epochs"] == 1 and saved["eval_limit"] == 64
    checkpoint = keras.saving.load_model(out / "checkpoints" / "epoch_001.keras")
    np.testing.assert_array_equal(checkpoint.get_weights()[0], result.model.get_weights()[0])
    with pytest.raises(ValueError, match="already holds a training run"):
        loop.train("CifarResNet20", "fashion_mnist", out_dir=out, epochs=2, **small)
    resumed = loop.train("CifarResNet20", "fashion_mnist", out_dir=out, epochs=2, resume=True, **small)
    # Only epoch 2 ran (epoch 1 came from the backup), yet the history covers both: epoch 1 from log.csv.
    assert len(resumed.history["loss"]) == 2 and resumed.history["loss"][0] == pytest.approx(result.history["loss"][0])
    assert json.loads((out / "result.json").read_text())["history"]["accuracy"][0] == pytest.approx(
        result.history["accuracy"][0]
    )
    assert (out / "checkpoints" / "epoch_002.keras").exists()
    assert len((out / "log.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs


@pytest.mark.slow  # 17 s (default lane budget, issue #14); strategy argument checks stay in the default lane
@needs_fashion_mnist
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    script = textwrap.dedent(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from keras_archs.train import loop
        result = loop.train("CifarResNet20", "fashion_mnist", out_dir={str(tmp_path / "dist")!r}, epochs=1,
                            batch_size=64, train_limit=256, eval_limit=64, strategy="mirrored", verbose=0)
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
    assert applications.get_spec(args.model).family == "wide_resnet"


@pytest.mark.slow  # 8 s of training (default lane budget, issue #14); the whole path runs in the slow lane
@needs_fashion_mnist
def test_mixed_precision_run_restores_the_policy(tmp_path):
    result = loop.train(
        "CifarResNet20",
        "fashion_mnist",
        out_dir=tmp_path / "mp",
        epochs=1,
        batch_size=64,
        train_limit=128,
        eval_limit=64,
        mixed_precision=True,
        verbose=0,
    )
    assert result.model.layers[-1].dtype_policy.name == "mixed_float16" or any(
        layer.dtype_policy.name == "mixed_float16" for layer in result.model._flatten_layers()
    )
    assert keras.mixed_precision.global_policy().name == "float32"
    assert json.loads((tmp_path / "mp" / "result.json").read_text())["mixed_precision"] is True
