"""Per-example training augmentation and evaluation crops, as the papers describe them, with stateless TF ops.

Every random function takes a ``seed``: an ``int32``/``int64`` tensor of shape ``[2]`` for TensorFlow's stateless
random ops (``tf.random.stateless_*``, ``tf.image.stateless_*``). The pipelines hand each example its own seed (see
``keras_archs.data.pipeline``), so the augmentation is reproducible with a fixed pipeline seed and independent of
``tf.data``'s parallelism.

* ImageNet, training (:func:`imagenet_train`): the random-area crop of Szegedy et al. 2015 ("Going deeper with
  convolutions", Sec. 6: patches of 8%-100% of the image area, aspect ratio in [3/4, 4/3]), used by ResNet
  (He et al. 2016, Sec. 3.4, via fb.resnet.torch) and most later ImageNet models: a crop window is sampled with
  ``tf.image.stateless_sample_distorted_bounding_box`` (10 attempts); if none fits, the evaluation centre crop is used.
  Only the window is decoded (``tf.image.decode_and_crop_jpeg``), then resized to the model size and randomly flipped.
* ImageNet, evaluation (:func:`imagenet_eval`): a centred square of 0.875 of the shorter side (224/256: the "resize to
  256, crop 224" of He et al. 2016 and Simonyan & Zisserman 2015, and Inception's central crop of 0.875), decoded with
  ``decode_and_crop_jpeg``, resized to the model size.
* CIFAR, training (:func:`cifar_train`): pad 4 pixels on each side, take a random 32x32 crop, flip horizontally at
  random (He et al. 2016, Sec. 4.2). The padding reflects the image (Zagoruyko & Komodakis 2016, Wide Residual
  Networks, Sec. 4: "filling missing pixels with reflections of original image"); ``pad_mode="CONSTANT"`` gives the
  zero padding of He et al.
* Fashion-MNIST, training (:func:`fashion_mnist_train`): no paper recipe exists; we flip horizontally at random
  (clothes are left-right symmetric classes) and translate by a random whole number of pixels, up to 10% of the
  side in each direction (2 pixels on 28x28: ``floor(0.1 * 28)``), filling with the black background.
* Random erasing (:func:`random_erasing`, Zhong et al. 2017, "Random Erasing Data Augmentation", Alg. 1 and Sec. 4.1:
  p = 0.5, area 2%-40% of the image, aspect ratio in [0.3, 1/0.3]): a rectangle is filled with random pixel values.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

__all__ = [
    "IMAGENET_AREA_RANGE",
    "IMAGENET_ASPECT_RATIO_RANGE",
    "IMAGENET_MAX_ATTEMPTS",
    "EVAL_CROP_FRACTION",
    "CIFAR_PADDING",
    "FASHION_MNIST_MAX_TRANSLATION",
    "ERASING_PROBABILITY",
    "ERASING_AREA_RANGE",
    "ERASING_ASPECT_RATIO_RANGE",
    "split_seed",
    "decode_and_crop",
    "center_crop_window",
    "random_area_window",
    "imagenet_train",
    "imagenet_eval",
    "cifar_train",
    "fashion_mnist_train",
    "random_erasing",
]

IMAGENET_AREA_RANGE = (0.08, 1.0)  # Szegedy et al. 2015, Sec. 6
IMAGENET_ASPECT_RATIO_RANGE = (3 / 4, 4 / 3)  # Szegedy et al. 2015, Sec. 6
IMAGENET_MAX_ATTEMPTS = 10  # tries before falling back to the centre crop
EVAL_CROP_FRACTION = 0.875  # 224 / 256 (He et al. 2016; Simonyan & Zisserman 2015); Inception's central_fraction
CIFAR_PADDING = 4  # He et al. 2016, Sec. 4.2
FASHION_MNIST_MAX_TRANSLATION = 0.1  # our choice for Fashion-MNIST (no paper recipe), see the module docstring
ERASING_PROBABILITY = 0.5  # Zhong et al. 2017, Sec. 4.1
ERASING_AREA_RANGE = (0.02, 0.4)  # Zhong et al. 2017, Sec. 4.1 (s_l, s_h)
ERASING_ASPECT_RATIO_RANGE = (0.3, 1 / 0.3)  # Zhong et al. 2017, Sec. 4.1 (r_1, 1/r_1)


def split_seed(seed: tf.Tensor, count: int) -> tf.Tensor:
    """``count`` independent stateless seeds (``[count, 2]``) derived from ``seed`` (``[2]``)."""
    return tf.random.experimental.stateless_split(seed, num=count)


def center_crop_window(shape: tf.Tensor, fraction: float = EVAL_CROP_FRACTION) -> tf.Tensor:
    """The centred square window ``[offset_y, offset_x, size, size]`` covering ``fraction`` of the shorter side.

    Args:
        shape: ``int32`` tensor ``[height, width, ...]`` of the image.
        fraction: Side of the square over the shorter side of the image, in (0, 1].

    Returns:
        An ``int32`` tensor ``[offset_y, offset_x, side, side]`` (the ``crop_window`` of ``decode_and_crop_jpeg``).
    """
    height, width = shape[0], shape[1]
    side = tf.maximum(tf.cast(tf.cast(tf.minimum(height, width), tf.float32) * fraction, tf.int32), 1)
    return tf.stack([(height - side + 1) // 2, (width - side + 1) // 2, side, side])


def random_area_window(
    shape: tf.Tensor,
    seed: tf.Tensor,
    area_range: tuple[float, float] = IMAGENET_AREA_RANGE,
    aspect_ratio_range: tuple[float, float] = IMAGENET_ASPECT_RATIO_RANGE,
    max_attempts: int = IMAGENET_MAX_ATTEMPTS,
    fallback_fraction: float = EVAL_CROP_FRACTION,
) -> tf.Tensor:
    """A random crop window covering ``area_range`` of the image with aspect ratio in ``aspect_ratio_range``.

    When ``tf.image.stateless_sample_distorted_bounding_box`` finds no window in ``max_attempts`` tries it returns
    the whole image; we then use the centre crop of :func:`center_crop_window` instead.

    Args:
        shape: ``int32`` tensor ``[height, width, channels]``.
        seed: Stateless seed, shape ``[2]``.
        area_range: Fraction of the image area the crop covers.
        aspect_ratio_range: Width / height of the crop.
        max_attempts: Tries before falling back to the centre crop.
        fallback_fraction: Crop fraction of the fallback centre crop.

    Returns:
        An ``int32`` tensor ``[offset_y, offset_x, height, width]``.
    """
    whole_image = tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32, shape=[1, 1, 4])
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.cast(shape, tf.int32),
        bounding_boxes=whole_image,
        seed=seed,
        min_object_covered=area_range[0],
        aspect_ratio_range=aspect_ratio_range,
        area_range=area_range,
        max_attempts=max_attempts,
        use_image_if_no_bounding_boxes=True,
    )
    window = tf.stack([begin[0], begin[1], size[0], size[1]])
    failed = tf.logical_and(tf.equal(size[0], shape[0]), tf.equal(size[1], shape[1]))
    return tf.cond(failed, lambda: center_crop_window(shape, fallback_fraction), lambda: window)


def decode_and_crop(encoded: tf.Tensor, window_fn: Callable[[tf.Tensor], tf.Tensor]) -> tf.Tensor:
    """Decodes only the window ``window_fn(shape)`` of an encoded image, as RGB ``uint8``.

    JPEGs (nearly all of ImageNet) go through the fused ``tf.image.decode_and_crop_jpeg``, which skips the pixels
    outside the window; other formats (PNG, GIF, BMP) are decoded whole and then sliced.

    Args:
        encoded: Scalar ``tf.string`` tensor, the file's bytes.
        window_fn: ``int32[height, width, channels] -> int32[offset_y, offset_x, height, width]``; called on the
            image's shape (deterministic for a given seed, so it may be called in both branches).

    Returns:
        A ``uint8`` tensor ``(height, width, 3)``.
    """

    def jpeg():
        window = window_fn(tf.image.extract_jpeg_shape(encoded))
        return tf.image.decode_and_crop_jpeg(encoded, window, channels=3)

    def other():
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        window = window_fn(tf.shape(image))
        return tf.slice(image, tf.stack([window[0], window[1], 0]), tf.stack([window[2], window[3], 3]))

    return tf.cond(tf.io.is_jpeg(encoded), jpeg, other)


def _resize(image: tf.Tensor, size: int) -> tf.Tensor:
    image = tf.image.resize(image, [size, size], method="bilinear")
    return tf.ensure_shape(image, [size, size, 3])


def imagenet_train(
    encoded: tf.Tensor,
    size: int,
    seed: tf.Tensor,
    area_range: tuple[float, float] = IMAGENET_AREA_RANGE,
    aspect_ratio_range: tuple[float, float] = IMAGENET_ASPECT_RATIO_RANGE,
    max_attempts: int = IMAGENET_MAX_ATTEMPTS,
) -> tf.Tensor:
    """Random-area crop (decoded with the fused JPEG op), resize to ``size``, random horizontal flip.

    Args:
        encoded: Scalar ``tf.string``, the JPEG (or PNG...) bytes.
        size: Output height and width.
        seed: Stateless seed, shape ``[2]``.
        area_range: Fraction of the image area covered by the crop (Szegedy et al. 2015: 0.08-1).
        aspect_ratio_range: Aspect ratio range of the crop (3/4-4/3).
        max_attempts: Tries before the centre-crop fallback.

    Returns:
        A ``float32`` tensor ``(size, size, 3)``, values in 0..255.

    Example:
        >>> import tensorflow as tf
        >>> jpeg = tf.io.encode_jpeg(tf.zeros([40, 60, 3], tf.uint8))
        >>> imagenet_train(jpeg, 32, tf.constant([1, 2])).shape
        TensorShape([32, 32, 3])
    """
    crop_seed, flip_seed = tf.unstack(split_seed(seed, 2))
    image = decode_and_crop(
        encoded, lambda shape: random_area_window(shape, crop_seed, area_range, aspect_ratio_range, max_attempts)
    )
    image = _resize(image, size)
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def imagenet_eval(encoded: tf.Tensor, size: int, crop_fraction: float = EVAL_CROP_FRACTION) -> tf.Tensor:
    """Centre crop of ``crop_fraction`` of the shorter side (fused JPEG decode), resized to ``size``.

    Args:
        encoded: Scalar ``tf.string``, the JPEG (or PNG...) bytes.
        size: Output height and width.
        crop_fraction: Side of the centred square over the shorter side (0.875 = 224/256).

    Returns:
        A ``float32`` tensor ``(size, size, 3)``, values in 0..255.

    Example:
        >>> import tensorflow as tf
        >>> jpeg = tf.io.encode_jpeg(tf.zeros([40, 60, 3], tf.uint8))
        >>> imagenet_eval(jpeg, 32).shape
        TensorShape([32, 32, 3])
    """
    return _resize(decode_and_crop(encoded, lambda shape: center_crop_window(shape, crop_fraction)), size)


def cifar_train(
    image: tf.Tensor, seed: tf.Tensor, padding: int = CIFAR_PADDING, pad_mode: str = "REFLECT"
) -> tf.Tensor:
    """Pads ``padding`` pixels on each side, crops back to the original size at random, flips at random.

    Args:
        image: ``(height, width, channels)`` tensor of any dtype (statically shaped).
        seed: Stateless seed, shape ``[2]``.
        padding: Pixels added on each side (He et al. 2016: 4).
        pad_mode: ``"REFLECT"`` (Zagoruyko & Komodakis 2016), ``"SYMMETRIC"`` or ``"CONSTANT"`` (zeros, He et al.).

    Returns:
        A tensor with the shape and dtype of ``image``.

    Raises:
        ValueError: If ``pad_mode`` is not one of these.

    Example:
        >>> import tensorflow as tf
        >>> cifar_train(tf.zeros([32, 32, 3], tf.uint8), tf.constant([0, 1])).shape
        TensorShape([32, 32, 3])
    """
    if pad_mode not in ("REFLECT", "SYMMETRIC", "CONSTANT"):
        raise ValueError(
            f"Expected `pad_mode` to be one of 'REFLECT', 'SYMMETRIC', 'CONSTANT'. Received: pad_mode={pad_mode!r}"
        )
    crop_seed, flip_seed = tf.unstack(split_seed(seed, 2))
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]], mode=pad_mode)
    image = tf.image.stateless_random_crop(padded, tf.shape(image), crop_seed)
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def fashion_mnist_train(
    image: tf.Tensor, seed: tf.Tensor, max_translation: float = FASHION_MNIST_MAX_TRANSLATION
) -> tf.Tensor:
    """Random horizontal flip and a random translation of up to ``max_translation`` of the side, in whole pixels.

    The translation pads ``floor(max_translation * side)`` zero pixels (the black background) on each side and takes
    a random crop of the original size, so every shift in ``[-pad, pad]`` pixels is equally likely on each axis.

    Args:
        image: ``(28, 28, 1)`` (or any statically shaped ``(height, width, channels)``) tensor of any dtype.
        seed: Stateless seed, shape ``[2]``.
        max_translation: Largest shift as a fraction of the image side, in [0, 1).

    Returns:
        A tensor with the shape and dtype of ``image``.

    Raises:
        ValueError: If ``max_translation`` is not in [0, 1).

    Example:
        >>> import tensorflow as tf
        >>> fashion_mnist_train(tf.zeros([28, 28, 1], tf.uint8), tf.constant([0, 1])).shape
        TensorShape([28, 28, 1])
    """
    if not 0.0 <= max_translation < 1.0:
        raise ValueError(f"Expected `max_translation` to be in [0, 1). Received: max_translation={max_translation!r}")
    pad_y = int(max_translation * image.shape[0])
    pad_x = int(max_translation * image.shape[1])
    crop_seed, flip_seed = tf.unstack(split_seed(seed, 2))
    padded = tf.pad(image, [[pad_y, pad_y], [pad_x, pad_x], [0, 0]])
    image = tf.image.stateless_random_crop(padded, tf.shape(image), crop_seed)
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def random_erasing(
    image: tf.Tensor,
    seed: tf.Tensor,
    probability: float = ERASING_PROBABILITY,
    area_range: tuple[float, float] = ERASING_AREA_RANGE,
    aspect_ratio_range: tuple[float, float] = ERASING_ASPECT_RATIO_RANGE,
    max_attempts: int = 10,
) -> tf.Tensor:
    """Random erasing (Zhong et al. 2017): with ``probability``, fills a random rectangle with random pixel values.

    The rectangle's area is uniform in ``area_range`` (as a fraction of the image) and its aspect ratio uniform in
    ``aspect_ratio_range`` (Alg. 1); the first of ``max_attempts`` candidates that fits inside the image is used, at
    a position uniform among those where it fits; if none fits, the image is left as it is. Fill values are uniform
    on the 0..255 scale (integers for integer images), so call it before normalisation.

    Args:
        image: ``(height, width, channels)`` tensor, values on the 0..255 scale, any real dtype.
        seed: Stateless seed, shape ``[2]``.
        probability: Probability of erasing (0.5).
        area_range: Erased area over image area (0.02-0.4).
        aspect_ratio_range: Height / width of the rectangle (0.3-3.33).
        max_attempts: Candidate rectangles tried.

    Returns:
        A tensor with the shape and dtype of ``image``.

    Raises:
        ValueError: If ``probability`` is not in [0, 1] or a range is empty.

    Example:
        >>> import tensorflow as tf
        >>> erased = random_erasing(tf.zeros([32, 32, 3], tf.uint8), tf.constant([3, 4]), probability=1.0)
        >>> erased.shape, erased.dtype.name
        (TensorShape([32, 32, 3]), 'uint8')
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"Expected `probability` to be in [0, 1]. Received: probability={probability!r}")
    for name, (low, high) in (("area_range", area_range), ("aspect_ratio_range", aspect_ratio_range)):
        if not 0.0 < low <= high:
            raise ValueError(
                f"Expected `{name}` to be (low, high) with 0 < low <= high. Received: {name}={(low, high)!r}"
            )
    seeds = split_seed(seed, 6)
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    area = tf.cast(height * width, tf.float32)
    areas = tf.random.stateless_uniform([max_attempts], seeds[0], area_range[0], area_range[1]) * area
    ratios = tf.random.stateless_uniform([max_attempts], seeds[1], aspect_ratio_range[0], aspect_ratio_range[1])
    heights = tf.cast(tf.round(tf.sqrt(areas * ratios)), tf.int32)
    widths = tf.cast(tf.round(tf.sqrt(areas / ratios)), tf.int32)
    fits = (heights >= 1) & (widths >= 1) & (heights < height) & (widths < width)  # Alg. 1: H_e < H, W_e < W
    pick = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    # Clipped so the position ranges below are never empty (when nothing fits, nothing is erased anyway).
    erase_h = tf.clip_by_value(heights[pick], 1, height)
    erase_w = tf.clip_by_value(widths[pick], 1, width)
    top = tf.random.stateless_uniform([], seeds[2], 0, height - erase_h + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], seeds[3], 0, width - erase_w + 1, dtype=tf.int32)
    rows = tf.range(height)[:, None, None]
    cols = tf.range(width)[None, :, None]
    inside = (rows >= top) & (rows < top + erase_h) & (cols >= left) & (cols < left + erase_w)
    erase = (tf.random.stateless_uniform([], seeds[4]) < probability) & tf.reduce_any(fits)
    if image.dtype.is_integer:
        noise = tf.cast(tf.random.stateless_uniform(shape, seeds[5], 0, 256, dtype=tf.int32), image.dtype)
    else:
        noise = tf.cast(tf.random.stateless_uniform(shape, seeds[5], 0.0, 255.0), image.dtype)
    return tf.where(inside & erase, noise, image)
