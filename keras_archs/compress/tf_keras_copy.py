"""A ``tf_keras`` copy of a Keras 3 model, for tfmot: same layer names, same graph, weights copied by layer name.

tensorflow-model-optimization (tfmot) 0.8.1 wraps only ``tf_keras`` (Keras 2) models, and importing it sets
``TF_USE_LEGACY_KERAS=1`` for the whole process (DESIGN.md §5). So quantization-aware training runs on a tf_keras
copy, in a child process: this module translates a Keras 3 functional model into a ``tf_keras`` functional config
(pure Python, no ``tf_keras`` import, :func:`to_tf_keras_config`), the child rebuilds it
(:func:`build_tf_keras_model`) and weights travel by layer name and weight order (:func:`layer_weights`,
:func:`assign_layer_weights`, strict both ways).

Translation rules (Keras 3 config -> ``tf_keras`` config):

* ``dtype``: a ``DTypePolicy`` dict becomes its name (``"float32"``, ``"mixed_float16"``); quantized policies are
  refused.
* Initializers keep their class name and lose Keras 3's ``input_axes`` / ``output_axes`` (the copy's weights are
  overwritten by the copied ones, so an initializer never runs). Regularizers and constraints keep class and config.
* ``InputLayer``: ``batch_shape`` becomes ``batch_input_shape``.
* Keras-3-only arguments are dropped at their neutral value (``quantization_config=None``, ``lora_rank=None``,
  ``synchronized=False``, ``renorm=False``...) and refused otherwise.
* Nested models (``Functional``, ``Sequential``; e.g. ``keras_archs.train.loop.raw_pixel_model`` wraps a backbone)
  are flattened into one graph: tfmot cannot quantize a model inside a model. Their layers keep their own names,
  which must then be unique across the whole model.
* Inbound nodes become ``tf_keras``' ``[layer_name, node_index, tensor_index, kwargs]`` lists.

Example:
    >>> import keras
    >>> from keras_archs.compress import tf_keras_copy
    >>> inputs = keras.Input((8, 8, 1), name="pixels")
    >>> x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    >>> model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="gap")(x))
    >>> config = tf_keras_copy.to_tf_keras_config(model)
    >>> [layer["class_name"] for layer in config["config"]["layers"]]
    ['InputLayer', 'Conv2D', 'GlobalAveragePooling2D']
    >>> config["config"]["layers"][1]["inbound_nodes"]
    [[['pixels', 0, 0, {}]]]
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from keras_archs import _files

__all__ = [
    "SUPPORTED_LAYERS",
    "CUSTOM_LAYERS",
    "CONFIG_FORMAT",
    "to_tf_keras_config",
    "layer_weights",
    "assign_layer_weights",
    "save_layer_weights",
    "load_layer_weights",
    "build_tf_keras_model",
    "predict_in_tf_keras",
    "run_legacy_keras_child",
]

CONFIG_FORMAT = 1  # version of the dict to_tf_keras_config returns (key "keras_archs_tf_keras_copy")

# Keras 3 built-in layer classes with a tf_keras class of the same name, arguments and weight order.
SUPPORTED_LAYERS = (
    "InputLayer",
    "Conv2D",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Dense",
    "BatchNormalization",
    "ReLU",
    "Activation",
    "Softmax",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "ZeroPadding2D",
    "Concatenate",
    "Add",
    "Multiply",
    "Dropout",
    "Flatten",
    "Reshape",
    "Rescaling",
    "Normalization",
)
# Layers of this package (registered as "keras_archs>Name") that the copy re-implements with TF ops
# (_custom_layer_classes).
CUSTOM_LAYERS = ("LocalResponseNormalization", "ZeroPaddedIdentity", "CustomScaleLayer")
_NESTED_MODELS = ("Functional", "Sequential")

# Keras 3 arguments tf_keras does not have, with the value at which dropping them changes nothing.
_KERAS3_ONLY_NEUTRAL = {
    "quantization_config": None,
    "lora_rank": None,
    "lora_alpha": None,
    "synchronized": False,
    "renorm": False,
}
# Arguments that only mean something next to a non-neutral one above (renorm_* without renorm).
_KERAS3_ONLY_DEPENDENT = {"renorm_momentum": "renorm", "renorm_clipping": "renorm"}
_INITIALIZER_KERAS3_ONLY = ("input_axes", "output_axes")
_FLOAT_POLICIES = ("float16", "bfloat16", "float32", "float64", "mixed_float16", "mixed_bfloat16")
_SERIALIZED_OBJECT_MODULES = ("keras.initializers", "keras.regularizers", "keras.constraints")


class _Flattener:
    """Walks a Keras 3 functional config (nested models inlined) and emits tf_keras layer entries."""

    def __init__(self) -> None:
        self.layers: list[dict[str, Any]] = []
        self.names: dict[str, str] = {}  # emitted layer name -> path of the model holding it, for clash messages

    def model(self, entry: Mapping[str, Any], path: str, inputs: list[list[Any]] | None) -> list[list[Any]]:
        """Inlines one (possibly nested) model; returns tf_keras refs of its outputs."""
        if entry["class_name"] == "Sequential":
            return self._sequential(entry["config"], path, inputs)
        config = entry["config"]
        alias: dict[tuple[str, int, int], list[Any]] = {}
        input_refs = _node_refs(config["input_layers"])
        if inputs is not None:
            if len(inputs) != len(input_refs):
                raise ValueError(
                    f"Nested model {path!r} takes {len(input_refs)} inputs but was called on {len(inputs)}."
                )
            alias.update({tuple(ref): outer for ref, outer in zip(input_refs, inputs)})
        for layer in config["layers"]:
            name = layer.get("name") or layer["config"]["name"]
            if layer["class_name"] == "InputLayer" and inputs is not None:
                continue  # bound to the caller's tensors above
            if layer["class_name"] in _NESTED_MODELS and _is_keras_model(layer):
                nodes = layer.get("inbound_nodes") or []
                if len(nodes) != 1:
                    raise ValueError(
                        f"Nested model {path}/{name} is called {len(nodes)} times; the copy can inline a nested model "
                        "called exactly once (tfmot cannot quantize shared nested models)."
                    )
                call_inputs = [_resolve(ref, alias) for ref in _node_tensor_refs(nodes[0], f"{path}/{name}")[0]]
                outputs = self.model(layer, f"{path}/{name}", call_inputs)
                # Keras 3 numbers this single call 0 in inbound args but 1 in output_layers (a Functional's own
                # construction node counts there; keras/src/models/functional.py, get_config / serialize_node).
                for node_index in (0, 1):
                    alias.update({(name, node_index, index): ref for index, ref in enumerate(outputs)})
                continue
            self._emit(layer, name, path, alias)
        return [_resolve(ref, alias) for ref in _node_refs(config["output_layers"])]

    def _sequential(self, config: Mapping[str, Any], path: str, inputs: list[list[Any]] | None) -> list[list[Any]]:
        layers = list(config["layers"])
        if inputs is None:
            if not layers or layers[0]["class_name"] != "InputLayer":
                raise ValueError(f"Sequential model {path!r} has no Input; build it with keras.Input first.")
            head = layers.pop(0)
            name = head["config"]["name"]
            self._emit({**head, "inbound_nodes": []}, name, path, {})
            current = [name, 0, 0]
        else:
            if len(inputs) != 1:
                raise ValueError(f"Sequential model {path!r} was called on {len(inputs)} tensors; it takes one.")
            if layers and layers[0]["class_name"] == "InputLayer":
                layers.pop(0)
            current = inputs[0]
        for layer in layers:
            name = layer["config"]["name"]
            if layer["class_name"] in _NESTED_MODELS and _is_keras_model(layer):
                current = self.model(layer, f"{path}/{name}", [current])[0]
                continue
            tensor = {"class_name": "__keras_tensor__", "config": {"keras_history": current[:3]}}
            self._emit({**layer, "inbound_nodes": [{"args": [tensor], "kwargs": {}}]}, name, path, {})
            current = [name, 0, 0]
        return [current]

    def _emit(self, layer: Mapping[str, Any], name: str, path: str, alias: Mapping) -> None:
        if name in self.names:
            raise ValueError(
                f"Layer name {name!r} occurs in both {self.names[name]!r} and {path!r}. The copy flattens nested "
                "models into one graph, so layer names must be unique across the whole model; rename one."
            )
        self.names[name] = path
        class_name = _check_supported(layer, name)
        nodes = []
        for node in layer.get("inbound_nodes") or []:
            refs, kwargs = _node_tensor_refs(node, name)
            nodes.append([[*_resolve(ref, alias), kwargs] for ref in refs])
        self.layers.append(
            {
                "class_name": class_name,
                "config": _translate_layer_config(class_name, layer["config"], name),
                "name": name,
                "inbound_nodes": nodes,
            }
        )


def to_tf_keras_config(model: Any) -> dict[str, Any]:
    """The functional config of a ``tf_keras`` copy of a Keras 3 model (JSON-serialisable; no tf_keras import).

    Args:
        model: A Keras 3 functional (or Sequential) model built from :data:`SUPPORTED_LAYERS`, the custom layers of
            this package (:data:`CUSTOM_LAYERS`) and nested functional / Sequential models, each called once.

    Returns:
        ``{"class_name": "Functional", "config": {...}, "keras_archs_tf_keras_copy": {"format": CONFIG_FORMAT, ...}}``;
        ``config`` is what ``tf_keras.Model.from_config`` takes (see :func:`build_tf_keras_model`).

    Raises:
        ValueError: ``model`` is subclassed, holds a layer class without a tf_keras equivalent (the message names the
            layer, its class and the supported classes), a non-float dtype policy, a Keras-3-only argument at a
            non-neutral value, a nested model called more than once, or a layer name that occurs twice once nested
            models are flattened.
        TypeError: ``model`` is not a Keras 3 model.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((4,), name="x"), keras.layers.Dense(2, name="fc")])
        >>> to_tf_keras_config(model)["config"]["output_layers"]
        [['fc', 0, 0]]
    """
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a Keras 3 keras.Model. Received: model={model!r} ({type(model).__name__})")
    entry = keras.saving.serialize_keras_object(model)
    if entry.get("class_name") not in _NESTED_MODELS or not _is_keras_model(entry):
        raise ValueError(
            f"`model` must be a functional or Sequential Keras model (a graph of layers); {model.name!r} is a "
            f"{type(model).__name__}, whose architecture has no config to translate."
        )
    flattener = _Flattener()
    outputs = flattener.model(entry, model.name, None)
    inputs = [[layer["name"], 0, 0] for layer in flattener.layers if layer["class_name"] == "InputLayer"]
    if entry["class_name"] == "Functional":
        inputs = [list(ref) for ref in _node_refs(entry["config"]["input_layers"])]
    config = {
        "name": model.name,
        "trainable": bool(model.trainable),
        "layers": flattener.layers,
        "input_layers": inputs,
        "output_layers": outputs,
    }
    copy_config = {
        "class_name": "Functional",
        "config": config,
        "keras_archs_tf_keras_copy": {
            "format": CONFIG_FORMAT,
            "keras_version": keras.__version__,
            "source": model.name,
        },
    }
    return json.loads(json.dumps(copy_config))  # exactly what the child reads (tuples become lists)


def _is_keras_model(entry: Mapping[str, Any]) -> bool:
    return isinstance(entry.get("config"), Mapping) and "layers" in entry["config"]


def _node_refs(refs: Any) -> list[tuple[str, int, int]]:
    """Keras 3 writes a single input/output as ``[name, 0, 0]`` and several as ``[[name, 0, 0], ...]``."""
    if isinstance(refs, Mapping):
        raise ValueError(f"Models with dict inputs or outputs have no tf_keras copy. Received: {refs!r}")
    if refs and isinstance(refs[0], str):
        refs = [refs]
    return [(str(name), int(node), int(tensor)) for name, node, tensor in refs]


def _resolve(ref: Sequence[Any], alias: Mapping[tuple[str, int, int], list[Any]]) -> list[Any]:
    key = (str(ref[0]), int(ref[1]), int(ref[2]))
    return list(alias.get(key, key))


def _node_tensor_refs(node: Any, layer_name: str) -> tuple[list[tuple[str, int, int]], dict[str, Any]]:
    """Refs of the tensors one Keras 3 inbound node passes (one tensor or one list of them) and its plain kwargs."""
    if not isinstance(node, Mapping) or "args" not in node:
        raise ValueError(f"Layer {layer_name!r}: unrecognised inbound node {node!r} (expected Keras 3's args/kwargs).")
    args, kwargs = node["args"], dict(node.get("kwargs") or {})
    if len(args) != 1:
        raise ValueError(
            f"Layer {layer_name!r} is called with {len(args)} positional arguments; the copy supports layers called on "
            "one tensor or on one list of tensors."
        )
    tensors = args[0] if isinstance(args[0], (list, tuple)) else [args[0]]
    refs = []
    for tensor in tensors:
        if not (isinstance(tensor, Mapping) and tensor.get("class_name") == "__keras_tensor__"):
            raise ValueError(
                f"Layer {layer_name!r} is called on a non-tensor argument {tensor!r}; no tf_keras copy for that."
            )
        refs.append(tuple(tensor["config"]["keras_history"]))
    if any(isinstance(value, Mapping) and value.get("class_name") == "__keras_tensor__" for value in kwargs.values()):
        raise ValueError(
            f"Layer {layer_name!r} takes a tensor keyword argument ({sorted(kwargs)}); no tf_keras copy for that."
        )
    return refs, kwargs


def _check_supported(layer: Mapping[str, Any], name: str) -> str:
    class_name = layer["class_name"]
    registered = layer.get("registered_name")
    module = layer.get("module") or ""
    if class_name in SUPPORTED_LAYERS and module.startswith("keras") and registered in (None, class_name):
        return class_name
    if class_name in CUSTOM_LAYERS and registered == f"keras_archs>{class_name}":
        return class_name
    raise ValueError(
        f"Layer {name!r} of class {registered or class_name} (module {module or '?'}) has no tf_keras equivalent. "
        f"Supported: Keras layers {', '.join(SUPPORTED_LAYERS)}; keras_archs layers {', '.join(CUSTOM_LAYERS)}; "
        "nested functional / Sequential models."
    )


def _translate_layer_config(class_name: str, config: Mapping[str, Any], name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in _KERAS3_ONLY_NEUTRAL:
            if value != _KERAS3_ONLY_NEUTRAL[key]:
                raise ValueError(
                    f"Layer {name!r} ({class_name}) sets the Keras-3-only argument {key}={value!r}; its tf_keras copy "
                    f"can only drop it at {key}={_KERAS3_ONLY_NEUTRAL[key]!r}."
                )
            continue
        if key in _KERAS3_ONLY_DEPENDENT:
            continue  # meaningless once its switch was checked neutral above
        if key == "dtype":
            out[key] = _translate_dtype(value, name)
        elif key == "batch_shape" and class_name == "InputLayer":
            out["batch_input_shape"] = value
        elif isinstance(value, Mapping) and str(value.get("module", "")).startswith(_SERIALIZED_OBJECT_MODULES):
            out[key] = _translate_object(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _translate_dtype(value: Any, layer_name: str) -> Any:
    if isinstance(value, Mapping):
        value = value.get("config", {}).get("name")
    if value is not None and value not in _FLOAT_POLICIES:
        raise ValueError(
            f"Layer {layer_name!r} has dtype policy {value!r}; the copy takes one of {', '.join(_FLOAT_POLICIES)}."
        )
    return value


def _translate_object(value: Mapping[str, Any]) -> dict[str, Any]:
    """An initializer / regularizer / constraint as tf_keras deserialises it: class name and config."""
    config = dict(value.get("config") or {})
    if str(value["module"]).startswith("keras.initializers"):
        for key in _INITIALIZER_KERAS3_ONLY:
            config.pop(key, None)
    return {"class_name": value["class_name"], "config": config}


# --- weights, framework-neutral (Keras 3 and tf_keras models both have .layers / .weights / .get_weights) ---


def _leaf_layers(model: Any) -> list[Any]:
    leaves = []
    for layer in model.layers:
        if getattr(layer, "layers", None) is not None and hasattr(layer, "inputs"):
            leaves.extend(_leaf_layers(layer))
        else:
            leaves.append(layer)
    return leaves


def layer_weights(model: Any) -> dict[str, list[np.ndarray]]:
    """The weights of every layer that has some, by layer name (nested models flattened), in each layer's order.

    Works on Keras 3 and ``tf_keras`` models alike, so the same mapping goes both ways between a model and its
    tf_keras copy.

    Args:
        model: A Keras 3 or tf_keras model.

    Returns:
        ``{layer_name: [array, ...]}`` in model order, layers without weights left out.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="fc")])
        >>> {name: [w.shape for w in ws] for name, ws in layer_weights(model).items()}
        {'fc': [(4, 2), (2,)]}
    """
    return {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in _leaf_layers(model) if layer.weights}


def assign_layer_weights(model: Any, weights: Mapping[str, Sequence[np.ndarray]]) -> None:
    """Sets every layer's weights from ``weights`` (as :func:`layer_weights` returns them), strictly.

    Args:
        model: A Keras 3 or tf_keras model.
        weights: ``{layer_name: [array, ...]}``, one entry per layer of ``model`` that has weights, none other.

    Raises:
        ValueError: A layer with weights has no entry, an entry names no such layer, or a layer's weight count or a
            weight's shape differs (the message names the layer and the weight).

    Example:
        >>> import keras
        >>> a = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="fc")])
        >>> b = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="fc")])
        >>> assign_layer_weights(b, layer_weights(a))
        >>> bool((b.get_weights()[0] == a.get_weights()[0]).all())
        True
    """
    leaves = {layer.name: layer for layer in _leaf_layers(model) if layer.weights}
    missing = [name for name in leaves if name not in weights]
    unknown = [name for name in weights if name not in leaves]
    if missing or unknown:
        raise ValueError(
            f"Weights do not fit model {model.name!r}: layers with weights but no values: {missing}; values for "
            f"layers the model lacks (or whose layers have no weights): {unknown}."
        )
    for name, layer in leaves.items():
        values = [np.asarray(v) for v in weights[name]]
        targets = layer.weights
        if len(values) != len(targets):
            raise ValueError(
                f"Layer {name!r} ({type(layer).__name__}) has {len(targets)} weights "
                f"({[_weight_name(t) for t in targets]}) but {len(values)} values were given."
            )
        for index, (target, value) in enumerate(zip(targets, values)):
            if tuple(target.shape) != value.shape:
                raise ValueError(
                    f"Layer {name!r} weight {index} ({_weight_name(target)}) has shape {tuple(target.shape)} but the "
                    f"value has shape {value.shape}."
                )
        layer.set_weights(values)


def _weight_name(variable: Any) -> str:
    return str(getattr(variable, "path", None) or variable.name)


def save_layer_weights(weights: Mapping[str, Sequence[np.ndarray]], path: str | os.PathLike) -> None:
    """Writes :func:`layer_weights`' mapping to an ``.npz`` (keys ``layer/index``; Keras names cannot hold "/")."""
    arrays = {
        f"{name}/{index}": np.asarray(value) for name, values in weights.items() for index, value in enumerate(values)
    }
    with _files.atomic_path(path) as temporary:
        np.savez(temporary, **arrays)


