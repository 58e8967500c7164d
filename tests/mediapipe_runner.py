"""Runs inside the MediaPipe environment (``.venv-mediapipe``, made by ``make install``), never inside ``.venv``.

mediapipe 1.2.2 needs absl-py ~= 2.3 and tensorflow-model-optimization (the ``qat`` extra) absl-py ~= 1.2, so the two
cannot share one environment; the tests call this script with that environment's Python (tests/
test_export_mediapipe.py). It imports only the standard library, NumPy and mediapipe.

Usage: ``python tests/mediapipe_runner.py JOB.json`` where the job is
``{"models": [{"path": "x.tflite", "images": "x.npy"}, ...]}`` (images: uint8 ``(N, height, width, 3)`` RGB). It
prints one JSON object: for each model, MediaPipe's ImageClassifier top-1 (index, name, score) per image, and the
file's metadata read back with MediaPipe's own generated reader of the metadata schema
(``mediapipe/tasks/metadata/metadata_schema_py_generated.py``) and ``zipfile`` for the associated files.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile


def _text(value):
    return None if value is None else value.decode("utf-8")


def _floats(values):
    return None if values is None else [float(v) for v in values]


def read_metadata(path: str) -> dict:
    """The metadata of ``path`` as MediaPipe's generated schema reader sees it."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as metadata_fb
    from mediapipe.tasks.metadata import schema_py_generated as model_fb

    content = bytearray(open(path, "rb").read())
    model = model_fb.Model.GetRootAs(content, 0)
    buffers = [model.Metadata(i) for i in range(model.MetadataLength())]
    entry = next(item for item in buffers if item.Name().decode("utf-8") == "TFLITE_METADATA")
    data = bytearray(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    if not metadata_fb.ModelMetadata.ModelMetadataBufferHasIdentifier(data, 0):
        raise ValueError("the metadata buffer has no M001 identifier")
    metadata = metadata_fb.ModelMetadataT.InitFromPackedBuf(data, 0)
    subgraph = metadata.subgraphMetadata[0]
    image, output = subgraph.inputTensorMetadata[0], subgraph.outputTensorMetadata[0]
    normalization = None
    for unit in image.processUnits or []:
        if unit.optionsType == metadata_fb.ProcessUnitOptions.NormalizationOptions:
            normalization = {"mean": _floats(unit.options.mean), "std": _floats(unit.options.std)}
    properties = image.content.contentProperties
    with zipfile.ZipFile(io.BytesIO(bytes(content))) as archive:
        files = {name: archive.read(name).decode("utf-8") for name in archive.namelist()}
    return {
        "name": _text(metadata.name),
        "description": _text(metadata.description),
        "version": _text(metadata.version),
        "author": _text(metadata.author),
        "license": _text(metadata.license),
        "min_parser_version": _text(metadata.minParserVersion),
        "input": {
            "name": _text(image.name),
            "content": image.content.contentPropertiesType,
            "is_image": image.content.contentPropertiesType == metadata_fb.ContentProperties.ImageProperties,
            "color_space": properties.colorSpace,
            "rgb": properties.colorSpace == metadata_fb.ColorSpaceType.RGB,
            "normalization": normalization,
            "stats": {"min": _floats(image.stats.min), "max": _floats(image.stats.max)},
        },
        "output": {
            "name": _text(output.name),
            "associated_files": [
                {
                    "name": _text(item.name),
                    "axis_labels": item.type == metadata_fb.AssociatedFileType.TENSOR_AXIS_LABELS,
                }
                for item in output.associatedFiles or []
            ],
        },
        "files": files,
    }


def classify(path: str, images_path: str) -> list:
    """MediaPipe ImageClassifier's top-1 (index, category name, score) for each image."""
    import mediapipe as mp
    import numpy as np
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core import base_options

    images = np.load(images_path)
    options = vision.ImageClassifierOptions(base_options=base_options.BaseOptions(model_asset_path=path), max_results=1)
    results = []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for image in images:
            frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image, np.uint8))
            best = classifier.classify(frame).classifications[0].categories[0]
            results.append([int(best.index), best.category_name, float(best.score)])
    return results


def main(argv: list[str]) -> int:
    job = json.loads(open(argv[1]).read())
    report = {}
    for item in job["models"]:
        report[item["path"]] = {
            "metadata": read_metadata(item["path"]),
            "top1": classify(item["path"], item["images"]) if item.get("images") else None,
        }
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
