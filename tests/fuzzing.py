"""The shared mutation battery for every file format the package reads (issue #13): mutations, reseals, targets, runner.

A *target* is one format read through the package's own loader: the original files (name -> bytes), a ``load`` that
writes the files into a scratch folder and reads them back the way a user would (``weights=path``,
``compress.load``, ``load_arrays``, the ImageNet pipeline), the loader's named errors, and which mutations a
checksum or a known hash covers. Each case applies one seeded mutation to one of the files:

* ``flip``: 1-4 bytes set to other values (one bit flipped or a random byte);
* ``truncate``: the file cut at a random length (0 included);
* ``insert``: 1-64 random bytes inserted at a random offset;
* ``extreme``: a header field (the format's known integer fields, else a random 4- or 8-aligned offset) overwritten
  with an extreme integer (0, 1, 2**31 - 1, 2**32 - 1, 2**63 - 1, -1, ...) in the field's width and byte order;

and, where the target knows how, *reseals* the result half of the time (recomputes the format's checksums, as a
crafted file would), so the parser behind the checksum sees the damaged fields too.

An outcome is the name of the error raised, or ``loaded, identical`` / ``loaded, differs``. A case fails when it
raises anything but the loader's named errors (``IndexError``, ``struct.error``, ``MemoryError``... are failures),
when a mutation that a checksum or hash covers loads a different result, or when it takes longer than the per-case
limit. The battery runs in a child process (:func:`run_child`) with its data segment capped (``RLIMIT_DATA``) a fixed
headroom above what set-up used, so an allocation that a crafted header asks for fails the case with a
``MemoryError`` instead of exhausting the machine, and a crash of a native reader (HDF5, TensorFlow) fails the test
with the child's output instead of killing pytest.

Run by hand: ``python tests/fuzzing.py --targets kadc,net-small --cases 200 --seed 0`` prints a JSON report per
target.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gzip
import importlib
import io
import json
import os
import pathlib
import resource
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from typing import Any, Callable

import numpy as np

TESTS = pathlib.Path(__file__).resolve().parent
REPO = TESTS.parent
DC_NET = REPO.parent / "shared" / "fixtures" / "squeezenet" / "compressed_SqueezeNet.net"

LOADED_SAME = "loaded, identical"
LOADED_DIFFERENT = "loaded, differs"
# Extreme integers for header fields: zero, one, and the edges of the signed/unsigned 16/32/64-bit ranges.
EXTREMES = (0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1)
# The data segment may grow this much above what set-up used; one case of a small file needs a few MiB.
MEMORY_HEADROOM = 1 << 30
SECONDS_PER_CASE = 20.0  # a generous bound on a shared 2-core machine; the reports record the real maxima


# --- mutations -------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Field:
    """An integer field of a format's header: offset, width in bytes, byte order."""

    offset: int
    width: int
    order: str = "little"


def _extreme_bytes(value: int, width: int, order: str) -> bytes:
    return (value % (1 << (8 * width))).to_bytes(width, order)


