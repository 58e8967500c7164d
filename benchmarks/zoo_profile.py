"""The whole-zoo profile of docs/analysis.md: every registered model through ``keras-archs profile`` (MACs, params,
memory, Keras and LiteRT time per image at batch 1..64), then the Markdown table and the three Canziani plots.

Usage (on an otherwise idle machine; it runs unattended, for about an hour or two on 2 cores, and continues where
it stopped when run again):

    python benchmarks/zoo_profile.py --json docs/figures/zoo_profile.json --plot docs/figures --threads 2
    python benchmarks/zoo_profile.py --from-json docs/figures/zoo_profile.json      # the table again, no timing
    python benchmarks/zoo_profile.py --tiny                                          # two small models (tests)

Every model is timed at batch sizes 1, 2, 4, 8, 16, 32, 64 with ``--repeats`` calls after 2 warm-up calls (a batch
size stops after ``--max-seconds`` once 3 calls are done), with TensorFlow intra-op threads = interpreter threads =
``--threads`` and inter-op threads 1. Prints one Markdown row per model; failures are listed after the table.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TINY_MODELS = ["SqueezeNet1_1", "MobileNet"]
COLUMNS = [("keras", 1), ("keras", 16), ("keras", 64), ("tflite", 1), ("tflite", 16), ("tflite", 64)]


def _measure(args: argparse.Namespace) -> None:
    """Runs ``keras-archs profile`` in a child process (its thread settings must come before TensorFlow starts)."""
    command = [sys.executable, "-m", "keras_archs.cli", "profile", *args.models, "--json", str(args.json), "--resume"]
    command += ["--batch-sizes", *map(str, args.batch_sizes), "--runtimes", *args.runtimes]
    command += ["--repeats", str(args.repeats), "--max-seconds", str(args.max_seconds), "--threads", str(args.threads)]
    if args.plot:
        command += ["--plot", str(args.plot)]
    print("running:", " ".join(command[2:]), file=sys.stderr, flush=True)
    done = subprocess.run(command)
    if done.returncode not in (0, 1):  # 1: some models failed; they are listed below the table
        raise SystemExit(done.returncode)


def _table(path: pathlib.Path) -> list[str]:
    import json

    from keras_archs.analysis import load_profiles

    profiles = load_profiles(path)
    header = "| model | input | params | GMACs | 1x1 conv % | peak activations MiB |"
    header += "".join(f" {runtime} b{batch} ms/img |" for runtime, batch in COLUMNS)
    lines = [header, "|---|---|---:|---:|---:|---:|" + "---:|" * len(COLUMNS)]
    for p in profiles:
        cells = [p.name, "x".join(map(str, p.input_shape)), f"{p.params:,}", f"{p.macs / 1e9:.3f}"]
        cells += [f"{100 * p.macs_by_kind['conv1x1'] / max(p.macs, 1):.1f}", f"{p.peak_activation_bytes / 2**20:.1f}"]
        for runtime, batch in COLUMNS:
            point = p.latency_at(runtime, batch)
            cells.append("-" if point is None else f"{point.ms_per_image:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    failed = json.loads(path.read_text()).get("failed", {})
    lines += [f"failed: {name}: {error}" for name, error in failed.items()]
    if profiles:
        first = profiles[0]
        lines.append(f"threads: {first.threads}; environment: {first.environment}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=pathlib.Path, default=pathlib.Path("zoo_profile.json"))
    parser.add_argument("--plot", type=pathlib.Path, default=None)
    parser.add_argument("--models", nargs="*", default=[], help="default: every registered model")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--runtimes", nargs="+", default=["keras", "tflite"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--from-json", type=pathlib.Path, default=None, help="print the table of this file only")
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_MODELS}, batch 1 and 2, keras, 1 repeat")
    args = parser.parse_args()
    if args.from_json:
        print("\n".join(_table(args.from_json)))
        return
    if args.tiny:
        args.models, args.batch_sizes, args.runtimes, args.repeats = TINY_MODELS, [1, 2], ["keras"], 1
        if args.json == pathlib.Path("zoo_profile.json"):
            import tempfile

            args.json = pathlib.Path(tempfile.mkdtemp(prefix="zoo_profile_")) / "zoo_profile.json"
    _measure(args)
    print("\n".join(_table(args.json)))


if __name__ == "__main__":
    main()
