"""Photo crop sets for measuring a compressed ImageNet model against its original (shared by the SqueezeNet scripts).

The photos: scikit-image's chelsea, coffee, rocket, astronaut (the M4 set of tests/test_compress_squeezenet.py), then
stereo_motorcycle (left view) and matplotlib's grace_hopper, then every image of ``--photos DIR`` (docs/
compression.md's 7-photo sets added a board photo from the Rust embedded book, not shipped here). Two crop sets:

* multi-crops ("M"): centre + 4 corners at 100 / 87.5 / 75 % of the short side, each also flipped: 30 per photo (the
  multi-crop protocol of AlexNet / GoogLeNet evaluation);
* random crops ("R"): ``count`` per photo, square side uniform in 35-100 % of the short side, position uniform, flipped
  with probability 1/2, seeded.

Every crop is resized to ``size`` (antialiased) and returned as RGB float32 0..255.
"""

from __future__ import annotations

import pathlib

import numpy as np

SKIMAGE_PHOTOS = ("chelsea", "coffee", "rocket", "astronaut")


def load_photos(skimage_names=SKIMAGE_PHOTOS, extra: bool = False, directory: pathlib.Path | None = None) -> list:
    """RGB float32 photos: the named scikit-image photos, with ``extra`` the motorcycle and grace_hopper, then the
    images of ``directory`` (any format ``tf.io.decode_image`` reads), sorted by name."""
    photos = []
    if skimage_names:
        import skimage.data

        photos += [np.asarray(getattr(skimage.data, name)(), np.float32)[..., :3] for name in skimage_names]
    if extra:
        import matplotlib.cbook
        import skimage.data

        photos.append(np.asarray(skimage.data.stereo_motorcycle()[0], np.float32)[..., :3])
        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as stream:
            photos.append(_decode(stream.read()))
    if directory is not None:
        for path in sorted(pathlib.Path(directory).iterdir()):
            if path.is_file():
                photos.append(_decode(path.read_bytes()))
    return photos


def _decode(data: bytes) -> np.ndarray:
    import tensorflow as tf

    return tf.io.decode_image(data, channels=3, expand_animations=False).numpy().astype(np.float32)


def _resized(crop: np.ndarray, size: int) -> np.ndarray:
    from keras import ops

    return np.asarray(ops.image.resize(crop[None], (size, size), antialias=True))[0]


def multi_crops(photos: list, size: int) -> np.ndarray:
    """The M set: 30 crops per photo (module docstring)."""
    crops = []
    for image in photos:
        height, width = image.shape[:2]
        for fraction in (1.0, 0.875, 0.75):
            side = int(min(height, width) * fraction)
            corners = [
                ((height - side) // 2, (width - side) // 2),
                (0, 0),
                (0, width - side),
                (height - side, 0),
                (height - side, width - side),
            ]
            for top, left in corners:
                crop = image[top : top + side, left : left + side]
                crops += [_resized(crop, size), _resized(crop[:, ::-1], size)]
    return np.stack(crops)


def random_crops(photos: list, size: int, count: int, seed: int = 0) -> np.ndarray:
    """The R set: ``count`` random crops per photo (module docstring)."""
    rng = np.random.default_rng(seed)
    crops = []
    for image in photos:
        height, width = image.shape[:2]
        short = min(height, width)
        for _ in range(count):
            side = max(1, int(short * rng.uniform(0.35, 1.0)))
            top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
            crop = image[top : top + side, left : left + side]
            crops.append(_resized(crop[:, ::-1] if rng.random() < 0.5 else crop, size))
    return np.stack(crops)


def agreement(reference: np.ndarray, candidate: np.ndarray, threshold: float) -> tuple[float, float, int]:
    """(top-1 agreement, mean KL(reference || candidate), n) over the crops where the reference's top probability is
    above ``threshold``."""
    confident = reference.max(axis=1) > threshold
    if not confident.any():
        return float("nan"), float("nan"), 0
    p, q = reference[confident], candidate[confident]
    kl = np.sum(p * (np.log(p + 1e-12) - np.log(q + 1e-12)), axis=1)
    return float(np.mean(p.argmax(1) == q.argmax(1))), float(kl.mean()), int(confident.sum())
