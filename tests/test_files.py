"""keras_archs._files: the one atomic writer (old file or new file after a kill, never a mixture, nothing left over)."""

from __future__ import annotations

import doctest
import os
import pathlib
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from keras_archs import _files

REPO = pathlib.Path(__file__).resolve().parents[1]
OLD = b"old content\n"


def _partials(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.iterdir() if _files.PARTIAL_MARKER in p.name)


def _child(script: str) -> subprocess.Popen:
    """A Python child that imports keras_archs._files alone (the module needs only the standard library)."""
    bootstrap = textwrap.dedent(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("_files", {str(REPO / "keras_archs" / "_files.py")!r})
        _files = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_files)
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", bootstrap + textwrap.dedent(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _wait_for_partial(folder: pathlib.Path, child: subprocess.Popen, timeout: float = 60.0) -> pathlib.Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _partials(folder)
        if found:
            return found[0]
        if child.poll() is not None:
            raise AssertionError(f"child exited early: {child.stderr.read().decode()[-2000:]}")
        time.sleep(0.005)
    raise AssertionError("the child never created its temporary")


def test_write_bytes_text_and_permissions(tmp_path):
    target = tmp_path / "a.bin"
    assert _files.write_bytes(target, b"\x00" * 10) == 10 and target.read_bytes() == b"\x00" * 10
    assert _files.write_text(tmp_path / "b.txt", "héllo") == 6 and (tmp_path / "b.txt").read_text() == "héllo"
    assert _files.write_bytes(tmp_path / "c.bin", memoryview(b"abc")) == 3
    old_mask = os.umask(0o027)
    try:
        _files.write_bytes(tmp_path / "masked.bin", b"x")
    finally:
        os.umask(old_mask)
    # what a plain open(path, "w") gives a new file: 0o666 minus the umask (mkstemp would give 0o600)
    assert stat.S_IMODE((tmp_path / "masked.bin").stat().st_mode) == 0o640
    assert _partials(tmp_path) == []


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(TypeError, match="data must be bytes. Received: an object of type str"):
        _files.write_bytes(tmp_path / "a", "text")
    with pytest.raises(TypeError, match="text must be a str"):
        _files.write_text(tmp_path / "a", b"bytes")
    with pytest.raises(TypeError, match="A file path must be a str or os.PathLike. Received: 3"):
        _files.write_bytes(3, b"")
    with pytest.raises(FileNotFoundError, match="does not exist. Create it first"):
        _files.write_bytes(tmp_path / "missing" / "a", b"")
    with pytest.raises(IsADirectoryError, match="existing folder"):
        _files.write_bytes(tmp_path, b"")
    with pytest.raises(ValueError, match="got the file .* twice"):
        _files.write_set({tmp_path / "a": b"1", str(tmp_path / "a"): b"2"})
    with pytest.raises(ValueError, match="describing files must be among the files written"):
        _files.write_set({tmp_path / "a": b"1"}, describing=[tmp_path / "card.json"])
    with pytest.raises(TypeError, match=r"content of .*/a' must be bytes"):
        _files.write_set({tmp_path / "a": "text"})
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_the_old_file_on_error_and_keeps_the_suffix_last(tmp_path):
    target = tmp_path / "model.weights.h5"
    target.write_bytes(OLD)
    with pytest.raises(RuntimeError, match="writer failed"):
        with _files.atomic_path(target) as temporary:
            assert temporary.name.endswith(".partial.weights.h5") and temporary.parent == tmp_path
            temporary.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == OLD and _partials(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="Nothing was written"):
        with _files.atomic_path(target):
            pass
    with pytest.raises(IsADirectoryError, match="publishes single files only"):
        with _files.atomic_path(target) as temporary:
            (temporary / "saved_model").mkdir(parents=True)
    assert target.read_bytes() == OLD and _partials(tmp_path) == []
    with _files.atomic_path(target) as temporary:
        temporary.write_bytes(b"new")
    assert target.read_bytes() == b"new" and _partials(tmp_path) == []


def test_write_set_commits_the_card_last_and_removes_it_first(tmp_path, monkeypatch):
    model, labels, card = tmp_path / "m.tflite", tmp_path / "m.labels.txt", tmp_path / "m.json"
    _files.write_set({model: b"model 1", labels: b"a\n", card: b"card 1"}, describing=[card])
    assert (model.read_bytes(), labels.read_bytes(), card.read_bytes()) == (b"model 1", b"a\n", b"card 1")

    order = []
    real_replace, real_unlink = os.replace, pathlib.Path.unlink

    def recording_replace(source, target):
        order.append(("replace", pathlib.Path(target).name))
        if pathlib.Path(target) == labels:
            raise OSError("disk full")
        real_replace(source, target)

    def recording_unlink(self, missing_ok=False):
        order.append(("unlink", self.name))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(os, "replace", recording_replace)
    monkeypatch.setattr(pathlib.Path, "unlink", recording_unlink)
    with pytest.raises(OSError, match="disk full"):
        _files.write_set({model: b"model 2", labels: b"b\n", card: b"card 2"}, describing=[card])
    monkeypatch.undo()
    # the old card went first; the new model is in place but no card describes it; no temporaries are left
    assert order[:3] == [("unlink", "m.json"), ("replace", "m.tflite"), ("replace", "m.labels.txt")]
    assert not card.exists() and model.read_bytes() == b"model 2" and _partials(tmp_path) == []

    _files.write_set({model: b"model 3", labels: b"c\n", card: b"card 3"}, describing=[card])
    assert (model.read_bytes(), labels.read_bytes(), card.read_bytes()) == (b"model 3", b"c\n", b"card 3")


