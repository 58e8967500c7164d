"""The package's import structure: no import cycle, a registry that imports nothing of the zoo, a TensorFlow-free
``import keras_archs`` with constructors and subpackages loaded on attribute access, ``python -OO``, and the custom
layers a ``.keras`` file needs registered by ``import keras_archs.applications``.

The import checks run in fresh interpreters (``subprocess``): this test process has imported everything already.
"""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

import pytest

import keras_archs
from keras_archs import applications

PACKAGE = pathlib.Path(keras_archs.__file__).resolve().parent
MODULES = {
    ".".join(("keras_archs", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__"): path
    for path in sorted(PACKAGE.rglob("*.py"))
}


def _run(code: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def _imports(path: pathlib.Path) -> list[tuple[str, bool]]:
    """(imported keras_archs module, whether the import sits at module level) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from a.b import c` imports the module a.b.c when there is one, else takes a name from a.b.
            targets = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names
            ]
        else:
            continue
        found += [(target, id(node) in top) for target in targets if target.split(".")[0] == "keras_archs"]
    return found


def _import_graph(include_function_level: bool) -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        edges = set()
        for target, module_level in _imports(path):
            while target not in MODULES:  # `import keras_archs.x.y as z` of a name: its module
                target = target.rpartition(".")[0]
            if target != module and (module_level or include_function_level):
                edges.add(target)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_even_through_function_level_imports():
    # A function-level import is how a cycle hides (the registry used to import the zoo inside a function).
    assert _cycles(_import_graph(include_function_level=True)) == []


def test_the_cycle_check_finds_a_cycle():
    graph = _import_graph(include_function_level=True)
    graph["keras_archs.registry"].add("keras_archs.applications")  # what registry._ensure_loaded used to do
    assert any({"keras_archs.applications", "keras_archs.registry"} <= set(cycle) for cycle in _cycles(graph))


@pytest.mark.parametrize("module", ["keras_archs.registry", "keras_archs.weights"])
def test_registry_and_weights_import_nothing_of_the_zoo(module):
    imported = {target for target, _ in _imports(MODULES[module])}
    assert not {target for target in imported if target.startswith("keras_archs.applications")}


def test_applications_has_no_function_level_imports_of_the_package():
    local = [
        (module, target)
        for module, path in MODULES.items()
        if module.startswith("keras_archs.applications") or module in {"keras_archs.registry", "keras_archs.weights"}
        for target, module_level in _imports(path)
        if not module_level
    ]
    assert local == []


@pytest.fixture(scope="module")
def fresh_interpreter(tmp_path_factory) -> dict[str, str]:
    """One fresh ``python -OO`` run of the package's entry points, in order; its findings by name.

    -OO drops every docstring written in the source, so a docstring appended to with ``+=`` would fail here. A
    ``.keras`` file holding one of the package's custom layers (AlexNet's Caffe layout: LocalResponseNormalization)
    is loaded with plain Keras before and after ``keras_archs.applications`` is imported.
    """
    path = tmp_path_factory.mktemp("saved") / "alexnet_caffe.keras"
    applications.get_model("AlexNetCaffe", weights=None, include_top=False, input_shape=(39, 39, 3)).save(path)
    code = f"""
import sys
import keras_archs
print("after_import", "tensorflow" in sys.modules, "keras" in sys.modules)
print("listed", "ResNet50" in dir(keras_archs), "compress" in keras_archs.__all__, "tensorflow" in sys.modules)
import keras
try:
    keras.saving.load_model({str(path)!r})
    print("plain_keras loaded")
except Exception as error:
    print("plain_keras refused", type(error).__name__)
model = keras_archs.SqueezeNet(weights=None, version="1.1", include_top=False, input_shape=(32, 32, 3))
print("constructor", model.output_shape, "keras_archs.applications.resnet" in sys.modules)
print("after_applications", type(keras.saving.load_model({str(path)!r}).get_layer("norm1")).__name__)
print("lookups", keras_archs.list_models("resnet15*"), keras_archs.registry.get_spec("squeezenet").name)
print("OO", keras_archs.ResNet50.__name__, keras_archs.VGG19.__name__, keras_archs.InceptionV3.__doc__)
"""
    result = _run(code, "-OO")
    assert result.returncode == 0, result.stderr[-3000:]
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.strip().splitlines()}


def test_import_keras_archs_loads_neither_tensorflow_nor_keras(fresh_interpreter):
    assert fresh_interpreter["after_import"] == "False False"
    # dir() and __all__ list the lazily loaded names without loading them.
    assert fresh_interpreter["listed"] == "True True False"


def test_constructors_and_subpackages_load_on_attribute_access(fresh_interpreter):
    # A constructor imports keras_archs.applications, which registers every family.
    assert fresh_interpreter["constructor"] == "(None, 1, 1, 512) True"
    assert fresh_interpreter["lookups"] == "['ResNet152', 'ResNet152V2'] SqueezeNet1_0"


def test_python_OO_imports_the_package_and_its_constructors(fresh_interpreter):
    # Docstrings are assigned, never appended with +=: under -OO a source docstring is None.
    assert fresh_interpreter["OO"] == "ResNet50 VGG19 None"


def test_import_of_the_numpy_huffman_coder_loads_neither_tensorflow_nor_keras():
    result = _run(
        "import sys, keras_archs.compress.huffman; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; print('ok')"
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


def test_top_level_names_cover_every_registered_constructor():
    constructors = {spec.builder.__name__ for spec in applications.all_specs()}
    assert constructors <= set(keras_archs.__all__), "add the constructor to _CONSTRUCTORS in keras_archs/__init__.py"
    for name in keras_archs._CONSTRUCTORS:
        constructor = getattr(keras_archs, name)
        assert constructor.__module__ == f"keras_archs.applications.{keras_archs._CONSTRUCTORS[name]}", name
        assert any(spec.builder is constructor for spec in applications.all_specs()), name
    assert {"data", "compress", "export", "train", "applications", "list_models", "get_model"} <= set(
        keras_archs.__all__
    )
    assert set(keras_archs.__all__) <= set(dir(keras_archs))
    with pytest.raises(AttributeError, match="no attribute 'ResNet51'"):
        keras_archs.ResNet51  # noqa: B018


def test_saved_model_with_custom_layers_needs_keras_archs_applications(fresh_interpreter):
    # README, "Loading saved models": plain keras.saving.load_model reads a .keras file holding the package's custom
    # layers once keras_archs.applications is imported (here by the first constructor), and not before.
    assert fresh_interpreter["plain_keras"].startswith("refused")
    assert fresh_interpreter["after_applications"] == "LocalResponseNormalization"
