"""Issue #13 item 3: processes fetching one file into one cache at once, with a corrupt cached copy present."""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from keras_archs import _files, registry
from keras_archs import weights as weights_lib

REPO = pathlib.Path(__file__).resolve().parents[1]


def _entry(source: pathlib.Path) -> registry.WeightEntry:
    return registry.WeightEntry(
        tag="imagenet",
        include_top=True,
        fname="weights.bin",
        url=source.as_uri(),
        file_hash=hashlib.sha256(source.read_bytes()).hexdigest(),
    )


@pytest.mark.slow  # two children import Keras (~10 s); the race's one unlocked step is pinned by the next test
def test_two_processes_fetching_over_a_corrupt_cached_copy_both_get_one_checked_file(tmp_path):
    source = tmp_path / "published" / "weights.bin"
    source.parent.mkdir()
    source.write_bytes(np.random.default_rng(0).bytes(16 << 20))
    cache = tmp_path / "keras_home"
    cached = cache / "models" / "weights.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(source.read_bytes()[: 8 << 20])  # a truncated earlier download
    go = tmp_path / "go"
    # Each child imports the package (seconds), then waits for the same instant and fetches three times, so the two
    # meet while one of them checks, removes or replaces the corrupt copy.
    script = textwrap.dedent(
        f"""
        import hashlib, os, time
        from keras_archs import registry, weights
        entry = registry.WeightEntry(tag="imagenet", include_top=True, fname="weights.bin", url={source.as_uri()!r},
                                     file_hash={hashlib.sha256(source.read_bytes()).hexdigest()!r})
        print("ready", flush=True)
        while not os.path.exists({str(go)!r}):
            time.sleep(0.001)
        for _ in range(3):
            path = weights.fetch(entry, cache_dir={str(cache)!r})
        print("fetched", hashlib.sha256(path.read_bytes()).hexdigest(), flush=True)
        """
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()[-3000:]
        go.write_bytes(b"")
        outputs = [child.communicate(timeout=300) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    for child, (stdout, stderr) in zip(children, outputs):
        assert child.returncode == 0, stderr[-3000:]
        assert stdout.strip().splitlines()[-1] == f"fetched {expected}"  # after keras' download progress lines
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == expected
    assert sorted(p.name for p in cached.parent.iterdir()) == ["weights.bin"]  # no temporary, no lock file


def test_a_cached_copy_removed_by_another_process_while_it_is_checked_is_fetched_again(tmp_path, monkeypatch):
    """The unlocked first look: another process removed the corrupt copy between is_file() and open()."""
    source = tmp_path / "weights.bin"
    source.write_bytes(b"the published weights")
    entry = _entry(source)
    cached = tmp_path / "cache" / "models" / "weights.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"corrupt")
    real_file_hash = weights_lib.file_hash
    calls = []

    def file_hash_after_a_removal(path, algorithm="sha256"):
        calls.append(path)
        if len(calls) == 1:
            pathlib.Path(path).unlink()  # what the other process does under its lock
        return real_file_hash(path, algorithm)

    monkeypatch.setattr(weights_lib, "file_hash", file_hash_after_a_removal)
    started = time.perf_counter()
    assert weights_lib.fetch(entry, cache_dir=tmp_path / "cache").read_bytes() == source.read_bytes()
    assert time.perf_counter() - started < 60 and len(calls) >= 2
    assert [p.name for p in cached.parent.iterdir() if _files.PARTIAL_MARKER in p.name] == []