def mutate(data: bytes, rng: np.random.Generator, fields: tuple[Field, ...] = ()) -> tuple[bytes, str]:
    """One random mutation of ``data`` that changes it; returns the new bytes and a description."""
    for _ in range(100):
        kind = ("flip", "truncate", "insert", "extreme")[int(rng.integers(4))]
        out = bytearray(data)
        if kind == "flip" and data:
            edits = []
            for _ in range(int(rng.integers(1, 5))):
                position = int(rng.integers(len(out)))
                out[position] = out[position] ^ (1 << int(rng.integers(8))) if rng.random() < 0.5 else rng.integers(256)
                edits.append(position)
            what = f"flip at {edits}"
        elif kind == "truncate":
            cut = int(rng.integers(len(out))) if data else 0
            out = out[:cut]
            what = f"truncate to {cut}"
        elif kind == "insert":
            position = int(rng.integers(len(out) + 1))
            count = int(rng.integers(1, 65))
            out[position:position] = rng.integers(0, 256, count, dtype=np.uint8).tobytes()
            what = f"insert {count} at {position}"
        elif kind == "extreme" and data:
            usable = [f for f in fields if f.offset + f.width <= len(out)]
            if usable and rng.random() < 0.75:
                field = usable[int(rng.integers(len(usable)))]
            else:
                width = (4, 8)[int(rng.integers(2))]
                if len(out) < width:
                    continue
                offset = int(rng.integers((len(out) - width) // width + 1)) * width
                field = Field(offset, width, ("little", "big")[int(rng.integers(2))])
            value = EXTREMES[int(rng.integers(len(EXTREMES)))]
            out[field.offset : field.offset + field.width] = _extreme_bytes(value, field.width, field.order)
            what = f"extreme {value} in {field.width} bytes ({field.order}) at {field.offset}"
        else:
            continue
        if bytes(out) != data:
            return bytes(out), what
    raise ValueError("could not find a mutation that changes the data")


# --- reseals: checksums recomputed, as a crafted file has them --------------------------------------------------------


def reseal_kadc(data: bytes) -> bytes:
    """Recomputes every section crc32 and the file crc32 of a ``.kadc``, so the parser sees the damaged fields."""
    from keras_archs.compress import huffman

    data = bytearray(data)
    try:
        position = 6
        n_sections = None
        count = 0
        while n_sections is None or count < n_sections:
            length, body = huffman.varint_decode(data, position)
            if body + length + 4 > len(data) - 4:
                break
            if n_sections is None:
                n_shared, _ = huffman.varint_decode(data, body)
                n_sections = 2 + min(n_shared, 10_000)
            struct.pack_into("<I", data, body + length, zlib.crc32(data[position : body + length]))
            position = body + length + 4
            count += 1
    except (ValueError, IndexError, struct.error):
        pass
    if len(data) >= 4:
        struct.pack_into("<I", data, len(data) - 4, zlib.crc32(data[:-4]))
    return bytes(data)


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)  # Castagnoli polynomial, reflected (RFC 3720 B.4)
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C (tensorflow/core/lib/hash/crc32c.h: rotate right 15, add 0xa282ead8)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def reseal_tfrecord(data: bytes) -> bytes:
    """Recomputes both masked CRC-32Cs of every whole record (uint64 length, crc, data, crc)."""
    data = bytearray(data)
    position = 0
    while position + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, position)
        struct.pack_into("<I", data, position + 8, masked_crc32c(bytes(data[position : position + 8])))
        end = position + 12 + length
        if end + 4 > len(data):
            break
        struct.pack_into("<I", data, end, masked_crc32c(bytes(data[position + 12 : end])))
        position = end + 4
    return bytes(data)


def reseal_gzip(data: bytes) -> bytes:
    """The damaged content gzip-compressed again (a valid CRC-32 and length): only the payload is damaged."""
    return gzip.compress(data, mtime=0)


# --- targets ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Target:
    """One format read through the package's loader (see the module docstring)."""

    name: str
    files: dict[str, bytes]
    load: Callable[[pathlib.Path], Any]  # reads the files written into the folder; returns comparable arrays
    errors: tuple[type, ...]
    # Which files a checksum or a known hash covers (mutating them cannot load a different result unnoticed).
    protected: frozenset[str] = frozenset()
    fields: dict[str, tuple[Field, ...]] = dataclasses.field(default_factory=dict)
    # name -> function recomputing the checksums of mutated bytes (as a crafted file has them): applied to half the
    # cases of that file, which then count as unprotected.
    reseal: dict[str, Callable[[bytes], bytes]] = dataclasses.field(default_factory=dict)
    # A mutated payload for a file whose stored form wraps it (gzip, zip): name -> (payload, rewrap(payload)).
    payload: dict[str, tuple[bytes, Callable[[bytes], bytes]]] = dataclasses.field(default_factory=dict)
    # Whether a loaded result that is a prefix of the original's records is the same data (a file of records cut at
    # a record boundary has no checksum that tells).
    same: Callable[[Any, Any], bool] | None = None
    note: str = ""
    # Exceptions of a third-party reader that the package cannot turn into its named error, with the reason: counted
    # as "<name> (tolerated)" and listed in docs/reliability.md, never silently.
    tolerated: dict[type, str] = dataclasses.field(default_factory=dict)
    # Peak-RSS growth allowed over the battery (MiB), where a third-party reader is known to need more than the
    # default, with the reason (listed in docs/reliability.md); the child's data-segment cap still bounds it.
    memory_allowance: tuple[float, str] | None = None


