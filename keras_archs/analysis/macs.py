"""Multiply-accumulates, parameters by layer kind, other work and activation memory of a Keras model, at batch 1.

:func:`count_macs` is the number the papers' tables give ("FLOPs (multiply-adds)", He et al. 2016, Table 1;
"Mult-Adds", Howard et al. 2017, Table 1): one multiply-accumulate per weight of a convolution or fully-connected
layer per output position, biases, batch norm, pooling, additions and activations not included. :func:`layer_costs`
gives the same walk per layer call, with the kind of each computation, the other (element-wise) work and the tensors
each call writes, from which :func:`cost_summary` sums MACs and parameters by kind (MobileNet's Table 2) and the
activation memory.

The walk runs the model's graph symbolically on batch-1 shapes (``compute_output_spec`` of every operation, nothing
executed, no node added to any layer), so it sees every call of a shared layer, enters nested Functional and Sequential
models with the shapes they are called with, and works at any input size (``input_shape=`` for models built with a
variable one).

Counting conventions (per call; ``H x W`` the output size, ``C_in`` / ``C_out`` channels, ``k`` the kernel size):

* ``Conv1D/2D/3D``: ``H*W * C_out * k*k * C_in / groups``;
* ``DepthwiseConv1D/2D``: ``H*W * C_in * depth_multiplier * k*k``;
* ``SeparableConv1D/2D``: its depthwise part (as above, at the strided output size) plus its pointwise 1x1 part
  ``H*W * C_in*depth_multiplier * C_out``;
* ``Conv*Transpose``: ``input H*W * C_in * k*k * C_out / groups`` (each input pixel is scattered through the kernel);
* ``Dense``: ``(positions) * in_features * units`` (positions: the product of the dimensions between batch and
  features, 1 for a flat input).

Kinds (:data:`KINDS`), the rows of MobileNet's Table 2 (Howard et al. 2017): ``"conv1x1"`` (every kernel dimension 1,
including a separable conv's pointwise part), ``"conv_kxk"`` (a larger kernel), ``"depthwise"`` and ``"dense"``. A 1x1
convolution applied to a 1x1 map is a fully-connected layer written as a convolution (keras.applications' MobileNet
classifier ``conv_preds`` is one) and counts as ``"dense"``, as the paper's "FC" row does.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Iterator, Sequence

import keras

__all__ = [
    "KINDS",
    "OTHER_KINDS",
    "LayerCost",
    "CostSummary",
    "count_macs",
    "layer_costs",
    "cost_summary",
]

KINDS = ("conv1x1", "conv_kxk", "depthwise", "dense")
# Work outside KINDS, reported apart: element operations per call (conventions in _other_work).
OTHER_KINDS = ("normalization", "activation", "pooling", "elementwise", "resize")


@dataclasses.dataclass(frozen=True)
class LayerCost:
    """One call of one operation in the walk.

    Attributes:
        path: ``outer/inner/layer`` names of the nested models down to the operation.
        layer_type: Class name of the operation (``"Conv2D"``).
        input_shapes: Shapes of its tensor inputs, batch 1.
        output_shapes: Shapes of its outputs, batch 1.
        macs: Multiply-accumulates by kind (:data:`KINDS`), only the kinds this call has.
        params: Weights by kind (kernel and bias; counted at the layer's first call only, so a shared layer's
            weights are counted once).
        other_ops: Element operations outside :data:`KINDS`, by kind (:data:`OTHER_KINDS`), approximate.
        output_bytes: Bytes of its outputs at batch 1 (the operation's output dtype).
        layer_params: ``count_params()`` of the operation (all its weights, BN statistics included) at its first call,
            else 0.
    """

    path: str
    layer_type: str
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    macs: dict[str, int]
    params: dict[str, int]
    other_ops: dict[str, int]
    output_bytes: int
    layer_params: int

    @property
    def total_macs(self) -> int:
        return sum(self.macs.values())


@dataclasses.dataclass(frozen=True)
class CostSummary:
    """Totals of a walk (:func:`cost_summary`).

    Attributes:
        macs: Multiply-accumulates of one forward pass at batch 1 (what :func:`count_macs` returns).
        macs_by_kind: The same by kind, every kind of :data:`KINDS` present (0 where absent).
        params: ``model.count_params()`` (BN moving statistics included).
        params_by_kind: Kernel and bias weights of the layers of each kind; ``"other"``: everything else (BN, ...).
        other_ops: Element operations outside :data:`KINDS` by kind (:data:`OTHER_KINDS`).
        activation_bytes: Bytes of every tensor one forward pass writes (the input included), at batch 1: what a
            training step keeps for the backward pass, roughly.
        peak_activation_bytes: The largest sum of tensors alive at once when each is freed after its last use, in the
            graph's execution order, at batch 1: what inference needs at least without in-place reuse.
        layers: Number of operation calls walked.
    """

    macs: int
    macs_by_kind: dict[str, int]
    params: int
    params_by_kind: dict[str, int]
    other_ops: dict[str, int]
    activation_bytes: int
    peak_activation_bytes: int
    layers: int

    def share(self, kind: str, of: str = "macs") -> float:
        """Fraction of the counted MACs (``of="macs"``) or of the counted kernel/bias weights (``of="params"``, the
        four :data:`KINDS` only, as MobileNet's Table 2) that ``kind`` holds."""
        table = self.macs_by_kind if of == "macs" else {k: self.params_by_kind[k] for k in KINDS}
        total = sum(table.values())
        return table.get(kind, 0) / total if total else 0.0


def _shape(tensor: Any) -> tuple[int, ...]:
    return tuple(int(d) if d is not None else -1 for d in tensor.shape)


def _elements(shape: Sequence[int]) -> int:
    return math.prod(shape[1:]) if len(shape) > 1 else 1


def _bytes(tensor: Any) -> int:
    """Bytes of a batch-1 symbolic tensor: elements times the width of its dtype ("float32": 4, "bool": 1)."""
    bits = re.search(r"(\d+)$", str(tensor.dtype))
    return _elements(_shape(tensor)) * (int(bits.group(1)) // 8 if bits else 1)


def _spatial(shape: Sequence[int], data_format: str) -> tuple[tuple[int, ...], int]:
    """(spatial dims, channels) of a batch-first conv tensor shape."""
    if data_format == "channels_first":
        return tuple(shape[2:]), shape[1]
    return tuple(shape[1:-1]), shape[-1]


def _conv_kind(kernel: Sequence[int], in_spatial: Sequence[int], out_spatial: Sequence[int]) -> str:
    if all(k == 1 for k in kernel):
        if all(s == 1 for s in in_spatial) and all(s == 1 for s in out_spatial):
            return "dense"  # a fully-connected layer written as a 1x1 convolution (module docstring)
        return "conv1x1"
    return "conv_kxk"


def _weights(variables: Sequence[Any]) -> int:
    return sum(math.prod(v.shape) for v in variables)


def _counted(layer: Any, inputs: Sequence[tuple[int, ...]], outputs: Sequence[tuple[int, ...]]):
    """(macs by kind, params by kind) of a counted layer, or None for any other operation."""
    layers = keras.layers
    if isinstance(layer, (layers.SeparableConv1D, layers.SeparableConv2D)):
        out_spatial, out_channels = _spatial(outputs[0], layer.data_format)
        in_spatial, in_channels = _spatial(inputs[0], layer.data_format)
        positions = math.prod(out_spatial)
        middle = in_channels * layer.depth_multiplier
        depthwise = positions * middle * math.prod(layer.kernel_size)
        pointwise = positions * middle * out_channels
        kind = "dense" if all(s == 1 for s in (*in_spatial, *out_spatial)) else "conv1x1"
        bias = [layer.bias] if layer.use_bias else []
        macs = {"depthwise": depthwise, kind: pointwise}
        params = {"depthwise": _weights([layer.depthwise_kernel]), kind: _weights([layer.pointwise_kernel, *bias])}
        return macs, params
    if isinstance(layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
        out_spatial, _ = _spatial(outputs[0], layer.data_format)
        _, in_channels = _spatial(inputs[0], layer.data_format)
        macs = math.prod(out_spatial) * in_channels * layer.depth_multiplier * math.prod(layer.kernel_size)
        return {"depthwise": macs}, {"depthwise": _weights(layer.trainable_weights + layer.non_trainable_weights)}
    if isinstance(layer, (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)):
        in_spatial, in_channels = _spatial(inputs[0], layer.data_format)
        out_spatial, out_channels = _spatial(outputs[0], layer.data_format)
        groups = getattr(layer, "groups", 1) or 1
        macs = math.prod(in_spatial) * in_channels * math.prod(layer.kernel_size) * out_channels // groups
        kind = _conv_kind(layer.kernel_size, in_spatial, out_spatial)
        return {kind: macs}, {kind: _weights(layer.weights)}
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
        in_spatial, in_channels = _spatial(inputs[0], layer.data_format)
        out_spatial, out_channels = _spatial(outputs[0], layer.data_format)
        per_output = math.prod(layer.kernel_size) * in_channels // layer.groups
        kind = _conv_kind(layer.kernel_size, in_spatial, out_spatial)
        return {kind: math.prod(out_spatial) * out_channels * per_output}, {kind: _weights(layer.weights)}
    if isinstance(layer, layers.Dense):
        shape = inputs[0]
        positions = math.prod(shape[1:-1]) if len(shape) > 2 else 1
        return {"dense": positions * shape[-1] * layer.units}, {"dense": _weights(layer.weights)}
    return None


_NORMALIZATION = ("BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization")
_ACTIVATION = ("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax")
_ELEMENTWISE = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


def _other_work(layer: Any, inputs: Sequence[tuple[int, ...]], outputs: Sequence[tuple[int, ...]]) -> dict[str, int]:
    """Element operations of an operation outside KINDS (approximate, batch 1).

    Conventions: normalization 2 per output element (scale and shift once folded); activation 1; pooling one read
    per window element per output (global pooling: every input element); element-wise merges (n - 1) per output
    element; resizing 1 per output element; a Rescaling layer 1 per element (activation-like). Concatenation,
    reshapes, padding, cropping and dropout count as none (data movement).
    """
    name = type(layer).__name__
    out = sum(_elements(s) for s in outputs)
    if name in _NORMALIZATION:
        return {"normalization": 2 * out}
    if name in _ACTIVATION or name == "Rescaling":
        return {"activation": out}
    activation = getattr(layer, "activation", None)
    ops = {}
    if "Pooling" in name:
        if name.startswith("Global"):
            ops["pooling"] = _elements(inputs[0])
        else:
            ops["pooling"] = out * math.prod(getattr(layer, "pool_size", (1,)))
    elif name in _ELEMENTWISE:
        ops["elementwise"] = out * max(len(inputs) - 1, 1)
    elif name in ("Resizing", "UpSampling2D", "UpSampling1D", "UpSampling3D"):
        ops["resize"] = out
    if activation is not None and getattr(activation, "__name__", "") not in ("linear", ""):
        ops["activation"] = ops.get("activation", 0) + out
    return ops


def _counted_activation(layer: Any, outputs: Sequence[tuple[int, ...]]) -> dict[str, int]:
    """The fused activation of a counted layer (``Conv2D(..., activation="relu")``), 1 per output element."""
    activation = getattr(layer, "activation", None)
    if activation is None or getattr(activation, "__name__", "linear") == "linear":
        return {}
    return {"activation": sum(_elements(s) for s in outputs)}


def _is_graph_model(operation: Any) -> bool:
    return isinstance(operation, keras.Model) and _graph_of(operation) is not None


def _graph_of(model: Any) -> Any:
    """The Functional graph behind ``model`` (itself, or a built Sequential's), or None for a subclassed model."""
    if isinstance(model, keras.Sequential):
        model = getattr(model, "_functional", None)
    if model is not None and hasattr(model, "_run_through_graph") and hasattr(model, "_nodes_by_depth"):
        return model
    return None


def _walk(model: Any, inputs: list[Any], prefix: str, events: list) -> Any:
    """Runs ``model``'s graph on symbolic ``inputs``, appending (path, operation, inputs, outputs) per call."""
    graph = _graph_of(model)
    if graph is None:
        raise TypeError(
            f"count_macs walks Functional and Sequential models; {prefix or model.name!r} is a subclassed "
            f"{type(model).__name__}, whose computation cannot be read without running it."
        )

    def call(operation: Any, *args: Any, **kwargs: Any) -> Any:
        path = f"{prefix}/{operation.name}" if prefix else operation.name
        tensors = [t for t in keras.tree.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor)]
        if _is_graph_model(operation):
            flat = keras.tree.flatten(args[0] if len(args) == 1 else args)
            return _walk(operation, flat, path, events)
        kwargs = {key: value for key, value in kwargs.items() if key not in ("training", "mask")}
        outputs = operation.compute_output_spec(*args, **kwargs)
        events.append((path, operation, tensors, keras.tree.flatten(outputs)))
        return outputs

    structured = inputs[0] if len(inputs) == 1 else inputs
    return graph._run_through_graph(structured, operation_fn=lambda op: op, call_fn=call)


def _symbolic_inputs(model: Any, input_shape: Any) -> list[Any]:
    inputs = keras.tree.flatten(model.inputs) if getattr(model, "inputs", None) else []
    if not inputs:
        raise ValueError(f"Model {model.name!r} has no inputs yet: build it (call it once) before counting.")
    if input_shape is None:
        shapes = [tuple(t.shape[1:]) for t in inputs]
    elif len(inputs) == 1 and all(isinstance(d, int) or d is None for d in input_shape):
        shapes = [tuple(input_shape)]
    else:
        shapes = [tuple(s) for s in input_shape]
    if len(shapes) != len(inputs):
        raise ValueError(
            f"input_shape gives {len(shapes)} shapes for a model with {len(inputs)} inputs. Received: "
            f"input_shape={input_shape!r}"
        )
    tensors = []
    for tensor, shape in zip(inputs, shapes):
        if any(d is None for d in shape) or any(not isinstance(d, int) or d < 1 for d in shape):
            raise ValueError(
                f"Model {model.name!r} takes inputs of shape {tuple(tensor.shape)}: count_macs needs every size "
                f"(batch aside) as a positive int. Pass input_shape=, e.g. (224, 224, 3). Received: input_shape="
                f"{input_shape!r}"
            )
        tensors.append(keras.KerasTensor((1, *shape), dtype=tensor.dtype))
    return tensors


def _check_model(model: Any) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model. Received: model={model!r} of type {type(model).__name__}")


def _events(model: Any, input_shape: Any) -> tuple[list[Any], list[tuple], Any]:
    _check_model(model)
    if _graph_of(model) is None:
        raise TypeError(
            f"count_macs walks Functional and Sequential models; {model.name!r} is a subclassed "
            f"{type(model).__name__}, whose computation cannot be read without running it."
        )
    inputs = _symbolic_inputs(model, input_shape)
    events: list[tuple] = []
    outputs = _walk(model, inputs, "", events)
    return inputs, events, outputs


def _costs(events: Sequence[tuple]) -> Iterator[LayerCost]:
    seen: set[int] = set()
    for path, operation, inputs, outputs in events:
        in_shapes = tuple(_shape(t) for t in inputs)
        out_shapes = tuple(_shape(t) for t in outputs)
        first = id(operation) not in seen
        seen.add(id(operation))
        counted = _counted(operation, in_shapes, out_shapes)
        if counted is not None:
            macs, params = counted
            other = _counted_activation(operation, out_shapes)
        else:
            macs, params = {}, {}
            other = _other_work(operation, in_shapes, out_shapes)
        output_bytes = sum(_bytes(t) for t in outputs)
        layer_params = operation.count_params() if first and isinstance(operation, keras.layers.Layer) else 0
        yield LayerCost(
            path=path,
            layer_type=type(operation).__name__,
            input_shapes=in_shapes,
            output_shapes=out_shapes,
            macs=macs,
            params=params if first else {},
            other_ops=other,
            output_bytes=output_bytes,
            layer_params=layer_params,
        )


def layer_costs(model: Any, input_shape: Any = None) -> list[LayerCost]:
    """The cost of every operation call of ``model``'s forward pass at batch 1, in execution order.

    Args:
        model: A Functional or Sequential ``keras.Model`` (nested ones are entered).
        input_shape: Input shape without the batch dimension, for a model built with a variable size (``(224, 224,
            3)``); a list of shapes for several inputs. None: the model's own.

    Returns:
        A list of :class:`LayerCost`, one per call (a shared layer appears once per call).

    Raises:
        TypeError: ``model`` is not a keras.Model, or it (or a model inside it) is a subclassed model.
        ValueError: The input size is unknown and ``input_shape`` does not give it.
    """
    return list(_costs(_events(model, input_shape)[1]))


def count_macs(model: Any, input_shape: Any = None) -> int:
    """Multiply-accumulates of one forward pass of ``model`` at batch 1 (convolutions and dense layers only).

    The papers' convention (module docstring): Conv1D/2D/3D (grouped too), DepthwiseConv, SeparableConv (depthwise +
    pointwise), transposed convs and Dense, one MAC per weight per output position; biases, BN, pooling, additions
    and activations are other work (:func:`cost_summary`). Nested models are entered and shared layers counted per
    call.

    Args:
        model: A Functional or Sequential ``keras.Model``.
        input_shape: Input shape without the batch dimension, for a model built with a variable input size.

    Returns:
        The number of multiply-accumulates (int).

    Raises:
        TypeError: ``model`` is not a keras.Model, or is (or contains) a subclassed model.
        ValueError: The input size is unknown and ``input_shape`` does not give it.

    Example:
        >>> import keras
        >>> inputs = keras.Input((8, 8, 3))
        >>> x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
        >>> outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
        >>> count_macs(keras.Model(inputs, outputs))  # 8*8*4*(3*3*3) + 4*2
        6920
    """
    return sum(cost.total_macs for cost in layer_costs(model, input_shape))


def _peak_live_bytes(inputs: Sequence[Any], events: Sequence[tuple], outputs: Any) -> int:
    """The largest sum of live tensors when each is freed after its last use (model outputs live to the end)."""
    size = {}
    last_use = {}
    for tensor in inputs:
        size[id(tensor)] = _bytes(tensor)
        last_use[id(tensor)] = 0
    for step, (_, _, used, produced) in enumerate(events):
        for tensor in used:
            last_use[id(tensor)] = step
        for tensor in produced:
            size[id(tensor)] = _bytes(tensor)
            last_use.setdefault(id(tensor), step)
    for tensor in keras.tree.flatten(outputs):
        last_use[id(tensor)] = len(events)
    live = sum(size[id(t)] for t in inputs)
    peak = live
    freed_at: dict[int, list[int]] = {}
    for key, step in last_use.items():
        freed_at.setdefault(step, []).append(key)
    for step, (_, _, _, produced) in enumerate(events):
        live += sum(size[id(t)] for t in produced)
        peak = max(peak, live)
        live -= sum(size[key] for key in freed_at.get(step, ()))
    return peak


def cost_summary(model: Any, input_shape: Any = None) -> CostSummary:
    """MACs and parameters by kind, other work and activation memory of ``model`` at batch 1.

    Args and Raises: as :func:`layer_costs`.

    Returns:
        A :class:`CostSummary`.

    Example:
        >>> import keras
        >>> inputs = keras.Input((8, 8, 3))
        >>> x = keras.layers.DepthwiseConv2D(3, padding="same")(inputs)
        >>> x = keras.layers.Conv2D(16, 1)(x)
        >>> summary = cost_summary(keras.Model(inputs, x))
        >>> summary.macs_by_kind["depthwise"], summary.macs_by_kind["conv1x1"]
        (1728, 3072)
        >>> summary.activation_bytes  # input 8*8*3, depthwise 8*8*3, conv 8*8*16 floats
        5632
    """
    inputs, events, outputs = _events(model, input_shape)
    costs = list(_costs(events))
    macs_by_kind = dict.fromkeys(KINDS, 0)
    params_by_kind = dict.fromkeys(KINDS, 0)
    other_ops = dict.fromkeys(OTHER_KINDS, 0)
    for cost in costs:
        for kind, value in cost.macs.items():
            macs_by_kind[kind] += value
        for kind, value in cost.params.items():
            params_by_kind[kind] += value
        for kind, value in cost.other_ops.items():
            other_ops[kind] += value
    params = int(model.count_params())
    params_by_kind["other"] = params - sum(params_by_kind[k] for k in KINDS)
    input_bytes = sum(_bytes(t) for t in inputs)
    return CostSummary(
        macs=sum(macs_by_kind.values()),
        macs_by_kind=macs_by_kind,
        params=params,
        params_by_kind=params_by_kind,
        other_ops=other_ops,
        activation_bytes=input_bytes + sum(cost.output_bytes for cost in costs),
        peak_activation_bytes=_peak_live_bytes(inputs, events, outputs),
        layers=len(costs),
    )
