"""keras_archs.export._litert: input quantisation bit-exact with the interpreter's QUANTIZE kernel, the batch runner,
the interpreter fallback. One helper for export, the demo, the benchmarks and the QAT child."""

from __future__ import annotations

import functools
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_archs.export import _litert, convert, to_tflite

WIDTH = 64


@functools.lru_cache(maxsize=None)
def _identity_model() -> keras.Model:
    """x -> Dense(identity): the int8 file is QUANTIZE -> FULLY_CONNECTED -> DEQUANTIZE, every input unit visible."""
    inputs = keras.Input((WIDTH,), name="x")
    dense = keras.layers.Dense(WIDTH, name="identity")
    model = keras.Model(inputs, dense(inputs), name="identity")
    dense.set_weights([np.eye(WIDTH, dtype=np.float32), np.zeros(WIDTH, np.float32)])
    return model


@pytest.fixture(scope="module")
def identity_exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("identity")
    calibration = np.random.default_rng(0).uniform(-3, 5, (50, WIDTH)).astype(np.float32)
    return {
        io: to_tflite(
            _identity_model(),
            folder / f"{io}.tflite",
            mode="int8",
            representative_data=calibration,
            io_dtype=io,
            metadata=False,  # not an image model: the file is the model as it is
        )
        for io in ("float32", "int8", "uint8")
    }


def _quantize_kernel_output(path, x: np.ndarray) -> np.ndarray:
    """What the interpreter's own QUANTIZE op makes of ``x`` (read back with preserve_all_tensors)."""
    interpreter_type, _ = _litert.interpreter_class()
    interpreter = interpreter_type(model_path=str(path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    [quantize] = [op for op in interpreter._get_ops_details() if op["op_name"] == "QUANTIZE"]
    return interpreter.get_tensor(quantize["outputs"][0])


def _samples(scale: float, rng: np.random.Generator) -> np.ndarray:
    """Random values and exact ties (x * (1 / scale) = k + 0.5 in float32), where rounding conventions differ."""
    values = rng.uniform(-5, 6, (200, WIDTH)).astype(np.float32)
    ties = ((rng.integers(-140, 140, (100, WIDTH)) + 0.5) * np.float32(scale)).astype(np.float32)
    return np.concatenate([values, ties])


def test_quantize_input_is_bit_exact_with_the_interpreters_quantize_kernel(identity_exports):
    float_io = identity_exports["float32"]
    detail = {
        "dtype": np.int8,
        "quantization": (identity_exports["int8"].input.scale, identity_exports["int8"].input.zero_point),
    }
    scale, zero_point = detail["quantization"]
    samples = _samples(scale, np.random.default_rng(1))
    reciprocal = np.float32(1) / np.float32(scale)
    assert (np.rint(samples[200:] * reciprocal) % 1 == 0).all()  # the tie rows really are ties
    kernel = np.concatenate([_quantize_kernel_output(float_io.path, row[None]) for row in samples])
    ours = _litert.quantize_input(samples, detail)
    assert ours.dtype == np.int8 and np.array_equal(ours, kernel)
    # the two roundings this package used before (export: round(x / s + zp); QAT: round(x / s) + zp, in float64)
    # each differ from the kernel on ties: the check above can tell them apart
    for old in (np.round(samples / scale + zero_point), np.round(samples / scale) + zero_point):
        assert (np.clip(old, -128, 127).astype(np.int8) != kernel).any()


@pytest.mark.parametrize("io", ["int8", "uint8"])
def test_integer_io_with_quantize_input_equals_float_io_exactly(identity_exports, io):
    """The uint8/int8 file fed quantize_input(x), read through dequantize_output, gives the float-I/O file's output."""
    samples = _samples(identity_exports[io].input.scale, np.random.default_rng(2))[::7]
    expected = _litert.LiteRTRunner(model_path=identity_exports["float32"].path)(samples)
    runner = _litert.LiteRTRunner(model_path=identity_exports[io].path)
    assert runner.input["dtype"] == np.dtype(io) and not runner.variable_batch
    got = runner(samples)
    np.testing.assert_array_equal(got, expected)
    scale, zero_point = identity_exports[io].input.scale, identity_exports[io].input.zero_point
    info = np.iinfo(io)
    representable = np.clip(samples, scale * (info.min - zero_point), scale * (info.max - zero_point))
    np.testing.assert_allclose(got, representable, atol=2 * scale)  # and it is the identity


def test_quantize_and_dequantize_helpers():
    detail = {"dtype": np.int8, "quantization": (0.1, -3)}
    q = _litert.quantize_input(np.array([-100.0, 0.0, 0.5, 100.0]), detail)  # clipped at both ends
    assert q.dtype == np.int8 and q.tolist() == [-128, -3, 2, 127]
    np.testing.assert_allclose(_litert.dequantize_output(q, detail), [-12.5, 0.0, 0.5, 13.0], rtol=1e-6)
    # ties go to even: 0.5 -> 0, 1.5 -> 2, -0.5 -> 0, 2.5 -> 2 (then + zero point 2)
    ties = _litert.quantize_input(np.array([0.25, 0.75, -0.25, 1.25]), {"dtype": np.uint8, "quantization": (0.5, 2)})
    assert ties.tolist() == [2, 4, 2, 4]
    assert _litert.quantize_input(np.array([1.5]), {"dtype": np.float32, "quantization": (0.0, 0)}).dtype == np.float32


def test_runner_on_a_variable_batch_file_resizes_and_on_a_fixed_batch_pads(tmp_path):
    model = _identity_model()

    content = convert._make_converter(model, (None, WIDTH), "float32", "x").convert()  # batch dimension -1
    x = np.random.default_rng(3).normal(size=(5, WIDTH)).astype(np.float32)
    variable = _litert.LiteRTRunner(model_content=content, max_batch=2)
    assert variable.variable_batch and variable.batch == 2
    np.testing.assert_allclose(variable(x), x, atol=1e-5)
    fixed = to_tflite(model, tmp_path / "batch3.tflite", batch_size=3, metadata=False)
    runner = _litert.LiteRTRunner(model_path=fixed.path)
    assert not runner.variable_batch and runner.batch == 3
    np.testing.assert_allclose(runner(x), x, atol=1e-5)  # chunks of 3, the last one padded
    with pytest.raises(ValueError, match="exactly one of `model_path` and `model_content`"):
        _litert.LiteRTRunner()


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_interpreter_falls_back_to_tf_lite_without_ai_edge_litert(identity_exports, monkeypatch):
    assert _litert.interpreter_class()[1] == "ai_edge_litert"
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # `import ai_edge_litert...` now raises ImportError
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    cls, name = _litert.interpreter_class()
    assert name == "tf.lite" and cls is tf.lite.Interpreter
    samples = np.random.default_rng(4).uniform(-3, 5, (3, WIDTH)).astype(np.float32)
    runner = _litert.LiteRTRunner(model_path=identity_exports["uint8"].path)
    assert runner.name == "tf.lite"
    np.testing.assert_allclose(runner(samples), samples, atol=0.15)  # within the calibrated range [-3, 5]
