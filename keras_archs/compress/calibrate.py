"""Data-free calibration: synthetic images and the layer-input statistics the compensated quantizer needs.

With no training data (``deep_compress(model)`` on a published ImageNet model), weight sharing still wants to know
which directions of a layer's input matter. We feed deterministic synthetic images with the power spectrum of natural
images (amplitude ~ 1/f, Field 1987 "Relations between the statistics of natural images..."; van der Schaaf & van
Hateren 1996) and correlated colour channels, preprocessed the way the model expects, and collect each conv/dense
layer's input second moments ``E[x x^T]`` over all patch positions. No photo, no dataset.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

__all__ = ["synthetic_images", "layer_input_hessians"]


def synthetic_images(count: int, size: int | tuple[int, int], channels: int = 3, seed: int = 0) -> np.ndarray:
    """``count`` images of ``size`` with a 1/f amplitude spectrum, float32 pixels in 0..255.

    Every channel shares 70 % of its random phase field with the others (natural colour channels are strongly
    correlated); the mean brightness varies between images (90..150) and the contrast is a standard deviation of 55.

    Example:
        >>> synthetic_images(2, 8).shape
        (2, 8, 8, 3)
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive int. Received: count={count!r}")
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    rng = np.random.default_rng(seed)
    frequency = np.sqrt(np.fft.fftfreq(height)[:, None] ** 2 + np.fft.fftfreq(width)[None, :] ** 2)
    amplitude = 1.0 / np.maximum(frequency, 1.0 / max(height, width))
    images = np.empty((count, height, width, channels), np.float32)
    for index in range(count):
        shared = np.real(np.fft.ifft2(amplitude * np.exp(2j * np.pi * rng.random((height, width)))))
        for channel in range(channels):
            own = np.real(np.fft.ifft2(amplitude * np.exp(2j * np.pi * rng.random((height, width)))))
            images[index, :, :, channel] = 0.7 * shared + 0.3 * own
        image = images[index]
        image -= image.mean()
        image *= 55.0 / max(float(image.std()), 1e-12)
        image += rng.uniform(90.0, 150.0)
    return np.clip(images, 0.0, 255.0)


def layer_input_hessians(
    model: Any, images: np.ndarray, layer_names: Sequence[str], batch_size: int = 16
) -> dict[str, np.ndarray]:
    """``{layer_name: E[x x^T]}`` over the input patches of each named Conv2D / Dense layer of ``model``.

    Patches are flattened in the kernel's ``(kh, kw, in)`` order, so the matrix matches ``kernel.reshape(-1, out)``.
    Nested models are searched too.

    Raises:
        ValueError: A name that is not a Conv2D/Dense layer of ``model`` (grouped or dilated convs are not supported).
    """
    import keras
    import tensorflow as tf

    layers = {layer.name: layer for layer in model._flatten_layers(include_self=False)}
    targets = []
    for name in layer_names:
        layer = layers.get(name)
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) or isinstance(
            layer, (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
        ):
            raise ValueError(f"layer_input_hessians: {name!r} is not a Conv2D or Dense layer of {model.name!r}.")
        if isinstance(layer, keras.layers.Conv2D) and (layer.groups != 1 or tuple(layer.dilation_rate) != (1, 1)):
            raise ValueError(f"layer_input_hessians: {name!r} is grouped or dilated; not supported.")
        targets.append(layer)
    probe = _input_probe(model, targets)
    sums = {layer.name: 0.0 for layer in targets}
    counts = {layer.name: 0 for layer in targets}
    for start in range(0, len(images), batch_size):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The structure of `inputs`")  # named-input models
            outputs = probe(images[start : start + batch_size], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for layer, activation in zip(targets, outputs):
            if isinstance(layer, keras.layers.Dense) or tuple(layer.kernel_size) == (1, 1):
                if not isinstance(layer, keras.layers.Dense) and tuple(layer.strides) != (1, 1):
                    activation = activation[:, :: layer.strides[0], :: layer.strides[1], :]
                patches = tf.reshape(activation, [-1, activation.shape[-1]])
            else:
                kh, kw = layer.kernel_size
                padding = "SAME" if layer.padding == "same" else "VALID"
                patches = tf.image.extract_patches(
                    activation, [1, kh, kw, 1], [1, *layer.strides, 1], [1, 1, 1, 1], padding
                )
                patches = tf.reshape(patches, [-1, patches.shape[-1]])
            # float32 products per batch (fast), accumulated in float64 across batches.
            sums[layer.name] = sums[layer.name] + tf.matmul(patches, patches, transpose_a=True).numpy().astype(
                np.float64
            )
            counts[layer.name] += int(patches.shape[0])
    return {name: sums[name] / max(counts[name], 1) for name in sums}


def _input_probe(model: Any, targets: list) -> Any:
    """A model from ``model``'s inputs to the inputs of ``targets`` (through nested functional models)."""
    import keras

    try:
        return keras.Model(model.inputs, [layer.input for layer in targets])
    except ValueError:
        pass
    # Nested backbone (e.g. a raw-pixel wrapper): probe the backbone, feed it the outer model's preprocessing.
    for inner in model.layers:
        if isinstance(inner, keras.Model) and all(any(t is sub for sub in inner._flatten_layers()) for t in targets):
            inner_probe = keras.Model(inner.inputs, [layer.input for layer in targets])
            # ``inner.input`` is the nested model's own placeholder; the tensor it is called on in the outer graph is
            # the input of one of its inbound nodes (the one connected to the outer inputs).
            for node in inner._inbound_nodes:
                try:
                    outer_to_inner = keras.Model(model.inputs, node.input_tensors)
                except ValueError:
                    continue
                return lambda x, training=False: inner_probe(outer_to_inner(x, training=training), training=training)
    raise ValueError(f"Cannot reach the inputs of {[t.name for t in targets]} from {model.name!r}'s inputs.")
