"""ImageNet: TFRecord shards with real JPEG bytes written here, the train/eval/multi-crop paths, sharding, and the
tfds imagenet2012 path when tensorflow_datasets is installed."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tfds_fixtures

from keras_archs.data import DatasetNotFoundError, imagenet

SIZE = 32  # small output size keeps the tests fast


def _example(encoded: bytes, label: int) -> bytes:
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"JPEG"])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_shards(directory, split, labels_per_shard, rng, encode=tf.io.encode_jpeg):
    """One shard per entry of ``labels_per_shard``, named like build_imagenet_data.py's output."""
    directory.mkdir(parents=True, exist_ok=True)
    count = len(labels_per_shard)
    for index, labels in enumerate(labels_per_shard):
        with tf.io.TFRecordWriter(str(directory / f"{split}-{index:05d}-of-{count:05d}")) as writer:
            for label in labels:
                height, width = rng.integers(36, 80, size=2)
                pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
                writer.write(_example(encode(pixels).numpy(), int(label)))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(1)
    write_shards(root, "train", [[1, 2, 3, 4], [5, 6, 7, 1000]], rng)
    write_shards(root, "validation", [[10, 20, 30]], rng)
    return root


def _labels(ds):
    return sorted(np.concatenate([labels.numpy() for _, labels in ds]).tolist())


def test_eval_pipeline_shapes_and_labels(shards):
    ds = imagenet("validation", batch_size=2, image_size=SIZE, data_dir=shards)
    batches = list(ds)
    assert [tuple(images.shape) for images, _ in batches] == [(2, SIZE, SIZE, 3), (1, SIZE, SIZE, 3)]
    assert batches[0][0].dtype.name == "float32" and batches[0][1].dtype.name == "int32"
    assert _labels(ds) == [9, 19, 29]  # image/class/label 1..1000 -> 0..999
    values = np.concatenate([images.numpy() for images, _ in batches])
    assert values.min() >= 0.0 and values.max() <= 255.0


def test_train_pipeline_augments_deterministically(shards):
    kwargs = dict(batch_size=8, image_size=SIZE, augment=True, erasing=True, seed=5, data_dir=shards)
    first = next(iter(imagenet("train", **kwargs)))
    again = next(iter(imagenet("train", **kwargs)))
    assert tuple(first[0].shape) == (8, SIZE, SIZE, 3)
    assert sorted(first[1].numpy().tolist()) == [0, 1, 2, 3, 4, 5, 6, 999]
    np.testing.assert_array_equal(first[0].numpy(), again[0].numpy())
    np.testing.assert_array_equal(first[1].numpy(), again[1].numpy())
    other = next(iter(imagenet("train", **{**kwargs, "seed": 6})))
    assert not np.array_equal(first[0].numpy(), other[0].numpy())


def test_for_model_size_and_preprocessing(shards):
    images, _ = next(iter(imagenet("validation", batch_size=3, for_model="InceptionV3", data_dir=shards)))
    assert tuple(images.shape) == (3, 299, 299, 3)  # InceptionV3: 299, "tf" mode
    assert float(tf.reduce_min(images)) >= -1.0 and float(tf.reduce_max(images)) <= 1.0
    raw, _ = next(iter(imagenet("validation", batch_size=3, image_size=299, data_dir=shards)))
    np.testing.assert_allclose(images.numpy(), raw.numpy() / 127.5 - 1.0, atol=1e-5)


@pytest.mark.parametrize("crops", [1, 5, 10])
def test_multicrop_evaluation(shards, crops):
    images, labels = next(iter(imagenet("validation", batch_size=3, image_size=SIZE, crops=crops, data_dir=shards)))
    assert tuple(images.shape) == (3, crops, SIZE, SIZE, 3)
    if crops == 10:
        np.testing.assert_allclose(images.numpy()[:, 5], images.numpy()[:, 0, :, ::-1])  # flipped centre


def test_multicrop_rejects_augment(shards):
    with pytest.raises(ValueError, match="crops"):
        imagenet("train", crops=10, augment=True, data_dir=shards)
    with pytest.raises(ValueError, match=r"Expected `crops` to be None, 1, 5 or 10. Received: crops=3"):
        imagenet("validation", crops=3, data_dir=shards)


