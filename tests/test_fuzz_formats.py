"""Issue #13's fuzz battery, part of the suite: every file format the package reads, mutated (tests/fuzzing.py).

Each format is read through the package's own loader (``compress.load``, ``weights=path`` for ``.net`` / ``.h5`` /
``.weights.h5`` / ``.keras``, ``load_model_file``, Fashion-MNIST and CIFAR ``load_arrays``, the ImageNet TFRecord
pipeline) in a child process whose data segment is capped. A case passes when the loader raises one of its named
errors, or loads: a result identical to the original's, or, only where no checksum or known hash covers the mutated
bytes, a different one. The default lane runs :data:`DEFAULT_CASES` mutations per format in one child, the slow lane
:data:`SLOW_CASES` per format, one child each. docs/reliability.md records the slow lane's counts.
"""

from __future__ import annotations

import json
import os
import pathlib

import fuzzing
import pytest

DEFAULT_CASES = 200
SLOW_CASES = 2000
# ru_maxrss growth allowed over a whole battery; the child's data segment is capped at fuzzing.MEMORY_HEADROOM anyway
MAX_RSS_GROWTH_MIB = 256
TARGETS = list(fuzzing.TARGETS)


@pytest.fixture(scope="module")
def default_reports() -> dict[str, dict]:
    return fuzzing.run_child(TARGETS, DEFAULT_CASES, seed=0, timeout=600)


def check_report(report: dict, cases: int) -> None:
    if "skipped" in report:
        pytest.skip(f"{report['target']}: {report['skipped']} (../shared/fixtures must sit beside the repo)")
    assert report["failures"] == [], "\n".join(report["failures"][:20])
    assert sum(report["outcomes"].values()) == report["cases"] == cases
    allowance = report.get("memory_allowance") or (MAX_RSS_GROWTH_MIB, "")
    assert report["peak_rss_growth_mib"] < allowance[0], report
    # The battery reaches the loader's checks, not only its first refusal: some mutation of each format is refused.
    refused = {outcome for outcome in report["outcomes"] if not outcome.startswith("loaded")}
    assert refused, report


@pytest.mark.parametrize("target", TARGETS)
def test_mutated_files_raise_only_named_errors(default_reports, target):
    check_report(default_reports[target], DEFAULT_CASES)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_mutated_files_raise_only_named_errors_many(target):
    report = fuzzing.run_child([target], SLOW_CASES, seed=1, timeout=1800)[target]
    folder = os.environ.get("KERAS_ARCHS_FUZZ_REPORTS")
    if folder:  # docs/reliability.md's table is made from these
        pathlib.Path(folder, f"{target}.json").write_text(json.dumps(report, indent=1))
    check_report(report, SLOW_CASES)


def test_the_battery_finds_a_foreign_exception_and_an_unnoticed_change(tmp_path):
    """The runner itself: a loader that raises IndexError, or loads changed bytes a checksum covers, fails."""
    import zlib

    def load(folder: pathlib.Path):
        data = (folder / "f.bin").read_bytes()
        if len(data) < 8:
            raise IndexError("short")
        return [data[:4] if zlib.crc32(data) % 2 else data]

    target = fuzzing.Target("toy", {"f.bin": bytes(range(64))}, load, (ValueError,), protected=frozenset({"f.bin"}))
    report = fuzzing.run_battery(target, 60, seed=0)
    assert any("foreign IndexError" in failure for failure in report["failures"])
    assert any("loaded a different result unnoticed" in failure for failure in report["failures"])


# --- what the battery found, pinned by direct tests -------------------------------------------------------------------


def test_a_tfrecord_length_past_the_end_of_the_file_is_refused_before_tensorflow_reads_it(tmp_path):
    """12 bytes (a length of 2**40 with its valid CRC) made TensorFlow's TFRecord reader crash the process."""
    import struct

    from keras_archs.data import DatasetCorruptError, imagenet

    header = struct.pack("<Q", 1 << 40)
    (tmp_path / "validation-00000-of-00001").write_bytes(header + struct.pack("<I", fuzzing.masked_crc32c(header)))
    with pytest.raises(DatasetCorruptError, match=r"record 0 \(offset 0\) claims 1099511627776 bytes"):
        imagenet("validation", data_dir=tmp_path)  # refused when the pipeline is built, before any read


def test_a_damaged_cifar_tarball_is_refused_by_its_gzip_checksum(tmp_path):
    """tarfile stops before the gzip trailer: a flipped pixel byte in a stored deflate block loaded silently."""
    import gzip

    from keras_archs.data import DatasetCorruptError, cifar10

    target = fuzzing.TARGETS["cifar-tar"]()
    ((name, data),) = target.files.items()
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x01  # inside the (incompressible, stored) pixel bytes
    assert gzip.decompress(bytes(data))  # the original is a good gzip stream
    (tmp_path / name).write_bytes(bytes(damaged))
    with pytest.raises(DatasetCorruptError, match="fails its gzip check"):
        cifar10("test", data_dir=tmp_path / name)


def test_a_weights_file_with_a_dataset_larger_than_any_weight_is_refused_before_it_is_read(tmp_path):
    """A dataset's shape is metadata: a weight no variable of the model could hold is refused before Keras reads it
    (the battery's ~1 GB legacy-.h5 case came from an attribute, which this cannot see; docs/reliability.md)."""
    import keras

    from keras_archs import applications, weights

    def dense(units):
        inputs = keras.Input((48,))
        return keras.Model(inputs, keras.layers.Dense(units, name="dense")(inputs), name=f"dense{units}")

    path = tmp_path / "big.weights.h5"
    dense(100_000).save_weights(path)
    with pytest.raises(weights.WeightsFileError, match="holds 4,800,000 values, more than the model's largest weight"):
        weights.load_into(dense(4), str(path), spec=applications.get_spec("SqueezeNet1_0"), include_top=True)


_CRAFTED_KERAS = """
import json, resource, zipfile
import keras
from keras_archs import weights
inputs = keras.Input((14,))
keras.Model(inputs, keras.layers.Dense(4, name="dense")(inputs)).save({small!r})
with zipfile.ZipFile({small!r}) as archive:
    members = {{name: archive.read(name) for name in archive.namelist()}}
config = json.loads(members["config.json"])
config["config"]["layers"][1]["config"]["units"] = 2**27  # 14 x 2**27 float32 = 7.5 GB
members["config.json"] = json.dumps(config).encode()
with zipfile.ZipFile({crafted!r}, "w") as archive:
    for name, content in members.items():
        archive.writestr(name, content)
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
limit = (int(status["VmData"].split()[0]) + (2 << 20)) * 1024  # 2 GiB above what the imports took
resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.getrlimit(resource.RLIMIT_DATA)[1]))
try:
    weights.load_model_file({crafted!r})
    print("outcome loaded")
except weights.WeightsFileError as error:
    print("outcome refused", error)
"""


def test_a_crafted_keras_model_file_is_refused_before_its_config_allocates_anything(tmp_path):
    """keras.saving.load_model creates the config's variables before reading the weights: a 14 kB crafted .keras had
    the process killed for memory. Run in a child with its data segment capped, so the unfixed code fails here."""
    import subprocess
    import sys

    code = _CRAFTED_KERAS.format(small=str(tmp_path / "small.keras"), crafted=str(tmp_path / "crafted.keras"))
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert (tmp_path / "crafted.keras").stat().st_size < 20_000
    assert "outcome refused" in result.stdout, (result.returncode, result.stdout[-2000:], result.stderr[-3000:])
    assert "describes a model of 2,013,265,920 values but stores 60" in result.stdout
