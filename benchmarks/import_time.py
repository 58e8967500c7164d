"""Import cost of the package against Keras', each in fresh interpreters.

Usage: python benchmarks/import_time.py [--repeats 5]

Times, in a new ``python`` process each (median of ``--repeats``; timed inside the process around the statement, so
the interpreter's own start-up is not counted): ``import keras``, ``import keras_archs`` (neither TensorFlow nor Keras),
``import keras_archs.compress.huffman`` (a pure-NumPy coder), and ``keras_archs.list_models()`` (imports every model
family, hence Keras and TensorFlow). Each row also says whether the statement loaded TensorFlow. Prints a Markdown
table and the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys

STATEMENTS = {
    "import keras": "import keras",
    "import keras_archs": "import keras_archs",
    "import keras_archs.compress.huffman": "import keras_archs.compress.huffman",
    "keras_archs.list_models()": "import keras_archs; keras_archs.list_models()",
}
# Runs the statement, then reports its own duration and whether TensorFlow got imported.
_PROBE = """
import sys, time
started = time.perf_counter()
{statement}
print(time.perf_counter() - started, "tensorflow" in sys.modules)
"""


def _run_once(statement: str) -> tuple[float, bool]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(statement=statement)], capture_output=True, text=True, env=env, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"`{statement}` failed in a fresh interpreter:\n{result.stderr[-2000:]}")
    seconds, tensorflow = result.stdout.split()[-2:]
    return float(seconds), tensorflow == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be a positive integer. Received: --repeats {args.repeats}")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}; python {platform.python_version()}; median of {args.repeats} fresh interpreters"
    )
    print()
    print("| statement | seconds | loads TensorFlow |")
    print("|---|---:|---|")
    for label, statement in STATEMENTS.items():
        runs = [_run_once(statement) for _ in range(args.repeats)]
        seconds = statistics.median(seconds for seconds, _ in runs)
        print(f"| `{label}` | {seconds:.3f} | {'yes' if runs[0][1] else 'no'} |")


if __name__ == "__main__":
    main()
