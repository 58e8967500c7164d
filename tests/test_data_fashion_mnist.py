"""Fashion-MNIST: the idx reader on files written here (gz and raw), the real Debian files when installed, the search
order and its one error."""

from __future__ import annotations

import gzip
import importlib

import numpy as np
import pytest
import tfds_fixtures

from keras_archs.data import DatasetCorruptError, DatasetNotFoundError, fashion_mnist

fm = importlib.import_module("keras_archs.data.fashion_mnist")

# Upstream facts (Xiao et al. 2017; https://github.com/zalandoresearch/fashion-mnist): 60,000 + 10,000 examples,
# balanced classes; the first labels of each file.
FIRST_TRAIN_LABELS = [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
FIRST_TEST_LABELS = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
# This package's validation split (fm.validation_mask): its first members in the upstream training file's order.
FIRST_VALIDATION_INDICES = [2, 9, 24, 27, 36]


def _idx_bytes(array, magic):
    header = np.array([magic, *array.shape], ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_idx_split(directory, prefix, images, labels, compress):
    directory.mkdir(parents=True, exist_ok=True)
    for stem, payload in (
        (f"{prefix}-images-idx3-ubyte", _idx_bytes(images, fm.IMAGE_MAGIC)),
        (f"{prefix}-labels-idx1-ubyte", _idx_bytes(labels, fm.LABEL_MAGIC)),
    ):
        if compress:
            with gzip.open(directory / (stem + ".gz"), "wb") as stream:
                stream.write(payload)
        else:
            (directory / stem).write_bytes(payload)


@pytest.fixture(scope="module")
def idx_fixture(tmp_path_factory):
    """Train split gzip-compressed (like the distributed files), test split raw."""
    rng = np.random.default_rng(0)
    data = {
        "train": (rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12) % 10),
        "test": (rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.array([9, 2, 1, 1, 6])),
    }
    root = tmp_path_factory.mktemp("fashion")
    write_idx_split(root, "train", *data["train"], compress=True)
    write_idx_split(root, "t10k", *data["test"], compress=False)
    return root, data


@pytest.mark.parametrize("split", ["train", "test"])
def test_idx_files_gz_and_raw(idx_fixture, split):
    root, data = idx_fixture
    images, labels, source = fm.load_arrays(split, data_dir=root)
    assert (".gz" in source) == (split == "train")
    np.testing.assert_array_equal(images[..., 0], data[split][0])
    np.testing.assert_array_equal(labels, data[split][1])
    assert images.shape[1:] == (28, 28, 1) and images.dtype == np.uint8 and labels.dtype == np.int64


def test_load_arrays_limit_and_float_pixels(idx_fixture):
    root, data = idx_fixture
    images, labels, _ = fm.load_arrays("train", data_dir=root, limit=4, dtype="float32")
    assert images.shape == (4, 28, 28, 1) and images.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_array_equal(images[..., 0], data["train"][0][:4].astype(np.float32))  # 0..255, not scaled
    np.testing.assert_array_equal(labels, data["train"][1][:4])
    assert len(fm.load_arrays("train", data_dir=root, limit=1000)[0]) == 12
    with pytest.raises(ValueError, match=r"Expected `limit` to be an integer >= 1 or None. Received: limit=0"):
        fm.load_arrays("train", data_dir=root, limit=0)
    with pytest.raises(ValueError, match=r"Expected `dtype` to be one of 'uint8', 'float32'. Received: dtype='int8'"):
        fm.load_arrays("train", data_dir=root, dtype="int8")


def test_dataset_raw_uint8_in_file_order(idx_fixture):
    root, data = idx_fixture
    batches = list(fashion_mnist("train", batch_size=5, shuffle=False, data_dir=root))
    assert [int(b[0].shape[0]) for b in batches] == [5, 5, 2]
    images = np.concatenate([b[0].numpy() for b in batches])
    assert images.dtype == np.uint8 and images.shape == (12, 28, 28, 1)
    np.testing.assert_array_equal(images[..., 0], data["train"][0])
    assert len(list(fashion_mnist("train", batch_size=5, shuffle=False, drop_remainder=True, data_dir=root))) == 2


def test_for_model_resizes_to_rgb_and_normalises(idx_fixture):
    root, _ = idx_fixture
    images, _ = next(iter(fashion_mnist("test", batch_size=5, data_dir=root, for_model="SqueezeNet1_1")))
    assert tuple(images.shape) == (5, 227, 227, 3) and images.dtype.name == "float32"  # SqueezeNet: 227, Caffe BGR
    grey = fashion_mnist("test", batch_size=5, data_dir=root, image_size=227)
    raw, _ = next(iter(grey))
    assert tuple(raw.shape) == (5, 227, 227, 1)
    np.testing.assert_allclose(images.numpy(), np.repeat(raw.numpy(), 3, axis=-1) - [104.0, 117.0, 123.0], atol=1e-4)


def test_augment_keeps_shape_dtype_and_labels(idx_fixture):
    root, data = idx_fixture
    ds = fashion_mnist("train", batch_size=12, augment=True, erasing=True, seed=7, data_dir=root)
    images, labels = next(iter(ds))
    assert tuple(images.shape) == (12, 28, 28, 1) and images.dtype.name == "uint8"
    assert sorted(labels.numpy().tolist()) == sorted(data["train"][1].tolist())


def test_bad_magic_is_a_clear_error(tmp_path):
    write_idx_split(tmp_path, "t10k", np.zeros((2, 28, 28)), np.zeros(2), compress=True)
    # An images file where the labels file should be: magic 0x803 instead of 0x801.
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes((tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes())
    with pytest.raises(DatasetCorruptError) as info:
        fm.load_arrays("test", data_dir=tmp_path)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte.gz" in message and "0x00000803" in message and "expected 0x00000801" in message


def test_truncated_and_non_gzip_files_are_clear_errors(tmp_path):
    path = tmp_path / "x-labels-idx1-ubyte"
    path.write_bytes(_idx_bytes(np.zeros(5), fm.LABEL_MAGIC)[:-2])
    with pytest.raises(DatasetCorruptError, match=r"holds 11 bytes .* needs 13"):
        fm.read_idx(path, fm.LABEL_MAGIC)
    gz = tmp_path / "y-labels-idx1-ubyte.gz"
    gz.write_bytes(b"not gzip at all")
    with pytest.raises(DatasetCorruptError, match="not a valid gzip stream"):
        fm.read_idx(gz, fm.LABEL_MAGIC)
    short = tmp_path / "z-labels-idx1-ubyte"
    short.write_bytes(b"\x00\x00")
    with pytest.raises(DatasetCorruptError, match="shorter than its 8-byte header"):
        fm.read_idx(short, fm.LABEL_MAGIC)


def test_mismatched_counts_and_sizes_are_clear_errors(tmp_path):
    write_idx_split(tmp_path, "t10k", np.zeros((3, 28, 28)), np.zeros(2), compress=False)
    with pytest.raises(DatasetCorruptError, match="3 images but .* 2 labels"):
        fm.load_arrays("test", data_dir=tmp_path)
    write_idx_split(tmp_path, "train", np.zeros((2, 32, 32)), np.zeros(2), compress=False)
    with pytest.raises(DatasetCorruptError, match="32x32; Fashion-MNIST images are 28x28"):
        fm.load_arrays("train", data_dir=tmp_path)


def test_missing_data_lists_every_place_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "debian" / "fashion-mnist")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    (tmp_path / "debian" / "fashion-mnist").mkdir(parents=True)
    (tmp_path / "debian" / "fashion-mnist" / "train-labels-idx1-ubyte.gz").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError) as info:
        fashion_mnist("train", download=False)
    error = info.value
    places = [place for place, _ in error.looked]
    assert places[0] == f"{tmp_path / 'debian' / 'fashion-mnist'} (Debian package dataset-fashion-mnist)"
    assert error.looked[0][1] == "missing train-images-idx3-ubyte[.gz]"
    assert places[1].startswith(str(tmp_path / "keras_home" / "datasets" / "fashion-mnist"))
    assert error.looked[1][1] == "directory does not exist"
    assert places[2].startswith("tensorflow_datasets 'fashion_mnist' prepared in")
    assert places[3] == "tensorflow_datasets download" or places[3].startswith("tensorflow_datasets download")
    message = str(error)
    assert all(place in message for place in places)
    assert "apt-get install dataset-fashion-mnist" in message and "data_dir=" in message