def load_layer_weights(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Reads what :func:`save_layer_weights` wrote, weights back in their order."""
    grouped: dict[str, dict[int, np.ndarray]] = {}
    with np.load(path) as archive:  # object arrays refused (numpy's default)
        for key in archive.files:
            name, index = key.rsplit("/", 1)
            grouped.setdefault(name, {})[int(index)] = archive[key]
    return {name: [values[i] for i in sorted(values)] for name, values in grouped.items()}


# --- the child side: needs tf_keras ---


def build_tf_keras_model(config: Mapping[str, Any], weights: Mapping[str, Sequence[np.ndarray]] | None = None) -> Any:
    """Builds the ``tf_keras`` copy from :func:`to_tf_keras_config`'s dict (in a process where tf_keras may load).

    Args:
        config: What :func:`to_tf_keras_config` returned (or its JSON, parsed).
        weights: Optional ``{layer_name: [array, ...]}`` assigned with :func:`assign_layer_weights`.

    Returns:
        A ``tf_keras`` functional model.

    Raises:
        ImportError: tf_keras is not installed (``pip install keras_archs[qat]``).
        ValueError: ``config`` is not a config of a known format, tf_keras rejects a layer config, or
            ``weights`` do not fit.

    Example:
        >>> # in a child process with TF_USE_LEGACY_KERAS=1, see predict_in_tf_keras()
        >>> # copy = build_tf_keras_model(json.loads(config_json), load_layer_weights("weights.npz"))
    """
    tf_keras = _import_tf_keras()
    info = config.get("keras_archs_tf_keras_copy") if isinstance(config, Mapping) else None
    if not info or info.get("format") != CONFIG_FORMAT:
        raise ValueError(
            f"`config` must come from to_tf_keras_config (format {CONFIG_FORMAT}). "
            f"Received keras_archs_tf_keras_copy={info!r}"
        )
    try:
        model = tf_keras.Model.from_config(copy.deepcopy(config["config"]), custom_objects=_custom_layer_classes())
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"tf_keras could not build the copy of {info.get('source')!r}: {error}") from error
    if weights is not None:
        assign_layer_weights(model, weights)
    return model


def _import_tf_keras() -> Any:
    try:
        import tf_keras
    except ImportError as error:
        raise ImportError(
            "The tf_keras copy needs the optional extra 'qat': pip install 'keras_archs[qat]' "
            "(tensorflow-model-optimization and tf-keras)."
        ) from error
    return tf_keras


_CUSTOM_LAYER_CLASSES: dict[str, type] = {}


def _custom_layer_classes() -> dict[str, type]:
    """tf_keras re-implementations of :data:`CUSTOM_LAYERS` (same config, same maths, no weights)."""
    if _CUSTOM_LAYER_CLASSES:
        return _CUSTOM_LAYER_CLASSES
    import tensorflow as tf

    tf_keras = _import_tf_keras()

    class LocalResponseNormalization(tf_keras.layers.Layer):
        # Same formula as keras_archs.applications.alexnet.LocalResponseNormalization (Caffe's LRN).
        def __init__(self, size=5, alpha=1e-4, beta=0.75, k=1.0, axis=-1, **kwargs):
            super().__init__(**kwargs)
            self.size, self.alpha, self.beta, self.k, self.axis = int(size), float(alpha), float(beta), float(k), axis

        def call(self, inputs):
            rank = inputs.shape.rank
            axis = self.axis % rank
            half = self.size // 2
            widths = [[0, 0]] * rank
            widths[axis] = [half, half]
            squares = tf.pad(tf.square(inputs), widths)
            channels = inputs.shape[axis]
            total = tf.add_n(
                [tf.gather(squares, tf.range(offset, offset + channels), axis=axis) for offset in range(self.size)]
            )
            return inputs / tf.pow(self.k + (self.alpha / self.size) * total, self.beta)

        def get_config(self):
            extra = {"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k, "axis": self.axis}
            return {**super().get_config(), **extra}

    class ZeroPaddedIdentity(tf_keras.layers.Layer):
        # Same as keras_archs.applications.cifar_resnet.ZeroPaddedIdentity (He et al. 2016a option A).
        def __init__(self, channels, stride=1, data_format=None, **kwargs):
            super().__init__(**kwargs)
            self.channels, self.stride = int(channels), int(stride)
            self.data_format = data_format or "channels_last"

        def call(self, inputs):
            s = self.stride
            if self.data_format == "channels_first":
                x = inputs[:, :, ::s, ::s]
                return tf.pad(x, [[0, 0], [0, self.channels - inputs.shape[1]], [0, 0], [0, 0]])
            x = inputs[:, ::s, ::s, :]
            return tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, self.channels - inputs.shape[-1]]])

        def get_config(self):
            extra = {"channels": self.channels, "stride": self.stride, "data_format": self.data_format}
            return {**super().get_config(), **extra}

    class CustomScaleLayer(tf_keras.layers.Layer):
        # Same as keras_archs.applications.inception_resnet_v2.CustomScaleLayer.
        def __init__(self, scale, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def call(self, inputs):
            shortcut, residual = inputs
            return shortcut + residual * self.scale

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    _CUSTOM_LAYER_CLASSES.update(
        LocalResponseNormalization=LocalResponseNormalization,
        ZeroPaddedIdentity=ZeroPaddedIdentity,
        CustomScaleLayer=CustomScaleLayer,
    )
    return _CUSTOM_LAYER_CLASSES


# --- running the tf_keras copy in a child process ---

_STDERR_TAIL = 4000  # characters of the child's stderr quoted in a RuntimeError


def run_legacy_keras_child(module: str, args: Sequence[str], timeout: float | None = None) -> None:
    """Runs ``module`` as ``__main__`` in a child Python with ``TF_USE_LEGACY_KERAS=1`` set for the child only.

    The parent's ``os.environ``, ``sys.modules`` and the meaning of ``keras`` and of TensorFlow's bundled Keras alias
    are left as they were. The child is a plain ``python -m module``: importing ``keras_archs`` and
    ``keras_archs.compress`` loads no Keras (their attributes load on first use), so only the module's own imports
    (TF, tf_keras, tfmot) run next to tf_keras (tfmot 0.8.1 itself imports ``keras``, which stays Keras 3 and
    unused).

    Args:
        module: A module of this package with a ``__main__`` entry (``keras_archs.compress.qat``...).
        args: Its command-line arguments.
        timeout: Seconds before the child is killed (None: no limit).

    Raises:
        RuntimeError: The child exited non-zero or timed out; the message ends with the tail of its stderr.

    Example:
        >>> # run_legacy_keras_child("keras_archs.compress.tf_keras_copy", ["predict", "/tmp/work"])
    """
    env = dict(os.environ)
    env["TF_USE_LEGACY_KERAS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    package_dir = pathlib.Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_dir.parent), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", module, *args]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        tail = (error.stderr or b"")[-_STDERR_TAIL:]
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        raise RuntimeError(
            f"Child `python -m {module} {' '.join(args)}` timed out after {timeout} s. Its stderr ended with:\n{tail}"
        ) from None
    if done.returncode != 0:
        raise RuntimeError(
            f"Child `python -m {module} {' '.join(args)}` failed (exit status {done.returncode}). Its stderr ended "
            "with:\n"
            f"{done.stderr[-_STDERR_TAIL:]}"
        )


def predict_in_tf_keras(model: Any, x: np.ndarray, batch_size: int = 32, timeout: float | None = 600) -> dict[str, Any]:
    """Predicts with a tf_keras copy of ``model`` in a child process (a parity check of the translation).

    Args:
        model: A Keras 3 model :func:`to_tf_keras_config` accepts.
        x: Inputs, a numpy array (single-input models).
        batch_size: Batch size of the copy's ``predict``.
        timeout: Seconds before the child is killed.

    Returns:
        ``{"outputs": array, "weights": {layer: [array, ...]}}``: the copy's predictions and its weights read back
        after the copy.

    Raises:
        ImportError: tf_keras is not installed (``pip install keras_archs[qat]``).
        ValueError: See :func:`to_tf_keras_config`.
        RuntimeError: The child failed (its stderr tail is in the message).

    Example:
        >>> # out = predict_in_tf_keras(model, x)["outputs"]; np.abs(out - model.predict(x)).max() < 1e-5
    """
    import importlib.util

    config = to_tf_keras_config(model)
    if importlib.util.find_spec("tf_keras") is None:
        _import_tf_keras()
    with tempfile.TemporaryDirectory(prefix="keras_archs_tf_keras_copy_") as work:
        folder = pathlib.Path(work)
        _files.write_text(folder / "config.json", json.dumps(config))
        save_layer_weights(layer_weights(model), folder / "weights.npz")
        with _files.atomic_path(folder / "inputs.npy") as temporary:
            np.save(temporary, np.asarray(x))
        _files.write_text(folder / "options.json", json.dumps({"batch_size": int(batch_size)}))
        run_legacy_keras_child("keras_archs.compress.tf_keras_copy", ["predict", str(folder)], timeout=timeout)
        return {"outputs": np.load(folder / "outputs.npy"), "weights": load_layer_weights(folder / "copy_weights.npz")}


def _child_predict(folder: pathlib.Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    options = json.loads((folder / "options.json").read_text())
    model = build_tf_keras_model(config, load_layer_weights(folder / "weights.npz"))
    x = np.load(folder / "inputs.npy")
    outputs = model.predict(x.astype(model.inputs[0].dtype.as_numpy_dtype), batch_size=options["batch_size"], verbose=0)
    with _files.atomic_path(folder / "outputs.npy") as temporary:
        np.save(temporary, np.asarray(outputs))
    save_layer_weights(layer_weights(model), folder / "copy_weights.npz")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "predict":
        raise SystemExit("usage: python -m keras_archs.compress.tf_keras_copy predict WORK_DIR")
    _child_predict(pathlib.Path(sys.argv[2]))
