"""Shared test helpers, in one place: real fixtures from ../shared, skip marks, the build cache, the slow-lane rule.

* Real fixtures: ``dc_net_path`` / ``rcmalli_h5_path`` skip with a reason when ../shared/fixtures is absent.
* ``built``: a session-scoped cache of built models keyed by (registry name, arguments). A model from it is shared
  by every test that asks for the same key: read it, call it (``model(x, training=False)``), never assign its
  weights (build your own model for that).
* ``lane(spec)`` / ``lanes(names)``: the slow-lane rule, read from each spec's recorded layer count.
* ``SMALL_VARIANTS``: every family's small variants (``applications.<family>.SMALL_VARIANTS``), for round trips.
* ``randomize_weights``, ``forward``, ``assert_input_sensitive``, ``small_size``.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pathlib
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# TensorFlow's C++ start-up lines (oneDNN, CUDA probe) go to fd 2 past any log setting; pytest's capture would print
# them after the summary line (with pytest-xdist, from the controller). Load it quietly, as the command line does.
from keras_archs.cli import _start_tensorflow_quietly  # noqa: E402

_start_tensorflow_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_archs import applications, registry  # noqa: E402  (importing applications fills the registry)
from keras_archs.registry import ModelSpec  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
# tests/backends/ checks the zoo on another Keras backend: `make test` runs it with KERAS_BACKEND=jax (`make
# test-torch`: torch) in its own process; the TensorFlow run does not collect it.
if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
    collect_ignore = ["backends"]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
SQUEEZENET_FIXTURES = SHARED_FIXTURES / "squeezenet"
DC_NET = SQUEEZENET_FIXTURES / "compressed_SqueezeNet.net"
RCMALLI_H5 = SQUEEZENET_FIXTURES / "squeezenet_v1.1_notop_rcmalli.h5"

# --- the slow-lane rule ---------------------------------------------------------------------------------------------

# Building, saving and loading a Keras model costs time in proportion to its layers (ModelSpec.layers, measured and
# checked by test_models.py). The per-model tests that build a registered model (parameter count, forward pass,
# parity with keras.applications, round trips) run in the default lane only for the shallowest model of each
# (family, preprocessing mode), and only if it has at most DEFAULT_LANE_MAX_LAYERS layers; every other model runs them
# in the slow lane. Models of one family with one input convention are one layout at several depths (ResNet50/101/
# 152, ResNet50V2/101V2/152V2, VGG16/19, the CIFAR and WRN presets, SqueezeNet 1.0/1.1): the deeper ones rerun the
# same code. (The pre-activation CIFAR presets share the CIFAR convention with the basic ones; their units run in the
# default lane through the small variant "cifar_resnet:preact_bottleneck".) 200 layers keep ResNet50/50V2 (177/192)
# in the default lane and put the Inception networks (313-782 layers, 2-3 s a build) in the slow lane. Tests that
# raise before building run in both lanes, and every family's code runs in the default lane through its small
# variants (SMALL_VARIANTS) and its own test file.
DEFAULT_LANE_MAX_LAYERS = 200


def _default_lane_models() -> set[str]:
    shallowest: dict[tuple[str, str], ModelSpec] = {}
    for spec in applications.all_specs():
        key = (spec.family, spec.preprocessing)
        if key not in shallowest or spec.layers < shallowest[key].layers:
            shallowest[key] = spec
    return {spec.name for spec in shallowest.values() if spec.layers <= DEFAULT_LANE_MAX_LAYERS}


DEFAULT_LANE_MODELS = _default_lane_models()


def is_slow(spec: ModelSpec) -> bool:
    """Whether ``spec``'s per-model tests that build it belong to the slow lane (the rule above)."""
    return spec.name not in DEFAULT_LANE_MODELS


def lanes(names: list[str] | tuple[str, ...], *, always_slow: bool = False) -> list[Any]:
    """pytest params for registered ``names``: marked slow by :func:`is_slow` (or all of them, ``always_slow``)."""
    return [
        pytest.param(name, marks=pytest.mark.slow) if always_slow or is_slow(applications.get_spec(name)) else name
        for name in names
    ]


def small_size(spec: ModelSpec) -> int:
    """The smallest square input the model accepts, at least 32 (fast builds and forward passes)."""
    return max(spec.min_size, 32)


# --- small variants -------------------------------------------------------------------------------------------------

FAMILIES = sorted({spec.family for spec in applications.all_specs()})


def _small_variants() -> dict[str, Any]:
    variants = {}
    for family in FAMILIES:
        module = importlib.import_module(f"keras_archs.applications.{family}")
        for key, variant in getattr(module, "SMALL_VARIANTS", {}).items():
            variants[f"{family}:{key}"] = variant
    return variants


# "family:key" -> _assembly.SmallVariant(build, size); test_models.py checks that every family has one.
SMALL_VARIANTS = _small_variants()

# --- the build cache ------------------------------------------------------------------------------------------------


def _key(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_key(v) for v in value)
    return value