def test_explicit_data_dir_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        fashion_mnist("test", data_dir=tmp_path / "nowhere")
    places = [place for place, _ in info.value.looked]
    assert places[:2] == [f"{tmp_path / 'nowhere'} (data_dir)", f"{tmp_path / 'nowhere' / 'fashion-mnist'} (data_dir)"]
    assert "/usr/share/datasets" not in " ".join(places)


@pytest.fixture(scope="module")
def debian_arrays():
    if not all(
        (fm.DEBIAN_DIR / f"{p}-{k}.gz").is_file()
        for p in ("train", "t10k")
        for k in ("images-idx3-ubyte", "labels-idx1-ubyte")
    ):
        pytest.skip(f"real Fashion-MNIST files absent from {fm.DEBIAN_DIR}: `apt-get install dataset-fashion-mnist`")
    return {split: fm.load_arrays(split) for split in ("train", "test")}


def test_real_debian_files(debian_arrays):
    for split, count, first in (("train", 60_000, FIRST_TRAIN_LABELS), ("test", 10_000, FIRST_TEST_LABELS)):
        images, labels, source = debian_arrays[split]
        assert str(fm.DEBIAN_DIR) in source
        assert images.shape == (count, 28, 28, 1) and images.dtype == np.uint8
        assert np.bincount(labels, minlength=10).tolist() == [count // 10] * 10
        assert labels[:10].tolist() == first
        assert images.min() == 0 and images.max() == 255


def test_real_debian_pipeline_first_batch(debian_arrays):
    images, labels = next(iter(fashion_mnist("test", batch_size=10)))
    assert labels.numpy().tolist() == FIRST_TEST_LABELS
    np.testing.assert_array_equal(images.numpy(), debian_arrays["test"][0][:10])


def _tfds_examples(count, seed=5):
    images = np.random.default_rng(seed).integers(0, 256, size=(count, 28, 28, 1), dtype=np.uint8)
    return {"image": images, "label": np.arange(count) % 10}


def test_prepared_tfds_dataset_in_data_dir(tmp_path):
    examples = _tfds_examples(6)
    tfds_fixtures.write_prepared("fashion_mnist", tmp_path, {"test": examples})
    loaded, labels, source = fm.load_arrays("test", data_dir=tmp_path)
    assert source.startswith(f"tensorflow_datasets fashion_mnist in {tmp_path}")
    np.testing.assert_array_equal(loaded, examples["image"])
    assert labels.tolist() == list(range(6)) and labels.dtype == np.int64
    limited, _, _ = fm.load_arrays("test", data_dir=tmp_path, limit=2, dtype="float32")
    np.testing.assert_array_equal(limited, examples["image"][:2].astype(np.float32))


def _no_local_files(tmp_path, monkeypatch):
    """No Debian package and an empty Keras cache, so the search reaches the tfds sources."""
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))


