"""keras_archs.export.metadata / _flatbuffer: the TFLite metadata flatbuffer, embedding it and the labels in a .tflite,
and the input quantisation pin; read back here with the package's own decoder and TensorFlow's schema module.

MediaPipe's own reader and ImageClassifier read the same files in tests/test_export_mediapipe.py.
"""

from __future__ import annotations

import io
import json
import zipfile

import keras
import numpy as np
import pytest

from keras_archs.export import _flatbuffer, _litert, to_tflite, verify_tflite
from keras_archs.export import metadata as metadata_lib

LABELS = ["cat", "dog", "bird"]


def _classifier_table(input_dtype: str = "float32", labels=LABELS, channels: int = 3) -> dict:
    return metadata_lib.image_classifier_metadata(
        name="Toy",
        description="a toy classifier",
        version="v1",
        author="the tests",
        license="Apache-2.0",
        image_size=(8, 6),
        channels=channels,
        input_dtype=input_dtype,
        labels=labels,
    )


def _pixel_model() -> keras.Model:
    """Pixels 0..255 in (Rescaling inside), three classes out."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 6, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs, name="pixel_model")


@pytest.fixture(scope="module")
def plain_int8(tmp_path_factory):
    """A uint8-input int8 file without metadata, calibrated on pixels that do not span 0..255 (so its input scale is
    not 1), and the images to run it on."""
    rng = np.random.default_rng(0)
    calibration = rng.uniform(20, 200, (40, 8, 6, 3)).astype(np.float32)
    path = tmp_path_factory.mktemp("plain") / "plain.tflite"
    result = to_tflite(
        _pixel_model(), path, mode="int8", representative_data=calibration, io_dtype="uint8", metadata=False
    )
    return result, rng.uniform(20, 200, (16, 8, 6, 3)).round().astype(np.float32)


def test_encode_decode_round_trip_of_an_image_classifier():
    table = _classifier_table()
    decoded = metadata_lib.decode_metadata(metadata_lib.encode_metadata(table))
    assert decoded == table  # every field, enum names, unions as (member, fields)
    image = decoded["subgraph_metadata"][0]["input_tensor_metadata"][0]
    assert image["content"]["content_properties"] == ("ImageProperties", {"color_space": "RGB"})
    assert image["process_units"] == [{"options": ("NormalizationOptions", {"mean": [0.0], "std": [1.0]})}]
    output = decoded["subgraph_metadata"][0]["output_tensor_metadata"][0]
    assert output["associated_files"][0]["type"] == "TENSOR_AXIS_LABELS"
    assert decoded["min_parser_version"] == "1.0.0"


def test_uint8_grey_and_feature_variants():
    uint8 = _classifier_table("uint8", channels=1)
    image = uint8["subgraph_metadata"][0]["input_tensor_metadata"][0]
    assert "process_units" not in image  # a uint8 input: the pixels are the values, no normalization
    assert image["content"]["content_properties"] == ("ImageProperties", {"color_space": "GRAYSCALE"})
    assert metadata_lib.decode_metadata(metadata_lib.encode_metadata(uint8)) == uint8
    features = _classifier_table(labels=None)
    output = features["subgraph_metadata"][0]["output_tensor_metadata"][0]
    assert output["name"] == "feature" and "associated_files" not in output


def test_the_flatbuffer_layout_follows_the_schema_slots():
    """Field slots come from declaration order (a union takes two): checked on raw vtable offsets."""
    from flatbuffers.table import Table

    buffer = metadata_lib.encode_metadata({"name": "n", "license": "L", "min_parser_version": "1.0.0"})
    assert buffer[4:8] == b"M001"
    root = Table(bytearray(buffer), int.from_bytes(buffer[:4], "little"))
    # ModelMetadata: name 0, description 1, version 2, subgraph_metadata 3, author 4, license 5, associated_files 6,
    # min_parser_version 7 (metadata_schema.fbs); vtable entry of slot i at 4 + 2 i
    present = [slot for slot in range(8) if root.Offset(4 + 2 * slot)]
    assert present == [0, 5, 7]
    assert root.String(root.Pos + root.Offset(4 + 2 * 5)) == b"L"
    content = metadata_lib.encode_metadata(
        {
            "subgraph_metadata": [
                {"input_tensor_metadata": [{"content": {"content_properties": ("ImageProperties", {})}}]}
            ]
        }
    )
    tensor = metadata_lib.decode_metadata(content)["subgraph_metadata"][0]["input_tensor_metadata"][0]
    assert tensor["content"]["content_properties"] == ("ImageProperties", {})


@pytest.mark.parametrize(
    "table, message",
    [
        ({"nmae": "typo"}, r"ModelMetadata has no field\(s\) \['nmae'\]"),
        (
            {"subgraph_metadata": [{"input_tensor_metadata": [{"content": {"content_properties": ("Nope", {})}}]}]},
            "'Nope' is not a member of ContentProperties",
        ),
    ],
)
def test_encoding_errors(table, message):
    with pytest.raises(ValueError, match=message):
        metadata_lib.encode_metadata(table)
    with pytest.raises(ValueError, match="M001"):
        metadata_lib.decode_metadata(b"\x00" * 16)


def test_image_classifier_metadata_refuses_what_no_api_takes():
    with pytest.raises(ValueError, match=r"Received: channels=4"):
        _classifier_table(channels=4)
    with pytest.raises(ValueError, match=r"float32 or uint8 images. Received: input_dtype='int8'"):
        _classifier_table("int8")


def _buffer_positions(content: bytes) -> list[int]:
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(bytearray(content), 0)
    positions = []
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength():
            positions.append(buffer._tab.Vector(buffer._tab.Offset(4)))
    return positions


def test_embed_keeps_the_model_and_adds_metadata_and_labels(plain_int8):
    result, images = plain_int8
    content = result.path.read_bytes()
    files = {metadata_lib.LABELS_FILE: b"cat\ndog\nbird\n"}
    table = _classifier_table("uint8")
    embedded = metadata_lib.embed(content, table, files)
    read, found = metadata_lib.read(embedded)
    assert read == table and found == files
    with zipfile.ZipFile(io.BytesIO(embedded)) as archive:  # a zip reader finds the labels at the end of the file
        assert archive.testzip() is None and archive.getinfo("labels.txt").compress_type == zipfile.ZIP_STORED
    assert all(position % 16 == 0 for position in _buffer_positions(embedded))  # schema: force_align 16
    # the model itself is unchanged: same outputs, and the converter's own metadata entries are kept
    before = _litert.LiteRTRunner(model_content=content)(images)
    np.testing.assert_array_equal(_litert.LiteRTRunner(model_content=embedded)(images), before)
    assert metadata_lib.read(content) == (None, {})
    names = _metadata_names(embedded)
    assert names.count("TFLITE_METADATA") == 1 and set(_metadata_names(content)) <= set(names)
    # embedding again replaces the entry; the same inputs give the same bytes
    again = metadata_lib.embed(embedded[: embedded.index(b"PK\x03\x04")], table, files)
    assert _metadata_names(again).count("TFLITE_METADATA") == 1 and again == embedded


def _metadata_names(content: bytes) -> list[str]:
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(bytearray(content), 0)
    return [model.Metadata(i).Name().decode() for i in range(model.MetadataLength())]


def test_embed_errors():
    with pytest.raises(ValueError, match="TFL3"):
        metadata_lib.embed(b"not a model at all", _classifier_table(), {"labels.txt": b""})


def test_embed_needs_exactly_the_files_the_metadata_names(plain_int8):
    content = plain_int8[0].path.read_bytes()
    with pytest.raises(ValueError, match=r"names the files \['labels.txt'\] but \[\] were given"):
        metadata_lib.embed(content, _classifier_table(), {})


def test_pinning_the_input_quantisation_makes_the_uint8_input_the_pixels(plain_int8):
    result, images = plain_int8
    assert abs(result.input.scale - 1.0) > 0.05  # calibrated on 20..200: the file's input is not the pixels
    content = result.path.read_bytes()
    pinned = _flatbuffer.rewrite(content, _flatbuffer.pin_input_quantization(1.0, 0))
    runner = _litert.LiteRTRunner(model_content=pinned)
    assert runner.input["quantization"] == (1.0, 0)
    # fed the pixels as they are (what MediaPipe does with a uint8 input), it computes what the original computes
    # from the same pixels quantised with its own calibrated scale
    direct = runner(images)  # quantize_input with scale 1: the pixel values
    original = _litert.LiteRTRunner(model_content=content)(images)
    reference = np.asarray(result.keras_model(images, training=False))
    assert np.abs(direct - reference).max() <= np.abs(original - reference).max() + 2 * result.output.scale
    assert (direct.argmax(1) == reference.argmax(1)).mean() >= 0.9
    # without the pin the raw pixels would be read with the wrong scale
    raw = _litert.dequantize_output(_run_uint8(content, images), _litert.LiteRTRunner(model_content=content).output)
    assert np.abs(raw - reference).max() > np.abs(direct - reference).max()


def _run_uint8(content: bytes, images: np.ndarray) -> np.ndarray:
    """Feeds uint8 pixels straight into the file's input (as MediaPipe does), whatever its quantisation."""
    cls, _ = _litert.interpreter_class()
    interpreter = cls(model_content=content)
    interpreter.allocate_tensors()
    detail, output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = []
    for image in images.astype(np.uint8):
        interpreter.set_tensor(detail["index"], image[None])
        interpreter.invoke()
        results.append(interpreter.get_tensor(output["index"])[0])
    return np.stack(results)


