"""CIFAR-10/100 readers on tiny fixtures written here in each real on-disk format (binary and python, as directories
and as .tar.gz), plus the search order, errors and the pipeline on top."""

from __future__ import annotations

import importlib
import pickle
import struct
import tarfile

import numpy as np
import pytest
import tfds_fixtures

from keras_archs.data import DatasetCorruptError, DatasetNotFoundError, cifar10, cifar100

cifar_module = importlib.import_module("keras_archs.data.cifar")

TRAIN_PER_BATCH = 3  # records per data_batch_i (the real files hold 10,000)
TEST_RECORDS = 4


def _images(rng, count):
    return rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)


def _channel_major(images):
    """(N, 32, 32, 3) -> (N, 3072): 1024 red, 1024 green, 1024 blue bytes, each row-major (the CIFAR layout)."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


class _Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` opcodes (SHORT_BINSTRING / BINSTRING), as cPickle did for the real CIFAR files.

    Python 3's protocol 2 writes bytes as calls to ``_codecs.encode``, which Keras' restricted unpickler refuses,
    while the real (Python 2) files hold plain string opcodes.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def save_python2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_python2_str


def _write_python_batch(path, batch):
    with open(path, "wb") as stream:
        _Python2Pickler(stream, protocol=2).dump(batch)


def _make_cifar10(rng):
    train = [(_images(rng, TRAIN_PER_BATCH), rng.integers(0, 10, TRAIN_PER_BATCH)) for _ in range(5)]
    test = (_images(rng, TEST_RECORDS), rng.integers(0, 10, TEST_RECORDS))
    return train, test


def _write_cifar10_binary(directory, train, test):
    directory.mkdir(parents=True)
    for name, (images, labels) in [(f"data_batch_{i + 1}.bin", batch) for i, batch in enumerate(train)] + [
        ("test_batch.bin", test)
    ]:
        records = np.concatenate([labels.astype(np.uint8)[:, None], _channel_major(images)], axis=1)
        (directory / name).write_bytes(records.tobytes())
    (directory / "batches.meta.txt").write_text("\n".join(cifar_module.CIFAR10_CLASS_NAMES) + "\n")


def _write_cifar10_python(directory, train, test):
    directory.mkdir(parents=True)
    for name, (images, labels) in [(f"data_batch_{i + 1}", batch) for i, batch in enumerate(train)] + [
        ("test_batch", test)
    ]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(label) for label in labels],
            b"data": _channel_major(images),
            b"filenames": [f"image_{i}.png".encode() for i in range(len(images))],
        }
        _write_python_batch(directory / name, batch)


def _make_cifar100(rng):
    def split(count):
        fine = rng.integers(0, 100, count)
        return _images(rng, count), fine, fine // 5  # any coarse labels 0..19 will do

    return {"train": split(6), "test": split(TEST_RECORDS)}


def _write_cifar100_binary(directory, data):
    directory.mkdir(parents=True)
    for split, (images, fine, coarse) in data.items():
        records = np.concatenate(
            [coarse.astype(np.uint8)[:, None], fine.astype(np.uint8)[:, None], _channel_major(images)], axis=1
        )
        (directory / f"{split}.bin").write_bytes(records.tobytes())


def _write_cifar100_python(directory, data):
    directory.mkdir(parents=True)
    for split, (images, fine, coarse) in data.items():
        batch = {
            b"filenames": [f"image_{i}.png".encode() for i in range(len(images))],
            b"batch_label": f"{split} batch".encode(),
            b"fine_labels": [int(label) for label in fine],
            b"coarse_labels": [int(label) for label in coarse],
            b"data": _channel_major(images),
        }
        _write_python_batch(directory / split, batch)


def _tar(directory, archive):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory, arcname=directory.name)
    return archive


@pytest.fixture(scope="module")
def cifar10_files(tmp_path_factory):
    rng = np.random.default_rng(10)
    train, test = _make_cifar10(rng)
    root = tmp_path_factory.mktemp("cifar10")
    places = {}
    for fmt, writer, dirname, archive in (
        ("binary", _write_cifar10_binary, "cifar-10-batches-bin", "cifar-10-binary.tar.gz"),
        ("python", _write_cifar10_python, "cifar-10-batches-py", "cifar-10-python.tar.gz"),
    ):
        extracted = root / f"{fmt}_dir"
        writer(extracted / dirname, train, test)
        packed = root / f"{fmt}_tar"
        packed.mkdir()
        _tar(extracted / dirname, packed / archive)
        places[f"{fmt}_dir"] = extracted
        places[f"{fmt}_batches"] = extracted / dirname
        places[f"{fmt}_tar"] = packed
        places[f"{fmt}_tar_file"] = packed / archive
    expected = {
        "train": (np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])),
        "test": test,
    }
    return places, expected


@pytest.fixture(scope="module")
def cifar100_files(tmp_path_factory):
    data = _make_cifar100(np.random.default_rng(100))
    root = tmp_path_factory.mktemp("cifar100")
    _write_cifar100_binary(root / "bin" / "cifar-100-binary", data)
    _write_cifar100_python(root / "py" / "cifar-100-python", data)
    (root / "py_tar").mkdir()
    _tar(root / "py" / "cifar-100-python", root / "py_tar" / "cifar-100-python.tar.gz")
    return root, data


@pytest.mark.parametrize(
    "place",
    [
        "binary_dir",
        "binary_batches",
        "binary_tar",
        "binary_tar_file",
        "python_dir",
        "python_batches",
        "python_tar",
        "python_tar_file",
    ],
)
@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar10_every_format_reads_the_same_arrays(cifar10_files, place, split):
    places, expected = cifar10_files
    images, labels, source = cifar_module.load_arrays("cifar10", split, data_dir=places[place])
    assert ("binary" in source) == place.startswith("binary")
    np.testing.assert_array_equal(images, expected[split][0])
    np.testing.assert_array_equal(labels, expected[split][1])
    assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)


def test_binary_record_layout_is_label_then_channel_major_pixels():
    record = np.zeros(1 + 3072, np.uint8)
    record[0] = 6
    record[1 + 0] = 200  # red of pixel (0, 0)
    record[1 + 1024 + 33] = 100  # green of pixel (1, 1)
    record[1 + 2048 + 1023] = 50  # blue of pixel (31, 31)
    images, labels = cifar_module.read_binary_batch(record.tobytes(), label_bytes=1, label_offset=0)
    assert labels.tolist() == [6]
    assert images[0, 0, 0].tolist() == [200, 0, 0]
    assert images[0, 1, 1].tolist() == [0, 100, 0]
    assert images[0, 31, 31].tolist() == [0, 0, 50]


@pytest.mark.parametrize("fmt", ["bin", "py", "py_tar"])
@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_label_modes(cifar100_files, fmt, label_mode):
    root, data = cifar100_files
    for split in ("train", "test"):
        images, labels, _ = cifar_module.load_arrays("cifar100", split, label_mode, data_dir=root / fmt)
        expected_images, fine, coarse = data[split]
        np.testing.assert_array_equal(images, expected_images)
        np.testing.assert_array_equal(labels, fine if label_mode == "fine" else coarse)


def test_cifar100_dataset_with_coarse_labels(cifar100_files):
    root, data = cifar100_files
    ds = cifar100("test", batch_size=TEST_RECORDS, data_dir=root / "bin", label_mode="coarse")
    images, labels = next(iter(ds))
    assert images.dtype.name == "float32" and tuple(images.shape) == (TEST_RECORDS, 32, 32, 3)
    np.testing.assert_array_equal(labels.numpy(), data["test"][2])
    np.testing.assert_array_equal(images.numpy(), data["test"][0].astype(np.float32))
    with pytest.raises(ValueError, match="label_mode"):
        cifar100("test", data_dir=root / "bin", label_mode="medium")


def test_keras_cache_is_searched(cifar10_files, tmp_path, monkeypatch):
    places, expected = cifar10_files
    # Keras 3's keras.datasets.cifar10.load_data() extracts to ~/.keras/datasets/cifar-10-batches-py-target/.
    target = tmp_path / "keras_home" / "datasets" / "cifar-10-batches-py-target"
    target.mkdir(parents=True)
    (target / "cifar-10-batches-py").symlink_to(places["python_batches"], target_is_directory=True)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    images, labels, source = cifar_module.load_arrays("cifar10", "test", download=False)
    assert "cifar-10-batches-py-target" in source
    np.testing.assert_array_equal(labels, expected["test"][1])


def test_missing_data_lists_every_place_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    with pytest.raises(DatasetNotFoundError) as info:
        cifar10("train", download=False)
    message = str(info.value)
    cache = tmp_path / "keras_home" / "datasets"
    for place in (
        cache / "cifar-10-batches-bin",
        cache / "cifar-10-binary.tar.gz",
        cache / "cifar-10-batches-py",
        cache / "cifar-10-python.tar.gz",
        cache / "cifar-10-batches-py-target" / "cifar-10-batches-py",
    ):
        assert f"{place} (" in message
    assert "tensorflow_datasets 'cifar10'" in message and "tensorflow_datasets download" in message
    assert "To fix:" in message and "cifar-10-binary.tar.gz" in message
    assert isinstance(info.value, FileNotFoundError)
    assert len(info.value.looked) == message.count("\n  ")


def test_explicit_data_dir_is_the_only_place_looked(tmp_path):
    (tmp_path / "cifar-10-batches-bin").mkdir()
    (tmp_path / "cifar-10-batches-bin" / "data_batch_1.bin").write_bytes(bytes(3073))
    with pytest.raises(DatasetNotFoundError) as info:
        cifar_module.load_arrays("cifar10", "train", data_dir=tmp_path)
    assert "missing data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin" in str(info.value)
    file_places = [place for place, _ in info.value.looked if not place.startswith("tensorflow_datasets")]
    assert file_places and all(place.startswith(str(tmp_path)) for place in file_places)


def test_truncated_binary_batch_is_a_clear_error(tmp_path):
    directory = tmp_path / "cifar-10-batches-bin"
    directory.mkdir()
    (directory / "test_batch.bin").write_bytes(bytes(3073 * 2 + 100))
    with pytest.raises(DatasetCorruptError, match=r"6246 bytes long, not a positive multiple of the 3073-byte record"):
        cifar_module.load_arrays("cifar10", "test", data_dir=tmp_path)


def test_out_of_range_label_is_a_clear_error(tmp_path):
    directory = tmp_path / "cifar-10-batches-bin"
    directory.mkdir()
    (directory / "test_batch.bin").write_bytes(bytes([42]) + bytes(3072))
    with pytest.raises(DatasetCorruptError, match="label 42"):
        cifar_module.load_arrays("cifar10", "test", data_dir=tmp_path)


def test_python3_pickles_are_refused_by_keras_restricted_reader(tmp_path):
    # Python 3's protocol 2 encodes bytes through `_codecs.encode`, a global Keras' reader does not allow.
    directory = tmp_path / "cifar-10-batches-py"
    directory.mkdir()
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [1]}
    (directory / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DatasetCorruptError, match="restricted reader.*_codecs"):
        cifar_module.load_arrays("cifar10", "test", data_dir=tmp_path)


def test_pipeline_for_model_and_augment(cifar10_files):
    places, expected = cifar10_files
    kwargs = dict(batch_size=5, for_model="MobileNet", image_size=32, augment=True, erasing=True, seed=3)
    ds = cifar10("train", data_dir=places["binary_dir"], **kwargs)
    batches = list(ds)
    assert [int(b[0].shape[0]) for b in batches] == [5, 5, 5]
    images = np.concatenate([b[0].numpy() for b in batches])
    assert images.shape == (15, 32, 32, 3) and images.dtype == np.float32
    # MobileNet's "tf" mode: uniform random pixels 0..255 become values spread over [-1, 1] around 0.
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert images.min() < -0.95 and images.max() > 0.95 and abs(float(images.mean())) < 0.05
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert sorted(labels.tolist()) == sorted(expected["train"][1].tolist())
    again = np.concatenate([b[0].numpy() for b in cifar10("train", data_dir=places["binary_dir"], **kwargs)])
    np.testing.assert_array_equal(images, again)


def test_pipeline_without_model_is_float_0_255_in_file_order(cifar10_files):
    places, expected = cifar10_files
    images, labels = next(iter(cifar10("test", batch_size=100, data_dir=places["python_tar"])))
    np.testing.assert_array_equal(images.numpy(), expected["test"][0].astype(np.float32))
    np.testing.assert_array_equal(labels.numpy(), expected["test"][1])
    assert labels.dtype.name == "int32"


def test_argument_errors(cifar10_files):
    places, _ = cifar10_files
    with pytest.raises(
        ValueError, match=r"Expected `split` to be one of 'train', 'test'. Received: split='validation'"
    ):
        cifar10("validation", data_dir=places["binary_dir"])
    with pytest.raises(TypeError, match="data_dir"):
        cifar10("test", data_dir=3)


def test_prepared_tfds_cifar100_in_data_dir(tmp_path):
    images = np.random.default_rng(6).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    examples = {
        "image": images,
        "label": np.array([0, 50, 99, 7]),
        "coarse_label": np.array([0, 10, 19, 1]),
        "id": np.array([b"a", b"b", b"c", b"d"]),
    }
    tfds_fixtures.write_prepared("cifar100", tmp_path, {"test": examples})
    for label_mode, expected in (("fine", [0, 50, 99, 7]), ("coarse", [0, 10, 19, 1])):
        loaded, labels, source = cifar_module.load_arrays("cifar100", "test", label_mode, data_dir=tmp_path)
        assert source.startswith(f"tensorflow_datasets cifar100 in {tmp_path}") and labels.tolist() == expected
        np.testing.assert_array_equal(loaded, images)


def test_prepared_tfds_cifar10_in_the_default_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))  # an empty Keras cache
    tfds_dir = tmp_path / "tfds"
    images = np.random.default_rng(7).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    examples = {"image": images, "label": np.array([3, 1, 9]), "id": np.array([b"a", b"b", b"c"])}
    tfds_fixtures.write_prepared("cifar10", tfds_dir, {"train": examples})
    monkeypatch.setenv("TFDS_DATA_DIR", str(tfds_dir))
    batch, labels = next(iter(cifar10("train", batch_size=3, shuffle=False, download=False)))
    np.testing.assert_array_equal(batch.numpy(), images.astype(np.float32))
    assert labels.numpy().tolist() == [3, 1, 9]


def test_tfds_download_fallback_fails_with_the_search_log(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    tfds_dir = tmp_path / "tfds"
    monkeypatch.setenv("TFDS_DATA_DIR", str(tfds_dir))
    holder = tfds_fixtures.refuse_downloads(monkeypatch)
    port = holder.getsockname()[1]
    try:
        with pytest.raises(DatasetNotFoundError) as info:
            cifar10("test")  # download=True: the last source is a real tfds download_and_prepare
    finally:
        holder.close()
    place, reason = info.value.looked[-1]
    assert place == f"tensorflow_datasets download of 'cifar10' into {tfds_dir}"
    assert reason.startswith("failed: ") and f"port={port}" in reason and "cifar-10-binary.tar.gz" in reason
    assert info.value.looked[-2][0].startswith(f"tensorflow_datasets 'cifar10' prepared in {tfds_dir}")
    assert "To fix:" in str(info.value)
