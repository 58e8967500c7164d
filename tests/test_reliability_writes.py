"""Issue #13 item 2, per writer: every writer of the package, killed with SIGKILL while it commits a file, leaves the
old file (or none), and its next run leaves the new file and no temporary.

tests/test_files.py kills ``keras_archs._files`` itself (a half-written temporary, a kill between fsync and rename).
Here each of the package's writers runs for real in a child process whose ``_files`` pauses at the destination's
commit point: in ``write_bytes`` / ``write_set`` with half the content written, in ``atomic_path`` once the writer
(``model.save``, ``keras.utils.get_file``) has written its temporary and before the rename. The child is killed there;
the destination must hold its old bytes (or be absent, for a first write), the dead writer's temporary is there, and
the writer's next run publishes a whole new file and removes the temporary. A writer that wrote the destination
itself, or any file beside it outside ``_files``, fails these checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import select
import signal
import subprocess
import sys
import textwrap
import time

import fuzzing
import numpy as np
import pytest

from keras_archs import _files, registry
from keras_archs import weights as weights_lib

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

OLD = b"the old file\n"

# Runs in the child before the writer: pause when the file named PAUSE_ON (its temporary, ".NAME.<host>...") is
# committed. write_bytes / write_set: half the content written. atomic_path: the writer's whole temporary written.
# PAUSE_AT_RENAME: pause at the rename of that file instead (write_set: after the files before it were renamed).
_PAUSE = """
import os, sys, time
from keras_archs import _files

PAUSE_ON, PAUSE_AT_RENAME = {pause_on!r}, {at_rename!r}

def _ours(temporary):
    return os.path.basename(os.fspath(temporary)).startswith("." + PAUSE_ON + ".")

def _pause(temporary):
    print("paused", os.fspath(temporary), flush=True)
    time.sleep(600)

_real_write_new, _real_fsync_file, _real_replace = _files._write_new, _files._fsync_file, os.replace

