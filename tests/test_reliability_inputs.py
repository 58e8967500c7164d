"""Issue #13, crafted and bad input: a crafted archive, tags against paths, .net files, int8 calibration data, the
Python API's argument errors and one source for each fact (labels, the model table).

Each test names the item of issue #13 it closes; each failed on the code before its fix (checked by reverting it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_archs
from keras_archs import applications, class_names, registry
from keras_archs import weights as weights_lib
from keras_archs.compress import archive, compressed_model
from keras_archs.export import TFLiteConversionError, card_path_for, labels_path_for, to_tflite

REPO = pathlib.Path(__file__).resolve().parents[1]
DC_NET_BYTES = 675_763  # the published compressed_SqueezeNet.net (DESIGN.md §5)


def _tiny_config(units: int) -> dict:
    """The Keras config of Input(14) -> Dense(units), made from a 4-unit model (nothing of ``units`` is built)."""
    inputs = keras.Input((14,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(4, name="dense")(inputs), name="crafted")
    config = keras.saving.serialize_keras_object(model)
    config["config"]["layers"][1]["config"]["units"] = units
    return config


def _tiny_tensors() -> dict:
    return {"dense/kernel": np.zeros((14, 4), np.float32), "dense/bias": np.zeros(4, np.float32)}


# --- item 1: a crafted .kadc is bounded before anything is built; item 8: PEP 562 and python -OO --------------------

# A fresh `python -OO` interpreter: subpackages load on attribute access, and a ~550-byte archive whose config asks for
# a Dense layer of 2**30 units (14 * 2**30 float32 = 60 GB; issue #13 saw 7.6 GB allocated for 2**27) is refused with
# the process' data segment capped 2 GiB above what the imports took (so the unfixed code dies instead of swapping)
# and its peak RSS measured.
_FRESH_CHILD = """
import resource, sys
import keras_archs
print("subpackages", *(type(getattr(keras_archs, name)).__name__ for name in ("data", "compress", "export", "train")))
import numpy as np
from keras_archs.compress import archive, compressed_model
sys.path.insert(0, {tests!r})
from test_reliability_inputs import _tiny_config, _tiny_tensors

