"""Resolving ``weights=`` and loading weight files into models.

``weights`` is ``None`` | ``"imagenet"`` | a project tag | a path. Downloads go through ``keras.utils.get_file``,
wrapped so that nothing unverified is ever used or left behind:

* the cache directory is created (keras would silently fall back to ``/tmp/.keras`` when it is missing or read-only);
* a cached file is hash-checked before use; a bad one is deleted and downloaded again;
* the download goes to a temporary name in the cache (``keras_archs._files.atomic_path``) and is renamed into place
  only after its hash matched, so an interrupted or truncated download never sits in the cache under the real name;
* processes that fetch into the same cache at once take turns (an exclusive ``flock`` on the cache folder while a
  file is checked, replaced or downloaded): each finds either the verified file or nothing, never a file another
  process is removing;
* failures raise :class:`WeightsDownloadError` / :class:`WeightsHashMismatchError`, naming the file, the URL, the
  expected hash and how to fix it.

Upstream publishes no hash for keras' MobileNet files: for those (``file_hash=None``) we check what can be checked —
that the file is a readable HDF5 weights file with the ``layer_names`` index keras writes — and the strict order-based
loader then rejects any file whose layers or shapes do not match the model.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import io
import math
import os
import pathlib
import warnings
import zipfile
from typing import Any, Iterator, Mapping

import h5py
import keras
import numpy as np

from keras_archs import _files, registry
from keras_archs.registry import ModelSpec, WeightEntry

try:  # POSIX; elsewhere concurrent fetches rely on the atomic rename alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "WeightsFileError",
    "WeightsFileNotFoundError",
    "WeightsHashMismatchError",
    "WeightsDownloadError",
    "build_unallocated",
    "cache_root",
    "fetch",
    "file_hash",
    "load_into",
    "load_model_file",
    "load_deep_compression_net",
    "read_deep_compression_net",
]


class WeightsFileError(ValueError):
    """A weights file is unreadable, malformed, or does not fit the model."""


class WeightsFileNotFoundError(WeightsFileError, FileNotFoundError):
    """A weights path names no file ("file not found: PATH"); both a ValueError (keras' type for a bad ``weights``)
    and a FileNotFoundError."""


class WeightsHashMismatchError(WeightsFileError):
    """A downloaded or cached weights file does not have the pinned hash (it was deleted)."""


class WeightsDownloadError(OSError):
    """A weights file could not be downloaded (offline, URL gone, ...)."""


_CHUNK = 1 << 20
# What h5py (HDF5's own messages arrive as RuntimeError, KeyError, OSError...), zipfile and Keras' loaders raise on a
# damaged or foreign file; each becomes a WeightsFileError naming the file. (MemoryError is not among them: a real lack
# of memory is not a property of the file.)
_READ_ERRORS = (
    OSError,
    EOFError,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    AttributeError,
    RuntimeError,
    ArithmeticError,
    NotImplementedError,
    zipfile.BadZipFile,
)


def cache_root(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """The Keras cache root: ``cache_dir``, else ``$KERAS_HOME``, else ``~/.keras`` (keras' own rule)."""
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return pathlib.Path(os.path.expanduser(os.fspath(cache_dir)))


def _algorithm_for(expected_hash: str) -> str:
    # keras' convention: 64 hex digits = sha256, otherwise md5.
    return "sha256" if len(expected_hash) == 64 else "md5"


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_hdf5_weights(path: pathlib.Path) -> str | None:
    """Why ``path`` is not a usable Keras h5 weights file, or None if it looks like one."""
    try:
        with h5py.File(path, "r") as handle:
            group = handle["model_weights"] if "model_weights" in handle else handle
            names = group.attrs.get("layer_names")
            if names is None or len(names) == 0:
                return "it is HDF5 but has no `layer_names` index (not a Keras weights file)"
    except _READ_ERRORS as error:
        return f"it is not a readable HDF5 file ({type(error).__name__}: {error})"
    return None


def _problem_with(path: pathlib.Path, entry: WeightEntry) -> str | None:
    """Why the file at ``path`` must not be used for ``entry``, or None when it checks out."""
    if entry.file_hash is not None:
        algorithm = _algorithm_for(entry.file_hash)
        actual = file_hash(path, algorithm)
        if actual != entry.file_hash.lower():
            return f"its {algorithm} is {actual}, expected {entry.file_hash}"
        return None
    if path.stat().st_size == 0:
        return "it is empty"
    if entry.loader == "h5_by_order":
        return _check_hdf5_weights(path)
    return None


@contextlib.contextmanager
def _cache_lock(directory: pathlib.Path) -> Iterator[None]:
    """An exclusive lock on the cache folder (``flock`` on the folder itself: no lock file is left behind)."""
    if fcntl is None:
        yield
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def fetch(entry: WeightEntry, cache_dir: str | os.PathLike | None = None, cache_subdir: str = "models") -> pathlib.Path:
    """Returns the local path of ``entry``'s file, downloading and verifying it if needed.

    A cached file is used only after its hash matched. Processes fetching into one cache at once take turns: the
    check, the removal of a bad copy and the download happen under an exclusive lock on the cache folder, and the
    download is renamed into place only once verified, so each caller gets the one verified file.

    Args:
        entry: The weight entry (URL, file name, pinned hash).
        cache_dir: Cache root; defaults to ``$KERAS_HOME`` or ``~/.keras`` like keras.
        cache_subdir: Sub-directory of the cache root (keras uses "models" for weights).

    Returns:
        Path of the verified file in the cache.

    Raises:
        WeightsDownloadError: The file is not cached and could not be downloaded.
        WeightsHashMismatchError: The downloaded file has the wrong hash (it is deleted).
    """
    directory = cache_root(cache_dir) / cache_subdir
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / entry.fname
    if _verified(target, entry):
        return target  # verified; a good cached file is only ever replaced by an identical one
    if entry.url is None:
        return shipped_path(entry)
    with _cache_lock(directory):
        if _verified(target, entry):  # again, under the lock: another process may have fetched it meanwhile
            return target
        target.unlink(missing_ok=True)  # a bad cached copy is never used; fall through to a fresh download
        _download(entry, target, cache_root(cache_dir), cache_subdir)
    return target


def _verified(target: pathlib.Path, entry: WeightEntry) -> bool:
    """Whether ``target`` exists and checks out. Outside the lock another process may remove a bad copy at any
    moment (between ``is_file`` and ``open``): a file that vanishes is simply not there."""
    try:
        return target.is_file() and _problem_with(target, entry) is None
    except FileNotFoundError:
        return False


def _download(entry: WeightEntry, target: pathlib.Path, root: pathlib.Path, cache_subdir: str) -> None:
    """Downloads ``entry`` to a temporary beside ``target``, checks it, and only then renames it to ``target``."""
    fix = (
        f"Download {entry.url} yourself and place it at {target}"
        + (f" (expected hash {entry.file_hash})" if entry.file_hash else "")
        + ", or pass weights=<path to the file>."
    )
    with _files.atomic_path(target) as partial:
        try:
            keras.utils.get_file(
                partial.name, entry.url, cache_dir=str(root), cache_subdir=cache_subdir, force_download=True
            )
        except Exception as error:  # keras raises a bare Exception offline; the temporary is removed by atomic_path
            raise WeightsDownloadError(
                f"Could not download weights file {entry.fname} from {entry.url}: {error}. {fix}"
            ) from error
        if not partial.is_file():
            raise WeightsDownloadError(f"Downloading {entry.url} left no file. {fix}")
        problem = _problem_with(partial, entry)
        if problem is not None:
            raise WeightsHashMismatchError(
                f"Downloaded weights file {entry.fname} from {entry.url} is corrupt or truncated: {problem}. "
                f"It was deleted. {fix}"
            )


SHIPPED_PACKAGE = "keras_archs.saved_models"  # the repository's saved_models/ folder, installed as package data


def shipped_path(entry: WeightEntry) -> pathlib.Path:
    """Path of a file shipped with the package (``saved_models/``), after checking its pinned hash.

    Raises:
        WeightsDownloadError: The file is not in this installation.
        WeightsHashMismatchError: It is there but its hash differs (a corrupt install or a stale file).
    """
    try:
        path = pathlib.Path(str(importlib.resources.files(SHIPPED_PACKAGE) / entry.fname))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise WeightsDownloadError(
            f"Weights file {entry.fname} should ship in the package {SHIPPED_PACKAGE} but is missing from this "
            "installation; reinstall keras_archs (pip install --force-reinstall keras_archs)."
        )
    problem = _problem_with(path, entry)
    if problem is not None:
        raise WeightsHashMismatchError(f"Shipped weights file {path} is corrupt: {problem}. Reinstall keras_archs.")
    return path


def _loader_for_path(path: pathlib.Path) -> str:
    name = path.name.lower()
    if name.endswith(".weights.h5"):
        return "weights_h5"
    if name.endswith(".keras"):
        return "keras_archive"
    if name.endswith((".h5", ".hdf5")):
        return "h5_by_order"
    if name.endswith(".net"):
        return "deep_compression_net"
    raise WeightsFileError(
        f"Cannot tell the format of weights file {str(path)!r} from its name. Accepted: .weights.h5 (Keras 3), "
        ".h5/.hdf5 (legacy Keras, loaded by layer order), .keras (a saved model whose weights fit), "
        ".net (Deep Compression SqueezeNet 1.0)."
    )


def load_into(
    model: Any,
    weights: Any,
    *,
    spec: ModelSpec,
    include_top: bool,
    variant: Mapping[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> None:
    """Loads ``weights`` (None, "imagenet", a project tag, or a path) into ``model`` in place.

    Raises:
        ValueError: ``weights`` names a tag this configuration has no file for (the message lists what exists).
        WeightsFileNotFoundError: ``weights`` is a path that names no file ("file not found: PATH").
        WeightsFileError: The file does not fit the model (layer count, shapes, format), or holds non-finite values.
        WeightsDownloadError, WeightsHashMismatchError: See :func:`fetch`.
    """
    if weights is None:
        return
    # A tag wins over a file or folder of the same name in the working directory, as in keras.applications (pass
    # "./imagenet" for such a file).
    if isinstance(weights, str) and weights in {"imagenet", *spec.weight_tags}:
        entry = spec.find_weights(weights, include_top, **dict(variant or {}))
        if entry is None:
            available = [
                f"include_top={e.include_top}" + "".join(f", {k}={v}" for k, v in e.variant)
                for e in spec.weights
                if e.tag == weights
            ]
            raise ValueError(
                f"No {weights!r} weights are published for {spec.name} with include_top={include_top}"
                + "".join(f", {k}={v}" for k, v in (variant or {}).items())
                + (f". Available: {'; '.join(available)}." if available else ".")
            )
        path = fetch(entry, cache_dir=cache_dir)
        _load_file(model, path, entry.loader)
        return
    path = pathlib.Path(os.fspath(weights))
    if not path.is_file():
        raise WeightsFileNotFoundError(f"file not found: {path}" + (" (it is a folder)" if path.is_dir() else ""))
    _load_file(model, path, _loader_for_path(path))


def _load_file(model: Any, path: pathlib.Path, loader: str) -> None:
    """Loads ``path`` with ``loader``; on any failure the model keeps the values it had (nothing half-loaded)."""
    snapshot = [variable.numpy() for variable in model.weights]
    try:
        if loader == "deep_compression_net":
            load_deep_compression_net(model, path)
            return
        if loader == "h5_by_order":
            problem = _check_hdf5_weights(path)
            if problem is not None:
                raise WeightsFileError(f"Weights file {str(path)!r} cannot be loaded: {problem}.")
        if loader == "keras_archive":
            _check_zip(path)
        if loader in ("weights_h5", "keras_archive"):
            stored = _count_keras3_variables(path, loader)
            if stored != len(model.weights):
                raise WeightsFileError(
                    f"Weights file {str(path)!r} does not fit model {model.name!r}: it stores {stored} variables, "
                    f"the model has {len(model.weights)}."
                )
        if loader in ("h5_by_order", "weights_h5", "keras_archive"):
            _check_stored_sizes(model, path, loader)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model.load_weights(str(path))
            except WeightsFileError:
                raise
            except _READ_ERRORS as error:
                raise WeightsFileError(
                    f"Weights file {str(path)!r} does not fit model {model.name!r}, or is damaged: "
                    f"{type(error).__name__}: {error}"
                ) from error
        skipped = [
            str(w.message) for w in caught if "freshly-initialized" in str(w.message) or "Skipping" in str(w.message)
        ]
        for warning in caught:
            if str(warning.message) not in skipped:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        if skipped:
            # Keras 3 only warns when parts of a model find nothing in the file; a partial load is an error here.
            raise WeightsFileError(f"Weights file {str(path)!r} left parts of {model.name!r} unloaded: {skipped[0]}")
        _check_finite(model, path)
    except BaseException:
        for variable, value in zip(model.weights, snapshot):
            variable.assign(value)
        raise


def load_model_file(path: str | os.PathLike) -> Any:
    """A whole model from a ``.keras`` file (``keras.saving.load_model``, safe mode, not compiled), checked first.

    The zip's CRC-32s are checked before Keras reads anything, any failure to read becomes a
    :class:`WeightsFileError` naming the file, and a model with non-finite weights is refused. Keras imports the
    package's custom layers only once ``keras_archs.applications`` is imported; callers that may meet them import it.

    Raises:
        WeightsFileNotFoundError: No such file.
        WeightsFileError: The file is damaged, not a Keras model, or holds non-finite weights.
    """
    path = pathlib.Path(os.fspath(path))
    if not path.is_file():
        raise WeightsFileNotFoundError(f"file not found: {path}")
    _check_zip(path)
    _check_config_fits_stored_weights(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # keras warns about every oddity of a damaged config; it fails below
            model = keras.saving.load_model(path, compile=False)
    except _READ_ERRORS as error:
        raise WeightsFileError(f"Model file {str(path)!r} cannot be loaded: {type(error).__name__}: {error}") from error
    if not isinstance(model, keras.Model):
        raise WeightsFileError(f"Model file {str(path)!r} holds a {type(model).__name__}, not a keras.Model.")
    _check_finite(model, path)
    return model


def build_unallocated(config: dict, error: type[Exception], what: str) -> tuple[Any, list]:
    """The model a Keras ``config`` describes, with variables that have shapes but no memory yet (and those variables).

    Built inside a ``keras.StatelessScope``: Keras then defers every variable's initialisation (it records shape,
    dtype and initializer only). So a config that asks for a Dense layer of 2**30 units costs nothing until its
    variables are initialised, which the caller does only after comparing every shape with what the file stores
    (``compress.load``, :func:`load_model_file`). The deferred variables are taken out of Keras' global list of
    variables waiting to be initialised (a later stateless scope would otherwise initialise them, or fail on the ones
    initialised here).

    Args:
        config: A serialized Keras model (``keras.saving.serialize_keras_object``); its ``compile_config`` is ignored.
        error: The exception type to raise when the config cannot be rebuilt into a ``keras.Model``.
        what: What the config is, for the message ("The archive's model config").

    Raises:
        error: The config cannot be rebuilt, or describes something other than a ``keras.Model``.
    """
    from keras.src.backend.common import global_state  # Keras' own record of deferred variables

    name = "uninitialized_variables"
    before = list(global_state.get_global_attribute(name) or [])
    # The optimizer of a compiled model makes its variables from values, which a stateless scope refuses: the model is
    # compiled after its variables are set (what deserialize_keras_object does last anyway).
    architecture = {key: value for key, value in config.items() if key != "compile_config"}
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = keras.saving.deserialize_keras_object(architecture)
    except Exception as caught:  # noqa: BLE001 - any failure to rebuild means the stored config is unusable
        raise error(f"{what} cannot be rebuilt: {caught}") from caught
    finally:
        known = {id(variable) for variable in before}
        pending = [v for v in global_state.get_global_attribute(name) or [] if id(v) not in known]
        global_state.set_global_attribute(name, before)
    if not isinstance(model, keras.Model):
        raise error(f"{what} describes a {type(model).__name__}, not a keras.Model.")
    return model, pending


def _check_config_fits_stored_weights(path: pathlib.Path) -> None:
    """Refuses a ``.keras`` whose config needs more values than its weights file stores, before Keras builds it.

    ``keras.saving.load_model`` creates every variable of the config before it reads the weights: a 14 kB crafted
    ``.keras`` asking for a Dense layer of 2**27 units had the process killed for memory (7.5 GB; the same flaw as
    issue #13's item 1 for archives). The config is built shape-only first and its values counted.
    """
    import json

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except _READ_ERRORS as error:
        raise WeightsFileError(f"Model file {str(path)!r} has no readable config.json: {error}") from error
    if not isinstance(config, dict):
        raise WeightsFileError(f"Model file {str(path)!r}: config.json holds a {type(config).__name__}, not a model.")

    def stored_values(handle: Any) -> int:
        total = 0

        def visit(name: str, item: Any) -> None:
            nonlocal total
            if isinstance(item, h5py.Dataset):
                total += int(item.size)

        handle.visititems(visit)
        return total

    try:
        stored = _open_weights_h5(path, "keras_archive", stored_values)
    except _READ_ERRORS as error:
        raise WeightsFileError(f"Model file {str(path)!r} has no readable model.weights.h5: {error}") from error
    model, _ = build_unallocated(config, WeightsFileError, f"The model config of {str(path)!r}")
    needed = sum(math.prod(variable.shape) for variable in model.weights)
    if needed > stored:
        raise WeightsFileError(
            f"Model file {str(path)!r} describes a model of {needed:,} values but stores {stored:,}: the file is "
            "damaged or crafted."
        )


def _check_finite(model: Any, path: pathlib.Path) -> None:
    """No trained network has NaN or infinite weights: such values mean a damaged or crafted file."""
    for variable in model.weights:
        value = np.asarray(variable.numpy())
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise WeightsFileError(
                f"Weights file {str(path)!r} gives {variable.path!r} non-finite values (NaN or infinity): the file is "
                "damaged or was not written from a trained model."
            )


def _check_zip(path: pathlib.Path) -> None:
    """A ``.keras`` file is a zip whose members carry a CRC-32: a damaged member is refused before it is read."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except _READ_ERRORS as error:
        raise WeightsFileError(f"Weights file {str(path)!r} is not a readable .keras (zip) file: {error}") from error
    if bad is not None:
        raise WeightsFileError(f"Weights file {str(path)!r} is damaged: its member {bad!r} fails its CRC-32 check.")


def _open_weights_h5(path: pathlib.Path, loader: str, handle_fn: Any) -> Any:
    """``handle_fn(h5py file)`` for the HDF5 weights of ``path`` (the ``model.weights.h5`` inside a ``.keras`` zip)."""
    if loader == "keras_archive":
        with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as member:
            with h5py.File(io.BytesIO(member.read()), "r") as handle:
                return handle_fn(handle)
    with h5py.File(path, "r") as handle:
        return handle_fn(handle)


def _check_stored_sizes(model: Any, path: pathlib.Path, loader: str) -> None:
    """Refuses a file with a weight larger than any of the model's before Keras reads it into memory.

    A dataset's shape is metadata: one flipped byte of a tiny legacy ``.h5`` made Keras' loader allocate ~1 GB for a
    dataset before refusing it (issue #13's fuzz battery), and a crafted header can ask for any size. No weight of a
    file that fits the model holds more values than the model's largest variable.
    """
    largest = max((math.prod(variable.shape) for variable in model.weights), default=0)

    def biggest_dataset(handle: Any) -> tuple[int, str]:
        found = (0, "")

        def visit(name: str, item: Any) -> None:
            nonlocal found
            if isinstance(item, h5py.Dataset) and item.size > found[0]:
                found = (int(item.size), name)

        group = handle["model_weights"] if loader == "h5_by_order" and "model_weights" in handle else handle
        group.visititems(visit)
        return found

    try:
        size, name = _open_weights_h5(path, loader, biggest_dataset)
    except _READ_ERRORS as error:
        raise WeightsFileError(
            f"Weights file {str(path)!r} is not a readable HDF5 weights file: {type(error).__name__}: {error}"
        ) from error
    if size > largest:
        raise WeightsFileError(
            f"Weights file {str(path)!r} does not fit model {model.name!r}: its dataset {name!r} holds "
            f"{size:,} values, more than the model's largest weight ({largest:,}). The file is damaged or belongs to "
            "another model."
        )


def _count_keras3_variables(path: pathlib.Path, loader: str) -> int:
    """Number of variables stored in a Keras 3 ``.weights.h5`` (or the weights inside a ``.keras`` zip)."""

    def count(handle: Any) -> int:
        total = 0

        def visit(name: str, item: Any) -> None:
            nonlocal total
            if isinstance(item, h5py.Dataset) and name.rsplit("/", 2)[-2:-1] == ["vars"]:
                total += 1

        handle.visititems(visit)
        return total

    try:
        return _open_weights_h5(path, loader, count)
    except _READ_ERRORS as error:
        raise WeightsFileError(
            f"Weights file {str(path)!r} is not a readable Keras 3 weights file: {type(error).__name__}: {error}"
        ) from error


# --- Deep Compression SqueezeNet (.net) --------------------------------------------------------------------------
# Format (DESIGN.md §4; songhan/SqueezeNet-Deep-Compression, all little-endian): uint32[L] code counts, then per conv
# layer in prototxt order: float32[256] codebook (entry 0 is 0.0), float32[out] bias, uint8[n] codebook indices,
# uint8[ceil(n/2)] 4-bit relative position gaps (low nibble first). Position of code i = cumsum(gap + 1) - 1 in the
# flattened Caffe blob (out, in, kh, kw); a code 0 is a filler zero for a gap longer than 15.
_DC_CODEBOOK_SIZE = 256
_DC_SQUEEZENET_LAYERS = 26  # conv1, 8 fire modules x 3 convs, conv10
_DC_SQUEEZENET_CONV10 = (1000, 512, 1, 1)


def read_deep_compression_net(path: str | os.PathLike, blob_shapes: list[tuple[int, int, int, int]]):
    """Decodes a Deep Compression ``.net`` file into dense Caffe-layout kernels and biases.

    Args:
        path: The ``.net`` file.
        blob_shapes: Caffe blob shape ``(out, in, kh, kw)`` of every conv layer, in prototxt order.

    Returns:
        List of ``(kernel, bias)`` float32 arrays, kernel in Caffe layout ``(out, in, kh, kw)``.

    Raises:
        WeightsFileError: The file does not have the layout ``blob_shapes`` implies (size, positions out of range),
            or a codebook or bias value is not finite.
        WeightsHashMismatchError: The file has the name or the size of a published file (a registered
            ``deep_compression_net`` entry: ``compressed_SqueezeNet.net``, 675,763 bytes) but not its sha256.
    """
    _check_published_copy(pathlib.Path(path))
    data = pathlib.Path(path).read_bytes()
    n_layers = len(blob_shapes)
    header = 4 * n_layers
    if len(data) < header:
        raise WeightsFileError(f"{os.fspath(path)!r} is too short for a Deep Compression file of {n_layers} layers.")
    counts = np.frombuffer(data, "<u4", count=n_layers).astype(np.int64)
    expected = header + sum(
        4 * _DC_CODEBOOK_SIZE + 4 * shape[0] + int(n) + math.ceil(int(n) / 2) for shape, n in zip(blob_shapes, counts)
    )
    if expected != len(data):
        raise WeightsFileError(
            f"{os.fspath(path)!r} has {len(data)} bytes but its header describes {expected} for {n_layers} conv layers "
            "with this model's shapes: it is not a Deep Compression file for this architecture, or it is truncated."
        )
    layers_out = []
    offset = header
    for number, (shape, n) in enumerate(zip(blob_shapes, counts)):
        n = int(n)
        codebook = np.frombuffer(data, "<f4", count=_DC_CODEBOOK_SIZE, offset=offset)
        offset += 4 * _DC_CODEBOOK_SIZE
        bias = np.frombuffer(data, "<f4", count=shape[0], offset=offset).copy()
        offset += 4 * shape[0]
        for part, values in (("codebook", codebook), ("bias", bias)):
            if not np.all(np.isfinite(values)):
                bad = int(np.flatnonzero(~np.isfinite(values))[0])
                raise WeightsFileError(
                    f"{os.fspath(path)!r}, conv layer {number}: {part}[{bad}] is {values[bad]}; a Deep Compression "
                    "file holds finite values only (the file is damaged or crafted)."
                )
        codes = np.frombuffer(data, np.uint8, count=n, offset=offset)
        offset += n
        packed = np.frombuffer(data, np.uint8, count=math.ceil(n / 2), offset=offset)
        offset += math.ceil(n / 2)
        gaps = np.empty(2 * packed.size, np.int64)
        gaps[0::2] = packed & 0x0F
        gaps[1::2] = packed >> 4
        positions = np.cumsum(gaps[:n] + 1) - 1
        size = int(np.prod(shape))
        if n and positions[-1] >= size:
            raise WeightsFileError(
                f"{os.fspath(path)!r}, conv layer {number}: sparse positions run to {positions[-1]}, past the "
                f"{size} weights of a {shape} kernel."
            )
        dense = np.zeros(size, np.float32)
        dense[positions] = codebook[codes]
        layers_out.append((dense.reshape(shape), bias))
    return layers_out


def _check_published_copy(path: pathlib.Path) -> None:
    """A file named or sized like a published Deep Compression file must be that file (its pinned sha256).

    The ``.net`` format has no checksum: of 320 random mutations of the published file, 67 decoded into other
    weights (issue #13); the published copy does have a known hash. The registered ``deep_compression_net`` entries
    say which (name, size, hash); with no family registered yet there is nothing to compare with.
    """
    size = path.stat().st_size
    for spec in registry.all_specs():
        for entry in spec.weights:
            if entry.loader != "deep_compression_net" or entry.file_hash is None:
                continue
            if path.name != entry.fname and size != entry.bytes:
                continue
            algorithm = _algorithm_for(entry.file_hash)
            actual = file_hash(path, algorithm)
            if actual != entry.file_hash.lower():
                why = "name" if path.name == entry.fname else f"size ({size:,} bytes)"
                raise WeightsHashMismatchError(
                    f"{str(path)!r} has the {why} of the published {entry.fname} ({entry.url}) but not its content: "
                    f"its {algorithm} is {actual}, the published file's is {entry.file_hash}. The file is damaged or "
                    "altered; download it again (weights='imagenet' does, hash-checked). A different file of your own "
                    "needs another name and size."
                )
            return


def load_deep_compression_net(model: Any, path: str | os.PathLike) -> None:
    """Loads a Deep Compression ``.net`` into ``model``'s Conv2D layers (in model order).

    Raises:
        WeightsFileError: The model's conv layers and the file do not match.
    """
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    shapes = []
    for layer in convs:
        kh, kw, cin, cout = layer.kernel.shape
        shapes.append((cout, cin, kh, kw))
    if len(shapes) == _DC_SQUEEZENET_LAYERS - 1:
        # A SqueezeNet 1.0 feature extractor (include_top=False) lacks conv10; the file still stores it.
        shapes.append(_DC_SQUEEZENET_CONV10)
    decoded = read_deep_compression_net(path, shapes)
    for layer, (kernel, bias) in zip(convs, decoded):
        if layer.bias is None:
            raise WeightsFileError(f"Layer {layer.name!r} has no bias but the Deep Compression file stores one.")
        # Caffe (out, in, kh, kw) -> Keras (kh, kw, in, out).
        layer.set_weights([kernel.transpose(2, 3, 1, 0), bias])
