"""Real tensorflow_datasets data for the data tests, with no network: tiny *prepared* datasets written by tfds' own
writer in TFDS's on-disk format, and a switch that makes tfds downloads fail at once instead of reaching the network.

tensorflow-datasets is installed by ``make install`` (extra ``tfds``); it is imported here unconditionally, so a
missing tfds fails these tests instead of skipping them.
"""

from __future__ import annotations

import socket

import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import downloader


def write_prepared(name: str, data_dir, splits: dict) -> None:
    """Prepares dataset ``name`` in ``data_dir`` with the given examples, as ``tfds build`` would lay it out.

    The version and features are those of tfds' own builder for ``name``, so ``tfds.builder(name, data_dir=...)``
    finds it prepared. ``splits`` maps a split name to a dict of feature arrays (one row per example).
    """
    reference = tfds.builder(name, data_dir=data_dir)
    tfds.dataset_builders.store_as_tfds_dataset(
        name=name,
        version=str(reference.version),
        features=reference.info.features,
        split_datasets={split: tf.data.Dataset.from_tensor_slices(rows) for split, rows in splits.items()},
        data_dir=data_dir,
        disable_shuffling=True,
    )


def refuse_downloads(monkeypatch) -> socket.socket:
    """Routes tfds' HTTP(S) downloads to a local port that refuses connections, without tfds' retries.

    tfds 4.9.10 retries a failed request 10 times with exponential back-off from 0.2 s (downloader.MAX_RETRIES;
    about 3.5 minutes), so the retries are turned off; everything before the first request runs for real. Returns the
    bound (not listening) socket that holds the port: keep it open for the test.
    """
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    proxy = f"http://127.0.0.1:{holder.getsockname()[1]}"
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, proxy)
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(downloader, "MAX_RETRIES", 0)
    return holder
