"""Augmentations keep shapes and dtypes, and do what the papers say (crop geometry, translation range, erasing)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_archs.data import augment


def _seed(i):
    return tf.constant([i, 2 * i + 1], tf.int64)


def _window(shape, seed):
    return augment.random_area_window(tf.constant(shape, tf.int32), _seed(seed)).numpy()


def _windows_for_seeds(shape, count):
    """``random_area_window`` for seeds 0..count-1, in one graph."""
    shape = tf.constant(shape, tf.int32)
    seeds = tf.stack([tf.range(count, dtype=tf.int64), 2 * tf.range(count, dtype=tf.int64) + 1], axis=1)
    sample = tf.function(
        lambda s: tf.map_fn(lambda seed: augment.random_area_window(shape, seed), s, fn_output_signature=tf.int32)
    )
    return sample(seeds).numpy()


def test_random_area_window_respects_area_and_aspect_ratio():
    height, width, count = 375, 500, 200
    windows = _windows_for_seeds([height, width, 3], count)
    top, left, h, w = windows.T
    assert np.all((top >= 0) & (top + h <= height) & (left >= 0) & (left + w <= width))
    # The centre-crop fallback must stay rare on an ordinary image: a sampler that always (or often) fell back
    # would skip every check below. Measured: 0 of 400 seeds fall back on 375x500.
    fallback = np.all(windows == augment.center_crop_window(tf.constant([height, width, 3])).numpy(), axis=1)
    assert fallback.sum() <= 0.02 * count, f"{fallback.sum()} of {count} windows are the centre-crop fallback"
    area = (h * w / (height * width))[~fallback]
    aspect = (w / h)[~fallback]
    assert np.all((area >= 0.08 - 0.01) & (area <= 1.0))
    assert np.all((aspect >= 3 / 4 - 0.02) & (aspect <= 4 / 3 + 0.02))  # integer rounding of the sampled box
    # Random over the whole range (Szegedy et al. 2015: 8 %-100 % of the area, aspect 3/4-4/3), not one window.
    assert np.quantile(area, 0.1) < 0.2 and np.quantile(area, 0.9) > 0.5
    assert aspect.min() < 0.85 and aspect.max() > 1.2
    assert len({tuple(window) for window in windows}) > 0.9 * count


def test_random_area_window_falls_back_to_the_centre_crop():
    # A 1000x1 image has no window of >= 8% area with aspect ratio in [3/4, 4/3].
    np.testing.assert_array_equal(_window([1000, 1, 3], 0), augment.center_crop_window(tf.constant([1000, 1, 3])))
    np.testing.assert_array_equal(augment.center_crop_window(tf.constant([100, 200, 3])).numpy(), [7, 57, 87, 87])


def test_imagenet_eval_is_the_centre_crop_of_the_shorter_side():
    pixels = np.random.default_rng(0).integers(0, 256, size=(100, 200, 3), dtype=np.uint8)
    png = tf.io.encode_png(pixels)  # lossless, so the crop can be compared exactly
    cropped = augment.imagenet_eval(png, 87)  # 87 = int(0.875 * 100): no resampling
    np.testing.assert_array_equal(cropped.numpy(), pixels[7:94, 57:144].astype(np.float32))
    jpeg = tf.io.encode_jpeg(pixels)
    assert augment.imagenet_eval(jpeg, 64).shape == (64, 64, 3)


def test_imagenet_train_shape_dtype_and_determinism():
    jpeg = tf.io.encode_jpeg(np.random.default_rng(1).integers(0, 256, size=(60, 80, 3), dtype=np.uint8))
    first = augment.imagenet_train(jpeg, 48, _seed(3))
    assert first.shape == (48, 48, 3) and first.dtype == tf.float32
    np.testing.assert_array_equal(first.numpy(), augment.imagenet_train(jpeg, 48, _seed(3)).numpy())
    assert 0.0 <= float(tf.reduce_min(first)) and float(tf.reduce_max(first)) <= 255.0


def _windows(padded, size):
    for top in range(padded.shape[0] - size[0] + 1):
        for left in range(padded.shape[1] - size[1] + 1):
            window = padded[top : top + size[0], left : left + size[1]]
            yield window
            yield window[:, ::-1]


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_cifar_train_is_a_crop_of_the_reflect_padded_image_or_its_flip(dtype):
    image = np.random.default_rng(2).integers(0, 256, size=(32, 32, 3)).astype(dtype)
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)), mode="reflect")
    for i in range(3):
        out = augment.cifar_train(tf.constant(image), _seed(i)).numpy()
        assert out.shape == image.shape and out.dtype == image.dtype
        assert any(np.array_equal(out, window) for window in _windows(padded, (32, 32)))
    with pytest.raises(ValueError, match="pad_mode"):
        augment.cifar_train(tf.constant(image), _seed(0), pad_mode="WRAP")


def test_fashion_mnist_train_translates_at_most_two_pixels():
    image = np.random.default_rng(3).integers(1, 256, size=(28, 28, 1)).astype(np.uint8)
    padded = np.pad(image, ((2, 2), (2, 2), (0, 0)))
    for i in range(5):
        out = augment.fashion_mnist_train(tf.constant(image), _seed(i)).numpy()
        assert out.shape == (28, 28, 1) and out.dtype == np.uint8
        assert any(np.array_equal(out, window) for window in _windows(padded, (28, 28)))


@pytest.mark.parametrize("dtype", [tf.uint8, tf.float32])
def test_random_erasing_fills_one_rectangle(dtype):
    image = tf.zeros([32, 32, 3], dtype)
    areas = []
    for i in range(20):
        out = augment.random_erasing(image, _seed(i), probability=1.0).numpy()
        assert out.shape == (32, 32, 3) and out.dtype == dtype.as_numpy_dtype
        changed = np.argwhere(out.any(axis=-1))
        rows, cols = changed[:, 0], changed[:, 1]
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert len(changed) > 0.9 * h * w  # a filled rectangle (a few random values may be 0)
        areas.append(h * w / 1024)
    assert 0.02 - 0.01 <= min(areas) and max(areas) <= 0.4 + 0.05
    untouched = augment.random_erasing(image, _seed(0), probability=0.0)
    np.testing.assert_array_equal(untouched.numpy(), image.numpy())


def test_random_erasing_argument_errors():
    with pytest.raises(ValueError, match=r"Expected `probability` to be in \[0, 1\]. Received: probability=1.5"):
        augment.random_erasing(tf.zeros([8, 8, 3]), _seed(0), probability=1.5)
    with pytest.raises(ValueError, match="area_range"):
        augment.random_erasing(tf.zeros([8, 8, 3]), _seed(0), area_range=(0.5, 0.1))