def test_a_failure_before_the_renames_changes_nothing(tmp_path, monkeypatch):
    model, card = tmp_path / "m.tflite", tmp_path / "m.json"
    _files.write_set({model: b"model 1", card: b"card 1"}, describing=[card])
    real_fsync = os.fsync
    calls = []

    def failing_fsync(descriptor):
        calls.append(descriptor)
        if len(calls) == 2:  # the second temporary
            raise OSError("I/O error")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="I/O error"):
        _files.write_set({model: b"model 2", card: b"card 2"}, describing=[card])
    monkeypatch.undo()
    assert (model.read_bytes(), card.read_bytes()) == (b"model 1", b"card 1") and _partials(tmp_path) == []


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_in_the_middle_of_a_large_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "big.bin"
    target.write_bytes(OLD)
    # The child writes 64 MiB through atomic_path in 1 MiB pieces, pausing after the first 8: killed there, the
    # temporary holds a half-written file.
    child = _child(
        f"""
        import time
        with _files.atomic_path({str(target)!r}) as temporary:
            with open(temporary, "wb") as handle:
                for piece in range(64):
                    handle.write(bytes([piece % 251]) * (1 << 20))
                    if piece == 8:
                        handle.flush()
                        print("halfway", flush=True)
                        time.sleep(120)
        """
    )
    try:
        partial = _wait_for_partial(tmp_path, child)
        assert child.stdout.readline().strip() == b"halfway"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == OLD  # the old file is intact
    assert partial.exists() and partial.stat().st_size >= 9 << 20  # the dead writer's half file is still there
    assert str(child.pid) in partial.name
    _files.write_bytes(target, b"next")  # the next write to the same file removes it
    assert target.read_bytes() == b"next" and _partials(tmp_path) == []


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_after_write_bytes_wrote_everything_but_before_the_rename(tmp_path):
    target = tmp_path / "big.bin"
    target.write_bytes(OLD)
    # write_bytes with 32 MiB; the child's os.replace blocks, so the kill lands between the fsync and the rename.
    child = _child(
        f"""
        import os, time
        def blocked_replace(source, target):
            print("renaming", flush=True)
            time.sleep(120)
        _files.os.replace = blocked_replace
        _files.write_bytes({str(target)!r}, bytes(32 << 20))
        """
    )
    try:
        assert child.stdout.readline().strip() == b"renaming"
        partial = _wait_for_partial(tmp_path, child)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert target.read_bytes() == OLD and partial.stat().st_size == 32 << 20
    with _files.atomic_path(target) as temporary:  # atomic_path cleans up too
        temporary.write_bytes(b"next")
    assert target.read_bytes() == b"next" and _partials(tmp_path) == []


def test_live_and_foreign_temporaries_are_left_alone(tmp_path):
    target = tmp_path / "model.keras"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        host = _files._HOST
        other_host = "0" * 8 if host != "0" * 8 else "1" * 8
        live = tmp_path / f".model.keras.{host}.{sleeper.pid}.0123abcd.partial.keras"
        foreign = tmp_path / f".model.keras.{other_host}.999999999.0123abcd.partial.keras"
        other_file = tmp_path / f".model.keras.bak.{host}.999999999.0123abcd.partial.bak"  # belongs to model.keras.bak
        reused_pid = tmp_path / f".model.keras.{host}.{os.getpid()}.0123abcd.partial.keras"  # an earlier process's
        for path in (live, foreign, other_file, reused_pid):
            path.write_bytes(b"x")
        removed = _files.remove_stale_partials(target)
        assert removed == [reused_pid]
        assert live.exists() and foreign.exists() and other_file.exists()
        with _files.atomic_path(target) as temporary:  # our own in-flight temporary is not stale
            temporary.write_bytes(b"new")
            assert _files.remove_stale_partials(target) == [] and temporary.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert _files.remove_stale_partials(target) == [live]


def test_a_folder_sweep_removes_the_stale_temporaries_of_every_destination(tmp_path):
    host = _files._HOST
    stale = [tmp_path / f".epoch_00{n}.keras.{host}.999999999.0123abcd.partial.keras" for n in (1, 2)]
    foreign = tmp_path / f".epoch_003.keras.{'0' * 8 if host != '0' * 8 else '1' * 8}.999999999.0123abcd.partial.keras"
    for path in (*stale, foreign, tmp_path / "model.keras"):
        path.write_bytes(b"x")
    assert _files.remove_stale_partials_in(tmp_path) == stale
    assert foreign.exists() and (tmp_path / "model.keras").exists()
    assert _files.remove_stale_partials_in(tmp_path / "missing") == []


def test_concurrent_writers_leave_one_whole_file(tmp_path):
    target = tmp_path / "shared.bin"
    script = """
        import sys
        payload = bytes([int(sys.argv[1])]) * (4 << 20)
        for _ in range(5):
            _files.write_bytes({target!r}, payload)
    """.format(target=str(target))
    bootstrap = textwrap.dedent(
        f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("_files", {str(REPO / "keras_archs" / "_files.py")!r})
        _files = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_files)
        """
    )
    children = [
        subprocess.Popen([sys.executable, "-c", bootstrap + textwrap.dedent(script), str(value)]) for value in (1, 2)
    ]
    for child in children:
        assert child.wait(timeout=120) == 0
    content = target.read_bytes()
    assert len(content) == 4 << 20 and content in (b"\x01" * (4 << 20), b"\x02" * (4 << 20))
    assert _partials(tmp_path) == []


def test_docstring_examples_run():
    assert doctest.testmod(_files, raise_on_error=False).failed == 0
