"""Where the datasets live on disk, and the one error raised when none of those places has them.

Every reader in ``keras_archs.data`` walks an ordered list of places (an explicit ``data_dir``, the Debian package
directory, the Keras cache, a prepared ``tensorflow_datasets`` directory, a ``tensorflow_datasets`` download) and
records in a :class:`SearchLog` why each one was not used. When nothing fits, :class:`DatasetNotFoundError` lists every
place looked and how to fix it, in one message.

``tensorflow_datasets`` is optional: it is imported lazily, only when a search gets to it, and its absence is one line
of the error message rather than an ``ImportError``.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any, Sequence

__all__ = [
    "DatasetCorruptError",
    "DatasetNotFoundError",
    "SearchLog",
    "keras_datasets_dir",
    "prepared_tfds_builder",
    "download_tfds_builder",
]


class DatasetNotFoundError(FileNotFoundError):
    """No source holds the requested dataset; the message lists every place looked and how to fix it.

    Attributes:
        dataset: Human-readable dataset name (``"Fashion-MNIST"``).
        split: The split asked for.
        looked: ``(place, reason)`` pairs, in the order the places were tried.
        hint: How to make the data available.
    """

    def __init__(self, dataset: str, split: str, looked: Sequence[tuple[str, str]], hint: str):
        self.dataset = dataset
        self.split = split
        self.looked = tuple(looked)
        self.hint = hint
        lines = [f"{dataset} split {split!r} was not found. Looked in, in this order:"]
        lines += [f"  {number}. {place}: {reason}" for number, (place, reason) in enumerate(self.looked, start=1)]
        lines.append(f"To fix: {hint}")
        super().__init__("\n".join(lines))

    def __reduce__(self):  # keep the exception picklable for multiprocessing / tf.distribute error propagation
        return (type(self), (self.dataset, self.split, self.looked, self.hint))


class DatasetCorruptError(ValueError):
    """A dataset file exists but its content is not what the format says (bad magic, size, label range...)."""


@dataclasses.dataclass
class SearchLog:
    """The places a reader has tried so far, each with the reason it was not used."""

    dataset: str
    split: str
    looked: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def miss(self, place: Any, reason: str) -> None:
        """Records that ``place`` was tried and did not hold the data, because of ``reason``."""
        self.looked.append((str(place), reason))

    def error(self, hint: str) -> DatasetNotFoundError:
        """The error to raise once every place has been tried."""
        return DatasetNotFoundError(self.dataset, self.split, self.looked, hint)


def keras_datasets_dir() -> pathlib.Path:
    """``$KERAS_HOME/datasets`` (default ``~/.keras/datasets``): where ``keras.datasets`` caches its downloads.

    Read at call time (not when Keras was imported), so a changed ``KERAS_HOME`` is honoured.
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return pathlib.Path(home) / "datasets"


def _import_tfds(log: SearchLog, place: str):
    try:
        import tensorflow_datasets as tfds  # optional dependency, imported only when a search gets here
    except ImportError as error:
        log.miss(place, f"tensorflow_datasets is not installed ({error}); `pip install tensorflow-datasets`")
        return None
    return tfds


def _tfds_data_dir(data_dir: str | os.PathLike | None) -> str | None:
    """``data_dir``, else ``$TFDS_DATA_DIR`` read now (tfds reads it once, at import), else None (tfds' default)."""
    if data_dir is not None:
        return os.fspath(data_dir)
    return os.environ.get("TFDS_DATA_DIR") or None


def prepared_tfds_builder(name: str, log: SearchLog, data_dir: str | os.PathLike | None = None):
    """A ``tensorflow_datasets`` builder for ``name`` whose data is already prepared, or None (the miss is logged).

    Args:
        name: tfds dataset name (``"fashion_mnist"``, ``"cifar10"``, ``"imagenet2012"``).
        log: Where to record why this source was not used.
        data_dir: tfds data directory; None means ``$TFDS_DATA_DIR`` (read now) or tfds' default
            (``~/tensorflow_datasets``).

    Returns:
        A prepared ``tfds.core.DatasetBuilder`` or None. Never downloads anything.
    """
    data_dir = _tfds_data_dir(data_dir)
    place = f"tensorflow_datasets {name!r} prepared in {data_dir if data_dir is not None else 'its default data_dir'}"
    tfds = _import_tfds(log, place)
    if tfds is None:
        return None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # tfds raises its own error types for unknown names / unreadable dirs
        log.miss(place, f"tfds.builder failed: {type(error).__name__}: {error}")
        return None
    place = f"tensorflow_datasets {name!r} prepared in {builder.data_dir}"
    if not builder.is_prepared():
        log.miss(place, "not prepared (no dataset_info.json for this version)")
        return None
    return builder


def download_tfds_builder(name: str, log: SearchLog, data_dir: str | os.PathLike | None = None):
    """Downloads and prepares ``name`` with ``tensorflow_datasets``; returns the builder, or None (the miss is logged).

    Args:
        name: tfds dataset name.
        log: Where to record why this source was not used.
        data_dir: Where tfds prepares it; None means ``$TFDS_DATA_DIR`` (read now) or tfds' default.

    Offline, the download fails (after tfds' own retries: about 3.5 minutes with tfds 4.9.10, whose HTTP retries back
    off exponentially from 0.2 s, 10 times); the failure is recorded in ``log`` (and so shows in the
    :class:`DatasetNotFoundError`) instead of being raised on its own.
    """
    data_dir = _tfds_data_dir(data_dir)
    place = f"tensorflow_datasets download of {name!r}" + (f" into {data_dir}" if data_dir is not None else "")
    tfds = _import_tfds(log, place)
    if tfds is None:
        return None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        builder.download_and_prepare()
    except Exception as error:  # network, checksum and disk errors all mean "this source did not work"
        log.miss(place, f"failed: {type(error).__name__}: {error}")
        return None
    return builder
