"""The other-backend lane: `make test` runs `KERAS_BACKEND=jax pytest tests/backends` (`make test-torch`: torch).

On TensorFlow these tests are not collected (tests/conftest.py): they check that the zoo works *without* it as the
Keras backend. The TensorFlow reference outputs come from one child process (_tf_reference.py) started as the
session begins, so it runs while the first tests build their models.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from tests.conftest import DC_NET

HERE = pathlib.Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def backend() -> str:
    import keras

    name = keras.backend.backend()
    assert name != "tensorflow", "the backend lane runs with KERAS_BACKEND=jax or torch"
    return name


class _Reference:
    def __init__(self, folder: pathlib.Path) -> None:
        self.folder = folder
        env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self._process = subprocess.Popen(
            [sys.executable, str(HERE / "_tf_reference.py"), str(folder), str(DC_NET) if DC_NET.exists() else ""],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self._arrays = None

    def arrays(self) -> dict:
        if self._arrays is None:
            import numpy as np

            output = self._process.communicate(timeout=600)[0]
            assert self._process.returncode == 0, output[-4000:]
            with np.load(self.folder / "reference.npz") as archive:
                self._arrays = dict(archive)
        return self._arrays


@pytest.fixture(scope="session")
def tf_reference(tmp_path_factory) -> _Reference:
    """The TensorFlow-backend outputs (and .keras files) of tests/backends/cases.py, computed in a child process."""
    return _Reference(tmp_path_factory.mktemp("tf_reference"))


@pytest.fixture(scope="session", autouse=True)
def _reference_starts_first(tf_reference) -> None:
    """Starts the TensorFlow child process with the session, so it runs while the first tests build models."""