def test_pinning_refuses_an_input_read_by_other_ops(plain_int8, tmp_path):
    float_file = to_tflite(_pixel_model(), tmp_path / "float.tflite", metadata=False)
    with pytest.raises(ValueError, match="read by ops other than QUANTIZE"):
        _flatbuffer.rewrite(float_file.path.read_bytes(), _flatbuffer.pin_input_quantization(1.0, 0))


# --- to_tflite with metadata (the MediaPipe runs of these files: tests/test_export_mediapipe.py) --------------------


def test_to_tflite_embeds_what_the_card_and_the_labels_file_say(tmp_path):
    model = _pixel_model()
    pixels = np.random.default_rng(3).integers(0, 256, (30, 8, 6, 3)).astype(np.float32)
    result = to_tflite(
        model,
        tmp_path / "toy.tflite",
        mode="int8",
        representative_data=pixels,
        labels=LABELS,
        labels_source="toy set",
        model_info={"license": "CC0-1.0", "author": "the tests"},
    )
    assert result.io_dtype == "uint8" and (result.input.scale, result.input.zero_point) == (1.0, 0)
    embedded, files = metadata_lib.read(result.path.read_bytes())
    assert embedded == result.metadata and files == {"labels.txt": result.labels_path.read_bytes()}
    assert embedded["license"] == "CC0-1.0" and embedded["author"] == "the tests" and embedded["name"] == "pixel_model"
    assert "3 classes (toy set)" in embedded["description"] and "int8, uint8 I/O" in embedded["description"]
    image = embedded["subgraph_metadata"][0]["input_tensor_metadata"][0]
    assert "process_units" not in image  # uint8: no normalization
    card = json.loads(result.card_path.read_text())
    assert card["metadata"]["license"] == "CC0-1.0" and card["metadata"]["labels_file"] == "labels.txt"
    assert card["input"]["preprocessing"]["mode"] == "raw" and card["input"]["preprocessing"]["inside"] is None
    # the model takes pixels as it is (Rescaling first): nothing wrapped around it
    assert result.keras_model is model