def test_prepared_tfds_dataset_in_the_default_data_dir(tmp_path, monkeypatch):
    _no_local_files(tmp_path, monkeypatch)
    tfds_dir = tmp_path / "tfds"
    examples = _tfds_examples(5, seed=6)
    tfds_fixtures.write_prepared("fashion_mnist", tfds_dir, {"train": examples})
    monkeypatch.setenv("TFDS_DATA_DIR", str(tfds_dir))  # read when the search runs, not when tfds was imported
    images, labels, source = fm.load_arrays("train", download=False)
    assert source.startswith(f"tensorflow_datasets fashion_mnist in {tfds_dir}")
    np.testing.assert_array_equal(images, examples["image"])
    assert labels.tolist() == [0, 1, 2, 3, 4]
    batch, batch_labels = next(iter(fashion_mnist("train", batch_size=5, shuffle=False, download=False)))
    np.testing.assert_array_equal(batch.numpy(), examples["image"])
    assert batch_labels.numpy().tolist() == [0, 1, 2, 3, 4]


def test_tfds_download_fallback_fails_with_the_search_log(tmp_path, monkeypatch):
    _no_local_files(tmp_path, monkeypatch)
    tfds_dir = tmp_path / "tfds"
    monkeypatch.setenv("TFDS_DATA_DIR", str(tfds_dir))
    holder = tfds_fixtures.refuse_downloads(monkeypatch)
    port = holder.getsockname()[1]
    try:
        with pytest.raises(DatasetNotFoundError) as info:
            fm.load_arrays("test")  # download=True: the last source is a real tfds download_and_prepare
    finally:
        holder.close()
    place, reason = info.value.looked[-1]
    assert place == f"tensorflow_datasets download of 'fashion_mnist' into {tfds_dir}"
    # tfds got as far as the HTTP request for the dataset's files (through the refusing proxy).
    assert reason.startswith("failed: ") and f"port={port}" in reason and "fashion-mnist" in reason
    places = [p for p, _ in info.value.looked]
    assert places[:2] == [
        f"{tmp_path / 'no-debian'} (Debian package dataset-fashion-mnist)",
        f"{tmp_path / 'keras_home' / 'datasets' / 'fashion-mnist'} (keras.datasets.fashion_mnist cache)",
    ]
    assert places[2].startswith(f"tensorflow_datasets 'fashion_mnist' prepared in {tfds_dir}") and len(places) == 4
    assert "To fix:" in str(info.value) and "tfds build fashion_mnist" in str(info.value)


