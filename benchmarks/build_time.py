"""Build time and parameter count of registered models, next to keras.applications' in the same process.

Usage: python benchmarks/build_time.py [--repeats 3] [NAME ...]

Each constructor call (weights=None, default arguments, top included) is timed alone after
``keras.backend.clear_session()``; ours and keras.applications' builds of a model are interleaved. The table shows the
median of ``--repeats`` runs. Without names: every registered model that keras.applications also has, then the
SqueezeNets (no keras twin: '-' in the keras columns). Prints the Markdown table of docs/benchmarks.md ("Model build
time and parameters") and the machine it ran on.
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

from keras_archs import applications  # noqa: E402


def _timed_build(constructor) -> tuple[float, int]:
    """Seconds of one ``constructor(weights=None)`` call in a fresh Keras session, and the model's parameters."""
    keras.backend.clear_session()
    gc.collect()
    started = time.perf_counter()
    model = constructor(weights=None)
    return time.perf_counter() - started, model.count_params()


def default_names() -> list[str]:
    """The keras.applications twins in registry order, then SqueezeNet 1.0 and 1.1."""
    names = [spec.name for spec in applications.all_specs() if hasattr(keras.applications, spec.name)]
    return names + ["SqueezeNet1_0", "SqueezeNet1_1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("names", nargs="*", help="registered model names (default: see the module docstring)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be a positive integer. Received: --repeats {args.repeats}")
    names = args.names or default_names()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}; keras {keras.__version__}; median of {args.repeats}"
    )
    print()
    print("| model | params (ours) | params (keras.applications) | ours s | keras s |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        spec = applications.get_spec(name)
        twin = getattr(keras.applications, spec.name, None)
        ours_times, keras_times, ours_params, keras_params = [], [], 0, None
        for _ in range(args.repeats):  # interleaved, so that a change of load hits both alike
            seconds, ours_params = _timed_build(spec.build)
            ours_times.append(seconds)
            if twin is not None:
                seconds, keras_params = _timed_build(twin)
                keras_times.append(seconds)
        keras_params_column = f"{keras_params:,}" if twin is not None else "-"
        keras_time_column = f"{statistics.median(keras_times):.2f}" if twin is not None else "-"
        print(
            f"| {spec.name} | {ours_params:,} | {keras_params_column} | {statistics.median(ours_times):.2f} | "
            f"{keras_time_column} |"
        )


if __name__ == "__main__":
    main()
