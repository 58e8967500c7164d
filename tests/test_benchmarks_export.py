"""The export benchmark scripts run end to end (``--tiny``: a random-weight SqueezeNet 1.1 at 64x64; the figures mean
nothing, the table's shape does)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_squeezenet_tflite_sizes_prints_one_row_per_variant():
    from keras_archs.compress import fidelity

    missing = fidelity.missing_photos("tuning") + fidelity.missing_photos("held_out")
    if missing:
        pytest.skip(f"photos not installed (`make photos`): {'; '.join(missing)}")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "squeezenet_tflite_sizes.py"), "--tiny"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| file | bytes | vs dense int8 | gzip -9 bytes | agreement, confident [Wilson] (n)")
    labels = [row.split(" | ")[0][2:] for row in rows[1:]]
    assert labels[:4] == ["float32", "float32 sparse", "fp16 weights", "int8 weights (dynamic)"]
    assert "int8 (uint8 I/O)" in labels and len(labels) == 7  # every variant: a row, or a row saying why not
    dense_int8 = next(row for row in rows if row.startswith("| int8 (uint8 I/O) |"))
    # every held-out crop counts in --tiny (threshold 0): 1 crop of each of the 24 held-out photos
    assert "+0.0 %" in dense_int8 and dense_int8.split(" | ")[4].endswith("(24)")
