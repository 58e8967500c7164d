"""TFLite metadata inside the ``.tflite``: what MediaPipe Tasks' ImageClassifier and the TFLite Task Library read.

A classifier API on a phone learns from the file itself how to feed it and how to name its outputs: the metadata
flatbuffer (file identifier ``M001``, schema ``metadata_schema.fbs`` 1.5.0 of TFLite Support / MediaPipe) sits in a
model buffer listed under the name ``TFLITE_METADATA`` in the model's ``metadata`` table, and the files it refers to
(the labels) are stored in a zip archive appended to the flatbuffer (the TFLite Support populator's layout: the
flatbuffer stays valid, a zip reader finds the central directory at the end of the file).

This module writes both itself, with the ``flatbuffers`` runtime (a TensorFlow dependency): the metadata tables are
declared below as data (:data:`SCHEMA`: each table's fields in declaration order, which fixes their slots), and one
encoder / decoder walks them. The model flatbuffer is rewritten with TensorFlow's generated TFLite schema module
(``keras_archs.export._flatbuffer``).

What goes in for an image classifier (:func:`image_classifier_metadata`):

* model: name, description, version, author, licence, ``min_parser_version`` "1.0.0" (every field used exists since
  schema 1.0.0; the schema's history lists what came later);
* input: ``ImageProperties`` (RGB, or GRAYSCALE), the image size, and for a float input ``NormalizationOptions`` with
  one mean and one std for all channels. MediaPipe's ImageClassifier refuses per-channel values ("Per-channel image
  normalization is not available", measured with mediapipe 1.2.2), so the package puts the per-channel preprocessing
  inside the model and writes mean 0 / std 1 for inputs that take pixels 0..255; a uint8 input gets no normalization
  (the pixels are the values);
* output: class scores with the labels as a ``TENSOR_AXIS_LABELS`` associated file (one name per line, line i names
  output unit i).

Example:
    >>> table = image_classifier_metadata(
    ...     name="toy", description="two classes", version="1", author="me", license="MIT",
    ...     image_size=(4, 4), channels=3, input_dtype="float32", labels=["cat", "dog"])
    >>> decoded = decode_metadata(encode_metadata(table))
    >>> decoded["subgraph_metadata"][0]["input_tensor_metadata"][0]["process_units"][0]["options"]
    {'mean': [0.0], 'std': [1.0]}
"""

from __future__ import annotations

import io
import zipfile
from typing import Any, Mapping, Sequence

import numpy as np

from keras_archs.export import _flatbuffer

__all__ = [
    "LABELS_FILE",
    "METADATA_BUFFER_NAME",
    "MIN_PARSER_VERSION",
    "SCHEMA",
    "decode_metadata",
    "embed",
    "encode_metadata",
    "image_classifier_metadata",
    "read",
]

# The name under which TFLite Support / MediaPipe look up the metadata buffer in Model.metadata.
METADATA_BUFFER_NAME = "TFLITE_METADATA"
_METADATA_IDENTIFIER = b"M001"  # metadata_schema.fbs: file_identifier "M001"
# Every field this module writes exists in metadata schema 1.0.0 (metadata_schema.fbs "History": later versions added
# VOCABULARY, tokenizer options, process units on the subgraph, tensor groups, audio, SCANN files, file versions and
# custom metadata, none of which is written here).
MIN_PARSER_VERSION = "1.0.0"
LABELS_FILE = "labels.txt"

