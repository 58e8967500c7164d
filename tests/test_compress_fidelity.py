"""keras_archs.compress.fidelity: the photo split, the random-resized crops, Wilson intervals, agreement and KL."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras_archs.compress import fidelity

# --- the photo catalogue --------------------------------------------------------------------------------------------


def test_every_photo_is_in_exactly_one_split_and_has_a_known_source():
    names = [photo.name for photo in fidelity.PHOTOS]
    assert len(names) == len(set(names))
    assert {photo.split for photo in fidelity.PHOTOS} == set(fidelity.SPLITS)
    assert all(photo.source in fidelity.SOURCES for photo in fidelity.PHOTOS)
    assert all(photo.shows for photo in fidelity.PHOTOS)
    assert all(source.licence and source.install for source in fidelity.SOURCES.values())


def test_photos_seen_while_choosing_earlier_recipes_are_not_held_out():
    # docs/compression.md before issue #11 measured recipes on these: they may only tune.
    seen = {"chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png", "motorcycle_left.png", "grace_hopper.jpg"}
    held_out = {photo.file for photo in fidelity.photos("held_out")}
    assert not seen & held_out
    assert seen <= {photo.file for photo in fidelity.photos("tuning")}


def test_held_out_set_is_24_photos_of_several_sources():
    held_out = fidelity.photos("held_out")
    assert len(held_out) == 24 and len({photo.source for photo in held_out}) >= 2
    assert {photo.file.split("/")[0] for photo in held_out if photo.source == "opencv-doc"} == {"data", "hfs", "text"}
    assert len(fidelity.photos("tuning")) == 16


def test_unknown_split_is_a_value_error():
    with pytest.raises(ValueError, match="split must be one of .* Received: split='test'"):
        fidelity.photos("test")


@pytest.mark.parametrize("split", fidelity.SPLITS)
def test_installed_photos_decode_as_colour_photos(split):
    missing = fidelity.missing_photos(split)
    if missing:
        pytest.skip(f"{split} photos not installed (`make photos`): {'; '.join(missing)}")
    for photo in fidelity.photos(split):
        image = fidelity.load_photo(photo)
        assert image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 190, photo.name
        assert image.dtype == np.float32 and 0 <= image.min() and image.max() <= 255
        assert np.abs(image[..., 0] - image[..., 2]).mean() > 2, f"{photo.name} is grey"


@pytest.fixture
def fake_photos(tmp_path, monkeypatch):
    """Two tuning and two held-out photos written as PNG (one grey, one with alpha) under a fake source."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    shapes = {"a.png": (60, 80, 3), "b.png": (90, 50, 4), "c.png": (64, 64, 1), "d.png": (40, 120, 3)}
    for file, shape in shapes.items():
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        (tmp_path / file).write_bytes(tf.io.encode_png(pixels).numpy())
    source = fidelity.PhotoSource("fake", None, str(tmp_path), "write them", "made by the test")
    photos = (
        fidelity.Photo("fake", "a.png", "tuning", "noise"),
        fidelity.Photo("fake", "b.png", "tuning", "noise with alpha"),
        fidelity.Photo("fake", "c.png", "held_out", "grey noise"),
        fidelity.Photo("fake", "d.png", "held_out", "wide noise"),
    )
    monkeypatch.setattr(fidelity, "SOURCES", {"fake": source})
    monkeypatch.setattr(fidelity, "PHOTOS", photos)
    return tmp_path


def test_load_photo_gives_rgb_and_names_a_missing_photo(fake_photos):
    rgba = fidelity.load_photo(fidelity.photos("tuning")[1])
    grey = fidelity.load_photo(fidelity.photos("held_out")[0])
    assert rgba.shape == (90, 50, 3) and grey.shape == (64, 64, 3)
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])
    (fake_photos / "d.png").unlink()
    assert fidelity.missing_photos("held_out") == ["fake:d.png (install: write them)"]
    assert fidelity.missing_photos("tuning") == []
    with pytest.raises(FileNotFoundError, match="fake:d.png is not installed: write them"):
        fidelity.load_photo(fidelity.photos("held_out")[1])
    with pytest.raises(FileNotFoundError, match="1 held_out photo"):
        fidelity.crop_set("held_out", 2, 16)


def test_crop_set_is_seeded_per_photo_and_a_smaller_set_is_a_prefix(fake_photos):
    large = fidelity.crop_set("held_out", 5, 24, seed=3)
    small = fidelity.crop_set("held_out", 2, 24, seed=3)
    later = fidelity.crop_set("held_out", 3, 24, seed=3, first=2)
    assert large.images.shape == (10, 24, 24, 3) and large.photo_names == ("fake:c.png", "fake:d.png")
    np.testing.assert_array_equal(large.groups, [0] * 5 + [1] * 5)
    np.testing.assert_array_equal(small.images, large.images[[0, 1, 5, 6]])
    np.testing.assert_array_equal(later.images, large.images[[2, 3, 4, 7, 8, 9]])
    assert not np.array_equal(fidelity.crop_set("held_out", 2, 24, seed=4).images, small.images)


# --- random-resized crops -------------------------------------------------------------------------------------------


