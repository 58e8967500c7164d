"""`keras-archs demo` (keras_archs.demo): the end-to-end job of `make demo`, on small budgets.

The command itself runs through ``cli.main`` in tests/test_cli.py; here: its helpers, the ImageNet branch on the real
Deep Compression file, and (slow lane) the whole demo with its default test set.
"""

from __future__ import annotations

import json
import pathlib
import time

import numpy as np
import pytest

from keras_archs import demo

FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")


def test_gzip_size_and_latency_helpers(tmp_path):
    path = tmp_path / "zeros.bin"
    path.write_bytes(bytes(100_000))
    assert demo.gzip_size(path) < 1_000
    random = tmp_path / "random.bin"
    random.write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    assert demo.gzip_size(random) > 99_000  # random bytes do not compress
    # milliseconds, of the call itself: a 5 ms sleep measures at least 5 ms (never 0, never seconds)
    assert 5.0 <= demo._median_ms(lambda: time.sleep(0.005), runs=3, warmup=1) < 1000


def test_imagenet_branch_reports_the_file_it_was_given(dc_net_path, tmp_path, monkeypatch):
    # If the demo printed the published size instead of the given file's, this changed constant would show it.
    monkeypatch.setattr(demo, "PUBLISHED_DC_SQUEEZENET_BYTES", 1)
    lines = []
    steps = []
    rows = demo.imagenet_rows(dc_net_path, tmp_path, steps.append, echo=lines.append, crops_per_photo=1)
    given, recompressed = rows
    assert given.bytes == dc_net_path.stat().st_size == 675_763
    assert given.format == f"ImageNet SqueezeNet 1.0 {dc_net_path.name}"  # not marked as "the published file" here
    archive = tmp_path / "squeezenet1_0_imagenet.kadc"
    # the default recipe (8-bit, docs/compression.md): 456,009 B, under the paper's 0.47 MB
    assert recompressed.bytes == archive.stat().st_size < 470_000
    assert f"vs 675,763 of {dc_net_path.name}" in lines[0]
    agreement = float(recompressed.note.split("top-1 agreement ")[1].split()[0])
    # 0.962 on 265 confident crops of the 24 held-out photos (24 each); here one crop per photo: 9 confident crops
    assert agreement >= 0.75 and "held-out photos" in recompressed.note  # measured 0.889 (8 of 9 confident)
    assert len(steps) == 1 and steps[0].startswith("re-compressing")
    with pytest.raises(FileNotFoundError, match="No Deep Compression .net file at dc_weights='missing.net'"):
        demo.imagenet_rows("missing.net", tmp_path, steps.append)


@pytest.mark.slow
@pytest.mark.skipif(
    not FASHION_MNIST.exists(), reason=f"{FASHION_MNIST} missing (apt-get install dataset-fashion-mnist)"
)
def test_demo_runs_end_to_end(tmp_path):
    lines = []
    rows = demo.run_demo(tmp_path, train_limit=512, epochs=1, dc_weights=None, echo=lines.append)
    formats = [row.format for row in rows]
    assert formats[:3] == [
        "Keras .keras (float32)",
        "Deep Compression .kadc (demo run)",
        "TFLite int8 (from the archive)",
    ]
    assert rows[0].accuracy == pytest.approx(0.939, abs=1e-3)  # all 10,000 test images: saved_models/MANIFEST.json
    assert rows[1].bytes < 0.15 * rows[0].bytes and rows[1].accuracy > 0.8
    assert rows[2].accuracy > 0.8 and rows[2].latency_ms > 0
    assert (tmp_path / "accuracy_vs_size.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["format"] for r in saved] == formats
    assert any(line.startswith("[1/7") for line in lines) and lines[-2].startswith("format")
    assert np.isfinite(rows[1].latency_ms)
