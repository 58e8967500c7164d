"""Training images/s per Keras backend, side by side: TensorFlow, JAX and (when installed) PyTorch, same run.

Usage: python benchmarks/backend_throughput.py [--backends tensorflow jax torch] [--model CifarResNet20]
       [--batch-size 128] [--train-limit 8192] [--epochs 3] [--tiny]

Each backend trains in its own process (``keras-archs train MODEL --data fashion_mnist --backend B``, a process has
one Keras backend), one after the other, with the same tf.data pipeline feeding ``fit``, the same recipe, seed and
data (the real Fashion-MNIST files). Rates are training steps only, median of the epochs after the first (which
includes tracing / XLA compilation: its time is the "first epoch s" column). A backend that is not installed is
listed as such. ``--tiny``: 2 epochs of 256 images (checks the script). Prints a Markdown table.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import platform
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import _training_runs as runs  # noqa: E402

BACKENDS = ("tensorflow", "jax", "torch")


def main() -> None:
    parser = runs.parser(__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    args = parser.parse_args()
    common = runs.budget_arguments(args)
    rows = []
    with tempfile.TemporaryDirectory(prefix="backend_bench_") as folder:
        for backend in args.backends:
            if importlib.util.find_spec(backend) is None:
                rows.append((backend, None))
                continue
            out = pathlib.Path(folder) / backend
            argv = runs.train_command(args.model, out, [*common, "--backend", backend])
            runs.run([(argv, runs.environment())], args.timeout)
            rows.append((backend, runs.rates(out)))
    print(
        f"{args.model}, Fashion-MNIST, batch {args.batch_size}, {args.train_limit} images/epoch, {args.epochs} epochs; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    print("| backend | images/s | first epoch s | test accuracy |")
    print("|---|---|---|---|")
    for backend, rate in rows:
        if rate is None:
            print(f"| {backend} | not installed | | |")
            continue
        assert rate["backend"] == backend, rate
        print(
            f"| {backend} | {rate['images_per_second']:.0f} | {rate['first_epoch_seconds']:.1f} | "
            f"{rate['test_accuracy']:.4f} |"
        )


if __name__ == "__main__":
    main()