data = archive.encode(
    config=_tiny_config(2**30), shared=[], dense=_tiny_tensors(), metadata={{"format": compressed_model.FORMAT_NAME}}
)
print("bytes", len(data))
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
data_kib = int(status["VmData"].split()[0])
resource.setrlimit(resource.RLIMIT_DATA, ((data_kib + (2 << 20)) * 1024, resource.getrlimit(resource.RLIMIT_DATA)[1]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    compressed_model.load(data)
    print("outcome loaded")
except archive.ArchiveCorruptError as error:
    print("outcome refused", str(error).replace(chr(10), " "))
import keras
with keras.StatelessScope():  # the refused model's deferred variables are not left for Keras to initialise later
    pass
print("growth_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


@pytest.fixture(scope="module")
def fresh_child() -> dict[str, str]:
    code = _FRESH_CHILD.format(tests=str(REPO / "tests"))
    result = subprocess.run(
        [sys.executable, "-OO", "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines() if " " in line)
    assert "growth_kib" in lines, (result.returncode, result.stdout[-2000:], result.stderr[-3000:])
    return lines


def test_crafted_archive_is_refused_before_its_config_allocates_anything(fresh_child):
    assert int(fresh_child["bytes"]) < 1000
    assert fresh_child["outcome"].startswith("refused Tensor 'dense/kernel' has shape (14, 4) in the archive")
    assert "(14, 1073741824)" in fresh_child["outcome"]
    growth_mib = int(fresh_child["growth_kib"]) / 1024
    assert growth_mib < 64, f"loading the refused archive raised the peak RSS by {growth_mib:.0f} MiB"


def test_subpackages_load_on_attribute_access_under_python_OO(fresh_child):
    assert fresh_child["subpackages"] == "module module module module"


def test_load_caps_the_values_an_archive_may_store_and_names_bad_paths(tmp_path):
    data = archive.encode(
        config=_tiny_config(4), shared=[], dense=_tiny_tensors(), metadata={"format": compressed_model.FORMAT_NAME}
    )
    model = compressed_model.load(data)
    assert model.get_layer("dense").kernel.shape == (14, 4)
    with pytest.raises(archive.ArchiveCorruptError, match="max_elements|max_params"):
        compressed_model.load(data, max_params=59)  # 14 * 4 + 4 = 60 values stored
    assert compressed_model.load(data, max_params=60).count_params() == 60
    with pytest.raises(ValueError, match="max_params must be a positive integer"):
        compressed_model.load(data, max_params=0)
    with pytest.raises(TypeError, match=r"path must be the path of a \.kadc archive .* Received: path=None"):
        compressed_model.load(None)
    with pytest.raises(IsADirectoryError, match="not a folder. Received: path='.'"):
        compressed_model.load(".")
    missing = tmp_path / "missing.kadc"
    with pytest.raises(FileNotFoundError, match=re.escape(f"file not found: {missing}")):
        compressed_model.load(missing)


def test_a_compiled_models_archive_still_loads_compiled():
    config = _tiny_config(4)
    config["compile_config"] = {"optimizer": "adam", "loss": "mse", "metrics": None, "loss_weights": None}
    data = archive.encode(
        config=config, shared=[], dense=_tiny_tensors(), metadata={"format": compressed_model.FORMAT_NAME}
    )
    model = compressed_model.load(data)
    assert model.compiled and model.optimizer.__class__.__name__ == "Adam"


# --- item 4: tags win over paths, for every tag ----------------------------------------------------------------------


def test_folders_named_like_tags_do_not_hijack_them(tmp_path, monkeypatch, keras_home, dc_net_path, replace_spec):
    spec = registry.get_spec("SqueezeNet1_0")
    replace_spec(spec.name, weights=tuple(dataclasses.replace(e, url=dc_net_path.as_uri()) for e in spec.weights))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imagenet").mkdir()
    (tmp_path / "fashion_mnist").mkdir()
    model = keras_archs.SqueezeNet(weights="imagenet")  # fetched through the entry, not read from ./imagenet
    conv10 = model.get_layer("conv10")
    assert np.count_nonzero(conv10.kernel.numpy()) < conv10.kernel.numpy().size  # the pruned published weights
    assert keras_archs.SqueezeNet(weights="fashion_mnist").output_shape == (None, 10)  # the shipped model
    with pytest.raises(ValueError, match="No 'imagenet' weights are published for SqueezeNet1_1 with include_top=True"):
        keras_archs.SqueezeNet(version="1.1", weights="imagenet")
    with pytest.raises(ValueError, match="No ImageNet weights are published for SqueezeNet with bypass='simple'"):
        keras_archs.SqueezeNet(weights="imagenet", bypass="simple")


# --- item 5: .net files given as a path ------------------------------------------------------------------------------


def _synthetic_net(path: pathlib.Path, codebook_value: float = 0.5, bias_value: float = 0.0) -> list[tuple]:
    """A two-layer Deep Compression file (format in weights.py) for kernels (2, 1, 1, 1) and (2, 2, 1, 1)."""
    shapes = [(2, 1, 1, 1), (2, 2, 1, 1)]
    counts = [2, 4]
    parts = [np.array(counts, "<u4").tobytes()]
    for shape, n in zip(shapes, counts):
        codebook = np.zeros(256, "<f4")
        codebook[1] = codebook_value
        parts += [codebook.tobytes(), np.full(shape[0], bias_value, "<f4").tobytes(), bytes([1] * n)]
        parts.append(bytes([0] * ((n + 1) // 2)))  # every gap 0: positions 0, 1, ...
    path.write_bytes(b"".join(parts))
    return shapes


@pytest.mark.parametrize(
    "codebook_value, bias_value, part", [(float("nan"), 0.0, "codebook"), (0.5, float("inf"), "bias")]
)
def test_non_finite_codebook_or_bias_values_are_refused(tmp_path, codebook_value, bias_value, part):
    path = tmp_path / "mine.net"
    shapes = _synthetic_net(path)
    kernel, bias = weights_lib.read_deep_compression_net(path, shapes)[1]
    assert kernel.ravel().tolist() == [0.5] * 4 and bias.tolist() == [0.0, 0.0]
    _synthetic_net(path, codebook_value, bias_value)
    with pytest.raises(weights_lib.WeightsFileError, match=rf"conv layer 0: {part}\[\d+\] is (nan|inf)"):
        weights_lib.read_deep_compression_net(path, shapes)


def test_a_changed_copy_of_the_published_net_is_recognised_by_size_or_name(tmp_path, dc_net_path):
    published = dc_net_path.read_bytes()
    assert len(published) == DC_NET_BYTES
    model = keras_archs.SqueezeNet(weights=None)
    before = [w.numpy() for w in model.weights]
    mutant = bytearray(published)
    mutant[4 * 26 + 4 * 7] ^= 0x40  # one byte of conv1's codebook: the size stays 675,763
    renamed = tmp_path / "mutant.net"
    renamed.write_bytes(bytes(mutant))
    with pytest.raises(weights_lib.WeightsHashMismatchError, match="size \\(675,763 bytes\\) of the published"):
        keras_archs.SqueezeNet(weights=str(renamed))
    same_name = tmp_path / "copy" / "compressed_SqueezeNet.net"
    same_name.parent.mkdir()
    same_name.write_bytes(published + b"\0")
    with pytest.raises(weights_lib.WeightsHashMismatchError, match="has the name of the published") as excinfo:
        weights_lib.load_into(model, str(same_name), spec=applications.get_spec("SqueezeNet1_0"), include_top=True)
    assert hashlib.sha256(published).hexdigest() in str(excinfo.value)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))  # nothing half-loaded


# --- item 6: int8 conversion --------------------------------------------------------------------------------------


def _tiny_classifier(classes: int | None = 3) -> keras.Model:
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    if classes is None:
        return keras.Model(inputs, x, name="features")
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax", name="fc")(x), name="tiny")


def test_int8_refuses_non_finite_calibration_data_and_writes_nothing(tmp_path):
    data = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 3)).astype(np.float32)
    data[5, 2, 2, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite values .*first in example 5"):
        to_tflite(_tiny_classifier(), tmp_path / "m.tflite", mode="int8", representative_data=data, metadata=False)
    assert list(tmp_path.iterdir()) == []


def test_the_files_real_io_types_are_checked_against_the_request(tmp_path, monkeypatch):
    from keras_archs.export import convert

    real_inspect = convert._inspect

    def float_input(content, mode, name):  # what the converter produced for NaN calibration data (issue #13)
        tensors = real_inspect(content, mode, name)
        return (dataclasses.replace(tensors[0], dtype="float32"), *tensors[1:])

    monkeypatch.setattr(convert, "_inspect", float_input)
    data = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 3)).astype(np.float32)
    with pytest.raises(TFLiteConversionError, match="asked for int8 input and output but the file has input float32"):
        to_tflite(_tiny_classifier(), tmp_path / "m.tflite", mode="int8", representative_data=data, metadata=False)
    assert list(tmp_path.iterdir()) == []


def test_an_export_without_classes_removes_the_old_labels_beside_the_file(tmp_path):
    path = tmp_path / "m.tflite"
    first = to_tflite(_tiny_classifier(), path, labels=["a", "b", "c"], metadata=False)
    assert first.labels_path.read_text() == "a\nb\nc\n"
    second = to_tflite(_tiny_classifier(classes=None), path, metadata=False)
    assert second.labels_path is None and not labels_path_for(path).exists()
    assert json.loads(card_path_for(path).read_text())["sha256"] == second.sha256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.tflite"]


# --- item 8: the Python API's argument errors ------------------------------------------------------------------------


def test_numpy_integer_classes_are_accepted():
    model = keras_archs.SqueezeNet(version="1.1", weights=None, classes=np.int64(10), input_shape=(32, 32, 3))
    assert model.output_shape == (None, 10) and type(model.get_layer("conv10").filters) is int


@pytest.mark.parametrize("input_shape", ["abc", 3.5, (32, "32", 3), (32.0, 32, 3)])
def test_an_input_shape_that_is_no_tuple_of_integers_is_named(input_shape):
    with pytest.raises(ValueError, match=re.escape(f"Received: input_shape={input_shape!r}")):
        keras_archs.SqueezeNet(version="1.1", weights=None, input_shape=input_shape)


def test_list_models_names_a_bad_argument():
    with pytest.raises(TypeError, match="`pattern` must be a str .* Received: pattern=5 of type int"):
        keras_archs.list_models(5)
    with pytest.raises(TypeError, match="`pretrained` must be True/False or a weights tag .* pretrained=1.0"):
        keras_archs.list_models(pretrained=1.0)
    assert keras_archs.list_models("squeezenet1_1", pretrained="fashion_mnist") == ["SqueezeNet1_1"]


def test_deep_compress_names_what_it_needs():
    from keras_archs.compress import deep_compress

    with pytest.raises(TypeError, match=r"needs a keras.Model \(build it first: .*Received: model='SqueezeNet'"):
        deep_compress("SqueezeNet")


def test_a_missing_weights_file_is_named(tmp_path):
    missing = tmp_path / "no" / "such.weights.h5"
    with pytest.raises(ValueError, match=re.escape(f"file not found: {missing}")):
        keras_archs.SqueezeNet(version="1.1", weights=str(missing), input_shape=(32, 32, 3))
    model = keras_archs.SqueezeNet(version="1.1", weights=None, input_shape=(32, 32, 3))
    spec = applications.get_spec("SqueezeNet1_1")
    with pytest.raises(weights_lib.WeightsFileNotFoundError, match=re.escape(f"file not found: {missing}")):
        weights_lib.load_into(model, missing, spec=spec, include_top=True)
    with pytest.raises(FileNotFoundError):  # a WeightsFileNotFoundError is a FileNotFoundError too
        weights_lib.load_into(model, missing, spec=spec, include_top=True)
    with pytest.raises(ValueError, match="^The `weights` argument should be either"):  # a tag-like string: keras' words
        keras_archs.SqueezeNet(version="1.1", weights="imagenet21k", input_shape=(32, 32, 3))


# --- item 9: one source for each fact --------------------------------------------------------------------------------


def test_python_export_of_the_fashion_mnist_model_writes_its_class_names(tmp_path):
    from keras_archs.cli import _sources
    from keras_archs.data.fashion_mnist import CLASS_NAMES

    result = to_tflite(keras_archs.SqueezeNet(weights="fashion_mnist"), tmp_path / "fm.tflite")
    written = result.labels_path.read_text().splitlines()
    assert written == list(CLASS_NAMES) == _sources.class_names("fashion_mnist")[0]
    assert json.loads(result.card_path.read_text())["labels"]["source"] == "fashion_mnist"
    assert _sources.LABEL_SETS == class_names.LABEL_SETS


def test_the_model_list_marks_weights_that_exist_without_the_classifier_only():
    from keras_archs.cli.models import weights_column

    assert weights_column(applications.get_spec("SqueezeNet1_1")) == "imagenet (no top), fashion_mnist (top only)"
    assert weights_column(applications.get_spec("SqueezeNet1_0")) == "imagenet"
    assert weights_column(applications.get_spec("AlexNet")) == "-"


def test_every_figure_of_the_readme_model_tables_is_a_registry_fact():
    readme = (REPO / "README.md").read_text()
    tables = readme[readme.index("## Models") :]
    tables = tables[: tables.index("\n## ", 1)]
    figures = {int(text.replace(",", "")) for text in re.findall(r"\d{1,3}(?:,\d{3})+", tables)}
    facts = {spec.params for spec in applications.all_specs()}
    facts |= {spec.trainable_params for spec in applications.all_specs() if spec.trainable_params is not None}
    facts.add(341_248)  # the complex bypass' extra parameters (SqueezeNet 1.0), checked in test_squeezenet.py
    assert figures - facts == set()
    for name in ("CifarResNet20", "CifarResNet110", "WideResNet28_10"):  # the CIFAR figures `keras-archs list` shows
        assert f"{applications.get_spec(name).trainable_params:,}" in tables