def test_validation_split_is_stratified_disjoint_and_order_independent(idx_fixture):
    root, (images, labels) = idx_fixture[0], idx_fixture[1]["train"]
    validation, validation_labels, source = fm.load_arrays("validation", root)
    rest, rest_labels, _ = fm.load_arrays("train_without_validation", root)
    # 12 examples, classes 0 and 1 twice: fewer than 600 per class, so every example is in "validation".
    assert len(validation) == 12 and len(rest) == 0 and "validation split" in source
    np.testing.assert_array_equal(validation[..., 0], images)  # file order kept
    assert validation_labels.tolist() == labels.tolist() and rest_labels.shape == (0,)
    # The selection depends on the content only: shuffling the examples selects the same ones.
    big = np.random.default_rng(1).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    big_labels = np.arange(40) % 2
    original = fm.validation_mask(big, big_labels)
    order = np.random.default_rng(2).permutation(40)
    np.testing.assert_array_equal(fm.validation_mask(big[order], big_labels[order]), original[order])
    with pytest.raises(ValueError, match="uint8"):
        fm.validation_mask(big.astype(np.float32), big_labels)


def test_real_validation_split(debian_arrays):
    train_images, train_labels, _ = debian_arrays["train"]
    validation, validation_labels, _ = fm.load_arrays("validation")
    rest, rest_labels, _ = fm.load_arrays("train_without_validation")
    assert len(validation) == fm.NUM_EXAMPLES["validation"] == 6_000
    assert len(rest) == fm.NUM_EXAMPLES["train_without_validation"] == 54_000
    assert np.bincount(validation_labels, minlength=10).tolist() == [600] * 10
    # Together they are the training split, each example exactly once, in file order.
    mask = fm.validation_mask(train_images, train_labels)
    np.testing.assert_array_equal(validation, train_images[mask])
    np.testing.assert_array_equal(rest_labels, train_labels[~mask])
    # Pinned: the split never changes (first validation indices in the upstream file order).
    assert np.flatnonzero(mask)[:5].tolist() == FIRST_VALIDATION_INDICES
    # The tf.data pipeline serves the same split.
    batch_images, batch_labels = next(iter(fashion_mnist("validation", batch_size=8)))
    np.testing.assert_array_equal(batch_images.numpy(), validation[:8])
