"""What ships beside a ``.tflite``: the labels file and the JSON card (input normalisation, quantisation, sizes,
where the model and its weights come from, what the embedded metadata says).

``model.tflite`` gets ``model.labels.txt`` (one class name per line, line i names output unit i) and ``model.json``
(the card). The TFLite metadata inside the file (``keras_archs.export.metadata``) embeds the same names and the model
record of :func:`model_record` for MediaPipe Tasks and the Task Library; the card stays for people and scripts.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Mapping, Sequence

import numpy as np

from keras_archs import class_names, registry
from keras_archs.export import _arguments
from keras_archs.export._litert import TensorInfo

__all__ = [
    "LABEL_SETS",
    "PREPROCESSING_MODES",
    "build_card",
    "card_path_for",
    "describe_file_input",
    "default_labels",
    "describe_preprocessing",
    "labels_path_for",
    "model_record",
    "resolve_labels",
]

# Label sets known by name (keras_archs.class_names, the one source the data modules and the command line read too).
LABEL_SETS = class_names.LABEL_SETS
# The registry's preprocessing modes and "raw" (export._arguments, which imports no TensorFlow).
PREPROCESSING_MODES = _arguments.PREPROCESSING_MODES


def labels_path_for(path: str | os.PathLike) -> pathlib.Path:
    """``model.tflite`` -> ``model.labels.txt`` (beside it).

    Example:
        >>> labels_path_for("out/model.tflite").as_posix()
        'out/model.labels.txt'
    """
    base = pathlib.Path(path).with_suffix("")
    return base.with_name(base.name + ".labels.txt")


def card_path_for(path: str | os.PathLike) -> pathlib.Path:
    """``model.tflite`` -> ``model.json`` (beside it).

    Example:
        >>> card_path_for("out/model.tflite").as_posix()
        'out/model.json'
    """
    return pathlib.Path(path).with_suffix("").with_suffix(".json")


def resolve_labels(
    labels: Any, num_classes: int | None, source: str | None = None
) -> tuple[list[str] | None, str | None]:
    """The class names to ship, in output order, and where they came from.

    Args:
        labels: None (1000 outputs: the ImageNet names of ``keras_archs.imagenet_utils``; other class vectors: the class
            indices "0", "1", ...), a label set of :data:`LABEL_SETS` (``"imagenet"``, ``"fashion_mnist"``,
            ``"cifar10"``), the path of a text file with one name per line, or a sequence of names.
        num_classes: Length of the model's class vector; None when the output is not a class vector.
        source: What the card records as the names' origin (e.g. "fashion_mnist"); default "imagenet", "file
            NAME", "given" or "class indices (no names given)".

    Returns:
        ``(names, source)``; ``(None, None)`` when there is no class vector and no ``labels``.

    Raises:
        ValueError: If the number of names differs from ``num_classes``, a name is empty or holds a line break, the
            file does not exist, or the output is not a class vector but ``labels`` were given.
        TypeError: If ``labels`` is none of the accepted types.

    Example:
        >>> resolve_labels(["cat", "dog"], 2, source="pets")
        (['cat', 'dog'], 'pets')
        >>> resolve_labels(None, 3)
        (['0', '1', '2'], 'class indices (no names given)')
    """
    if labels is None:
        if num_classes is None:
            return None, None
        if num_classes == 1000:
            return _imagenet_names(), source or "imagenet"
        return [str(i) for i in range(num_classes)], source or "class indices (no names given)"
    if isinstance(labels, str) and labels in LABEL_SETS:
        names, origin = class_names.get(labels), labels
    elif isinstance(labels, (str, os.PathLike)):
        path = pathlib.Path(labels)
        if not path.is_file():
            raise ValueError(
                f"Expected `labels` to be {', '.join(map(repr, LABEL_SETS))}, a file with one class name per line, or "
                f"a sequence of names. Received: labels={str(labels)!r} (no such file)"
            )
        names, origin = path.read_text(encoding="utf-8").splitlines(), f"file {path.name}"
        while names and not names[-1].strip():
            names.pop()
    elif isinstance(labels, Sequence) and all(isinstance(name, str) for name in labels):
        names, origin = list(labels), "given"
    else:
        raise TypeError(
            f"Expected `labels` to be None, 'imagenet', a path or a sequence of str. Received: labels of type "
            f"{type(labels).__name__}"
        )
    origin = source or origin
    if num_classes is None:
        raise ValueError(f"`labels` were given but the model's output is not a class vector (labels source: {origin}).")
    if len(names) != num_classes:
        raise ValueError(f"The model has {num_classes} outputs but `labels` ({origin}) has {len(names)} names.")
    bad = [name for name in names if not name.strip() or "\n" in name or "\r" in name]
    if bad:
        raise ValueError(f"Class names must be non-empty single lines. Received: {bad[0]!r} in labels ({origin}).")
    return names, origin


def default_labels(model: Any) -> str | None:
    """The label set a model's weights were trained on, when its constructor recorded a weights tag that names one
    (``keras_archs.SqueezeNet(weights="fashion_mnist")`` -> "fashion_mnist"), else None.

    The tag is read from the record registry constructors leave on a model (``model.keras_archs_origin.weights``), so
    ``to_tflite`` and ``keras-archs export`` label such a model alike.
    """
    tag = getattr(getattr(model, "keras_archs_origin", None), "weights", None)
    return tag if isinstance(tag, str) and tag in LABEL_SETS and tag != "imagenet" else None


def _imagenet_names() -> list[str]:
    from keras_archs import imagenet_utils

    return [label for _, label in imagenet_utils.class_names()]


def normalising_layer(model: Any) -> Any:
    """The ``Rescaling`` layer right after the input (``keras_archs.train.raw_pixel_model``), or None."""
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if layers and isinstance(layers[0], keras.layers.Rescaling):
        return layers[0]
    return None


def _affine_constants(mode: str) -> tuple[list[float], list[float]]:
    """Per-channel (mean, std) on the 0..255 scale such that ``preprocess(x) = (x[order] - mean) / std``."""
    from keras_archs import imagenet_utils

    def preprocess(pixels: np.ndarray) -> np.ndarray:
        return imagenet_utils.preprocess_input(pixels, "channels_last", **registry.PREPROCESSING[mode])

    # Probed from preprocess_input itself, so the card cannot drift from it. It computes in float32: 4 decimals are
    # exact for every mode's constants (at most 3 decimals on the 0..255 scale).
    black = np.asarray(preprocess(np.zeros((1, 3), np.float32)), np.float64)[0]
    white = np.asarray(preprocess(np.full((1, 3), 255.0, np.float32)), np.float64)[0]
    std = 255.0 / (white - black)
    mean = -black * std
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


def describe_preprocessing(preprocessing: str | None, model: Any = None) -> dict[str, Any]:
    """What the model expects as input, for the card.

    Args:
        preprocessing: A registry preprocessing mode ("caffe", "squeezenet_caffe", "tf", "torch"), "raw" (pixels
            0..255 go in as they are), or None: what ``model`` says (``keras_archs.export.mobile.input_preprocessing``:
            the record a registry constructor leaves on it, or a normalising layer right after its input, as the
            Fashion-MNIST models of ``keras_archs.train`` and models built with ``include_preprocessing=True``
            have), else unknown.
        model: The Keras model.

    Returns:
        A dict with ``mode``, ``description`` and, where known, ``channel_order``, ``mean``/``std`` (0..255 scale, in
        the model's channel order) and the ``value_range`` of the model's input.

    Raises:
        ValueError: If ``preprocessing`` is not one of :data:`PREPROCESSING_MODES` or None.

    Example:
        >>> card = describe_preprocessing("tf")
        >>> card["mean"], card["std"], card["value_range"]
        ([127.5, 127.5, 127.5], [127.5, 127.5, 127.5], [-1.0, 1.0])
    """
    if preprocessing is not None:
        _arguments.check_choice("preprocessing", preprocessing, PREPROCESSING_MODES)
    elif model is not None:
        from keras_archs.export import mobile

        preprocessing = mobile.input_preprocessing(model)
    layer = normalising_layer(model) if model is not None else None
    if preprocessing is None:
        return {"mode": None, "description": "unknown: pass preprocessing= (e.g. the registry's mode) to record it"}
    if preprocessing == "raw":
        description = "raw pixels 0..255, fed as they are"
        inside = _inside(model) if model is not None else None
        if inside is not None:
            description = f"raw pixels 0..255; the model normalises inside ({inside})"
        elif layer is not None:
            scale, offset = float(layer.scale), float(layer.offset)
            description = (
                f"raw pixels 0..255; the model normalises inside (Rescaling layer {layer.name!r}: "
                f"x * {scale:.6g} {'-' if offset < 0 else '+'} {abs(offset):.6g})"
            )
        return {"mode": "raw", "description": description, "value_range": [0.0, 255.0]}
    mean, std = _affine_constants(preprocessing)
    order = "BGR" if "caffe" in preprocessing else "RGB"
    low = min((0.0 - m) / s for m, s in zip(mean, std))
    high = max((255.0 - m) / s for m, s in zip(mean, std))
    return {
        "mode": preprocessing,
        "description": "RGB pixels 0..255"
        + (", channels reversed to BGR" if order == "BGR" else "")
        + f", then (x - mean) / std per channel (mean and std in {order} order)",
        "channel_order": order,
        "mean": mean,
        "std": std,
        "value_range": [round(low, 4), round(high, 4)],
    }


def _inside(model: Any) -> str | None:
    """The ``ImagePreprocessing`` layer right after the input, described ("ImagePreprocessing 'tf'"), or None."""
    from keras_archs.export import mobile

    mode = mobile.preprocessing_inside(model)
    return None if mode in (None, "raw") else f"ImagePreprocessing layer, mode {mode!r}"


def describe_file_input(preprocessing: str, channels: int) -> dict[str, Any]:
    """What a file with metadata takes: RGB pixels 0..255, with ``preprocessing`` (the original model's, a registry
    mode or "raw") and for ``channels=1`` the grey conversion inside (``keras_archs.export.mobile``).

    Example:
        >>> described = describe_file_input("squeezenet_caffe", 3)
        >>> described["mode"], described["inside"]["mean"]
        ('raw', [104.0, 117.0, 123.0])
    """
    steps = ["grey = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601)"] if channels == 1 else []
    inside = None
    if preprocessing != "raw":
        inside = describe_preprocessing(preprocessing)
        steps.append(f"{preprocessing!r}: {inside['description']}")
    return {
        "mode": "raw",
        "description": "RGB pixels 0..255 (camera frames as they are)"
        + (f"; inside the model: {'; then '.join(steps)}" if steps else ""),
        "color_space": "RGB",
        "value_range": [0.0, 255.0],
        "inside": inside,
        "grey_conversion_inside": channels == 1,
    }


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("keras_archs")
    except metadata.PackageNotFoundError:  # a source tree that is not installed
        return "unknown"


def model_record(model: Any, source: str | None) -> dict[str, Any]:
    """Where ``model`` comes from, for the card and the embedded metadata.

    From the record a registry constructor leaves on the model (``keras_archs.export.mobile.origin``): registry
    name, paper, weights (tag, file name, or None), their source and licence. Models without it (a ``.keras`` file, a
    decoded archive, your own) get what is known: their name and ``source``.

    Example:
        >>> import keras
        >>> inputs = keras.Input((4,))
        >>> model_record(keras.Model(inputs, keras.layers.Dense(2)(inputs), name="toy"), "my file")["license"]
        'unknown (not recorded with the model)'
    """
    from keras_archs.export import mobile

    record = mobile.origin(model)
    result: dict[str, Any] = {
        "model": model.name,
        "from": source,
        "params": int(model.count_params()),
        "registry_name": None,
        "paper": None,
        "weights": None,
        "weights_source": None,
        "license": "unknown (not recorded with the model)",
        "keras_archs": _package_version(),
    }
    if record is not None:
        result.update(
            registry_name=record.model,
            paper=record.paper,
            weights=record.weights,
            weights_source=record.weights_source,
            license=record.weights_license,
        )
    return result


def _tensor_card(info: TensorInfo) -> dict[str, Any]:
    card: dict[str, Any] = {"name": info.name, "shape": list(info.shape), "dtype": info.dtype}
    if info.scale is not None:
        card["quantization"] = {
            "scale": info.scale,
            "zero_point": info.zero_point,
            "formula": "real = scale * (q - zero_point); "
            "q = round_half_to_even(real * float32(1 / scale)) + zero_point, clipped to the dtype "
            "(the interpreter's QUANTIZE kernel)",
        }
    return card


def _metadata_card(embedded: Mapping[str, Any]) -> dict[str, Any]:
    """The card's summary of the TFLite metadata inside the file."""
    subgraph = embedded["subgraph_metadata"][0]
    image, output = subgraph["input_tensor_metadata"][0], subgraph["output_tensor_metadata"][0]
    units = image.get("process_units") or []
    normalization = units[0]["options"][1] if units else None
    return {
        "embedded": True,
        "readers": "MediaPipe Tasks ImageClassifier, TFLite Task Library (metadata schema, min parser "
        f"{embedded['min_parser_version']})",
        **{key: embedded[key] for key in ("name", "description", "version", "author", "license")},
        "input": {
            "color_space": image["content"]["content_properties"][1].get("color_space"),
            "normalization": normalization,
        },
        "labels_file": None if not output.get("associated_files") else output["associated_files"][0]["name"],
    }


def build_card(
    target: pathlib.Path,
    content: bytes,
    digest: str,
    settings: Mapping[str, Any],
    tensors: tuple[TensorInfo, TensorInfo, tuple[str, ...] | None],
    labels: tuple[list[str] | None, str | None],
    preprocessing: Mapping[str, Any],
    record: Mapping[str, Any],
    embedded: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON card of ``target`` (see ``keras_archs.export.to_tflite`` for what each argument holds; ``record`` is
    :func:`model_record`'s, ``embedded`` the metadata written into the file or None)."""
    import keras
    import tensorflow as tf

    input_info, output_info, float_ops = tensors
    names, labels_source = labels
    return {
        "format": "tflite",
        "file": target.name,
        "bytes": len(content),
        "sha256": digest,
        **settings,
        "source": dict(record),
        "input": {**_tensor_card(input_info), "preprocessing": dict(preprocessing)},
        "output": _tensor_card(output_info),
        "labels": None
        if names is None
        else {
            "file": labels_path_for(target).name,
            "count": len(names),
            "source": labels_source,
            "order": "line i (0-based) names output unit i",
        },
        "float_ops": None if float_ops is None else list(float_ops),
        "metadata": None if embedded is None else _metadata_card(embedded),
        "converter": {"tensorflow": tf.__version__, "keras": keras.__version__, "ops": "builtins only (no Flex)"},
    }
