"""The one way this package writes files: a kill at any moment leaves the old file or the new one, never a mixture.

Every writer (archives, ``.tflite`` files and their cards, ``.keras`` models, checkpoints, downloaded weights, JSON
results) goes through this module:

* the content goes to a temporary file in the destination's own folder (``os.replace`` is atomic only within one file
  system), is flushed and ``fsync``-ed and renamed over the destination; the folder is then ``fsync``-ed so the rename
  itself survives a power cut. Temporaries are created with mode ``0o666`` and the kernel applies the umask, so the
  file gets the permissions a plain ``open(path, "w")`` gives a new file (no process-wide ``os.umask`` round trip,
  which would race with other threads);
* a temporary is named ``.<name>.<host>.<pid>.<token>.partial<suffix>`` (``host``: 8 hex digits of the host name's
  sha256). A later write to the same destination removes the temporaries that this host's dead processes left, so a
  killed writer leaves nothing behind for ever. Temporaries of live processes, and those of other hosts (a cache on a
  shared network folder, whose pids mean nothing here), are left alone;
* a *set* of files that describe each other (a ``.tflite`` with its labels and card) is committed with the describing
  file last and removed first: at every instant the card either is absent or describes the file beside it.

No dependency beyond the standard library, so every layer of the package can use it (the QAT child process too).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import re
import secrets
import shutil
import socket
import threading
from typing import Iterator, Mapping, Sequence

__all__ = [
    "PARTIAL_MARKER",
    "atomic_path",
    "remove_stale_partials",
    "remove_stale_partials_in",
    "write_bytes",
    "write_set",
    "write_text",
]

PARTIAL_MARKER = ".partial"
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
# Temporaries this process is writing now: a stale one with our own pid was left by an earlier process that had the
# same pid (containers restart with the same small pids), one in this set is in flight.
_LIVE: set[pathlib.Path] = set()
_LIVE_LOCK = threading.Lock()


def _destination(path: str | os.PathLike) -> pathlib.Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"A file path must be a str or os.PathLike. Received: {path!r} of type {type(path).__name__}")
    target = pathlib.Path(os.fspath(path))
    if target.name in ("", ".", ".."):
        raise ValueError(f"A file path must name a file, not a folder. Received: {os.fspath(path)!r}")
    if target.is_dir():
        raise IsADirectoryError(f"Cannot write {os.fspath(path)!r}: it is an existing folder.")
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"Cannot write {os.fspath(path)!r}: its folder {str(target.parent)!r} does not exist. Create it first."
        )
    return target


def _suffix(target: pathlib.Path) -> str:
    # Keep the destination's suffix last: keras insists that a model path ends in ".keras" / ".weights.h5", numpy
    # appends ".npz" to names without it.
    return "".join(target.suffixes[-2:]) if target.name.endswith(".weights.h5") else target.suffix


def _partial_pattern(target: pathlib.Path) -> re.Pattern:
    return re.compile(
        rf"\.{re.escape(target.name)}\.([0-9a-f]{{8}})\.(\d+)\.[0-9a-f]{{8}}"
        + re.escape(PARTIAL_MARKER + _suffix(target))
        + r"\Z"
    )


def _temporary_for(target: pathlib.Path) -> pathlib.Path:
    token = secrets.token_hex(4)
    return target.with_name(f".{target.name}.{_HOST}.{os.getpid()}.{token}{PARTIAL_MARKER}{_suffix(target)}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _remove(path: pathlib.Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale_partials(path: str | os.PathLike) -> list[pathlib.Path]:
    """Removes the temporaries that killed writers on this host left beside ``path``; returns what it removed.

    A temporary belongs to ``path`` when its name is exactly what this module gives a temporary of ``path``
    (``.<name>.<host>.<pid>.<token>.partial<suffix>``; a temporary of ``a.keras.bak`` never matches ``a.keras``). It
    is stale when it was made on this host by a process that no longer runs (or by an earlier process with this
    process's pid). Temporaries of live writers and of other hosts are left alone.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> remove_stale_partials(folder / "model.keras")
        []
    """
    target = pathlib.Path(os.fspath(path))
    pattern = _partial_pattern(target)
    removed = []
    try:
        candidates = list(target.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.match(candidate.name)
        if match is None or match.group(1) != _HOST:
            continue
        pid = int(match.group(2))
        if pid == os.getpid():
            with _LIVE_LOCK:
                if candidate in _LIVE:
                    continue
        elif _pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            _remove(candidate)
            removed.append(candidate)
    return removed


_ANY_PARTIAL = re.compile(r"\.(.+)\.[0-9a-f]{8}\.\d+\.[0-9a-f]{8}" + re.escape(PARTIAL_MARKER))


def remove_stale_partials_in(folder: str | os.PathLike) -> list[pathlib.Path]:
    """:func:`remove_stale_partials` for every destination in ``folder`` that has a temporary; returns what it removed.

    For writers whose next run may never write the same file again (a resumed training run does not rewrite the
    checkpoint of an epoch it restored), so a killed writer's temporary does not wait for ever.

    Example:
        >>> import pathlib, tempfile
        >>> remove_stale_partials_in(tempfile.mkdtemp())
        []
    """
    folder = pathlib.Path(os.fspath(folder))
    try:
        names = {match.group(1) for entry in folder.iterdir() if (match := _ANY_PARTIAL.match(entry.name))}
    except OSError:
        return []
    removed = []
    for name in sorted(names):
        removed += remove_stale_partials(folder / name)
    return removed


def _fsync_file(path: pathlib.Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_dir(directory: pathlib.Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # some file systems do not open folders; the rename is still atomic
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _claimed(target: pathlib.Path) -> Iterator[pathlib.Path]:
    """A fresh temporary name for ``target``, registered as in flight while the block runs; removed on failure."""
    remove_stale_partials(target)
    temporary = _temporary_for(target)
    with _LIVE_LOCK:
        _LIVE.add(temporary)
    try:
        yield temporary
    except BaseException:
        _remove(temporary)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(temporary)


def _write_new(temporary: pathlib.Path, data: bytes | bytearray | memoryview) -> None:
    """Creates ``temporary`` (mode 0o666 minus the umask, by the kernel), writes ``data`` and fsyncs it."""
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """A temporary path beside ``path`` for writers that need a file name (``model.save``, h5py, a download).

    The writer creates the file at the temporary path (with its usual permissions). On normal exit the temporary is
    fsync-ed and renamed over ``path``; on any exception (KeyboardInterrupt too) it is removed and ``path`` keeps its
    previous content.

    Raises:
        TypeError / ValueError / IsADirectoryError / FileNotFoundError: ``path`` is not a file path in an existing
            folder (checked before the block runs).
        FileNotFoundError: The block wrote nothing at the temporary path.
        IsADirectoryError: The block made a folder there (this publishes single files only).

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_path(folder / "a.txt") as temporary:
        ...     _ = temporary.write_text("hello")
        >>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
        ('hello', ['a.txt'])
    """
    target = _destination(path)
    with _claimed(target) as temporary:
        yield temporary
        if temporary.is_dir():
            raise IsADirectoryError(
                f"The writer made a folder for {str(target)!r}; atomic_path publishes single files only."
            )
        if not temporary.is_file():
            raise FileNotFoundError(f"Nothing was written to the temporary file for {str(target)!r}.")
        _fsync_file(temporary)
        os.replace(temporary, target)
    _fsync_dir(target.parent)


def _check_bytes(data: object, what: str) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes. Received: an object of type {type(data).__name__}")


def write_bytes(path: str | os.PathLike, data: bytes) -> int:
    """Writes ``data`` to ``path`` atomically; returns the number of bytes written.

    Raises:
        TypeError: ``path`` is not a path or ``data`` not bytes.
        FileNotFoundError: The destination folder does not exist (checked before anything is written).
        IsADirectoryError: ``path`` is a folder.

    Example:
        >>> import pathlib, tempfile
        >>> write_bytes(pathlib.Path(tempfile.mkdtemp()) / "a.bin", b"\\x00\\x01")
        2
    """
    _check_bytes(data, "data")
    target = _destination(path)
    with _claimed(target) as temporary:
        _write_new(temporary, data)
        os.replace(temporary, target)
    _fsync_dir(target.parent)
    return memoryview(data).nbytes


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> int:
    """Writes ``text`` to ``path`` atomically; returns the number of bytes written.

    Example:
        >>> import pathlib, tempfile
        >>> write_text(pathlib.Path(tempfile.mkdtemp()) / "a.txt", "héllo")
        6
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str. Received: an object of type {type(text).__name__}")
    return write_bytes(path, text.encode(encoding))


def write_set(
    files: Mapping[str | os.PathLike, bytes],
    describing: Sequence[str | os.PathLike] = (),
    remove: Sequence[str | os.PathLike] = (),
) -> None:
    """Writes files that belong together so that no describing file ever sits beside content it does not describe.

    Every file is first written to its temporary and fsync-ed. Then the ``describing`` files (cards, manifests) that
    exist from an earlier write, and the ``remove`` files (members of the earlier set that the new one lacks), are
    removed, the other files are renamed into place in the order given, and the describing files are renamed last. A
    kill at any moment leaves either the old set, or new content without its describing files, or the whole new set;
    never an old card beside a new file or a new card beside an old one. On an exception before the renames, nothing
    changes; on one during them, the describing files are absent.

    Args:
        files: Destination path -> content (bytes), for every file of the set.
        describing: The destinations (keys of ``files``) that describe the others; committed last, removed first.
        remove: Files of an earlier set that describe the content and have no successor in this one (a labels file
            beside a model that no longer has classes); removed with the describing files, before any rename.

    Raises:
        TypeError: A path is not a path, or a content is not bytes.
        ValueError: Two keys name the same file, a describing file is not among ``files``, or a file to remove is.
        FileNotFoundError / IsADirectoryError: As for :func:`write_bytes`, checked before anything is written.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> write_set({folder / "m.bin": b"model", folder / "m.json": b"{}"}, describing=[folder / "m.json"])
        >>> sorted(p.name for p in folder.iterdir())
        ['m.bin', 'm.json']
    """
    targets: dict[pathlib.Path, bytes] = {}
    for path, data in files.items():
        target = _destination(path)
        _check_bytes(data, f"The content of {str(target)!r}")
        if target in targets:
            raise ValueError(f"write_set got the file {str(target)!r} twice.")
        targets[target] = data
    describing_targets = {_destination(path) for path in describing}
    unknown = describing_targets - set(targets)
    if unknown:
        raise ValueError(f"describing files must be among the files written. Received: {sorted(map(str, unknown))}")
    removed_targets = {_destination(path) for path in remove}
    if removed_targets & set(targets):
        raise ValueError(
            f"a file cannot be both written and removed. Received: {sorted(map(str, removed_targets & set(targets)))}"
        )
    with contextlib.ExitStack() as stack:
        temporaries = {target: stack.enter_context(_claimed(target)) for target in targets}
        for target, data in targets.items():
            _write_new(temporaries[target], data)
        for target in describing_targets | removed_targets:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
        ordered = [t for t in targets if t not in describing_targets] + [t for t in targets if t in describing_targets]
        for target in ordered:
            os.replace(temporaries[target], target)
    for folder in {target.parent for target in targets}:
        _fsync_dir(folder)