@pytest.mark.parametrize("num_shards", [2, 3])  # 2: by file (2 files); 3: by record
def test_sharding_partitions_the_records(shards, num_shards):
    parts = [
        _labels(
            imagenet(
                "train", batch_size=4, image_size=8, seed=None, num_shards=num_shards, shard_index=i, data_dir=shards
            )
        )
        for i in range(num_shards)
    ]
    assert sorted(sum(parts, [])) == [0, 1, 2, 3, 4, 5, 6, 999]
    assert all(parts)


def test_png_records_decode_through_the_fallback(tmp_path):
    write_shards(tmp_path, "validation", [[1, 2]], np.random.default_rng(2), encode=tf.io.encode_png)
    images, labels = next(iter(imagenet("validation", batch_size=2, image_size=SIZE, data_dir=tmp_path)))
    assert tuple(images.shape) == (2, SIZE, SIZE, 3) and labels.numpy().tolist() == [0, 1]
    images, _ = next(
        iter(imagenet("validation", batch_size=2, image_size=SIZE, augment=True, seed=1, data_dir=tmp_path))
    )
    assert tuple(images.shape) == (2, SIZE, SIZE, 3)


def test_label_zero_is_rejected(tmp_path):
    write_shards(tmp_path, "validation", [[0]], np.random.default_rng(3))
    with pytest.raises(tf.errors.InvalidArgumentError, match="1..1000"):
        next(iter(imagenet("validation", batch_size=1, image_size=SIZE, data_dir=tmp_path)))


def test_missing_data_lists_every_place_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    (tmp_path / "shards").mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        imagenet("validation", data_dir=tmp_path / "shards")
    places = [place for place, _ in info.value.looked]
    assert places[0] == f"{tmp_path / 'shards'} (data_dir, TFRecord shards)"
    assert info.value.looked[0][1] == "no validation-*-of-* files"
    assert places[1].startswith("tensorflow_datasets 'imagenet2012' prepared in")
    assert "manual download" in str(info.value) and "image/class/label" in str(info.value)


ROW_STEP, COLUMN_STEP = 6, 5  # levels per pixel of the test images' ramps


def _imagenet_examples(labels):
    """40x50 images whose red channel ramps down the rows and green across the columns (so where a crop was taken can
    be read off its mean colour), blue telling the images apart."""
    rows, cols = np.mgrid[0:40, 0:50]
    pixels = np.stack(
        [
            np.stack([ROW_STEP * rows, COLUMN_STEP * cols, np.full_like(rows, 100 + 50 * i)], -1)
            for i in range(len(labels))
        ]
    ).astype(np.uint8)
    names = np.array([f"{i}.JPEG".encode() for i in range(len(labels))])
    return pixels, {"image": pixels, "label": np.array(labels), "file_name": names}


def test_tfds_imagenet2012_prepared_data(tmp_path):
    # tfds stores the images JPEG-encoded; the pipeline reads them with SkipDecoding and decodes them itself.
    _, examples = _imagenet_examples([0, 5, 999])
    tfds_fixtures.write_prepared("imagenet2012", tmp_path, {"validation": examples})
    images, labels = next(iter(imagenet("validation", batch_size=3, image_size=SIZE, data_dir=tmp_path)))
    assert tuple(images.shape) == (3, SIZE, SIZE, 3)
    assert labels.numpy().tolist() == [0, 5, 999]  # tfds labels are already 0-based


def test_tfds_imagenet2012_in_the_default_data_dir(tmp_path, monkeypatch):
    tfds_dir = tmp_path / "tfds"
    pixels, examples = _imagenet_examples([7, 3])
    tfds_fixtures.write_prepared("imagenet2012", tfds_dir, {"validation": examples})
    monkeypatch.setenv("TFDS_DATA_DIR", str(tfds_dir))
    images, labels = next(iter(imagenet("validation", batch_size=2, image_size=35)))  # 35 = int(0.875 * 40)
    assert labels.numpy().tolist() == [7, 3]
    # The evaluation centre crop of each (JPEG-stored) image: the 35x35 square at ((40 - 35 + 1) // 2, (50 - 35 + 1)
    # // 2) = (3, 8). Its mean row / column, read off the ramps, must be within half a pixel of that square's.
    centre = pixels[:, 3:38, 8:43].astype(np.float32)
    shift = (images.numpy() - centre).mean(axis=(1, 2))
    assert np.all(np.abs(shift[:, 0]) < ROW_STEP / 2) and np.all(np.abs(shift[:, 1]) < COLUMN_STEP / 2), shift
    assert np.all(np.abs(shift[:, 2]) < 3)
