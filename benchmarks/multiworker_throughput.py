"""Training images/s with 1 and 2 workers (MultiWorkerMirroredStrategy on loopback ports), same run otherwise.

Usage: python benchmarks/multiworker_throughput.py [--workers 1 2] [--model CifarResNet20] [--batch-size 128]
       [--train-limit 8192] [--epochs 3] [--tiny]

Each setting is ``keras-archs train MODEL --data fashion_mnist`` on the real Fashion-MNIST files: a baseline without
any strategy, then ``--strategy multiworker`` with N worker processes on this machine (TF_CONFIG on free loopback
ports), the global batch fixed (each of N workers computes batch/N). Rates are all workers together, training steps
only, median of the epochs after the first (``images_per_second`` in result.json). On one 2-core machine two workers
share the cores, so this checks that the distributed run works and what it costs, not a speed-up; on separate
machines the same command per host gives the scaling. ``--tiny``: 2 epochs of 256 images (checks the script, the
figures mean nothing). Prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import _training_runs as runs  # noqa: E402


def main() -> None:
    parser = runs.parser(__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    common = runs.budget_arguments(args)
    rows = []
    with tempfile.TemporaryDirectory(prefix="multiworker_bench_") as folder:
        base = pathlib.Path(folder)
        out = base / "baseline"
        runs.run([(runs.train_command(args.model, out, common), runs.environment())], args.timeout)
        rows.append(("no strategy", runs.rates(out)))
        for count in args.workers:
            ports = runs.free_ports(count)
            cluster = {"worker": [f"localhost:{port}" for port in ports]}
            commands = []
            for index in range(count):
                tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
                argv = runs.train_command(
                    args.model, base / f"w{count}_{index}", [*common, "--strategy", "multiworker"]
                )
                commands.append((argv, runs.environment(TF_CONFIG=tf_config)))
            runs.run(commands, args.timeout)
            rows.append((f"multiworker, {count} worker(s)", runs.rates(base / f"w{count}_0")))
    baseline = rows[0][1]["images_per_second"]
    print(
        f"{args.model}, Fashion-MNIST, global batch {args.batch_size}, {args.train_limit} images/epoch, "
        f"{args.epochs} epochs; {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    print("| setting | replicas | images/s | vs no strategy | first epoch s | test accuracy |")
    print("|---|---|---|---|---|---|")
    for label, rate in rows:
        print(
            f"| {label} | {rate['replicas']} | {rate['images_per_second']:.0f} | "
            f"{rate['images_per_second'] / baseline:.2f}x | {rate['first_epoch_seconds']:.1f} | "
            f"{rate['test_accuracy']:.4f} |"
        )


if __name__ == "__main__":
    main()