@pytest.fixture(scope="session")
def built() -> Callable[..., keras.Model]:
    """``built(name, **kwargs)``: the registered model ``name`` built once per session with ``kwargs``.

    ``weights`` defaults to None. ``fresh_names=True`` builds it right after ``keras.backend.clear_session()`` so its
    auto-generated layer names (``conv2d_7`` ...) are those of a fresh session, as keras.applications' are in a
    comparison. Shared models are read-only by convention: never assign their weights.
    """
    cache: dict[Any, keras.Model] = {}

    def build(name: str, *, fresh_names: bool = False, **kwargs: Any) -> keras.Model:
        spec = applications.get_spec(name)
        kwargs.setdefault("weights", None)
        key = (spec.name, fresh_names, _key(kwargs))
        if key not in cache:
            if fresh_names:
                keras.backend.clear_session()
            cache[key] = spec.build(**kwargs)
        return cache[key]

    return build


# --- real fixtures --------------------------------------------------------------------------------------------------


def _fixture(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        pytest.skip(f"real fixture {path} is absent: ../shared/fixtures must sit beside the repo (CI has it)")
    return path


@pytest.fixture(scope="session")
def dc_net_path() -> pathlib.Path:
    """The public Deep Compression SqueezeNet 1.0 (.net, 675,763 bytes)."""
    return _fixture(DC_NET)


@pytest.fixture(scope="session")
def rcmalli_h5_path() -> pathlib.Path:
    """rcmalli's ImageNet SqueezeNet 1.1 weights without top (legacy Keras 2 h5)."""
    return _fixture(RCMALLI_H5)


@pytest.fixture
def keras_home(tmp_path, monkeypatch) -> pathlib.Path:
    """An empty Keras cache (KERAS_HOME) for download/cache tests."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def replace_spec(monkeypatch) -> Callable[..., ModelSpec]:
    """``replace_spec(name, **changes)``: a registered spec swapped for a changed copy for one test.

    Swapped in the registry and in its family module's ``SPEC`` / ``SPECS``, where a constructor that reads them at
    call time (SqueezeNet's) finds it.
    """

    def replace(name: str, **changes: Any) -> ModelSpec:
        spec = registry.get_spec(name)
        new = dataclasses.replace(spec, **changes)
        monkeypatch.setitem(registry._REGISTRY, spec.name, new)
        module = importlib.import_module(f"keras_archs.applications.{spec.family}")
        if getattr(module, "SPEC", None) is spec:
            monkeypatch.setattr(module, "SPEC", new)
        if getattr(module, "SPECS", {}).get(spec.name) is spec:
            monkeypatch.setitem(module.SPECS, spec.name, new)
        return new

    return replace


# --- helpers --------------------------------------------------------------------------------------------------------


def randomize_weights(model, seed: int = 0) -> None:
    """Gives every variable a random value so weight-order mistakes show in outputs.

    Kernels are drawn with variance 2 / fan-in (He et al. 2015's scale for ReLU networks), BN scales (gamma) and
    variances from [0.5, 1.5], biases, offsets and means around 0 (std 0.1): the signal keeps its scale through a
    deep stack, so the outputs depend on the input (values all drawn around 0.1 shrink it tenfold per layer, until
    every input gives the same output).
    """
    rng = np.random.default_rng(seed)
    depthwise = {id(layer.kernel) for layer in _all_layers(model) if isinstance(layer, keras.layers.DepthwiseConv2D)}
    values = []
    for variable in model.weights:
        shape = tuple(variable.shape)
        name = variable.path.rpartition("/")[2]
        if name in {"moving_variance", "gamma"}:
            values.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        elif len(shape) >= 2:
            # (kh, kw, in, out) convolutions and (in, out) dense layers; a depthwise kernel sees one input channel.
            one_channel = id(variable) in depthwise or name == "depthwise_kernel"
            fan_in = int(np.prod(shape[:-2] if one_channel else shape[:-1]))
            values.append(rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in)))
        else:
            values.append(rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1))
    for variable, value in zip(model.weights, values):
        variable.assign(value)


def _all_layers(model) -> list:
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found += _all_layers(layer)
    return found


def forward(model, x) -> Any:
    """``model(x, training=False)`` as NumPy (a list for several outputs): eager, no ``predict`` tracing."""
    outputs = model(x, training=False)
    if isinstance(outputs, (list, tuple)):
        return [keras.ops.convert_to_numpy(output) for output in outputs]
    return keras.ops.convert_to_numpy(outputs)


def assert_input_sensitive(model, x) -> np.ndarray:
    """``model``'s outputs on ``x``, after checking that they depend on the input.

    A comparison of two models' outputs proves nothing when the outputs ignore the input (a dead network gives the
    same constant for every image): the outputs on ``x`` and on ``x`` reversed along the batch must differ.
    """
    outputs = forward(model, x)
    flipped = forward(model, x[::-1])
    assert not np.allclose(outputs, flipped, rtol=1e-4, atol=1e-6), f"{model.name}'s outputs ignore its input"
    return outputs