def test_a_grey_model_gets_an_rgb_input_with_the_conversion_inside(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1), name="grey")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(keras.layers.Conv2D(4, 3)(x)))
    model = keras.Model(inputs, outputs, name="grey_model")
    grey = np.random.default_rng(4).integers(0, 256, (20, 6, 6, 1)).astype(np.float32)
    result = to_tflite(model, tmp_path / "grey.tflite", mode="int8", representative_data=grey)  # grey: repeated
    assert result.input.shape == (1, 6, 6, 3) and result.keras_model.input_shape == (None, 6, 6, 3)
    check = verify_tflite(result.path, model, grey)  # grey images against the grey model: repeated for the file
    assert check.examples == 20 and check.top1_agreement >= 0.9
    rgb = np.repeat(grey, 3, axis=-1)
    np.testing.assert_allclose(
        np.asarray(result.keras_model(rgb)), np.asarray(model(grey)), rtol=1e-5, atol=1e-6
    )  # R = G = B = g: the BT.601 luma gives g back
    card = json.loads(result.card_path.read_text())
    assert card["input"]["preprocessing"]["grey_conversion_inside"] is True
    color = result.metadata["subgraph_metadata"][0]["input_tensor_metadata"][0]["content"]["content_properties"]
    assert color == ("ImageProperties", {"color_space": "RGB"})