def _write_new(temporary, data):
    if _ours(temporary) and not PAUSE_AT_RENAME:
        with open(temporary, "wb") as handle:
            handle.write(bytes(data)[: len(data) // 2])
        _pause(temporary)
    _real_write_new(temporary, data)

def _fsync_file(temporary):
    if _ours(temporary) and not PAUSE_AT_RENAME:
        _pause(temporary)
    _real_fsync_file(temporary)

def _replace(source, target):
    if _ours(source) and PAUSE_AT_RENAME:
        _pause(source)
    _real_replace(source, target)

_files._write_new, _files._fsync_file = _write_new, _fsync_file
_files.os.replace = _replace
"""


def _partials(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.rglob("*") if _files.PARTIAL_MARKER in p.name)


def _kill_at_commit(code: str, pause_on: str, at_rename: bool = False, timeout: float = 300) -> pathlib.Path:
    """Runs ``code`` in a child that pauses at ``pause_on``'s commit, kills it there; returns the temporary."""
    script = _PAUSE.format(pause_on=pause_on, at_rename=at_rename) + textwrap.dedent(code)
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(fuzzing.TESTS)},
        text=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([child.stdout], [], [], 1.0)
            if ready:
                line = child.stdout.readline()
                if line.startswith("paused "):
                    temporary = pathlib.Path(line.split(" ", 1)[1].strip())
                    break
                if line == "" and child.poll() is not None:
                    raise AssertionError(f"the writer exited {child.returncode} first: {child.stderr.read()[-3000:]}")
        else:
            raise AssertionError("the writer never reached its commit")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert temporary.exists() and str(child.pid) in temporary.name  # the dead writer's temporary
    return temporary


# --- the archive writer (.kadc: CompressedModel.save -> archive.write_bytes); no TensorFlow, default lane ------------

_ARCHIVE = """
import numpy as np
from keras_archs.compress import archive
archive.write({dest!r}, config={{"run": {run}}}, shared=[], dense={{"w": np.full(1 << 20, {run}, np.float32)}})
"""


def test_a_killed_archive_write_keeps_the_old_archive(tmp_path):
    from keras_archs.compress import archive

    dest = tmp_path / "model.kadc"
    archive.write(dest, config={"run": 1}, shared=[], dense={"w": np.full(1 << 20, 1, np.float32)})
    old = dest.read_bytes()
    temporary = _kill_at_commit(_ARCHIVE.format(dest=str(dest), run=2), "model.kadc")
    assert dest.read_bytes() == old and 0 < temporary.stat().st_size < len(old)  # half the new archive
    archive.write(dest, config={"run": 3}, shared=[], dense={"w": np.full(1 << 20, 3, np.float32)})
    assert archive.decode(dest.read_bytes()).config == {"run": 3} and _partials(tmp_path) == []


# --- writers that need TensorFlow: a child imports it (~5 s each), so they run in the slow lane ----------------------


@pytest.fixture
def kadc_file(tmp_path) -> pathlib.Path:
    path = tmp_path / "tiny.kadc"
    path.write_bytes(fuzzing.TARGETS["kadc"]().files["tiny.kadc"])
    return path


@pytest.mark.slow
def test_a_killed_decompress_keeps_the_old_keras_file(tmp_path, kadc_file):
    from keras_archs.cli import main

    dest = tmp_path / "out.keras"
    dest.write_bytes(OLD)
    code = f"from keras_archs.cli import main\nmain(['decompress', {str(kadc_file)!r}, '--out', {str(dest)!r}])\n"
    _kill_at_commit(code, "out.keras")
    assert dest.read_bytes() == OLD
    assert main(["decompress", str(kadc_file), "--out", str(dest)]) == 0
    assert weights_lib.load_model_file(dest).name == "tiny_kadc" and _partials(tmp_path) == []


_EXPORT = """
import keras, numpy as np
from keras_archs.export import to_tflite
inputs = keras.Input((8, 8, 3))
x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x), name="run{run}")
to_tflite(model, {dest!r}, labels=["a{run}", "b{run}", "c{run}"], metadata=False)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "pause_on, at_rename", [("m.tflite", False), ("m.labels.txt", True), ("m.json", True)], ids=str
)
def test_a_killed_export_never_leaves_a_card_beside_a_file_it_does_not_describe(tmp_path, pause_on, at_rename):
    from keras_archs.export import card_path_for, labels_path_for

    dest = tmp_path / "m.tflite"
    card, labels = card_path_for(dest), labels_path_for(dest)
    script = _EXPORT.format(dest=str(dest), run=1)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300)
    old = {path: path.read_bytes() for path in (dest, card, labels)}
    _kill_at_commit(_EXPORT.format(dest=str(dest), run=2), pause_on, at_rename=at_rename)
    if not at_rename:  # killed while writing the temporaries: the old set, untouched
        assert {path: path.read_bytes() for path in (dest, card, labels)} == old
    else:  # killed between the renames: the old card is gone, and whatever card exists describes the file beside it
        assert not card.exists()
    if card.exists():
        assert json.loads(card.read_text())["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    subprocess.run([sys.executable, "-c", _EXPORT.format(dest=str(dest), run=3)], check=True, capture_output=True)
    assert labels.read_text().split() == ["a3", "b3", "c3"] and _partials(tmp_path) == []
    assert json.loads(card.read_text())["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_killed_fetch_leaves_no_file_under_the_real_name_and_the_next_fetch_one_checked_file(tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(np.random.default_rng(0).bytes(4 << 20))
    entry = registry.WeightEntry(
        tag="imagenet",
        include_top=True,
        url=source.as_uri(),
        fname="weights.bin",
        file_hash=hashlib.sha256(source.read_bytes()).hexdigest(),
        loader="h5_by_order",
    )
    cache = tmp_path / "keras_home"
    cached = cache / "models" / "weights.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"a corrupt cached copy")
    code = f"""
        from keras_archs import registry, weights
        entry = registry.WeightEntry(**{_entry_fields(entry)!r})
        weights.fetch(entry, cache_dir={str(cache)!r})
    """
    _kill_at_commit(code, "weights.bin")
    assert not cached.exists()  # the corrupt copy was removed; the unverified download never got the real name
    assert weights_lib.fetch(entry, cache_dir=cache).read_bytes() == source.read_bytes()
    assert _partials(cache) == []


def _entry_fields(entry: registry.WeightEntry) -> dict:
    return {field: getattr(entry, field) for field in ("tag", "include_top", "url", "fname", "file_hash", "loader")}


_TRAIN = dict(epochs=1, batch_size=64, train_limit=128, eval_limit=32, verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize("pause_on", ["epoch_001.keras", "model.keras", "result.json"])
def test_a_killed_training_run_leaves_no_half_written_model_checkpoint_or_result(tmp_path, pause_on):
    from keras_archs.data import DatasetNotFoundError
    from keras_archs.data.fashion_mnist import load_arrays
    from keras_archs.train import loop

    try:
        load_arrays("test", download=False, limit=1)
    except DatasetNotFoundError as error:
        pytest.skip(f"Fashion-MNIST is not available here: {error}")
    out = tmp_path / "run"
    code = f"from keras_archs.train import loop\nloop.train('CifarResNet20', out_dir={str(out)!r}, **{_TRAIN!r})\n"
    _kill_at_commit(code, pause_on)
    assert next(out.rglob(pause_on), None) is None  # a first write killed before its rename: no file at all
    # the next run (resuming from the backup where the kill came after it) publishes every file
    loop.train("CifarResNet20", out_dir=out, resume=(out / "backup").exists(), **_TRAIN)
    for name in ("model.keras", "result.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "result.json").read_text())["epochs"] == 1 and _partials(out) == []
    # a resumed run restored epoch 1 from the backup and did not run it again: its checkpoint is absent or whole
    checkpoint = out / "checkpoints" / "epoch_001.keras"
    assert not checkpoint.exists() or weights_lib.load_model_file(checkpoint).count_params() > 0
