"""The LiteRT interpreter, once for the package: which class, int8/uint8 input quantisation, a batch runner.

:func:`quantize_input` reproduces the interpreter's own ``QUANTIZE`` kernel bit for bit: ``x`` times the float32
reciprocal of the scale, rounded half to even, plus the zero point, clipped to the dtype. Measured against
``ai_edge_litert`` 2.x (builtin kernels and the XNNPACK delegate) on 12,800 values, 3,200 of them exact ties
(tests/test_export_litert.py); dividing by the scale, rounding half away from zero, or adding the zero point before
rounding each differ from the kernel on a share of the ties.

The QAT child process (``keras_archs.compress.qat``) uses this module too, so it imports only NumPy at the top.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

import numpy as np

__all__ = [
    "LiteRTRunner",
    "TensorInfo",
    "dequantize_output",
    "interpreter_class",
    "op_names",
    "quantize_input",
]


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """An input or output tensor of a ``.tflite`` file, as the interpreter reports it.

    Attributes:
        name: Tensor name in the flatbuffer.
        shape: Static shape, batch dimension first.
        dtype: NumPy dtype name ("float32", "int8", "uint8").
        scale: Quantisation scale for int8/uint8 tensors (``real = scale * (q - zero_point)``), else None.
        zero_point: Quantisation zero point for int8/uint8 tensors, else None.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> "TensorInfo":
        """From an entry of ``interpreter.get_input_details()`` / ``get_output_details()``."""
        scale, zero_point = detail["quantization"]
        quantized = scale != 0.0
        return cls(
            name=str(detail["name"]),
            shape=tuple(int(d) for d in detail["shape"]),
            dtype=np.dtype(detail["dtype"]).name,
            scale=float(scale) if quantized else None,
            zero_point=int(zero_point) if quantized else None,
        )


def interpreter_class() -> tuple[type, str]:
    """The LiteRT interpreter class and its name: ``ai_edge_litert``'s, else ``tf.lite.Interpreter``.

    Example:
        >>> cls, name = interpreter_class()
        >>> name in ("ai_edge_litert", "tf.lite")
        True
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite"
    return Interpreter, "ai_edge_litert"


def quantize_input(x: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """``x`` in the dtype of an interpreter input, exactly as the interpreter's QUANTIZE kernel computes it.

    For int8/uint8 inputs: ``round_half_to_even(x * float32(1 / scale)) + zero_point``, clipped to the dtype (module
    docstring). Float inputs: ``x`` cast.

    Args:
        x: Float model inputs.
        detail: The input's entry of ``interpreter.get_input_details()`` (``dtype`` and ``quantization``).

    Returns:
        An array of the input's dtype.

    Example:
        >>> quantize_input(np.array([0.0, 0.25, 0.75, -0.25, 9.0]), {"dtype": np.uint8, "quantization": (0.5, 2)})
        array([ 2,  2,  4,  2, 20], dtype=uint8)
    """
    dtype = np.dtype(detail["dtype"])
    if dtype.kind not in "iu":
        return np.asarray(x).astype(dtype)
    scale, zero_point = detail["quantization"]
    reciprocal = np.float32(1.0) / np.float32(scale)
    scaled = np.rint(np.asarray(x, np.float32) * reciprocal)  # rint: half to even, like the kernel
    info = np.iinfo(dtype)
    return np.clip(scaled + np.float32(zero_point), info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """Float32 values of an interpreter output: ``scale * (q - zero_point)`` for int8/uint8 outputs.

    Example:
        >>> dequantize_output(np.array([0, 128, 192], np.uint8), {"dtype": np.uint8, "quantization": (1 / 256, 0)})
        array([0.  , 0.5 , 0.75], dtype=float32)
    """
    if np.dtype(detail["dtype"]).kind not in "iu":
        return np.asarray(y).astype(np.float32)
    scale, zero_point = detail["quantization"]
    return (np.asarray(y).astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def op_names(interpreter: Any) -> list[tuple[str, list[str]]] | None:
    """(op name, result dtype names) of every op, or None when this interpreter cannot list them."""
    details = getattr(interpreter, "_get_ops_details", None)  # private, but in both LiteRT and tf.lite
    if details is None:
        return None
    result = []
    for op in details():
        types = [np.dtype(t).name for t in op.get("result_types", []) if t is not np.object_]
        result.append((op["op_name"], types))
    return result


class LiteRTRunner:
    """Runs a single-input, single-output ``.tflite`` on float batches of any size; returns dequantised outputs.

    Inputs are quantised with :func:`quantize_input` when the file takes int8/uint8. A file with a fixed batch size
    (what :func:`keras_archs.export.to_tflite` writes) runs in chunks of that size, the last one zero-padded; a file
    with a variable batch dimension (``shape_signature`` -1, e.g. a converted ``tf_keras`` model) is resized to
    chunks of up to ``max_batch`` examples.

    Args:
        model_path: The ``.tflite`` file; or
        model_content: its bytes.
        num_threads: Interpreter threads (None: its default).
        max_batch: Largest chunk for a variable batch dimension.

    Attributes:
        name: "ai_edge_litert" or "tf.lite".
        input: The input's detail dict; ``output``: the output's.

    Example:
        >>> # runner = LiteRTRunner(model_path="model.tflite"); probabilities = runner(images)
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        model_content: bytes | None = None,
        num_threads: int | None = None,
        max_batch: int = 256,
    ) -> None:
        if (model_path is None) == (model_content is None):
            raise ValueError("LiteRTRunner takes exactly one of `model_path` and `model_content`.")
        cls, self.name = interpreter_class()
        source = {"model_path": os.fspath(model_path)} if model_path is not None else {"model_content": model_content}
        self.interpreter = cls(**source, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        signature = self.input.get("shape_signature")
        self.variable_batch = signature is not None and len(signature) > 0 and int(signature[0]) == -1
        self.batch = int(max_batch) if self.variable_batch else int(self.input["shape"][0])
        self._allocated = int(self.input["shape"][0])

    def _resize(self, batch: int) -> None:
        if batch != self._allocated:
            self.interpreter.resize_tensor_input(self.input["index"], [batch, *self.input["shape"][1:]])
            self.interpreter.allocate_tensors()
            self.input = self.interpreter.get_input_details()[0]
            self.output = self.interpreter.get_output_details()[0]
            self._allocated = batch

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Dequantised outputs for the float inputs ``x`` (batch first)."""
        x = np.asarray(x, np.float32)
        outputs = []
        for start in range(0, len(x), self.batch):
            chunk = x[start : start + self.batch]
            if self.variable_batch:
                self._resize(len(chunk))
                padded = chunk
            else:
                padded = np.zeros((self.batch, *chunk.shape[1:]), np.float32)
                padded[: len(chunk)] = chunk
            self.interpreter.set_tensor(self.input["index"], quantize_input(padded, self.input))
            self.interpreter.invoke()
            result = dequantize_output(self.interpreter.get_tensor(self.output["index"]), self.output)
            outputs.append(result[: len(chunk)])
        return np.concatenate(outputs)
