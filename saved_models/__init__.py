"""Models this project trained, shipped as package data (installed as ``keras_archs.saved_models``).

Each file is listed in ``MANIFEST.json`` (sha256, metrics, the exact command) and registered as a weights tag in
``keras_archs.registry``; ``keras_archs.weights.shipped_path`` checks the hash before use.
"""

import hashlib as _hashlib
import json as _json
import pathlib as _pathlib

_HERE = _pathlib.Path(__file__).resolve().parent


def manifest() -> dict:
    """The parsed ``MANIFEST.json``."""
    return _json.loads((_HERE / "MANIFEST.json").read_text())


def path(file: str) -> _pathlib.Path:
    """Path of a shipped file listed in the MANIFEST, after checking its size and sha256.

    Raises:
        ValueError: ``file`` is not in the MANIFEST (the message lists what is), or the file does not match its record.

    Example:
        >>> from keras_archs import saved_models
        >>> saved_models.path("squeezenet_fashion_mnist.kadc").name
        'squeezenet_fashion_mnist.kadc'
    """
    records = {record["file"]: record for record in manifest()["models"]}
    if file not in records:
        raise ValueError(f"{file!r} is not a shipped model. Shipped: {sorted(records)}")
    location = _HERE / file
    data = location.read_bytes()
    if len(data) != records[file]["bytes"] or _hashlib.sha256(data).hexdigest() != records[file]["sha256"]:
        raise ValueError(f"{location} does not match its MANIFEST record (size/sha256): the install is damaged.")
    return location
