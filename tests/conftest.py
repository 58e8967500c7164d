"""Shared test fixtures: the real weight files from ../shared/fixtures and small helpers."""

from __future__ import annotations

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# tests/backends/ checks the zoo on another Keras backend: `make test` runs it with KERAS_BACKEND=jax (`make
# test-torch`: torch) in its own process; the TensorFlow run does not collect it.
if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
    collect_ignore = ["backends"]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
SQUEEZENET_FIXTURES = SHARED_FIXTURES / "squeezenet"
DC_NET = SQUEEZENET_FIXTURES / "compressed_SqueezeNet.net"
RCMALLI_H5 = SQUEEZENET_FIXTURES / "squeezenet_v1.1_notop_rcmalli.h5"


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


def randomize_weights(model, seed: int = 0) -> None:
    """Gives every variable a random value (BN variances positive) so weight-order mistakes show in outputs."""
    rng = np.random.default_rng(seed)
    values = []
    for variable in model.weights:
        shape = tuple(variable.shape)
        if "variance" in variable.path:
            values.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            values.append((rng.standard_normal(shape) * 0.1).astype("float32"))
    for variable, value in zip(model.weights, values):
        variable.assign(value)