def arrays_equal(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(arrays_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _write(folder: pathlib.Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _tiny_model(name: str):
    import keras

    inputs = keras.Input((6, 6, 2), name="x")
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Flatten(name="flat")(x)
    model = keras.Model(inputs, keras.layers.Dense(4, name="dense")(x), name=name)
    rng = np.random.default_rng(0)
    for variable in model.weights:
        value = (
            rng.uniform(0.5, 1.5, variable.shape) if "variance" in variable.path else rng.normal(0, 1, variable.shape)
        )
        variable.assign(value.astype("float32"))
    return model


def _weights_of(model) -> list[np.ndarray]:
    return [np.asarray(variable.numpy()) for variable in model.weights]


def _kadc_target() -> Target:
    from keras_archs.compress import archive, compressed_model

    model = _tiny_model("tiny_kadc")
    shared, dense = [], {}
    for key, variable in compressed_model.weight_keys(model):
        value = np.asarray(variable.numpy())
        if key.endswith("kernel"):
            codebook = np.concatenate([[0.0], np.linspace(-2, 2, 15)]).astype(np.float32)
            codes = np.abs(codebook[None, :] - value.reshape(-1, 1)).argmin(1).reshape(value.shape)
            shared.append(archive.SharedTensor(key, codebook, codes, compressed_model.storage_axes(value.ndim)))
        else:
            dense[key] = value
    config = json.loads(json.dumps(keras_serialize(model)))
    data = archive.encode(config=config, shared=shared, dense=dense, metadata={"format": compressed_model.FORMAT_NAME})

    def load(folder: pathlib.Path):
        loaded = compressed_model.load(folder / "tiny.kadc")
        return [json.dumps(loaded.get_config(), sort_keys=True)] + _weights_of(loaded)

    return Target(
        name="kadc",
        files={"tiny.kadc": data},
        load=load,
        errors=(archive.ArchiveCorruptError,),
        protected=frozenset({"tiny.kadc"}),
        fields={"tiny.kadc": (Field(4, 2),)},
        reseal={"tiny.kadc": reseal_kadc},
        note="compress.load (sections and file carry crc32)",
    )


def keras_serialize(model) -> dict:
    import keras

    return keras.saving.serialize_keras_object(model)


def _weights_target(name: str, suffix: str, loader: str) -> Target:
    """A tiny model's weights saved as ``suffix`` and read back through ``weights.load_into`` (the weights= path)."""
    from keras_archs import applications, weights

    model = _tiny_model(f"tiny_{name}")
    with tempfile.TemporaryDirectory() as scratch:
        path = pathlib.Path(scratch) / f"tiny{suffix}"
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # keras' note that .h5 is a legacy format
            model.save_weights(path) if suffix == ".weights.h5" else model.save(path)
        data = path.read_bytes()
    spec = applications.get_spec("SqueezeNet1_0")  # load_into reads the spec for tags only; a path is loaded as is
    target_model = _tiny_model(f"tiny_{name}_target")
    for variable in target_model.weights:
        variable.assign(np.zeros(variable.shape, "float32"))

    if loader == "load_model_file":

        def load(folder: pathlib.Path):
            loaded = weights.load_model_file(folder / f"tiny{suffix}")
            return [json.dumps(loaded.get_config(), sort_keys=True)] + _weights_of(loaded)

    else:

        def load(folder: pathlib.Path):
            weights.load_into(target_model, str(folder / f"tiny{suffix}"), spec=spec, include_top=True)
            return _weights_of(target_model)

    # HDF5 superblock (version 0/2): base address, then end-of-file / root addresses as 8-byte little-endian.
    hdf5_fields = tuple(Field(offset, 8) for offset in (24, 32, 40, 48, 56, 64)) + (Field(13, 1), Field(14, 1))
    target = Target(name=name, files={f"tiny{suffix}": data}, load=load, errors=(weights.WeightsFileError,))
    if suffix == ".keras":
        members = _zip_members(data)
        target.protected = frozenset({f"tiny{suffix}"})  # every zip member carries a CRC-32
        target.payload = {f"tiny{suffix}": (members["model.weights.h5"], lambda p: _rezip(members, p))}
        target.fields = {f"tiny{suffix}": ()}
        target.note = "zip CRC-32 per member; half the cases damage model.weights.h5 and zip it again"
    else:
        target.fields = {f"tiny{suffix}": hdf5_fields}
        target.note = "HDF5 has no checksum over the weights: a damaged file that loads is allowed"
    if suffix == ".h5":
        target.memory_allowance = (
            MEMORY_HEADROOM / (1 << 20),
            "HDF5 (1.14, through h5py) allocates a variable-length attribute's claimed length (a legacy file's "
            "weight_names) before it checks it against the file: one flipped byte of a 20 kB file took ~960 MiB",
        )
    return target


def _zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rezip(members: dict[str, bytes], weights_h5: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, weights_h5 if name == "model.weights.h5" else content)
    return buffer.getvalue()


def _net_bytes(shapes: list[tuple[int, int, int, int]], rng: np.random.Generator) -> bytes:
    """A valid Deep Compression .net for conv blobs ``shapes`` (DESIGN.md §4), random codes and sparse positions."""
    counts, parts = [], []
    for out, cin, kh, kw in shapes:
        size = out * cin * kh * kw
        positions = np.sort(rng.choice(size, size // 2, replace=False))
        gaps = np.diff(np.concatenate([[-1], positions])) - 1
        codes, nibbles = [], []
        for position_gap in gaps:  # gaps over 15 take filler entries with code 0
            while position_gap > 15:
                codes.append(0)
                nibbles.append(15)
                position_gap -= 16
            codes.append(int(rng.integers(1, 256)))
            nibbles.append(int(position_gap))
        nibbles += [0] * (len(nibbles) % 2)
        packed = bytes(lo | (hi << 4) for lo, hi in zip(nibbles[0::2], nibbles[1::2]))
        codebook = np.concatenate([[0.0], rng.normal(0, 0.1, 255)]).astype("<f4")
        parts.append(codebook.tobytes() + rng.normal(0, 0.1, out).astype("<f4").tobytes() + bytes(codes) + packed)
        counts.append(len(codes))
    return np.asarray(counts, "<u4").tobytes() + b"".join(parts)


def _net_target(published: bool) -> Target:
    import keras

    from keras_archs import applications, weights

    spec = applications.get_spec("SqueezeNet1_0")
    if published:
        if not DC_NET.is_file():
            raise FileNotFoundError(f"real fixture {DC_NET} is absent")
        import keras_archs

        model = keras_archs.SqueezeNet(weights=None)
        name, data = DC_NET.name, DC_NET.read_bytes()
        fields = tuple(Field(4 * layer, 4) for layer in range(26))
        note = "the published file: checked against its known sha256 (by name and by size)"
    else:
        inputs = keras.Input((5, 5, 3))
        x = keras.layers.Conv2D(4, 3, name="c1")(inputs)
        model = keras.Model(inputs, keras.layers.Conv2D(6, 1, name="c2")(x), name="tiny_net")
        name = "tiny.net"
        data = _net_bytes([(4, 3, 3, 3), (6, 4, 1, 1)], np.random.default_rng(0))
        fields = (Field(0, 4), Field(4, 4))
        note = "no checksum (another name and size than the published file): a damaged file that loads is allowed"

    def load(folder: pathlib.Path):
        weights.load_into(model, str(folder / name), spec=spec, include_top=True)
        return _weights_of(model)

    return Target(
        name="net (published)" if published else "net (small, unpublished)",
        files={name: data},
        load=load,
        errors=(weights.WeightsFileError,),
        protected=frozenset({name}) if published else frozenset(),
        fields={name: fields},
        note=note,
    )


def _idx_target(compressed: bool) -> Target:
    from keras_archs.data import DatasetCorruptError

    fashion_mnist = importlib.import_module("keras_archs.data.fashion_mnist")  # the package exports a function too

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 6, dtype=np.uint8)
    raw = {
        "t10k-images-idx3-ubyte": np.array([fashion_mnist.IMAGE_MAGIC, 6, 28, 28], ">u4").tobytes() + images.tobytes(),
        "t10k-labels-idx1-ubyte": np.array([fashion_mnist.LABEL_MAGIC, 6], ">u4").tobytes() + labels.tobytes(),
    }
    fields = {
        "t10k-images-idx3-ubyte": tuple(Field(offset, 4, "big") for offset in (0, 4, 8, 12)),
        "t10k-labels-idx1-ubyte": tuple(Field(offset, 4, "big") for offset in (0, 4)),
    }

    def load(folder: pathlib.Path):
        loaded_images, loaded_labels, _ = fashion_mnist.load_arrays("test", data_dir=folder, download=False)
        return [loaded_images, loaded_labels]

    if not compressed:
        return Target("idx", raw, load, (DatasetCorruptError,), fields=fields, note="no checksum")
    files = {f"{name}.gz": gzip.compress(data, mtime=0) for name, data in raw.items()}
    return Target(
        "idx.gz",
        files,
        load,
        (DatasetCorruptError,),
        protected=frozenset(files),
        payload={f"{name}.gz": (data, reseal_gzip) for name, data in raw.items()},
        fields={f"{name}.gz": () for name in raw},
        note="gzip CRC-32; half the cases damage the idx bytes and gzip them again",
    )


def _cifar_batch(count: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, 3072), dtype=np.uint8), rng.integers(0, 10, count, dtype=np.uint8)


def _python2_pickle(batch: dict) -> bytes:
    """A CIFAR python batch as Python 2 wrote it (bytes keys as BINSTRING), which Keras' restricted reader takes."""
    import pickle

    class Python2Pickler(pickle._Pickler):
        dispatch = dict(pickle._Pickler.dispatch)

        def save_python2_str(self, obj):
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
            self.memoize(obj)

        dispatch[bytes] = save_python2_str

    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(batch)
    return buffer.getvalue()


def _cifar_target(kind: str) -> Target:
    from keras_archs.data import DatasetCorruptError, cifar

    pixels, labels = _cifar_batch()
    binary = (np.concatenate([labels[:, None], pixels], 1)).tobytes()

    def load_from(path: str):
        def load(folder: pathlib.Path):
            images, loaded_labels, _ = cifar.load_arrays("cifar10", "test", data_dir=folder / path, download=False)
            return [images, loaded_labels]

        return load

    if kind == "bin":
        return Target("cifar binary", {"test_batch.bin": binary}, load_from(""), (DatasetCorruptError,), note="none")
    if kind == "python":
        data = _python2_pickle({b"data": pixels, b"labels": labels.tolist()})
        return Target(
            "cifar python", {"test_batch": data}, load_from(""), (DatasetCorruptError,), note="no checksum (pickle)"
        )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.size = len(binary)
        tar.addfile(info, io.BytesIO(binary))
    tar_bytes = buffer.getvalue()
    name = "cifar-10-binary.tar.gz"
    return Target(
        "cifar tar.gz",
        {name: gzip.compress(tar_bytes, mtime=0)},
        load_from(name),
        (DatasetCorruptError,),
        protected=frozenset({name}),
        payload={name: (tar_bytes, reseal_gzip)},
        fields={name: ()},
        note="gzip CRC-32; half the cases damage the tar bytes and gzip them again",
    )


def _tfrecord_target() -> Target:
    import tensorflow as tf

    from keras_archs.data import DatasetCorruptError

    imagenet = importlib.import_module("keras_archs.data.imagenet")  # the package exports a function too

    rng = np.random.default_rng(0)
    records = []
    for label in (1, 500, 1000):
        pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
        feature = {
            "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.encode_jpeg(pixels).numpy()])),
            "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        }
        records.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    data = b"".join(
        struct.pack("<Q", len(r))
        + struct.pack("<I", masked_crc32c(struct.pack("<Q", len(r))))
        + r
        + struct.pack("<I", masked_crc32c(r))
        for r in records
    )
    name = "validation-00000-of-00001"
    datasets = {}

    def load(folder: pathlib.Path):
        # What imagenet() does on every call (find the shards, check their framing, build the pipeline); the pipeline
        # is built once per folder here and reads the file again on every iteration.
        check = [imagenet.check_tfrecord_framing(path) for path in imagenet.find_tfrecords(folder, "validation")]
        if folder not in datasets:
            datasets[folder] = imagenet.imagenet("validation", batch_size=1, image_size=8, data_dir=folder)
        return [check] + [[images.numpy(), labels.numpy()] for images, labels in datasets[folder]]

    offsets, position = [], 0
    for record in records:
        offsets.append(position)
        position += 16 + len(record)

    def same(result, expected) -> bool:  # a file cut between records reads as its first records
        records = result[1:]
        return len(records) <= len(expected) - 1 and arrays_equal(records, expected[1 : 1 + len(records)])

    return Target(
        "tfrecord",
        {name: data},
        load,
        (DatasetCorruptError, tf.errors.DataLossError, tf.errors.InvalidArgumentError),
        protected=frozenset({name}),
        fields={name: tuple(Field(offset, 8) for offset in offsets)},
        reseal={name: reseal_tfrecord},
        same=same,
        note="masked CRC-32C over each record's length and data; a file cut between records reads its first records",
        # TensorFlow (2.21) puts the bytes of an unparsable Example into its InvalidArgumentError message; when they
        # are not UTF-8, building the Python exception fails with UnicodeDecodeError instead. Raised while the caller
        # iterates the dataset (inside tf.data), where the package cannot catch it.
        tolerated={UnicodeDecodeError: "TensorFlow's InvalidArgumentError message holds the record's non-UTF-8 bytes"},
    )


TARGETS: dict[str, Callable[[], Target]] = {
    "kadc": _kadc_target,
    "net-published": lambda: _net_target(True),
    "net-small": lambda: _net_target(False),
    "h5": lambda: _weights_target("h5", ".h5", "load_into"),
    "weights.h5": lambda: _weights_target("weights.h5", ".weights.h5", "load_into"),
    "keras": lambda: _weights_target("keras", ".keras", "load_into"),
    "keras-model": lambda: _weights_target("keras (load_model_file)", ".keras", "load_model_file"),
    "idx": lambda: _idx_target(False),
    "idx.gz": lambda: _idx_target(True),
    "cifar-bin": lambda: _cifar_target("bin"),
    "cifar-python": lambda: _cifar_target("python"),
    "cifar-tar": lambda: _cifar_target("tar"),
    "tfrecord": _tfrecord_target,
}


# --- the runner ------------------------------------------------------------------------------------------------------


def _vm_data_bytes() -> int:
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    return int(status["VmData"].split()[0]) * 1024


def run_battery(target: Target, cases: int, seed: int) -> dict:
    """Runs ``cases`` mutations of ``target``; returns the report (outcomes, failures, peak memory, seconds)."""
    rng = np.random.default_rng(seed)
    outcomes: collections.Counter = collections.Counter()
    failures: list[str] = []
    slowest = 0.0
    largest_jump = (0, "")  # the case that raised the peak RSS most (KiB), and what it was
    names = sorted(target.files)
    with tempfile.TemporaryDirectory(prefix="keras_archs_fuzz_") as scratch:
        folder = pathlib.Path(scratch) / "original"
        folder.mkdir()
        _write(folder, target.files)
        expected = target.load(folder)
        limit = resource.getrlimit(resource.RLIMIT_DATA)
        resource.setrlimit(resource.RLIMIT_DATA, (_vm_data_bytes() + MEMORY_HEADROOM, limit[1]))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        try:
            for case in range(cases):
                name = names[int(rng.integers(len(names)))]
                protected = name in target.protected
                if name in target.payload and rng.random() < 0.5:
                    payload, rewrap = target.payload[name]
                    mutated, what = mutate(payload, rng, ())
                    mutated, what, protected = rewrap(mutated), f"payload {what}, rewrapped", False
                else:
                    mutated, what = mutate(target.files[name], rng, target.fields.get(name, ()))
                    if name in target.reseal and rng.random() < 0.5:
                        mutated, what, protected = target.reseal[name](mutated), what + ", resealed", False
                case_folder = pathlib.Path(scratch) / "case"
                _write(case_folder, {**target.files, name: mutated})
                t0 = time.perf_counter()
                rss_case = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                try:
                    result = target.load(case_folder)
                except target.errors as error:
                    outcome = type(error).__name__
                except tuple(target.tolerated) as error:
                    outcome = f"{type(error).__name__} (tolerated)"
                except BaseException as error:  # noqa: BLE001 - every other exception is the finding
                    outcome = type(error).__name__
                    failures.append(f"case {case} ({name}: {what}): foreign {outcome}: {str(error)[:300]}")
                else:
                    same = (target.same or arrays_equal)(result, expected)
                    outcome = LOADED_SAME if same else LOADED_DIFFERENT
                    if protected and not same:
                        failures.append(f"case {case} ({name}: {what}): loaded a different result unnoticed")
                seconds = time.perf_counter() - t0
                slowest = max(slowest, seconds)
                jump = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_case
                if jump > largest_jump[0]:
                    largest_jump = (jump, f"case {case} ({name}: {what}) -> {outcome}")
                if seconds > SECONDS_PER_CASE:
                    failures.append(f"case {case} ({name}: {what}): took {seconds:.1f} s")
                outcomes[outcome] += 1
        finally:
            resource.setrlimit(resource.RLIMIT_DATA, limit)
        total = time.perf_counter() - started
    rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    return {
        "target": target.name,
        "cases": cases,
        "seed": seed,
        "outcomes": dict(sorted(outcomes.items())),
        "failures": failures,
        "peak_rss_growth_mib": round(rss_growth_kib / 1024, 1),
        "slowest_case_s": round(slowest, 3),
        "largest_peak_rss_jump": f"{largest_jump[0] / 1024:.1f} MiB: {largest_jump[1]}",
        "seconds": round(total, 2),
        "note": target.note,
        "tolerated": {error.__name__: why for error, why in target.tolerated.items()},
        "memory_allowance": target.memory_allowance,
    }


def run_child(targets: list[str], cases: int, seed: int, timeout: float = 1800) -> dict[str, dict]:
    """Runs the battery of each target in one child process; returns target key -> report.

    A target whose report is missing (the child crashed, e.g. a native reader aborted) maps to a report holding the
    child's exit status and the tail of its output as its one failure.
    """
    result = subprocess.run(
        [sys.executable, str(pathlib.Path(__file__)), "--targets", ",".join(targets), "--cases", str(cases)]
        + ["--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(TESTS)},
    )
    reports = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            report = json.loads(line)
            reports[report.pop("key")] = report
    for key in targets:
        if key not in reports:
            reports[key] = {
                "target": key,
                "failures": [f"child exited {result.returncode} before reporting: {result.stderr[-3000:]}"],
            }
    return reports


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for key in args.targets.split(","):
        try:
            target = TARGETS[key]()
        except FileNotFoundError as error:  # an absent real fixture
            print(json.dumps({"key": key, "target": key, "skipped": str(error)}), flush=True)
            continue
        report = run_battery(target, args.cases, args.seed)
        print(json.dumps({"key": key, **report}), flush=True)


if __name__ == "__main__":
    main()
