"""Downloads and weight files: pinned hashes, file:// URLs, pre-seeded caches, corrupt and truncated files."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import keras
import numpy as np
import pytest

import keras_archs
from keras_archs import registry
from keras_archs import weights as weights_lib
from keras_archs.applications import squeezenet


def _entry(source, **overrides):
    data = source.read_bytes()
    fields = dict(
        tag="imagenet",
        include_top=True,
        fname="compressed_SqueezeNet.net",
        url=source.as_uri(),
        file_hash=hashlib.sha256(data).hexdigest(),
        loader="deep_compression_net",
    )
    fields.update(overrides)
    return registry.WeightEntry(**fields)


def _cache_listing(home):
    models = home / "models"
    return sorted(p.name for p in models.iterdir()) if models.exists() else []


def test_download_from_file_url_creates_the_cache(keras_home, dc_net_path):
    assert not keras_home.exists()
    path = weights_lib.fetch(_entry(dc_net_path))
    assert path == keras_home / "models" / "compressed_SqueezeNet.net"
    assert path.read_bytes() == dc_net_path.read_bytes()
    assert _cache_listing(keras_home) == ["compressed_SqueezeNet.net"]


def test_md5_pins_work_too(keras_home, dc_net_path):
    md5 = hashlib.md5(dc_net_path.read_bytes()).hexdigest()
    assert weights_lib.fetch(_entry(dc_net_path, file_hash=md5)).exists()


def test_preseeded_cache_is_used_without_network(keras_home, dc_net_path):
    (keras_home / "models").mkdir(parents=True)
    (keras_home / "models" / "compressed_SqueezeNet.net").write_bytes(dc_net_path.read_bytes())
    entry = _entry(dc_net_path, url="https://unreachable.invalid/compressed_SqueezeNet.net")
    assert weights_lib.fetch(entry).read_bytes() == dc_net_path.read_bytes()


def test_corrupt_cached_file_is_replaced(keras_home, dc_net_path):
    (keras_home / "models").mkdir(parents=True)
    cached = keras_home / "models" / "compressed_SqueezeNet.net"
    cached.write_bytes(b"\0" * 1000)
    path = weights_lib.fetch(_entry(dc_net_path))
    assert path.read_bytes() == dc_net_path.read_bytes()
    assert _cache_listing(keras_home) == ["compressed_SqueezeNet.net"]


def test_corrupt_cached_file_offline_raises_a_named_error_and_leaves_nothing(keras_home, dc_net_path, tmp_path):
    (keras_home / "models").mkdir(parents=True)
    (keras_home / "models" / "compressed_SqueezeNet.net").write_bytes(b"garbage")
    entry = _entry(dc_net_path, url=(tmp_path / "gone.net").as_uri())
    with pytest.raises(weights_lib.WeightsDownloadError) as excinfo:
        weights_lib.fetch(entry)
    message = str(excinfo.value)
    assert "compressed_SqueezeNet.net" in message and entry.file_hash in message and "place it at" in message
    assert _cache_listing(keras_home) == []


def test_truncated_download_is_deleted(keras_home, dc_net_path, tmp_path):
    truncated = tmp_path / "compressed_SqueezeNet.net"
    truncated.write_bytes(dc_net_path.read_bytes()[:300_000])
    entry = _entry(dc_net_path, url=truncated.as_uri())  # hash of the real file, URL of a truncated copy
    with pytest.raises(weights_lib.WeightsHashMismatchError) as excinfo:
        weights_lib.fetch(entry)
    assert "expected " + entry.file_hash in str(excinfo.value)
    assert _cache_listing(keras_home) == []


def test_unhashed_h5_entries_get_a_structure_check(keras_home, tmp_path):
    not_h5 = tmp_path / "mobilenet_1_0_224_tf.h5"
    not_h5.write_bytes(b"<html>404</html>")
    entry = registry.WeightEntry(
        tag="imagenet", include_top=True, fname="mobilenet_1_0_224_tf.h5", url=not_h5.as_uri(), file_hash=None
    )
    with pytest.raises(weights_lib.WeightsHashMismatchError, match="not a readable HDF5 file"):
        weights_lib.fetch(entry)
    assert _cache_listing(keras_home) == []

    good = tmp_path / "good" / "mobilenet_1_0_224_tf.h5"
    good.parent.mkdir()
    model = keras_archs.SqueezeNet(weights=None, version="1.1", include_top=False, input_shape=(64, 64, 3))
    model.save(good)
    entry = registry.WeightEntry(
        tag="imagenet", include_top=True, fname="mobilenet_1_0_224_tf.h5", url=good.as_uri(), file_hash=None
    )
    assert weights_lib.fetch(entry).exists()


def test_squeezenet_imagenet_end_to_end_through_file_url(keras_home, dc_net_path, replace_spec):
    spec = registry.get_spec("SqueezeNet1_0")
    replace_spec(spec.name, weights=tuple(dataclasses.replace(e, url=dc_net_path.as_uri()) for e in spec.weights))
    model = keras_archs.SqueezeNet(weights="imagenet")
    assert _cache_listing(keras_home) == ["compressed_SqueezeNet.net"]
    # Every conv holds the file's values, not a random initialisation (an independent decoder: test_squeezenet.py).
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    shapes = [(c.kernel.shape[3], c.kernel.shape[2], c.kernel.shape[0], c.kernel.shape[1]) for c in convs]
    for conv, (kernel, bias) in zip(convs, weights_lib.read_deep_compression_net(dc_net_path, shapes)):
        np.testing.assert_array_equal(conv.kernel.numpy(), kernel.transpose(2, 3, 1, 0), err_msg=conv.name)
        np.testing.assert_array_equal(conv.bias.numpy(), bias, err_msg=conv.name)
    assert squeezenet.SPECS["SqueezeNet1_0"].weights[0].url == dc_net_path.as_uri()  # the swapped entry was used


def test_unknown_file_format_is_named(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    with pytest.raises(weights_lib.WeightsFileError, match=r"weights.bin.*Accepted: \.weights\.h5"):
        keras_archs.SqueezeNet(weights=str(path))


def test_h5_with_other_layers_is_refused_not_half_loaded(tmp_path):
    other = keras_archs.SqueezeNet(weights=None, version="1.1", include_top=False, input_shape=(64, 64, 3))
    path = tmp_path / "v11.h5"
    other.save(path)
    model = keras_archs.SqueezeNet(weights=None, include_top=False, input_shape=(64, 64, 3))
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(weights_lib.WeightsFileError, match="does not fit"):
        weights_lib.load_into(model, str(path), spec=registry.get_spec("SqueezeNet1_0"), include_top=False)
    for variable, value in zip(model.weights, before):  # nothing half-loaded
        np.testing.assert_array_equal(variable.numpy(), value)


def test_keras_weights_files_of_another_model_are_refused(tmp_path):
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "tiny.weights.h5"
    other.save_weights(path)
    with pytest.raises(weights_lib.WeightsFileError, match="does not fit"):
        keras_archs.SqueezeNet(weights=str(path), version="1.1", include_top=False)


def test_cache_root_follows_keras_rules(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert weights_lib.cache_root() == tmp_path / "kh"
    monkeypatch.delenv("KERAS_HOME")
    assert weights_lib.cache_root() == weights_lib.cache_root(os.path.join("~", ".keras"))


def test_keras3_file_with_extra_layers_is_refused(tmp_path):
    full = keras_archs.SqueezeNet(weights=None, input_shape=(64, 64, 3))
    path = tmp_path / "full.weights.h5"
    full.save_weights(path)
    with pytest.raises(weights_lib.WeightsFileError, match="stores 52 variables, the model has 50"):
        keras_archs.SqueezeNet(weights=str(path), include_top=False, input_shape=(64, 64, 3))
    archive = tmp_path / "full.keras"
    full.save(archive)
    with pytest.raises(weights_lib.WeightsFileError, match="stores 52 variables"):
        keras_archs.SqueezeNet(weights=str(archive), include_top=False, input_shape=(64, 64, 3))
    same = keras_archs.SqueezeNet(weights=str(archive), input_shape=(64, 64, 3))
    for ours, reference in zip(same.weights, full.weights):
        np.testing.assert_array_equal(ours.numpy(), reference.numpy())
