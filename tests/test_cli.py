"""`keras-archs` through keras_archs.cli.main: every command on real data with small budgets, the argument sources,
and a parser that answers --help / --version without TensorFlow and drops no command."""

from __future__ import annotations

import json
import pathlib
import shlex
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_archs import cli
from keras_archs.cli import _sources
from keras_archs.export import card_path_for

REPO = pathlib.Path(__file__).resolve().parents[1]
FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST.exists(), reason=f"{FASHION_MNIST} absent (`make data` installs it)"
)
COMMANDS = ["list", "info", "classify", "demo", "train", "compress", "decompress", "export", "profile", "degradation"]


def _bare_package_child(body: str) -> subprocess.CompletedProcess:
    """A Python child where keras_archs' own __init__ does not run (the model zoo is not under test) and importing
    tensorflow, keras or tf_keras raises: what the command line imports to parse is then exactly what is tested."""
    script = textwrap.dedent(
        f"""
        import importlib.abc, importlib.util, sys
        class NoTensorFlow(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                    raise ImportError(f"parsing the command line imported {{name}}")
        sys.meta_path.insert(0, NoTensorFlow())
        spec = importlib.util.spec_from_file_location(
            "keras_archs", {str(REPO / "keras_archs" / "__init__.py")!r},
            submodule_search_locations=[{str(REPO / "keras_archs")!r}],
        )
        sys.modules["keras_archs"] = importlib.util.module_from_spec(spec)
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script + textwrap.dedent(body)], capture_output=True, text=True, timeout=120
    )


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- the parser ----------------------------------------------------------------------------------------------------


def test_help_and_version_answer_without_tensorflow():
    done = _bare_package_child(
        """
        from keras_archs.cli import main
        for argv in (["--help"], ["--version"], ["export", "--help"], ["train", "--help"]):
            try:
                main(argv)
            except SystemExit as exit:
                assert exit.code == 0, (argv, exit.code)
            print("=====")
        print("loaded:", sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    top, version, export, train, tail = done.stdout.split("=====\n")
    for command in COMMANDS:
        assert command in top
    assert version.startswith("keras-archs 0.1.0")
    assert "--representative fashion_mnist|DIR" in export and "int8" in export
    assert "--eval-limit N" in train and "fashion_mnist" in train
    assert tail.strip() == "loaded: []"


def test_a_command_whose_module_fails_to_import_is_not_dropped():
    done = _bare_package_child(
        """
        class BrokenExport(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "keras_archs.cli.export":
                    raise ImportError("simulated: the export command cannot be imported")
        sys.meta_path.insert(0, BrokenExport())
        try:
            import keras_archs.cli
        except ImportError as error:
            print("failed loudly:", error)
        else:
            print("imported without export")
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "failed loudly: simulated: the export command cannot be imported" in done.stdout


def test_every_command_is_registered_and_the_literal_choices_agree():
    from keras_archs.cli import train as train_command
    from keras_archs.train import loop

    subparsers = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert list(subparsers.choices) == COMMANDS
    assert train_command.DATASETS == loop.DATASETS and train_command.STRATEGIES == loop.STRATEGIES
    args = cli.build_parser().parse_args(["train", "WideResNet16_8", "--out", "x", "--model-arg", "block=B(3,3)"])
    assert dict(args.model_arg) == {"block": "B(3,3)"}
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "CifarResNet20", "--out", "x", "--eval-limit", "0"])


def test_model_arguments_become_models(tmp_path):
    source = _sources.load_model("squeezenet1.1", weights="none", model_args=[("classes", 10)], input_size=64)
    assert source.spec.name == "SqueezeNet1_1" and source.weights is None
    assert source.model.input_shape == (None, 64, 64, 3) and source.model.output_shape == (None, 10)
    assert source.description == "SqueezeNet1_1 (registry), weights=None, classes=10"
    with pytest.raises(ValueError, match="Unknown model name 'NoSuchNet'"):
        _sources.load_model("NoSuchNet")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _sources.load_model(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="apply to registry names"):
        _sources.load_model(str(tmp_path / "m.keras"), weights="imagenet")
    (tmp_path / "weights.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="accepted files are .keras and .kadc"):
        _sources.load_model(str(tmp_path / "weights.h5"))


# --- list, info ----------------------------------------------------------------------------------------------------


def test_list_and_info(capsys):
    code, out, _ = _run(["list", "squeezenet*"], capsys)
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert code == 0 and set(rows) == {"SqueezeNet1_0", "SqueezeNet1_1"}
    assert rows["SqueezeNet1_0"][2] == "1,248,424" and rows["SqueezeNet1_1"][2] == "1,235,496"
    code, out, _ = _run(["list", "--pretrained", "fashion_mnist"], capsys)
    assert code == 0 and [line.split()[0] for line in out.splitlines()[2:]] == ["SqueezeNet1_1"]
    code, out, _ = _run(["info", "squeezenet1.1"], capsys)
    assert code == 0 and out.startswith("SqueezeNet1_1  (family: squeezenet)")
    assert "params:         1,235,496 (count_params() with top, 1000 classes)" in out
    assert "weights:        'fashion_mnist'" in out and "shipped with the package" in out
    code, out, err = _run(["info", "NoSuchNet"], capsys)
    assert code == 2 and out == "" and err.startswith("keras-archs info: error: Unknown model name 'NoSuchNet'")


# --- classify ------------------------------------------------------------------------------------------------------


def test_classify_real_photos_with_the_deep_compression_squeezenet(dc_net_path, tmp_path, capsys):
    pytest.importorskip("skimage", reason="scikit-image (the sample photos) is part of the test extra")
    import skimage.data

    photo = tmp_path / "cat.png"
    keras.utils.save_img(photo, skimage.data.chelsea())
    code, out, _ = _run(["classify", "--weights", str(dc_net_path), "--image", str(photo)], capsys)
    assert code == 0, out
    assert "SqueezeNet1_0 (registry)" in out and "1,248,424 params" in out
    row = next(line for line in out.splitlines() if line.startswith("cat.png"))
    assert row.split()[1] in ("Egyptian_cat", "tabby", "tiger_cat")  # measured: Egyptian_cat 0.52
    code, out, _ = _run(["classify", "--weights", str(dc_net_path)], capsys)  # scikit-image's three photos
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.split()[:1] in (["coffee"],)}
    assert code == 0 and rows == {"coffee": "espresso"}
    code, _, err = _run(["classify", "SqueezeNet1_1", "--weights", "fashion_mnist"], capsys)
    assert code == 2 and "classify needs an ImageNet classifier" in err


# --- train ---------------------------------------------------------------------------------------------------------


@needs_fashion_mnist
def test_train_records_its_own_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "CifarResNet20", "--epochs", "1", "--batch-size", "64", "--train-limit", "128"]
    argv += ["--eval-limit", "64", "--out", str(out)]
    code, printed, _ = _run(argv, capsys)
    assert code == 0 and "first 64 test examples) after 1 epochs" in printed
    saved = json.loads((out / "result.json").read_text())
    assert saved["command"] == "keras-archs " + shlex.join(argv)  # not pytest's sys.argv
    assert saved["eval_limit"] == 64 and saved["recipe"] == "cifar_resnet"
    code, _, err = _run(argv, capsys)  # the run exists: refused without --resume
    assert code == 2 and "already holds a training run" in err


# --- demo ----------------------------------------------------------------------------------------------------------


@needs_fashion_mnist
def test_demo_command_on_a_small_budget(tmp_path, capsys):
    argv = ["demo", "--out", str(tmp_path), "--no-imagenet", "--train-limit", "256", "--epochs", "1"]
    code, out, _ = _run(argv + ["--test-limit", "300"], capsys)
    assert code == 0
    saved = {row["format"]: row for row in json.loads((tmp_path / "results.json").read_text())}
    keras_row, archive_row = saved["Keras .keras (float32)"], saved["Deep Compression .kadc (demo run)"]
    tflite_row = saved["TFLite int8 (from the archive)"]
    assert keras_row["bytes"] == 3_269_221 and keras_row["accuracy"] > 0.9  # the shipped model, 300 test images
    assert archive_row["bytes"] == (tmp_path / "squeezenet_fashion_mnist_demo.kadc").stat().st_size
    assert archive_row["bytes"] < 0.15 * keras_row["bytes"] and archive_row["accuracy"] > 0.5
    assert tflite_row["bytes"] == (tmp_path / "squeezenet_fashion_mnist_int8.tflite").stat().st_size
    assert abs(tflite_row["accuracy"] - archive_row["accuracy"]) < 0.05
    assert "test accuracy" in out and "(300 test images)" in out and "[7/7" in out


# --- compress, decompress ------------------------------------------------------------------------------------------


def _small_cnn() -> keras.Model:
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="fc")(keras.layers.Dense(64, name="hidden")(x))
    return keras.Model(inputs, outputs, name="small_cnn")


def test_compress_then_decompress_a_keras_file(tmp_path, capsys):
    saved = tmp_path / "small.keras"
    _small_cnn().save(saved)
    archive, restored = tmp_path / "small.kadc", tmp_path / "restored.keras"
    code, out, _ = _run(["compress", str(saved), "--out", str(archive)], capsys)
    assert code == 0 and f"{archive}: {archive.stat().st_size:,} bytes" in out
    code, out, _ = _run(["decompress", str(archive), "--out", str(restored)], capsys)
    assert code == 0 and f"-> {restored}: small_cnn" in out
    from keras_archs import compress

    x = np.random.default_rng(0).uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)
    expected = np.asarray(compress.load(archive)(x, training=False))
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(restored)(x, training=False)), expected, atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]
    code, _, err = _run(["compress", str(saved), "--out", str(tmp_path / "x.zip")], capsys)
    assert code == 2 and "--out must end in .kadc" in err
    code, _, err = _run(["decompress", str(tmp_path / "missing.kadc"), "--out", str(restored)], capsys)
    assert code == 2 and "does not exist" in err


@needs_fashion_mnist
def test_compress_with_fashion_mnist_fine_tuning_fits_validates_and_tests_on_separate_splits(tmp_path, capsys):
    archive = tmp_path / "fm.kadc"
    argv = ["compress", "SqueezeNet1_1", "--weights", "fashion_mnist", "--data", "fashion_mnist", "--out", str(archive)]
    code, out, _ = _run(argv + ["--train-limit", "256", "--epochs", "1", "--eval-limit", "200"], capsys)
    assert code == 0, out
    assert "(200 validation images)" in out and "test accuracy (read once, after)" in out
    from keras_archs.compress import archive as archive_lib

    metadata = archive_lib.read(archive).metadata
    assert metadata["splits"] == {"fit": "train_without_validation", "validation": "validation", "final": "test"}
    assert metadata["test_accuracy_before"] > 0.85  # the shipped model on the first 200 test images
    assert 0.1 < metadata["test_accuracy_after"] <= 1.0 and metadata["val_accuracy_after"] > 0.1


# --- export --------------------------------------------------------------------------------------------------------


@needs_fashion_mnist
def test_export_the_fashion_mnist_model_as_uint8_and_verify(tmp_path, capsys):
    out = tmp_path / "fmnist.tflite"
    argv = ["export", "SqueezeNet1_1", "--weights", "fashion_mnist", "--out", str(out), "--mode", "int8"]
    argv += ["--representative", "fashion_mnist", "--io-dtype", "uint8", "--calibration-steps", "50", "--verify", "100"]
    code, printed, _ = _run(argv, capsys)
    assert code == 0 and out.is_file()
    assert "calibrated on Fashion-MNIST train, 50 random images" in printed
    assert "verified on Fashion-MNIST test, first 100 images (ai_edge_litert)" in printed
    agreement = float(printed.split("top-1 agreement ")[1].split(",")[0])
    tflite_accuracy = float(printed.split("accuracy tflite ")[1].split()[0])
    assert agreement >= 0.97 and tflite_accuracy > 0.9  # a trained model: chance is 0.1
    card = json.loads(card_path_for(out).read_text())
    assert card["io_dtype"] == "uint8" and card["labels"]["source"] == "fashion_mnist"
    assert card["source"]["from"] == "SqueezeNet1_1 (registry), weights=fashion_mnist"
    assert (tmp_path / "fmnist.labels.txt").read_text().splitlines()[0] == "T-shirt/top"


def test_export_a_keras_file_and_the_shipped_archive_and_reject_what_it_cannot_read(tmp_path, capsys):
    saved = tmp_path / "tiny.keras"
    _small_cnn().save(saved)
    argv = ["export", str(saved), "--out", str(tmp_path / "tiny.tflite"), "--verify", "4"]
    code, _, err = _run(argv, capsys)  # its normalisation is unknown: a file with metadata cannot take pixels
    assert code == 2 and "pass --preprocessing" in err and "--no-metadata" in err
    code, out, _ = _run(argv + ["--no-metadata"], capsys)
    assert code == 0 and "verified on 4 random images (no labels)" in out and "metadata:" not in out
    assert (tmp_path / "tiny.labels.txt").read_text().splitlines() == [str(i) for i in range(10)]
    # a .kadc archive goes through keras_archs.compress.load (the shipped Fashion-MNIST archive, 288,910 bytes)
    archive = REPO / "saved_models" / "squeezenet_fashion_mnist.kadc"
    out_path = tmp_path / "from_archive.tflite"
    code, out, _ = _run(["export", str(archive), "--out", str(out_path), "--labels", "fashion_mnist"], capsys)
    assert code == 0 and out_path.is_file()
    card = json.loads(card_path_for(out_path).read_text())
    # the archive's model normalises inside (Rescaling) and takes 1 channel: the file takes RGB, grey inside
    assert card["source"]["from"] == "archive squeezenet_fashion_mnist.kadc" and card["input"]["shape"] == [
        1,
        28,
        28,
        3,
    ]
    assert card["input"]["preprocessing"]["grey_conversion_inside"] and card["metadata"]["labels_file"] == "labels.txt"
    assert card["labels"]["source"] == "fashion_mnist" and "metadata: " in out
    corrupt = tmp_path / "corrupt.kadc"
    corrupt.write_bytes(b"KADC")
    code, _, err = _run(["export", str(corrupt), "--out", str(tmp_path / "a.tflite")], capsys)
    assert code == 2 and err.startswith("keras-archs export: error:") and not (tmp_path / "a.tflite").exists()
    code, _, err = _run(["export", "NoSuchNet", "--out", str(tmp_path / "b.tflite")], capsys)
    assert code == 2 and "Unknown model name 'NoSuchNet'" in err
    argv = ["export", str(saved), "--out", str(tmp_path / "c.tflite"), "--mode", "int8", "--representative", "mnist"]
    code, _, err = _run(argv + ["--no-metadata"], capsys)
    assert code == 2 and "--representative takes 'fashion_mnist' or a directory" in err


def test_export_calibrates_on_a_directory_of_images(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(6)
    for index in range(3):
        keras.utils.save_img(images / f"photo{index}.png", rng.integers(0, 255, (40, 50, 3)).astype(np.uint8))
    out = tmp_path / "squeezenet_int8.tflite"
    argv = ["export", "SqueezeNet1_1", "--weights", "none", "--input-size", "35", "--out", str(out)]
    argv += ["--mode", "int8", "--representative", str(images), "--verify", "3"]
    code, printed, _ = _run(argv, capsys)
    assert code == 0 and f"calibrated on 3 images of {images}" in printed
    assert f"verified on 3 images of {images}" in printed
    card = json.loads(card_path_for(out).read_text())
    # the file takes pixels; the registry's Caffe normalisation is inside it
    assert card["input"]["preprocessing"]["mode"] == "raw" and card["labels"]["source"] == "imagenet"
    assert card["input"]["preprocessing"]["inside"]["mode"] == "squeezenet_caffe" and card["io_dtype"] == "uint8"
    assert card["calibration_examples"] == 3 and card["input"]["quantization"]["scale"] == 1.0
    # --no-metadata: the model's own input, images normalised with the registry's mode
    code, printed, _ = _run(argv + ["--no-metadata"], capsys)
    assert code == 0 and f"calibrated on 3 images of {images}" in printed
    card = json.loads(card_path_for(out).read_text())
    assert card["input"]["preprocessing"]["mode"] == "squeezenet_caffe" and card["metadata"] is None
    assert card["io_dtype"] == "int8"
