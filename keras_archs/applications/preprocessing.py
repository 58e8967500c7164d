"""The input preprocessing of a registered model as a layer: ``include_preprocessing=True`` puts it in the model.

keras.applications' ConvNeXt, EfficientNetV2 and MobileNetV3 take ``include_preprocessing=True`` and then accept RGB
pixels 0..255, normalising inside. :class:`ImagePreprocessing` does that for every mode a ``ModelSpec`` records
(``spec.preprocessing``):

* ``"caffe"``: RGB -> BGR, minus the ImageNet BGR mean (103.939, 116.779, 123.68), no scaling;
* ``"squeezenet_caffe"``: the same with Caffe SqueezeNet's mean (104, 117, 123) (DESIGN.md §4);
* ``"tf"``: ``x / 127.5 - 1``;
* ``"torch"``: ``(x / 255 - mean) / std`` with the ImageNet RGB mean and std.

It computes what :func:`keras_archs.imagenet_utils.preprocess_input` computes, with the same operations in the same
order (it calls it for "tf" and "torch"; the Caffe modes' channel swap is a gather there, see ``call``), so a model
with the layer gives what ``preprocess_input`` followed by the model without it gives, to the last bit on the same
device. The layer has no weights: the weight files of a model load unchanged with or without it.

It is registered with Keras (``keras_archs>ImagePreprocessing``) when this module is imported, which
``import keras_archs.applications`` (and any constructor) does: load a saved model that holds it with
``import keras_archs.applications`` then ``keras.saving.load_model(path)``.

Example:
    >>> import numpy as np
    >>> layer = ImagePreprocessing("squeezenet_caffe")
    >>> np.asarray(layer(np.array([[[[255.0, 128.0, 0.0]]]], np.float32))).tolist()
    [[[[-104.0, 11.0, 132.0]]]]
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_archs import imagenet_utils, registry

__all__ = ["GreyFromRGB", "ImagePreprocessing", "LUMA_RGB", "MODES", "SQUEEZENET_CAFFE_MEAN_BGR"]

SQUEEZENET_CAFFE_MEAN_BGR = registry.SQUEEZENET_CAFFE_MEAN_BGR
# Mode -> keyword arguments of imagenet_utils.preprocess_input (the registry's one table, as data/preprocessing reads).
_PREPROCESS_INPUT_ARGUMENTS = registry.PREPROCESSING
MODES = registry.PREPROCESSING_MODES
# ITU-R BT.601 luma coefficients (Rec. 601, section 2.5.1: E'Y = 0.299 E'R + 0.587 E'G + 0.114 E'B); they sum to 1, so
# an RGB image with R = G = B = g gives back g.
LUMA_RGB = (0.299, 0.587, 0.114)


@keras.saving.register_keras_serializable(package="keras_archs")
class ImagePreprocessing(keras.layers.Layer):
    """RGB pixels 0..255 -> the input a model expects, for one of :data:`MODES` (module docstring).

    Args:
        mode: "caffe", "squeezenet_caffe", "tf" or "torch".
        data_format: "channels_last" or "channels_first" (None: ``keras.config.image_data_format()``).
        **kwargs: Layer arguments (``name``...).

    Raises:
        ValueError: An unknown ``mode`` or ``data_format``.
    """

    def __init__(self, mode: str, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(mode, str) or mode not in MODES:
            raise ValueError(f"Expected `mode` to be one of {', '.join(map(repr, MODES))}. Received: mode={mode!r}")
        data_format = data_format or keras.config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                "Expected `data_format` to be 'channels_last' or 'channels_first'. "
                f"Received: data_format={data_format!r}"
            )
        self.mode = mode
        self.data_format = data_format

    def call(self, inputs: Any) -> Any:
        arguments = _PREPROCESS_INPUT_ARGUMENTS[self.mode]
        if arguments["mode"] != "caffe":
            return imagenet_utils.preprocess_input(inputs, data_format=self.data_format, **arguments)
        # RGB -> BGR as a gather of channels (2, 1, 0), not preprocess_input's flip: the same values, but TFLite's
        # full-integer converter gives a flip's REVERSE_V2 output other quantisation parameters than its input while
        # the kernel only moves bytes (measured on the Deep Compression SqueezeNet 1.0, int8: top-1 agreement with
        # Keras 0.35 with the flip, 0.67 with the gather, same calibration; docs/benchmarks.md).
        last = self.data_format == "channels_last"
        x = keras.ops.take(keras.ops.cast(inputs, self.compute_dtype), [2, 1, 0], axis=-1 if last else 1)
        mean = np.asarray(arguments.get("mean", imagenet_utils.CAFFE_MEAN_BGR), np.float32)
        return keras.ops.subtract(x, keras.ops.convert_to_tensor(mean if last else mean.reshape(3, 1, 1)))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode, "data_format": self.data_format}


@keras.saving.register_keras_serializable(package="keras_archs")
class GreyFromRGB(keras.layers.Layer):
    """RGB -> one grey channel, ITU-R BT.601 luma (:data:`LUMA_RGB`), channels last.

    ``keras_archs.export`` puts it in front of a model trained on 1-channel images, so that the exported file takes
    the RGB frames a phone delivers.

    Example:
        >>> import numpy as np
        >>> np.asarray(GreyFromRGB()(np.array([[[[200.0, 200.0, 200.0], [255.0, 0.0, 0.0]]]], np.float32))).round(3)
        array([[[[200.   ],
                 [ 76.245]]]], dtype=float32)
    """

    def call(self, inputs: Any) -> Any:
        pixels = keras.ops.cast(inputs, self.compute_dtype)
        weights = keras.ops.convert_to_tensor(LUMA_RGB, dtype=self.compute_dtype)
        return keras.ops.sum(keras.ops.multiply(pixels, weights), axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*input_shape[:-1], 1)
