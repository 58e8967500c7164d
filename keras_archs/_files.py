"""The one way this package writes files: a kill at any moment leaves the old file or the new one, never a mixture.

Every writer (archives, ``.tflite`` files and their cards, ``.keras`` models, checkpoints, downloaded weights, JSON
results) goes through this module:

* the content goes to a temporary file in the destination's own folder (``os.replace`` is atomic only within one file
  system), is flushed and ``fsync``-ed, gets the permissions a plain ``open(path, "w")`` would give, and is renamed
  over the destination; the folder is then ``fsync``-ed so the rename itself survives a power cut;
* a temporary is named ``.<name>.<pid>.<token>.partial<suffix>``: a later write to the same destination removes the
  temporaries of processes that no longer run, so a killed writer leaves nothing behind for ever;
* a *set* of files that describe each other (a ``.tflite`` with its labels and card) is committed with the describing
  file last and removed first: at every instant the card either is absent or describes the file beside it.

No dependency beyond the standard library, so every layer of the package can use it.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
from typing import Iterator, Mapping, Sequence

__all__ = [
    "PARTIAL_MARKER",
    "atomic_path",
    "remove_stale_partials",
    "write_bytes",
    "write_set",
    "write_text",
]

PARTIAL_MARKER = ".partial"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def remove_stale_partials(path: str | os.PathLike) -> list[pathlib.Path]:
    """Removes the temporaries that killed writers left beside ``path``; returns what it removed.

    A temporary belongs to ``path`` when its name is ``.<name>.<pid>.<token>.partial...``; it is stale when no
    process with that pid runs any more. Temporaries of live writers (another process writing the same file now)
    are left alone.
    """
    target = pathlib.Path(os.fspath(path))
    prefix = f".{target.name}."
    removed = []
    try:
        candidates = list(target.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        name = candidate.name
        if not name.startswith(prefix) or PARTIAL_MARKER not in name[len(prefix) :]:
            continue
        pid_text = name[len(prefix) :].split(".", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            candidate.unlink()
            removed.append(candidate)
    return removed


def _temporary_for(target: pathlib.Path) -> pathlib.Path:
    # Keep the destination's suffix last: keras insists that a model path ends in ".keras" / ".weights.h5".
    suffix = "".join(target.suffixes[-2:]) if target.name.endswith(".weights.h5") else target.suffix
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{PARTIAL_MARKER}{suffix}")


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


def _publish(temporary: pathlib.Path, target: pathlib.Path) -> None:
    os.chmod(temporary, 0o666 & ~_umask())  # mkstemp-style temporaries would otherwise stay owner-only
    os.replace(temporary, target)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """A temporary path beside ``path`` for writers that need a file name (``model.save``, h5py, a download).

    On normal exit the temporary is fsync-ed and renamed over ``path``; on any exception (KeyboardInterrupt too) it
    is removed and ``path`` keeps its previous content.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_path(folder / "a.txt") as temporary:
        ...     _ = temporary.write_text("hello")
        >>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
        ('hello', ['a.txt'])
    """
    target = _destination(path)
    remove_stale_partials(target)
    temporary = _temporary_for(target)
    try:
        yield temporary
        if not temporary.is_file():
            raise FileNotFoundError(f"Nothing was written to the temporary file for {str(target)!r}.")
        _fsync_file(temporary)
        _publish(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    _fsync_dir(target.parent)


def write_bytes(path: str | os.PathLike, data: bytes) -> int:
    """Writes ``data`` to ``path`` atomically; returns the number of bytes written.

    Raises:
        TypeError: ``path`` is not a path or ``data`` not bytes.
        FileNotFoundError: The destination folder does not exist (checked before anything is written).
        IsADirectoryError: ``path`` is a folder.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes. Received: an object of type {type(data).__name__}")
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(data)
    return len(data)


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> int:
    """Writes ``text`` to ``path`` atomically; returns the number of bytes written."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str. Received: an object of type {type(text).__name__}")
    return write_bytes(path, text.encode(encoding))


def write_set(files: Mapping[str | os.PathLike, bytes], describing: Sequence[str | os.PathLike] = ()) -> None:
    """Writes files that belong together so that no describing file ever sits beside content it does not describe.

    Every file is first written to its temporary and fsync-ed. Then the ``describing`` files (cards, manifests) that
    exist from an earlier write are removed, the other files are renamed into place, and the describing files are
    renamed last. A kill at any moment leaves either the old set, or new content without its describing files, or the
    whole new set; never an old card beside a new file or a new card beside an old one. On an exception before the
    renames, nothing changes.

    Args:
        files: Destination path -> content, for every file of the set.
        describing: The destinations (keys of ``files``) that describe the others; committed last, removed first.
    """
    targets = {_destination(path): data for path, data in files.items()}
    describing_targets = {_destination(path) for path in describing}
    unknown = describing_targets - set(targets)
    if unknown:
        raise ValueError(f"describing files must be among the files written. Received: {sorted(map(str, unknown))}")
    temporaries: dict[pathlib.Path, pathlib.Path] = {}
    try:
        for target, data in targets.items():
            remove_stale_partials(target)
            temporary = _temporary_for(target)
            temporaries[target] = temporary
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for target in describing_targets:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
        ordered = [t for t in targets if t not in describing_targets] + [t for t in targets if t in describing_targets]
        for target in ordered:
            _publish(temporaries.pop(target), target)
    except BaseException:
        for temporary in temporaries.values():
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        raise
    for folder in {target.parent for target in targets}:
        _fsync_dir(folder)
