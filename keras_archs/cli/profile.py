"""``keras-archs profile``: params, MACs by layer kind, memory and latency vs batch size of registered models, with
Canziani et al.'s three plots (:mod:`keras_archs.analysis`).

The JSON (``--json``) is rewritten after every model, so an interrupted run keeps what it measured and ``--resume``
continues it; a model that fails is recorded with its error and the run goes on (exit status 1 at the end).
``--from-json FILE`` prints and plots an earlier run without measuring.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Any

from keras_archs.cli import _sources

RUNTIMES = ("keras", "tflite")  # keras_archs.analysis.profiling.RUNTIMES (tests/test_analysis.py checks they agree)
RUN_FORMAT = "keras_archs.profile_run/1"
PLOT_BATCH = 16  # Canziani et al. 2016, Fig. 7: time at batch 16 against operations


class _Progress:
    """``[3/24 1:42] ResNet50: keras batch 16: 12.3 ms/image`` lines on stderr."""

    def __init__(self, total: int) -> None:
        self.total, self.started = total, time.perf_counter()

    def line(self, index: int, name: str, message: str) -> None:
        elapsed = int(time.perf_counter() - self.started)
        print(
            f"[{index}/{self.total} {elapsed // 60}:{elapsed % 60:02d}] {name}: {message}", file=sys.stderr, flush=True
        )


def _names(patterns: list[str]) -> list[str]:
    from keras_archs import applications

    if not patterns:
        return [spec.name for spec in applications.all_specs()]
    names = []
    for pattern in patterns:
        found = applications.list_models(pattern) if any(c in pattern for c in "*?[") else []
        if not found:
            found = [applications.get_spec(pattern).name]  # an unknown name raises with the registered names
        names += [name for name in found if name not in names]
    return names


def _summary(profiles: list[Any], runtimes: tuple[str, ...]) -> str:
    from keras_archs.cli.models import table

    batches = (1, PLOT_BATCH)
    header = ["model", "input", "params", "GMACs", "1x1 %", "act MiB"]
    header += [f"{r} b{b} ms/img" for r in runtimes for b in batches]
    rows = []
    for p in profiles:
        row = [p.name, "x".join(map(str, p.input_shape)), f"{p.params:,}", f"{p.macs / 1e9:.3f}"]
        row += [f"{100 * p.macs_by_kind['conv1x1'] / max(p.macs, 1):.1f}", f"{p.peak_activation_bytes / 2**20:.1f}"]
        for runtime in runtimes:
            for batch in batches:
                point = p.latency_at(runtime, batch)
                row.append("-" if point is None else f"{point.ms_per_image:.2f}")
        rows.append(row)
    return table(rows, header)


def _write_json(path: pathlib.Path, args: argparse.Namespace, profiles: list[Any], failed: dict[str, str]) -> None:
    from keras_archs import _files

    data = {
        "format": RUN_FORMAT,
        "command": args.command_line,
        "profiles": [p.as_dict() for p in profiles],
        "failed": failed,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _files.write_text(path, json.dumps(data, indent=2) + "\n")


def _plots(folder: pathlib.Path, profiles: list[Any], runtimes: tuple[str, ...]) -> list[str]:
    from keras_archs import analysis

    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    points = analysis.accuracy_points(profiles)
    if points:
        analysis.save_figure(analysis.accuracy_vs_macs_figure(points), folder / "accuracy_vs_macs.png")
        lines.append(f"{folder / 'accuracy_vs_macs.png'}: {len(points)} models with a published ImageNet top-1")
    else:
        lines.append("accuracy_vs_macs.png: not drawn, no profiled model has a published ImageNet top-1")
    for runtime in runtimes:
        if not any(p.runtime == runtime for profile in profiles for p in profile.latency):
            continue
        path = folder / f"time_vs_batch_{runtime}.png"
        analysis.save_figure(analysis.time_vs_batch_figure(profiles, runtime), path)
        lines.append(f"{path}")
        try:
            figure, fit = analysis.time_vs_macs_figure(profiles, PLOT_BATCH, runtime)
        except ValueError as error:
            lines.append(f"time_vs_macs_{runtime}.png: not drawn ({error})")
            continue
        path = folder / f"time_vs_macs_{runtime}.png"
        analysis.save_figure(figure, path)
        lines.append(
            f"{path}: {fit.slope:.3f} ms/GMAC + {fit.intercept:.3f} ms, R^2 = {fit.r2:.4f} over {fit.n} models "
            f"(batch {PLOT_BATCH})"
        )
    return lines


def _measure(args: argparse.Namespace, runtimes: tuple[str, ...]) -> tuple[list[Any], dict[str, str]]:
    from keras_archs.analysis import load_profiles, profiling, zoo

    profiling.set_threads(args.threads)  # first: TensorFlow's thread pools are fixed once it runs anything
    names = _names(args.names)
    json_path = pathlib.Path(args.json) if args.json else None
    profiles: list[Any] = []
    if args.resume and json_path is not None and json_path.exists():
        profiles = [p for p in load_profiles(json_path) if p.name in names]
    done = {p.name for p in profiles}
    failed: dict[str, str] = {}
    progress = _Progress(len(names))
    for index, name in enumerate(names, 1):
        if name in done:
            progress.line(index, name, f"in {json_path} already (--resume)")
            continue
        progress.line(index, name, "building")
        try:
            result = zoo.profile_registered(
                name,
                batch_sizes=args.batch_sizes,
                runtimes=runtimes,
                warmup=args.warmup,
                repeats=args.repeats,
                max_seconds=args.max_seconds,
                threads=args.threads,
                progress=lambda message, i=index, n=name: progress.line(i, n, message),
            )
        except Exception as error:  # an unattended zoo run records the failure (JSON, exit status 1) and goes on
            failed[name] = f"{type(error).__name__}: {error}"
            progress.line(index, name, f"FAILED {failed[name]}")
        else:
            profiles.append(result)
            for note in result.notes:
                progress.line(index, name, f"note: {note}")
        if json_path is not None:
            _write_json(json_path, args, profiles, failed)
    return profiles, failed


def run(args: argparse.Namespace) -> int:
    runtimes = tuple(dict.fromkeys(args.runtimes))
    if args.from_json:
        from keras_archs.analysis import load_profiles

        profiles, failed = load_profiles(args.from_json), {}
        runtimes = tuple(r for r in RUNTIMES if any(p.runtime == r for pr in profiles for p in pr.latency))
    else:
        profiles, failed = _measure(args, runtimes)
    if args.details:
        for profile in profiles:
            print(profile.table() + "\n")
    print(_summary(profiles, runtimes))
    for name, error in failed.items():
        print(f"FAILED {name}: {error}")
    if args.plot:
        for line in _plots(pathlib.Path(args.plot), profiles, runtimes):
            print(line)
    if args.json and not args.from_json:
        print(f"profiles: {args.json}")
    return 1 if failed else 0


def register(commands: Any) -> None:
    """Adds ``profile`` to the ``keras-archs`` subparsers."""
    parser = commands.add_parser(
        "profile",
        help="params, MACs by layer kind, memory, latency vs batch size; Canziani et al.'s plots",
        description="Profiles registered models (random weights, default input size). Time figures are only "
        "results on an otherwise idle machine.",
    )
    parser.add_argument("names", nargs="*", help="registry names or patterns ('resnet*'); default: every model")
    parser.add_argument(
        "--batch-sizes", type=_sources.positive_int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64], metavar="N"
    )
    parser.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES))
    parser.add_argument("--plot", default=None, metavar="DIR", help="write the three plots (PNG) here")
    parser.add_argument("--json", default=None, metavar="FILE", help="write every profile here (after each model)")
    parser.add_argument("--resume", action="store_true", help="skip the models already in --json FILE")
    parser.add_argument("--from-json", default=None, metavar="FILE", help="print and plot FILE; measure nothing")
    parser.add_argument(
        "--threads", type=_sources.positive_int, default=None, help="TensorFlow intra-op and interpreter threads"
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per batch size")
    parser.add_argument("--repeats", type=_sources.positive_int, default=10, help="most timed calls per batch size")
    parser.add_argument(
        "--max-seconds", type=float, default=10.0, help="stop timing a batch size after this (3 calls at least)"
    )
    parser.add_argument("--details", action="store_true", help="print each model's full report")
    parser.set_defaults(run=run)