def test_a_caffe_model_is_wrapped_and_verified_on_pixels(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3), name="bgr")
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    model = keras.Model(inputs, outputs, name="caffe_model")
    result = to_tflite(model, tmp_path / "caffe.tflite", preprocessing="caffe")
    assert result.keras_model is not model and result.keras_model.layers[1].mode == "caffe"
    pixels = np.random.default_rng(5).integers(0, 256, (6, 8, 8, 3)).astype(np.float32)
    assert verify_tflite(result.path, model, pixels, preprocessing="caffe").max_abs_diff < 1e-5
    with pytest.raises(ValueError, match=r"`data` must hold pixels 0..255.*Received values in \[-1"):
        verify_tflite(result.path, model, pixels - 124.0, preprocessing="caffe")  # preprocessed data refused
    with pytest.raises(ValueError, match="input normalisation of model 'caffe_model' is unknown"):
        verify_tflite(result.path, model, pixels)  # the model alone does not say what it expects
    card = json.loads(result.card_path.read_text())
    assert card["input"]["preprocessing"]["inside"]["mode"] == "caffe"
    assert card["metadata"]["input"]["normalization"] == {"mean": [0.0], "std": [1.0]}


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({}, ValueError, r"input normalisation of model 'unknown' is unknown.*pass preprocessing="),
        ({"preprocessing": "raw", "mode": "int8", "io_dtype": "int8"}, ValueError, r"io_dtype='int8' with metadata"),
        ({"preprocessing": "raw", "batch_size": 2}, ValueError, r"run batch 1. Received: batch_size=2"),
        ({"preprocessing": "raw", "metadata": 1}, TypeError, r"Received: metadata=1"),
        ({"preprocessing": "raw", "model_info": {"licence": "x"}}, ValueError, r"keys among name, description"),
        ({"metadata": False, "model_info": {"license": "x"}}, ValueError, r"`model_info` .* needs metadata=True"),
        (
            {"preprocessing": "raw", "mode": "int8", "representative_data": np.full((4, 8, 6, 3), -1.0)},
            ValueError,
            r"`representative_data` must hold pixels 0..255",
        ),
    ],
)
def test_metadata_argument_errors(tmp_path, kwargs, error, message):
    inputs = keras.Input((8, 6, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)), name="unknown")
    with pytest.raises(error, match=message):
        to_tflite(model, tmp_path / "m.tflite", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_metadata_needs_an_image_model(tmp_path):
    inputs = keras.Input((16,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs), name="mlp")
    with pytest.raises(ValueError, match=r"images \(height, width, 1 or 3 channels\).*metadata=False"):
        to_tflite(model, tmp_path / "m.tflite", preprocessing="raw")
