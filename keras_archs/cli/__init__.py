"""The ``keras-archs`` console script (entry point ``keras_archs.cli:main``).

Commands, one module each: ``list`` / ``info`` (:mod:`.models`), ``classify`` (:mod:`.classify`), ``demo``
(:mod:`.demo`), ``train`` (:mod:`.train`), ``compress`` / ``decompress`` (:mod:`.compress`), ``export``
(:mod:`.export`), ``profile`` (:mod:`.profile`), ``degradation`` (:mod:`.degradation`). :mod:`._sources` turns
model and data arguments into objects for all of them.

The parser is built from modules that import no TensorFlow, so ``--help`` and ``--version`` answer at once; each
command imports what it needs when it runs (``list`` and ``info`` too: the registry is declared by the model modules,
which import Keras). A command module that fails to import fails the whole command line loudly: no command is dropped
in silence.

TensorFlow's start-up lines (the oneDNN and CUDA notices its C++ code writes to stderr before any log setting applies)
are silenced by default: the command loads TensorFlow with the process' stderr pointed at ``/dev/null`` and sets
``TF_CPP_MIN_LOG_LEVEL=2`` unless it is set. ``--verbose`` (before or after the command name) shows everything.

Example:
    >>> from keras_archs.cli import build_parser
    >>> args = build_parser().parse_args(["export", "SqueezeNet1_1", "--out", "s.tflite", "--mode", "dynamic"])
    >>> args.command, args.mode, args.run.__module__
    ('export', 'dynamic', 'keras_archs.cli.export')
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from typing import Iterator, Sequence

from keras_archs.cli import classify, compress, degradation, demo, export, models, profile, train

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
    parser.add_argument("--verbose", action="store_true", help=_VERBOSE_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    for subparser in commands.choices.values():  # `keras-archs train ... --verbose` works too
        subparser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=_VERBOSE_HELP)
    return parser


_VERBOSE_HELP = "show TensorFlow's start-up and log lines (silenced by default)"


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """Points file descriptor 2 at /dev/null for the block (C++ code writes there directly, past ``sys.stderr``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _start_tensorflow_quietly() -> None:
    """Imports TensorFlow and lists its devices (the CUDA probe logs then) with stderr silenced.

    An import error is raised after stderr is restored, so it is still shown.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    with _stderr_to_devnull():
        import tensorflow as tf

        tf.config.list_physical_devices()


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``keras-archs`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Errors in what the user gave (ValueError, TypeError, OSError: a bad name, a missing file, missing data) print
    ``keras-archs COMMAND: error: ...`` and return 2; anything else propagates with its traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.command_line = "keras-archs " + shlex.join(argv)  # recorded by train / compress
    try:
        if getattr(args, "backend", None) is not None:  # `train --backend`: before TensorFlow (which imports Keras)
            train.select_backend(args.backend)
        if not args.verbose:
            _start_tensorflow_quietly()
        return args.run(args)
    except (ValueError, TypeError, OSError) as error:
        print(f"keras-archs {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"keras-archs {args.command}: interrupted", file=sys.stderr)
        return 130
