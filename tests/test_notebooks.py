"""The Colab notebooks in examples/: committed without outputs, shaped for Colab (a title that says what and why,
an install cell that acts only in Colab, a parameters cell), and executed headless with nbclient — small mode in the
default lane, full mode in the slow lane.

Parameters are injected the way papermill does it: a cell tagged ``injected-parameters`` right after the cell tagged
``parameters``. The offline stand-ins for downloads (the public Deep Compression SqueezeNet file in
../shared/fixtures) are injected as parameters too; a notebook that needs one skips, saying why, when it is absent.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import time

import pytest

from tests.conftest import DC_NET

nbformat = pytest.importorskip("nbformat", reason="the notebooks extra is not installed (pip install '.[notebooks]')")
nbclient = pytest.importorskip("nbclient", reason="the notebooks extra is not installed (pip install '.[notebooks]')")

REPO = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
# The six of issue #9, in reading order.
EXPECTED = [
    "01_quickstart.ipynb",
    "02_training_fashion_mnist.ipynb",
    "03_deep_compression.ipynb",
    "04_mobile_tflite.ipynb",
    "05_model_zoo_analysis.ipynb",
    "06_degradation.ipynb",
]
# What each notebook needs that a download would give in Colab: (parameter, local stand-in) pairs.
OFFLINE = {
    "01_quickstart.ipynb": {"SQUEEZENET_WEIGHTS": DC_NET},
    "03_deep_compression.ipynb": {"DC_WEIGHTS": DC_NET},
}
NEEDS_FASHION_MNIST = {
    "02_training_fashion_mnist.ipynb",
    "03_deep_compression.ipynb",
    "04_mobile_tflite.ipynb",
    "06_degradation.ipynb",
}
CELL_TIMEOUT = 3600  # seconds; a hung cell fails the test instead of stalling CI
# Full mode in the slow lane, with these settings on top: the zoo notebook profiles every model with a published
# accuracy at two batch sizes (its own default, four batch sizes up to 64, takes about half an hour on 2 cores).
FULL_MODE = {"05_model_zoo_analysis.ipynb": {"BATCH_SIZES": (1, 16), "REPEATS": 3}}


def _read(path: pathlib.Path):
    return nbformat.read(path, as_version=4)


def test_the_six_notebooks_exist_and_the_readme_lists_them():
    assert [path.name for path in NOTEBOOKS] == EXPECTED
    readme = (REPO / "README.md").read_text()
    for name in EXPECTED:
        assert f"examples/{name}" in readme, name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_without_outputs(path):
    notebook = _read(path)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} cell {index} has outputs"
        assert "execution" not in cell.metadata, f"{path.name} cell {index} keeps execution timings"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_shaped_for_colab(path):
    cells = _read(path).cells
    title = cells[0]
    assert title.cell_type == "markdown" and title.source.startswith("# ")
    assert "**What this shows.**" in title.source and "**Why.**" in title.source
    install = cells[1]
    assert install.cell_type == "code" and 'if "google.colab" in sys.modules:' in install.source
    assert re.search(r"^\s+%pip install .*keras_archs", install.source, re.M)  # only inside the Colab branch
    tagged = [cell for cell in cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1 and re.search(r"^SMALL = False$", tagged[0].source, re.M)
    kinds = [cell.cell_type for cell in cells]
    assert sum(k == "markdown" for k in kinds) >= 5, "prose between the cells"
    text = "\n".join(cell.source for cell in cells)
    assert "/work/" not in text and "../shared" not in text, "no file that only exists in this repository"


def _inject(notebook, parameters: dict) -> None:
    """papermill's convention: a cell tagged ``injected-parameters`` right after the ``parameters`` cell."""
    index = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    source = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(index + 1, cell)


def _execute(path: pathlib.Path, small: bool, workdir: pathlib.Path, **settings) -> tuple[object, float]:
    if path.name in NEEDS_FASHION_MNIST and not FASHION_MNIST.exists():
        pytest.skip(f"{FASHION_MNIST} absent (`make data` installs it); the notebook would download Fashion-MNIST")
    parameters: dict = {"SMALL": small, **settings}
    for name, stand_in in OFFLINE.get(path.name, {}).items():
        if not stand_in.exists():
            pytest.skip(f"real fixture {stand_in} is absent: ../shared/fixtures must sit beside the repo (CI has it)")
        parameters[name] = str(stand_in)
    notebook = _read(path)
    _inject(notebook, parameters)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    started = time.perf_counter()
    client.execute(env=environment)  # passed on to the kernel's start
    return notebook, time.perf_counter() - started


def _images(notebook) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def _text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(json.dumps(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


# What each notebook must show when it ran (its figures and key lines), small and full mode alike.
SHOWS = {
    "01_quickstart.ipynb": (1, ["Egyptian_cat", "espresso", "1,248,424 parameters"]),
    "02_training_fashion_mnist.ipynb": (3, ["test accuracy", "taken for"]),
    "03_deep_compression.ipynb": (2, ["fire9", "bytes"]),
    "04_mobile_tflite.ipynb": (1, ["float32", "float16", "dynamic", "int8", "ai_edge_litert"]),
    "05_model_zoo_analysis.ipynb": (4, ["R² =", "conv1x1"]),
    "06_degradation.ipynb": (1, ["plain-20", "resnet-20", "validation"]),
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_runs_headless_in_small_mode(path, tmp_path):
    notebook, seconds = _execute(path, small=True, workdir=tmp_path)
    images, lines = SHOWS[path.name]
    assert _images(notebook) >= images, f"{path.name}: figures inline"
    text = _text(notebook)
    for line in lines:
        assert line in text, f"{path.name}: {line!r} not in its outputs"
    print(f"{path.name}: {seconds:.1f} s")


@pytest.mark.slow
@pytest.mark.timeout(2 * CELL_TIMEOUT)  # the project's 900 s per test is less than one full notebook may need
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_runs_headless_in_full_mode(path, tmp_path):
    notebook, seconds = _execute(path, small=False, workdir=tmp_path, **FULL_MODE.get(path.name, {}))
    images, lines = SHOWS[path.name]
    assert _images(notebook) >= images
    text = _text(notebook)
    for line in lines:
        assert line in text, f"{path.name}: {line!r} not in its outputs"
    print(f"{path.name} (full): {seconds:.1f} s")
