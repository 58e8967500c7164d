"""The ``keras-archs`` console script (entry point ``keras_archs.cli:main``).

Commands, one module each: ``list`` / ``info`` (:mod:`.models`), ``classify`` (:mod:`.classify`), ``demo``
(:mod:`.demo`), ``train`` (:mod:`.train`), ``compress`` / ``decompress`` (:mod:`.compress`), ``export``
(:mod:`.export`), ``profile`` (:mod:`.profile`), ``degradation`` (:mod:`.degradation`). :mod:`._sources` turns
model and data arguments into objects for all of them.

The parser is built from modules that import no TensorFlow, so ``--help`` and ``--version`` answer at once; each
command imports what it needs when it runs. A command module that fails to import fails the whole command line
loudly: no command is dropped in silence.

Example:
    >>> from keras_archs.cli import build_parser
    >>> args = build_parser().parse_args(["export", "SqueezeNet1_1", "--out", "s.tflite", "--mode", "dynamic"])
    >>> args.command, args.mode, args.run.__module__
    ('export', 'dynamic', 'keras_archs.cli.export')
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Sequence

from keras_archs.cli import classify, compress, degradation, demo, export, models, profile, train

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any command imports TensorFlow

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

COMMAND_MODULES = (models, classify, demo, train, compress, export, profile, degradation)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("keras_archs")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed: see pyproject.toml)"


def build_parser() -> argparse.ArgumentParser:
    """The ``keras-archs`` parser: every command of :data:`COMMAND_MODULES`; ``args.run(args)`` runs the command."""
    parser = argparse.ArgumentParser(prog="keras-archs", description="Classic CNN architectures for Keras 3.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``keras-archs`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Errors in what the user gave (ValueError, TypeError, OSError: a bad name, a missing file, missing data) print
    ``keras-archs COMMAND: error: ...`` and return 2; anything else propagates with its traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.command_line = "keras-archs " + shlex.join(argv)  # recorded by train / compress
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError) as error:
        print(f"keras-archs {args.command}: error: {error}", file=sys.stderr)
        return 2
