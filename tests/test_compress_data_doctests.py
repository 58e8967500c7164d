"""The docstring examples of the compress/ and data/ modules run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

LIGHT = [
    "keras_archs.compress.archive",
    "keras_archs.compress.huffman",
    "keras_archs.compress.prune",
    "keras_archs.compress.share",
    "keras_archs.compress.calibrate",
    "keras_archs.compress.training_data",
    "keras_archs.compress.fidelity",
    "keras_archs.data.preprocessing",
    "keras_archs.data.pipeline",
    "keras_archs.data.fashion_mnist",
    "keras_archs.data.cifar",
    "keras_archs.data.augment",
    "keras_archs.data.multicrop",
    "keras_archs.data.imagenet",
]
HEAVY = ["keras_archs.compress.stages"]  # builds and compresses a SqueezeNet 1.1


def run_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (run pytest -s)"
    assert result.attempted > 0, f"{name} has no runnable example"


@pytest.mark.parametrize("name", LIGHT)
def test_docstring_examples(name):
    run_doctests(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", HEAVY)
def test_docstring_examples_that_build_models(name):
    run_doctests(name)
