"""`keras-archs demo` (keras_archs.demo): the end-to-end job of `make demo`, on a small fine-tuning budget."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from keras_archs import cli, demo

FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")


def test_demo_arguments():
    args = cli.build_parser().parse_args(
        ["demo", "--out", "x", "--train-limit", "100", "--epochs", "1", "--no-imagenet"]
    )
    assert (args.out, args.train_limit, args.epochs, args.no_imagenet) == ("x", 100, 1, True)


def test_gzip_size_and_latency_helpers(tmp_path):
    path = tmp_path / "zeros.bin"
    path.write_bytes(bytes(100_000))
    assert demo.gzip_size(path) < 1_000
    assert demo._median_ms(lambda: None, runs=3, warmup=1) >= 0


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
    assert rows[0].accuracy == pytest.approx(0.939, abs=1e-3)
    assert rows[1].bytes < 0.15 * rows[0].bytes and rows[1].accuracy > 0.8
    assert rows[2].accuracy > 0.8 and rows[2].latency_ms > 0
    assert (tmp_path / "accuracy_vs_size.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["format"] for r in saved] == formats
    assert any(line.startswith("[1/7") for line in lines) and lines[-2].startswith("format")
    assert np.isfinite(rows[1].latency_ms)
