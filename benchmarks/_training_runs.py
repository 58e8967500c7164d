"""Shared by the training benchmarks: run ``keras-archs train`` in child processes and read the images/s it logged.

Every run records ``images_per_second`` per epoch in ``result.json`` (all replicas together, the training steps only,
validation excluded). The first epoch includes tracing and compilation, so a rate is the median of the later epochs.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import time


def parser(description: str) -> argparse.ArgumentParser:
    """The options both training benchmarks take (the model and its budget); each adds what it compares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default="CifarResNet20")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-limit", type=int, default=8192)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--tiny", action="store_true", help="batch 64, 256 images, 2 epochs: checks the script runs")
    return parser


def budget_arguments(args: argparse.Namespace) -> list[str]:
    """``keras-archs train`` options of the budget in ``args`` (``--tiny`` applied), the same for every run compared."""
    if args.tiny:
        args.batch_size, args.train_limit, args.epochs = 64, 256, 2
    return [
        *("--batch-size", str(args.batch_size), "--train-limit", str(args.train_limit)),
        *("--epochs", str(args.epochs), "--eval-limit", "256"),
    ]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("localhost", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def environment(**extra: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CONFIG", "KERAS_BACKEND")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", **extra)
    return env


def run(commands: list[tuple[list[str], dict]], timeout: float) -> float:
    """Starts every ``(argv, env)`` at once, waits for all (killing them after ``timeout`` s); returns wall seconds."""
    started = time.perf_counter()
    processes = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for argv, env in commands
    ]
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=max(1.0, timeout - (time.perf_counter() - started)))[0])
        except subprocess.TimeoutExpired:
            process.kill()
            outputs.append(process.communicate()[0])
    for process, output in zip(processes, outputs):
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(commands[0][0])} failed (exit {process.returncode}):\n{output[-3000:]}")
    return time.perf_counter() - started


def train_command(model: str, out: pathlib.Path, args: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "keras_archs.cli",
        "train",
        model,
        "--data",
        "fashion_mnist",
        "--out",
        str(out),
        *args,
    ]


def rates(out: pathlib.Path) -> dict:
    """images/s (median over the epochs after the first), first epoch seconds, replicas and test accuracy of a run."""
    result = json.loads((out / "result.json").read_text())
    history = result["history"]
    later = history["images_per_second"][1:] or history["images_per_second"]
    return {
        "images_per_second": statistics.median(later),
        "first_epoch_seconds": history["epoch_seconds"][0],
        "replicas": result["replicas"],
        "workers": result["workers"],
        "backend": result["backend"],
        "test_accuracy": result["test_accuracy"],
        "epochs_measured": len(later),
    }
