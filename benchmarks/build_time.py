"""Build time and parameter count of every registered model, next to keras.applications' in the same process.

Usage: python benchmarks/build_time.py [--repeats 3] [NAME ...]

Each constructor call (weights=None, default arguments, top included) is timed alone; the table shows the median of
``--repeats`` runs. Models without a keras.applications twin show '-' in the keras columns. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from keras_archs import registry  # noqa: E402


def _timed_build(constructor, repeats: int) -> tuple[float, int]:
    times, params = [], 0
    for _ in range(repeats):
        keras.backend.clear_session()
        gc.collect()
        started = time.perf_counter()
        model = constructor(weights=None)
        times.append(time.perf_counter() - started)
        params = model.count_params()
        del model
    return statistics.median(times), params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    names = args.names or registry.list_models()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"keras {keras.__version__}; median of {args.repeats}"
    )
    print()
    print("| model | params (ours) | params (keras.applications) | build s (ours) | build s (keras) | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        spec = registry.get_spec(name)
        ours_time, ours_params = _timed_build(spec.build, args.repeats)
        twin = getattr(keras.applications, name, None)
        if twin is None:
            print(f"| {name} | {ours_params:,} | - | {ours_time:.2f} | - | - |")
            continue
        keras_time, keras_params = _timed_build(twin, args.repeats)
        print(
            f"| {name} | {ours_params:,} | {keras_params:,} | {ours_time:.2f} | {keras_time:.2f} | "
            f"{ours_time / keras_time:.2f} |"
        )


if __name__ == "__main__":
    main()
