"""The compression benchmark scripts that print docs/compression.md's tables run end to end (``--tiny``: a
random-weight SqueezeNet 1.1 at 64x64; the figures mean nothing, the tables' shape does)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def run_tiny(script: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--tiny"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [line for line in result.stdout.splitlines() if line.startswith("| ")]


@pytest.mark.slow
def test_squeezenet_recipes_prints_one_row_per_recipe():
    from keras_archs.compress import fidelity

    missing = fidelity.missing_photos("tuning") + fidelity.missing_photos("held_out")
    if missing:
        pytest.skip(f"photos not installed (`make photos`): {'; '.join(missing)}")
    rows = run_tiny("squeezenet_recipes.py")
    assert rows[0].startswith("| recipe | bytes | held-out agreement, confident [95 % CI] (n) | all [95 % CI] (n)")
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| kmeans_6bit", "| squeezenet1_0_imagenet"]
    assert all(int(row.split(" | ")[1].replace(",", "")) > 100_000 for row in rows[1:])
    # every held-out crop counts in --tiny (threshold 0): 1 crop of each of the 24 held-out photos
    assert all(row.split(" | ")[2].endswith("(24)") and row.split(" | ")[3].endswith("(24)") for row in rows[1:])


@pytest.mark.slow
def test_squeezenet_index_cost_prints_layers_and_totals():
    rows = run_tiny("squeezenet_index_cost.py")
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| conv1",
        "| fire2_squeeze1x1",
        "| fire2_expand1x1",
        "| total",
    ]
    assert "%" in rows[-1]


@pytest.mark.slow
def test_squeezenet_bit_allocation_prints_the_sensitivities_and_an_allocation():
    rows = run_tiny("squeezenet_bit_allocation.py")
    assert sum(row.startswith("| fire") for row in rows) == 24
    allocation = [row for row in rows if row.startswith("| 0.025 |")]
    assert len(allocation) == 1 and len(allocation[0].split(" | ")[1].split(",")) == 26


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode, first_cell", [("distill", "| distilled_7bit"), ("refit", "| refit_7bit"), ("uniform", None)]
)
def test_squeezenet_frontier_modes_print_their_tables(mode, first_cell):
    from keras_archs.compress import fidelity

    missing = fidelity.missing_photos("tuning") + fidelity.missing_photos("held_out")
    if missing:
        pytest.skip(f"photos not installed (`make photos`): {'; '.join(missing)}")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "squeezenet_frontier.py"), mode, "--tiny"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    if first_cell is None:  # uniform: 2 layers x (2 k-means + 5 uniform codebooks)
        assert sum(row.split(" | ")[1].startswith(("k-means", "uniform")) for row in rows) == 14
    else:
        assert rows[-1].startswith(first_cell) and rows[-1].split(" | ")[2].endswith("(24)")
