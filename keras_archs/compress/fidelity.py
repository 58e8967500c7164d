"""Does a compressed classifier still make its original's predictions on photos that chose nothing?

The validation protocol of docs/compression.md ("Validation protocol"), as code:

* **Photos** from three offline sources that ship with ordinary packages (:data:`SOURCES`, licences beside them):
  scikit-image's and matplotlib's sample photos (Python packages of the test extra), scikit-learn's two sample photos
  (the ``photos`` extra) and the sample data of the Debian package ``opencv-doc`` (``make photos``). Nothing is
  downloaded at run time and no photo is kept in this repository.
* **Split by photo**, never by crop: :data:`PHOTOS` marks each photo ``"tuning"`` (may choose recipes, bit
  allocations, fine-tuning data) or ``"held_out"`` (measures them, and nothing else). The photos that earlier versions
  of this package looked at while choosing recipes (scikit-image's, grace_hopper) are all tuning photos; the others
  were split by a seeded permutation (``numpy.random.default_rng(11).permutation`` of the 34 sorted candidates, the
  first 10 to tuning), fixed before anything was measured on them.
* **Crops**: :func:`random_resized_crops`, the Inception training crop (Szegedy et al. 2015, §8 / torchvision's
  ``RandomResizedCrop``) with area 35-100 % of the photo, aspect 3/4-4/3 and a flip with probability 1/2, resized to
  the model's input. Each photo's crops come from its own seed (derived from the photo's name), so a photo's crops do
  not depend on which other photos are installed.
* **Measures** (:func:`compare`): top-1 agreement with the original on the crops where the original is confident
  (max probability > 0.3) and on all crops, each with a Wilson 95 % interval, and the mean KL(original || compressed).
  Crops of one photo are correlated, so the Wilson interval (which assumes independent crops) is optimistic;
  :func:`compare` also gives a photo-level bootstrap interval when told which photo each crop came from.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import pathlib
import zlib
from typing import Any, Sequence

import numpy as np

__all__ = [
    "SOURCES",
    "PHOTOS",
    "SPLITS",
    "CONFIDENT",
    "PhotoSource",
    "Photo",
    "CropSet",
    "Fidelity",
    "photos",
    "photo_path",
    "missing_photos",
    "load_photo",
    "random_resized_crops",
    "crop_set",
    "wilson_interval",
    "compare",
    "predict",
]

SPLITS = ("tuning", "held_out")
CONFIDENT = 0.3  # the original's max probability above which a crop counts as "confident" (issue #11's protocol)
# Wilson's z for a two-sided 95 % interval: the 0.975 quantile of the standard normal.
_Z95 = 1.959963984540054
# Random-resized crop: area 35-100 % of the photo, aspect 3/4..4/3 (issue #11's protocol; the aspect range is the
# Inception crop's, Szegedy et al. 2015 §8), 10 tries before the centre-crop fallback (torchvision's RandomResizedCrop).
CROP_AREA = (0.35, 1.0)
CROP_ASPECT = (3 / 4, 4 / 3)
_CROP_TRIES = 10


@dataclasses.dataclass(frozen=True)
class PhotoSource:
    """Where a set of photos is installed, and under what terms.

    Attributes:
        name: The source's name, as :attr:`Photo.source` uses it.
        package: The Python package whose folder holds the photos (None: ``root`` is an absolute path).
        root: The folder of the photos: relative to the package's folder, or absolute.
        install: How to install it.
        licence: The photos' licence, with where it is stated.
    """

    name: str
    package: str | None
    root: str
    install: str
    licence: str

    def folder(self) -> pathlib.Path | None:
        """The installed folder, or None when the package is not installed (the package is not imported)."""
        if self.package is None:
            return pathlib.Path(self.root)
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        return pathlib.Path(list(spec.submodule_search_locations)[0]) / self.root


SOURCES: dict[str, PhotoSource] = {
    source.name: source
    for source in (
        PhotoSource(
            "scikit-image",
            "skimage",
            "data",
            "pip install scikit-image (keras_archs[test])",
            "chelsea, coffee: CC0 (the photographers); rocket: public domain (SpaceX); astronaut: public domain "
            "(NASA); motorcycle: Middlebury stereo data set (Scharstein et al. 2014) -- skimage.data docstrings",
        ),
        PhotoSource(
            "matplotlib",
            "matplotlib",
            "mpl-data/sample_data",
            "pip install matplotlib (keras_archs[plot])",
            "grace_hopper.jpg: public domain (U.S. Navy photograph), matplotlib's sample data",
        ),
        PhotoSource(
            "scikit-learn",
            "sklearn",
            "datasets/images",
            "pip install scikit-learn (keras_archs[photos])",
            "china.jpg, flower.jpg: CC BY 2.0 (Flickr users danielbuechele, vultilion) -- "
            "sklearn/datasets/images/README.txt",
        ),
        PhotoSource(
            "opencv-doc",
            None,
            "/usr/share/doc/opencv-doc/examples",
            "apt-get install opencv-doc (Debian; `make photos`)",
            "OpenCV's samples/data: Apache-2.0 AND BSD-3-Clause (/usr/share/doc/opencv-doc/copyright, 'Files: *'; "
            "Debian removed the one image of unclear licence)",
        ),
    )
}


@dataclasses.dataclass(frozen=True)
class Photo:
    """One photo of the protocol: its source, its file (relative to the source's folder), its split and what it
    shows."""

    source: str
    file: str
    split: str
    shows: str

    @property
    def name(self) -> str:
        return f"{self.source}:{self.file}"


def _photo_rows(split: str, source: str, rows: Sequence[tuple[str, str]]) -> tuple[Photo, ...]:
    return tuple(Photo(source, file, split, shows) for file, shows in rows)


# Colour photographs of real scenes only: no renders, drawings, paintings, synthetic patterns, edited copies, or a
# second view of a scene already in (motorcycle_right, leuvenB, graf3, aloeR, rubberwhale2 left out).
PHOTOS: tuple[Photo, ...] = (
    # Looked at while earlier recipes were chosen (docs/compression.md before issue #11): tuning.
    *_photo_rows(
        "tuning",
        "scikit-image",
        [
            ("chelsea.png", "tabby cat"),
            ("coffee.png", "cup of coffee"),
            ("rocket.jpg", "rocket on its launch pad"),
            ("astronaut.png", "astronaut with a flag and a helmet"),
            ("motorcycle_left.png", "motorcycle in a room"),
        ],
    ),
    *_photo_rows("tuning", "matplotlib", [("grace_hopper.jpg", "woman in a naval uniform")]),
    # The seeded split of the 34 new candidates (module docstring): 10 tuning ...
    *_photo_rows(
        "tuning",
        "opencv-doc",
        [
            ("alphamat/input_images/plant.jpg", "potted plant"),
            ("data/apple.jpg", "red apple"),
            ("data/baboon.jpg", "mandrill"),
            ("data/board.jpg", "circuit board"),
            ("data/chicky_512.png", "small long-haired dog"),
            ("data/rubberwhale1.png", "toys on a table"),
            ("hfs/data/000.jpg", "robin on a post"),
            ("hfs/data/001.jpg", "lake and forest"),
            ("text/scenetext01.jpg", "street sign, car, people"),
            ("text/scenetext05.jpg", "fence on a pavement"),
        ],
    ),
    # ... and 24 held out.
    *_photo_rows(
        "held_out",
        "opencv-doc",
        [
            ("data/aero1.jpg", "aerial view of a town"),
            ("data/aero3.jpg", "aerial view of a town"),
            ("data/aloeL.jpg", "aloe in a pot"),
            ("data/building.jpg", "office building"),
            ("data/butterfly.jpg", "butterfly on a leaf"),
            ("data/ela_original.jpg", "notebook with a strap"),
            ("data/fruits.jpg", "oranges, lemons, kiwi"),
            ("data/graf1.png", "graffiti wall"),
            ("data/home.jpg", "tower of a building, sky"),
            ("data/leuvenA.jpg", "street of brick houses"),
            ("data/licenseplate_motion.jpg", "back of a car, motion-blurred"),
            ("data/messi5.jpg", "footballer and ball"),
            ("data/orange.jpg", "orange"),
            ("data/smarties.png", "sweets on white"),
            ("data/squirrel_cls.jpg", "squirrel on a branch"),
            ("data/stuff.jpg", "pencil, lighter and caps on a table"),
            ("data/sudoku.png", "printed sudoku"),
            ("hfs/data/002.jpg", "tree in a field"),
            ("text/scenetext02.jpg", "road sign under a tree"),
            ("text/scenetext03.jpg", "shop front under an arcade"),
            ("text/scenetext04.jpg", "generator behind a wall"),
            ("text/scenetext06.jpg", "pub front, houses, car"),
        ],
    ),
    *_photo_rows("held_out", "scikit-learn", [("china.jpg", "Chinese temple"), ("flower.jpg", "flower")]),
)


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}. Received: split={split!r}")
    return split


def photos(split: str) -> tuple[Photo, ...]:
    """The photos of ``split`` (``"tuning"`` or ``"held_out"``), in :data:`PHOTOS` order."""
    _check_split(split)
    return tuple(photo for photo in PHOTOS if photo.split == split)


def photo_path(photo: Photo) -> pathlib.Path | None:
    """Where ``photo`` is installed, or None when its source is not."""
    folder = SOURCES[photo.source].folder()
    return None if folder is None else folder / photo.file


def missing_photos(split: str) -> list[str]:
    """Each photo of ``split`` that is not installed, as ``"source:file (install: ...)"``; empty when all are."""
    missing = []
    for photo in photos(split):
        path = photo_path(photo)
        if path is None or not path.is_file():
            missing.append(f"{photo.name} (install: {SOURCES[photo.source].install})")
    return missing


def load_photo(photo: Photo) -> np.ndarray:
    """The photo as RGB float32 0..255, ``(height, width, 3)`` (an alpha channel is dropped, grey is repeated).

    Raises:
        FileNotFoundError: The photo is not installed (the message says how to install its source).
    """
    path = photo_path(photo)
    if path is None or not path.is_file():
        raise FileNotFoundError(f"Photo {photo.name} is not installed: {SOURCES[photo.source].install}")
    import tensorflow as tf

    image = tf.io.decode_image(path.read_bytes(), channels=3, expand_animations=False)
    return image.numpy().astype(np.float32)


def _crop_box(rng: np.random.Generator, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width) of one random-resized crop (torchvision's RandomResizedCrop rule)."""
    area = height * width
    log_aspect = (math.log(CROP_ASPECT[0]), math.log(CROP_ASPECT[1]))
    for _ in range(_CROP_TRIES):
        target = area * rng.uniform(*CROP_AREA)
        aspect = math.exp(rng.uniform(*log_aspect))
        crop_width = int(round(math.sqrt(target * aspect)))
        crop_height = int(round(math.sqrt(target / aspect)))
        if 0 < crop_width <= width and 0 < crop_height <= height:
            top = int(rng.integers(0, height - crop_height + 1))
            left = int(rng.integers(0, width - crop_width + 1))
            return top, left, crop_height, crop_width
    # Fallback: the centre crop with the aspect clamped to the range.
    aspect = width / height
    if aspect < CROP_ASPECT[0]:
        crop_width, crop_height = width, int(round(width / CROP_ASPECT[0]))
    elif aspect > CROP_ASPECT[1]:
        crop_height, crop_width = height, int(round(height * CROP_ASPECT[1]))
    else:
        crop_height, crop_width = height, width
    return (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width


def random_resized_crops(image: np.ndarray, count: int, size: int, seed: Any) -> np.ndarray:
    """``count`` random-resized crops of ``image`` (area :data:`CROP_AREA`, aspect :data:`CROP_ASPECT`, flipped with
    probability 1/2), each resized to ``size x size`` (bilinear, antialiased).

    Args:
        image: ``(height, width, channels)`` pixels.
        count: Crops to draw (>= 0).
        size: Output side in pixels.
        seed: Anything ``numpy.random.default_rng`` accepts; the same seed gives the same crops.

    Returns:
        float32 ``(count, size, size, channels)``.

    Example:
        >>> image = np.arange(40 * 60 * 3, dtype=np.float32).reshape(40, 60, 3)
        >>> random_resized_crops(image, 2, 16, seed=0).shape
        (2, 16, 16, 3)
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count must be an int >= 0. Received: count={count!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive int. Received: size={size!r}")
    image = np.asarray(image, np.float32)
    if image.ndim != 3:
        raise ValueError(f"image must be (height, width, channels). Received shape {image.shape}")
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    crops = np.empty((count, size, size, image.shape[2]), np.float32)
    for index in range(count):
        top, left, height, width = _crop_box(rng, *image.shape[:2])
        crop = image[top : top + height, left : left + width]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crops[index] = tf.image.resize(crop, (size, size), method="bilinear", antialias=True).numpy()
    return crops


@dataclasses.dataclass(frozen=True)
class CropSet:
    """Crops of several photos: ``images[i]`` is a crop of ``photo_names[groups[i]]``."""

    images: np.ndarray
    groups: np.ndarray
    photo_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.images)


def crop_set(split: str, per_photo: int, size: int, seed: int = 0, first: int = 0) -> CropSet:
    """Random-resized crops of every photo of ``split``: crops ``first .. first + per_photo - 1`` of each photo's own
    sequence (seeded by ``seed`` and the photo's name), so a smaller set is a prefix of a larger one.

    Raises:
        FileNotFoundError: A photo of ``split`` is not installed (every missing one is named).
    """
    missing = missing_photos(split)
    if missing:
        raise FileNotFoundError(f"{len(missing)} {split} photo(s) are not installed: " + "; ".join(missing))
    if isinstance(first, bool) or not isinstance(first, int) or first < 0:
        raise ValueError(f"first must be an int >= 0. Received: first={first!r}")
    chosen = photos(split)
    images, groups = [], []
    for index, photo in enumerate(chosen):
        crops = random_resized_crops(
            load_photo(photo), first + per_photo, size, seed=[seed, zlib.crc32(photo.name.encode())]
        )
        images.append(crops[first:])
        groups.append(np.full(per_photo, index, np.int32))
    return CropSet(np.concatenate(images), np.concatenate(groups), tuple(photo.name for photo in chosen))


def wilson_interval(successes: int, trials: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927); ``(nan, nan)`` for no trials.

    Example:
        >>> [round(x, 4) for x in wilson_interval(95, 100)]
        [0.8882, 0.9785]
    """
    if trials <= 0:
        return float("nan"), float("nan")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclasses.dataclass(frozen=True)
class Fidelity:
    """How closely a candidate's outputs follow a reference's on a crop set (:func:`compare`).

    Attributes:
        n: Crops.
        n_confident: Crops where the reference's max probability > ``threshold``.
        agreement_confident / agreement_confident_ci: Top-1 agreement on the confident crops, Wilson 95 % interval.
        agreement_all / agreement_all_ci: The same over all crops.
        kl_confident / kl_all: Mean KL(reference || candidate) in nats, over the confident / all crops.
        photo_ci_confident: Photo-level bootstrap 95 % interval of the confident agreement (None without groups).
        threshold: The confidence threshold.
    """

    n: int
    n_confident: int
    agreement_confident: float
    agreement_confident_ci: tuple[float, float]
    agreement_all: float
    agreement_all_ci: tuple[float, float]
    kl_confident: float
    kl_all: float
    photo_ci_confident: tuple[float, float] | None = None
    threshold: float = CONFIDENT

    def meets(self, agreement: float, kl: float) -> bool:
        """Confident agreement >= ``agreement`` and both mean KLs <= ``kl``."""
        return self.agreement_confident >= agreement and max(self.kl_confident, self.kl_all) <= kl

    def cells(self) -> list[str]:
        """Markdown cells: confident agreement [CI] (n), all [CI] (n), KL confident, KL all."""

        def ci(interval):
            return f"[{interval[0]:.3f}, {interval[1]:.3f}]"

        return [
            f"{self.agreement_confident:.3f} {ci(self.agreement_confident_ci)} ({self.n_confident})",
            f"{self.agreement_all:.3f} {ci(self.agreement_all_ci)} ({self.n})",
            f"{self.kl_confident:.4f}",
            f"{self.kl_all:.4f}",
        ]


def _photo_bootstrap(hits: np.ndarray, groups: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """95 % percentile interval of the agreement when whole photos (not crops) are resampled with replacement."""
    labels = np.unique(groups)
    if labels.size == 0:
        return float("nan"), float("nan")
    hit_sums = np.array([hits[groups == label].sum() for label in labels], np.float64)
    counts = np.array([np.count_nonzero(groups == label) for label in labels], np.float64)
    draws = np.random.default_rng(seed).integers(0, labels.size, (resamples, labels.size))
    rates = hit_sums[draws].sum(1) / np.maximum(counts[draws].sum(1), 1)
    low, high = np.percentile(rates, [2.5, 97.5])
    return float(low), float(high)


def compare(
    reference: np.ndarray,
    candidate: np.ndarray,
    threshold: float = CONFIDENT,
    groups: np.ndarray | None = None,
    bootstrap: int = 2000,
) -> Fidelity:
    """Top-1 agreement and KL of ``candidate``'s class probabilities against ``reference``'s, crop by crop.

    Args:
        reference: ``(n, classes)`` probabilities of the original model.
        candidate: The same for the compressed model.
        threshold: A crop is confident when the reference's max probability is above it.
        groups: Optional ``(n,)`` photo index of each crop, for the photo-level bootstrap interval.
        bootstrap: Bootstrap resamples (seeded: the interval is reproducible).

    Returns:
        :class:`Fidelity`.

    Raises:
        ValueError: Arrays of different shapes, not 2-D, or empty.

    Example:
        >>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
        >>> result = compare(p, np.array([[0.8, 0.2], [0.4, 0.6], [0.1, 0.9]]))
        >>> result.n_confident, round(result.agreement_confident, 3), round(result.agreement_all, 3)
        (3, 0.667, 0.667)
    """
    p = np.asarray(reference, np.float64)
    q = np.asarray(candidate, np.float64)
    if p.ndim != 2 or p.shape != q.shape or p.shape[0] == 0:
        raise ValueError(
            f"reference and candidate must be non-empty (n, classes) arrays of one shape. Received: {p.shape}, "
            f"{q.shape}"
        )
    eps = 1e-12  # keeps log finite for a probability that float32 rounded to 0
    kl = np.maximum(np.sum(p * (np.log(p + eps) - np.log(q + eps)), axis=1), 0.0)  # >= 0 up to rounding
    hits = p.argmax(1) == q.argmax(1)
    confident = p.max(1) > threshold
    n, n_confident = len(p), int(confident.sum())
    photo_ci = None
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must have shape ({n},). Received: {groups.shape}")
        photo_ci = _photo_bootstrap(hits[confident], groups[confident], bootstrap, seed=0)
    return Fidelity(
        n=n,
        n_confident=n_confident,
        agreement_confident=float(hits[confident].mean()) if n_confident else float("nan"),
        agreement_confident_ci=wilson_interval(int(hits[confident].sum()), n_confident),
        agreement_all=float(hits.mean()),
        agreement_all_ci=wilson_interval(int(hits.sum()), n),
        kl_confident=float(kl[confident].mean()) if n_confident else float("nan"),
        kl_all=float(kl.mean()),
        photo_ci_confident=photo_ci,
        threshold=threshold,
    )


def predict(model: Any, x: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """``model(x, training=False)`` in batches, as one float32 NumPy array."""
    return np.concatenate(
        [np.asarray(model(x[start : start + batch_size], training=False)) for start in range(0, len(x), batch_size)]
    ).astype(np.float32)