# metadata_schema.fbs 1.5.0 (the copy in mediapipe 1.2.2, mediapipe/tasks/metadata/metadata_schema.fbs), as data: each
# table's fields in declaration order (field i has slot i; a union takes two slots: its type, then its value). Kinds:
# "string", "[string]", "[float]", "[uint]", "byte" (enums), "uint", "int", "float", a table name, "[table name]",
# "union NAME". Tables this module never writes (tokenizers, bounding boxes, audio...) are listed so that the decoder
# can walk any file, down to the fields it knows.
SCHEMA: dict[str, tuple[tuple[str, str], ...]] = {
    "AssociatedFile": (
        ("name", "string"),
        ("description", "string"),
        ("type", "byte"),
        ("locale", "string"),
        ("version", "string"),
    ),
    "FeatureProperties": (),
    "ImageSize": (("width", "uint"), ("height", "uint")),
    "ImageProperties": (("color_space", "byte"), ("default_size", "ImageSize")),
    "BoundingBoxProperties": (("index", "[uint]"), ("type", "byte"), ("coordinate_type", "byte")),
    "AudioProperties": (("sample_rate", "uint"), ("channels", "uint")),
    "ValueRange": (("min", "int"), ("max", "int")),
    "Content": (("content_properties", "union ContentProperties"), ("range", "ValueRange")),
    "NormalizationOptions": (("mean", "[float]"), ("std", "[float]")),
    "ScoreCalibrationOptions": (("score_transformation", "byte"), ("default_score", "float")),
    "ScoreThresholdingOptions": (("global_score_threshold", "float"),),
    "ProcessUnit": (("options", "union ProcessUnitOptions"),),
    "Stats": (("max", "[float]"), ("min", "[float]")),
    "TensorGroup": (("name", "string"), ("tensor_names", "[string]")),
    "TensorMetadata": (
        ("name", "string"),
        ("description", "string"),
        ("dimension_names", "[string]"),
        ("content", "Content"),
        ("process_units", "[ProcessUnit]"),
        ("stats", "Stats"),
        ("associated_files", "[AssociatedFile]"),
    ),
    "SubGraphMetadata": (
        ("name", "string"),
        ("description", "string"),
        ("input_tensor_metadata", "[TensorMetadata]"),
        ("output_tensor_metadata", "[TensorMetadata]"),
        ("associated_files", "[AssociatedFile]"),
        ("input_process_units", "[ProcessUnit]"),
        ("output_process_units", "[ProcessUnit]"),
        ("input_tensor_groups", "[TensorGroup]"),
        ("output_tensor_groups", "[TensorGroup]"),
    ),
    "ModelMetadata": (
        ("name", "string"),
        ("description", "string"),
        ("version", "string"),
        ("subgraph_metadata", "[SubGraphMetadata]"),
        ("author", "string"),
        ("license", "string"),
        ("associated_files", "[AssociatedFile]"),
        ("min_parser_version", "string"),
    ),
}
# Union members in declaration order: member i has type code i + 1 (0 is NONE). Members this module cannot decode
# (tokenizer options) are None.
UNIONS: dict[str, tuple[str | None, ...]] = {
    "ContentProperties": ("FeatureProperties", "ImageProperties", "BoundingBoxProperties", "AudioProperties"),
    "ProcessUnitOptions": ("NormalizationOptions", "ScoreCalibrationOptions", "ScoreThresholdingOptions", None, None),
}
# Enums (values from metadata_schema.fbs), written and read by name.
ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("AssociatedFile", "type"): (
        "UNKNOWN",
        "DESCRIPTIONS",
        "TENSOR_AXIS_LABELS",
        "TENSOR_VALUE_LABELS",
        "TENSOR_AXIS_SCORE_CALIBRATION",
        "VOCABULARY",
        "SCANN_INDEX_FILE",
    ),
    ("ImageProperties", "color_space"): ("UNKNOWN", "RGB", "GRAYSCALE"),
}

_SCALARS = {  # kind -> (flatbuffers number type name, size in bytes)
    "byte": ("Int8", 1),
    "uint": ("Uint32", 4),
    "int": ("Int32", 4),
    "float": ("Float32", 4),
}


# --- encoding -------------------------------------------------------------------------------------------------------


def _slots(table: str) -> list[tuple[str, str, int]]:
    """(field, kind, slot) of ``table``'s fields; a union's slot is that of its type (the value follows it)."""
    slots, slot = [], 0
    for field, kind in SCHEMA[table]:
        slots.append((field, kind, slot))
        slot += 2 if kind.startswith("union ") else 1
    return slots