def test_crop_boxes_respect_area_aspect_and_bounds():
    rng = np.random.default_rng(0)
    height, width = 300, 400
    boxes = np.array([fidelity._crop_box(rng, height, width) for _ in range(2000)])
    top, left, h, w = boxes.T
    assert np.all(top >= 0) and np.all(left >= 0) and np.all(top + h <= height) and np.all(left + w <= width)
    area = h * w / (height * width)
    aspect = w / h
    # Rounding to whole pixels moves area and aspect by < 1 %.
    assert area.min() >= 0.35 * 0.99 and area.max() <= 1.0
    assert aspect.min() >= 0.75 * 0.99 and aspect.max() <= 4 / 3 * 1.01
    # Spread over the range, not stuck (large areas are rejected more often: they fit only near the image's aspect).
    assert np.quantile(area, 0.1) < 0.45 and np.quantile(area, 0.9) > 0.75
    assert np.quantile(aspect, 0.1) < 0.85 and np.quantile(aspect, 0.9) > 1.15


def test_crop_box_of_a_very_wide_image_falls_back_to_the_centre_with_the_aspect_clamped():
    top, left, h, w = fidelity._crop_box(np.random.default_rng(0), 10, 1000)
    assert (h, w) == (10, 13) and top == 0 and left == (1000 - 13) // 2


def test_random_resized_crops_flip_about_half_and_resize():
    image = np.tile(np.arange(64, dtype=np.float32)[None, :, None], (48, 1, 3))  # brightness grows to the right
    crops = fidelity.random_resized_crops(image, 200, 16, seed=1)
    assert crops.shape == (200, 16, 16, 3) and crops.dtype == np.float32
    flipped = crops[:, :, 0, 0].mean(1) > crops[:, :, -1, 0].mean(1)
    assert 0.35 < flipped.mean() < 0.65
    np.testing.assert_array_equal(crops, fidelity.random_resized_crops(image, 200, 16, seed=1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"count": -1}, "count must be an int >= 0. Received: count=-1"),
        ({"count": 2.0}, "count must be an int >= 0. Received: count=2.0"),
        ({"size": 0}, "size must be a positive int. Received: size=0"),
    ],
)
def test_random_resized_crops_rejects_bad_arguments(kwargs, message):
    arguments = {"image": np.zeros((8, 8, 3)), "count": 1, "size": 4, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        fidelity.random_resized_crops(**arguments)


# --- measures -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "successes, trials, expected",
    # Wilson 1927's interval, z = 1.96 (values as in Newcombe 1998, Table I: 0/10 -> 0 .. 0.2775).
    [(0, 10, (0.0, 0.2775)), (10, 10, (0.7225, 1.0)), (95, 100, (0.8882, 0.9785)), (1, 2, (0.0945, 0.9055))],
)
def test_wilson_interval(successes, trials, expected):
    low, high = fidelity.wilson_interval(successes, trials)
    assert low == pytest.approx(expected[0], abs=5e-5) and high == pytest.approx(expected[1], abs=5e-5)


def test_wilson_interval_of_no_trials_is_nan():
    assert all(math.isnan(x) for x in fidelity.wilson_interval(0, 0))


def test_compare_counts_confident_crops_and_kl():
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.55, 0.45], [0.5, 0.5]])
    q = np.array([[0.8, 0.2], [0.6, 0.4], [0.55, 0.45], [0.3, 0.7]])
    result = fidelity.compare(p, q, threshold=0.52)
    kl = np.sum(p * np.log(p / q), axis=1)
    assert result.n == 4 and result.n_confident == 3  # the 0.5 / 0.5 crop is not confident
    assert result.agreement_confident == pytest.approx(2 / 3) and result.agreement_all == pytest.approx(2 / 4)
    assert result.kl_confident == pytest.approx(kl[:3].mean()) and result.kl_all == pytest.approx(kl.mean())
    assert result.agreement_confident_ci == fidelity.wilson_interval(2, 3)
    assert result.photo_ci_confident is None
    assert result.meets(0.6, 1.0) and not result.meets(0.7, 1.0) and not result.meets(0.6, kl.mean() - 1e-9)
    assert fidelity.compare(p, p).meets(1.0, 0.0)


def test_compare_photo_bootstrap_reflects_whole_photos():
    p = np.tile([[0.9, 0.1]], (40, 1))
    q = p.copy()
    q[:10] = [[0.1, 0.9]]  # every crop of photo 0 disagrees
    groups = np.repeat(np.arange(4), 10)
    result = fidelity.compare(p, q, groups=groups)
    assert result.agreement_confident == 0.75
    low, high = result.photo_ci_confident
    # Resampling photos: 0 to 4 copies of the bad photo among 4 -> far wider than the crop-level Wilson interval.
    assert low <= 0.5 and high == 1.0
    assert high - low > result.agreement_confident_ci[1] - result.agreement_confident_ci[0]
    assert fidelity.compare(p, q, groups=groups).photo_ci_confident == (low, high)  # seeded


def test_compare_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"one shape. Received: \(2, 3\), \(2, 4\)"):
        fidelity.compare(np.ones((2, 3)) / 3, np.ones((2, 4)) / 4)
    with pytest.raises(ValueError, match=r"groups must have shape \(2,\)"):
        fidelity.compare(np.ones((2, 3)) / 3, np.ones((2, 3)) / 3, groups=np.zeros(3))


def test_predict_batches_a_model_call():
    calls = []

    def model(x, training):
        calls.append((len(x), training))
        return x.sum(axis=(1, 2, 3))[:, None] * np.ones((1, 2))

    x = np.random.default_rng(0).random((5, 2, 2, 1)).astype(np.float32)
    out = fidelity.predict(model, x, batch_size=2)
    assert calls == [(2, False), (2, False), (1, False)]
    np.testing.assert_allclose(out[:, 0], x.sum(axis=(1, 2, 3)), rtol=1e-6)
