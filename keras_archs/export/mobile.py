"""The model as a phone app feeds it: RGB pixels 0..255 in, the normalisation (and a grey conversion) inside.

Camera frames reach a classifier API (MediaPipe Tasks' ImageClassifier, the TFLite Task Library) as RGB pixels 0..255,
and those APIs normalise with one mean and one std for all channels at most. So a model whose preprocessing happens
outside (BGR swap and per-channel means of "caffe", the scaling of "tf" / "torch") is wrapped for export:
``RGB 0..255 -> [grey conversion] -> [ImagePreprocessing(mode)] -> model``.

What the model's input expects (:func:`input_preprocessing`), first that applies:

1. ``preprocessing=`` given by the caller ("raw": pixels 0..255 as they are; or a registry mode);
2. the record a registry constructor leaves on the model (``model.keras_archs_origin``,
   ``keras_archs.applications._assembly.ModelOrigin``): its spec's mode, or "raw" when it was built with
   ``include_preprocessing=True`` or is a shipped model that normalises inside;
3. an ``ImagePreprocessing`` or ``Rescaling`` layer right after the input (``include_preprocessing=True``, the
   Fashion-MNIST models of ``keras_archs.train``; also after a ``.keras`` round trip): "raw";
4. otherwise unknown (None).

A model trained on 1-channel images (the shipped Fashion-MNIST SqueezeNet) gets an RGB input and the ITU-R BT.601
luma ``0.299 R + 0.587 G + 0.114 B`` inside (``keras_archs.applications.preprocessing.GreyFromRGB``); the weights
sum to 1, so an RGB image with R = G = B = g gives back g. The layers come from ``keras_archs.applications``
(registered with Keras there), imported when a model is wrapped.
"""

from __future__ import annotations

from typing import Any

from keras_archs.export import _arguments

__all__ = ["ORIGIN_ATTRIBUTE", "input_preprocessing", "mobile_model", "origin", "preprocessing_inside"]

# The attribute a registry constructor sets on the model it returns (keras_archs.applications._assembly.ModelOrigin);
# read by name, so that reading it needs nothing of applications/.
ORIGIN_ATTRIBUTE = "keras_archs_origin"


def origin(model: Any) -> Any:
    """The record a registry constructor left on ``model`` (``keras_archs_origin``), or None."""
    return getattr(model, ORIGIN_ATTRIBUTE, None)


def _first_layer(model: Any) -> Any:
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    return layers[0] if layers else None


def preprocessing_inside(model: Any) -> str | None:
    """What normalises pixels 0..255 right after ``model``'s input: an ``ImagePreprocessing`` layer's mode, "raw"
    for a ``Rescaling`` layer (or the grey conversion of a wrapped model), else None."""
    import keras

    from keras_archs.applications.preprocessing import GreyFromRGB, ImagePreprocessing

    layer = _first_layer(model)
    if isinstance(layer, ImagePreprocessing):
        return layer.mode
    if isinstance(layer, (keras.layers.Rescaling, GreyFromRGB)):
        return "raw"
    return None


def input_preprocessing(model: Any, preprocessing: str | None = None) -> str | None:
    """What ``model``'s input expects: "raw" (pixels 0..255), a registry mode, or None when unknown.

    See the module docstring for the order of the rules. ``preprocessing`` is checked against
    ``keras_archs.export.PREPROCESSING_MODES``.

    Raises:
        ValueError: An unknown ``preprocessing``.
    """
    if preprocessing is not None:
        return _arguments.check_choice("preprocessing", preprocessing, _arguments.PREPROCESSING_MODES)
    record = origin(model)
    if record is not None:
        return record.preprocessing
    return "raw" if preprocessing_inside(model) is not None else None


def mobile_model(model: Any, preprocessing: str | None = None) -> Any:
    """``model`` taking RGB pixels 0..255 (module docstring); ``model`` itself when it already does.

    Args:
        model: A single-input ``keras.Model`` on images ``(height, width, 1 or 3)``, channels last.
        preprocessing: What its input expects ("raw" or a registry mode); None: :func:`input_preprocessing`.

    Returns:
        A Functional model ``<name>_rgb`` whose input ``image`` takes RGB 0..255 and which calls ``model`` (its
        layers and weights are shared, not copied), or ``model``.

    Raises:
        ValueError: The input is not an image of 1 or 3 channels, or its preprocessing is unknown.

    Example:
        >>> import keras
        >>> inputs = keras.Input((28, 28, 1))
        >>> grey = keras.Model(inputs, keras.layers.Rescaling(1 / 255)(inputs), name="grey")
        >>> mobile_model(grey).input_shape
        (None, 28, 28, 3)
    """
    import keras

    shape, _, _ = _arguments.model_io(model)
    if len(shape) != 3 or shape[-1] not in (1, 3):
        raise ValueError(
            "A mobile image classifier takes images (height, width, 1 or 3 channels), channels last. Received: model "
            f"{model.name!r} with input shape {shape}; pass metadata=False to convert it as it is."
        )
    mode = input_preprocessing(model, preprocessing)
    if mode is None:
        raise ValueError(
            f"The input normalisation of model {model.name!r} is unknown, so the file cannot take RGB pixels 0..255: "
            "pass preprocessing= (a registry mode such as 'caffe', or 'raw' for a model that takes pixels 0..255), "
            "build it with include_preprocessing=True, or pass metadata=False."
        )
    if mode == "raw" and shape[-1] == 3:
        return model
    from keras_archs.applications.preprocessing import GreyFromRGB, ImagePreprocessing

    inputs = keras.Input((*shape[:2], 3), name="image")
    x = inputs
    if shape[-1] == 1:
        x = GreyFromRGB(name="grey_from_rgb")(x)
    if mode != "raw":
        x = ImagePreprocessing(mode, name="preprocessing")(x)
    return keras.Model(inputs, _arguments.call_model(model, x), name=f"{model.name}_rgb")