def _vector(builder: Any, offsets: Sequence[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _encode_value(builder: Any, table: str, field: str, kind: str, value: Any) -> Any:
    """The offset (or scalar) to store for one field; children are written before their parent table starts."""
    if kind == "string":
        return builder.CreateString(str(value))
    if kind == "[string]":
        return _vector(builder, [builder.CreateString(str(item)) for item in value])
    if kind in ("[float]", "[uint]"):
        return builder.CreateNumpyVector(np.asarray(value, np.float32 if kind == "[float]" else np.uint32))
    if kind.startswith("union "):
        members = UNIONS[kind.split()[1]]
        member, member_value = value  # (member table name, its fields)
        if member not in members:
            raise ValueError(f"{table}.{field}: {member!r} is not a member of {kind.split()[1]} ({members}).")
        return members.index(member) + 1, _encode(builder, member, member_value)
    if kind.startswith("["):
        return _vector(builder, [_encode(builder, kind[1:-1], item) for item in value])
    if kind in _SCALARS:
        names = ENUMS.get((table, field))
        return names.index(value) if names is not None and isinstance(value, str) else value
    return _encode(builder, kind, value)


def _encode(builder: Any, table: str, values: Mapping[str, Any]) -> int:
    """Writes ``table`` with ``values`` (field name -> value; absent or None fields are left out)."""
    slots = _slots(table)
    unknown = set(values) - {field for field, _, _ in slots}
    if unknown:
        raise ValueError(f"Metadata table {table} has no field(s) {sorted(unknown)}.")
    encoded = {
        field: _encode_value(builder, table, field, kind, values[field])
        for field, kind, _ in slots
        if values.get(field) is not None
    }
    builder.StartObject(sum(2 if kind.startswith("union ") else 1 for _, kind, _ in slots))
    for field, kind, slot in slots:
        if field not in encoded:
            continue
        if kind.startswith("union "):
            code, offset = encoded[field]
            builder.PrependUint8Slot(slot, code, 0)
            builder.PrependUOffsetTRelativeSlot(slot + 1, offset, 0)
        elif kind in _SCALARS:
            getattr(builder, f"Prepend{_SCALARS[kind][0]}Slot")(slot, encoded[field], 0)
        else:
            builder.PrependUOffsetTRelativeSlot(slot, encoded[field], 0)
    return builder.EndObject()


def encode_metadata(metadata: Mapping[str, Any]) -> bytes:
    """A ``ModelMetadata`` flatbuffer (identifier ``M001``) from nested dicts named as in :data:`SCHEMA`.

    Unions are ``(member name, fields)`` pairs, enums their names (``"RGB"``, ``"TENSOR_AXIS_LABELS"``).

    Raises:
        ValueError: A field the schema does not have, or a union member it does not list.
    """
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(_encode(builder, "ModelMetadata", metadata), file_identifier=_METADATA_IDENTIFIER)
    return bytes(builder.Output())


# --- decoding -------------------------------------------------------------------------------------------------------


def _decode(buffer: bytes, position: int, table: str) -> dict[str, Any]:
    from flatbuffers import number_types
    from flatbuffers.table import Table

    view = Table(bytearray(buffer), position)
    result: dict[str, Any] = {}
    for field, kind, slot in _slots(table):
        offset = view.Offset(4 + 2 * slot)
        if kind.startswith("union "):
            code = view.Get(number_types.Uint8Flags, view.Pos + offset) if offset else 0
            value_offset = view.Offset(4 + 2 * (slot + 1))
            members = UNIONS[kind.split()[1]]
            if code and value_offset and code <= len(members) and members[code - 1] is not None:
                member = members[code - 1]
                result[field] = (member, _decode(buffer, view.Indirect(view.Pos + value_offset), member))
            continue
        if not offset:
            continue
        where = view.Pos + offset
        if kind in _SCALARS:
            value = view.Get(getattr(number_types, f"{_SCALARS[kind][0]}Flags"), where)
            names = ENUMS.get((table, field))
            result[field] = names[value] if names is not None and 0 <= value < len(names) else value
        elif kind == "string":
            result[field] = view.String(where).decode("utf-8")
        elif kind.startswith("["):
            start, length = view.Vector(offset), view.VectorLen(offset)
            if kind in ("[float]", "[uint]"):
                flags = number_types.Float32Flags if kind == "[float]" else number_types.Uint32Flags
                result[field] = [view.Get(flags, start + 4 * i) for i in range(length)]
            elif kind == "[string]":
                result[field] = [view.String(start + 4 * i).decode("utf-8") for i in range(length)]
            else:
                result[field] = [_decode(buffer, view.Indirect(start + 4 * i), kind[1:-1]) for i in range(length)]
        else:
            result[field] = _decode(buffer, view.Indirect(where), kind)
    return result


def decode_metadata(buffer: bytes) -> dict[str, Any]:
    """The nested dicts of a ``ModelMetadata`` flatbuffer (the inverse of :func:`encode_metadata`).

    Raises:
        ValueError: ``buffer`` is not a metadata flatbuffer (identifier ``M001``).
    """
    if len(buffer) < 8 or bytes(buffer[4:8]) != _METADATA_IDENTIFIER:
        raise ValueError("Not a TFLite metadata flatbuffer (its file identifier is not 'M001').")
    root = int.from_bytes(bytes(buffer[:4]), "little")
    return _decode(bytes(buffer), root, "ModelMetadata")


# --- what an image classifier carries -------------------------------------------------------------------------------


def image_classifier_metadata(
    *,
    name: str,
    description: str,
    version: str,
    author: str,
    license: str,
    image_size: tuple[int, int],
    channels: int,
    input_dtype: str,
    labels: Sequence[str] | None,
    input_description: str | None = None,
    output_description: str | None = None,
) -> dict[str, Any]:
    """The ``ModelMetadata`` of an image classifier whose input takes pixels 0..255 (module docstring).

    Args:
        name, description, version, author, license: The model's (``license``: of the weights).
        image_size: (height, width) of the input.
        channels: 3 (RGB) or 1 (GRAYSCALE).
        input_dtype: "float32" (mean 0 / std 1 normalization: the pixels themselves) or "uint8" (no normalization).
        labels: Class names in output order (an associated ``labels.txt``), or None for an output without classes
            (a feature vector).
        input_description, output_description: Override the default texts.

    Returns:
        Nested dicts for :func:`encode_metadata`.

    Raises:
        ValueError: ``channels`` or ``input_dtype`` that no image classifier API takes.
    """
    if channels not in (1, 3):
        raise ValueError(f"Image metadata describes 1- or 3-channel inputs. Received: channels={channels!r}")
    if input_dtype not in ("float32", "uint8"):
        raise ValueError(
            "MediaPipe's ImageClassifier and the Task Library take float32 or uint8 images. Received: "
            f"input_dtype={input_dtype!r}"
        )
    height, width = image_size
    color = "RGB" if channels == 3 else "GRAYSCALE"
    image: dict[str, Any] = {
        "name": "image",
        "description": input_description
        or f"{color} image, {width}x{height}, pixel values 0..255 (the model normalises inside)",
        "content": {
            "content_properties": ("ImageProperties", {"color_space": color}),
        },
        "stats": {"max": [255.0], "min": [0.0]},
    }
    if input_dtype == "float32":  # one mean/std for every channel (module docstring): the pixels as they are
        image["process_units"] = [{"options": ("NormalizationOptions", {"mean": [0.0], "std": [1.0]})}]
    output: dict[str, Any] = {"content": {"content_properties": ("FeatureProperties", {})}}
    if labels is not None:
        output.update(
            name="probability",
            description=output_description or f"Scores of the {len(labels)} classes, in the order of {LABELS_FILE}",
            associated_files=[
                {
                    "name": LABELS_FILE,
                    "description": "Class names, one per line: line i names output unit i.",
                    "type": "TENSOR_AXIS_LABELS",
                }
            ],
        )
    else:
        output.update(name="feature", description=output_description or "Feature vector (no classes).")
    return {
        "name": name,
        "description": description,
        "version": version,
        "author": author,
        "license": license,
        "subgraph_metadata": [{"input_tensor_metadata": [image], "output_tensor_metadata": [output]}],
        "min_parser_version": MIN_PARSER_VERSION,
    }


# --- the .tflite file -----------------------------------------------------------------------------------------------


def _zip(files: Mapping[str, bytes], prefix: bytes) -> bytes:
    """``prefix`` followed by a zip archive of ``files`` (stored, not deflated: readers map them in place), with
    offsets counted from the start of ``prefix`` and fixed timestamps (the same inputs give the same bytes)."""
    stream = io.BytesIO()
    stream.write(prefix)
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return stream.getvalue()


def embed(content: bytes, metadata: Mapping[str, Any], files: Mapping[str, bytes], edits: Sequence[Any] = ()) -> bytes:
    """The ``.tflite`` bytes ``content`` with ``metadata`` (nested dicts) embedded and ``files`` appended as a zip.

    An earlier ``TFLITE_METADATA`` entry is replaced; the model's other metadata entries (the converter's
    ``min_runtime_version``, ``CONVERSION_METADATA``) stay.

    Args:
        content: A TFLite flatbuffer.
        metadata: The ``ModelMetadata`` as nested dicts (:func:`image_classifier_metadata`).
        files: The associated files the metadata names, by name.
        edits: Further changes to the model made in the same rewrite (``keras_archs.export._flatbuffer`` edits).

    Raises:
        ValueError: ``content`` is not a TFLite flatbuffer, or a file that ``metadata`` names is missing from
            ``files`` (or the other way round).
    """
    named = _associated_file_names(metadata)
    if sorted(named) != sorted(files):
        raise ValueError(f"The metadata names the files {sorted(named)} but {sorted(files)} were given.")
    encoded = np.frombuffer(encode_metadata(metadata), np.uint8)

    def add_metadata(model: Any, schema: Any) -> None:
        model.metadata = model.metadata or []
        entry = next((item for item in model.metadata if _name(item.name) == METADATA_BUFFER_NAME), None)
        if entry is None:  # a new buffer and entry; an earlier one is overwritten in place (no orphan buffer)
            model.buffers.append(schema.BufferT())
            entry = schema.MetadataT()
            entry.name, entry.buffer = METADATA_BUFFER_NAME, len(model.buffers) - 1
            model.metadata.append(entry)
        model.buffers[entry.buffer].data = encoded

    return _zip(files, _flatbuffer.rewrite(content, *edits, add_metadata))


def _name(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _associated_file_names(metadata: Mapping[str, Any]) -> list[str]:
    names = [item["name"] for item in metadata.get("associated_files") or []]
    for subgraph in metadata.get("subgraph_metadata") or []:
        for key in ("input_tensor_metadata", "output_tensor_metadata"):
            for tensor in subgraph.get(key) or []:
                names += [item["name"] for item in tensor.get("associated_files") or []]
    return names


def read(content: bytes) -> tuple[dict[str, Any] | None, dict[str, bytes]]:
    """(metadata as nested dicts or None, associated files by name) of a ``.tflite`` file's bytes.

    Raises:
        ValueError: ``content`` is not a TFLite flatbuffer.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    _flatbuffer.check_model(content)
    model = schema.Model.GetRootAs(bytearray(content), 0)
    metadata = None
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if _name(entry.Name()) == METADATA_BUFFER_NAME:
            metadata = decode_metadata(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    files: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
    except zipfile.BadZipFile:
        pass  # no associated files
    return metadata, files
