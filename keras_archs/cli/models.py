"""``keras-archs list`` (registered models) and ``keras-archs info NAME`` (one model's facts and weight files)."""

from __future__ import annotations

import argparse
from typing import Any


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table, columns left-aligned.

    Example:
        >>> print(table([["a", "1"]], ["name", "n"]))
        name  n
        ----  -
        a     1
    """
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip()

    return "\n".join([line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)])


def weights_column(spec: Any) -> str:
    """The weights tags of ``spec``, each marked where it exists for one ``include_top`` only.

    Example (SqueezeNet 1.1 has ImageNet weights without its classifier only, and a Fashion-MNIST classifier):
        >>> from keras_archs import applications
        >>> weights_column(applications.get_spec("SqueezeNet1_1"))
        'imagenet (no top), fashion_mnist'
    """
    cells = []
    for tag in spec.weight_tags:
        tops = {entry.include_top for entry in spec.weights if entry.tag == tag}
        cells.append(tag if len(tops) == 2 else f"{tag} ({'top only' if True in tops else 'no top'})")
    return ", ".join(cells) or "-"


def run_list(args: argparse.Namespace) -> int:
    from keras_archs import applications

    pretrained = args.pretrained if args.pretrained is not None else False
    rows = []
    for name in applications.list_models(args.pattern, pretrained=pretrained):
        spec = applications.get_spec(name)
        trainable = "" if spec.trainable_params is None else f"{spec.trainable_params:,}"
        rows.append([name, spec.family, f"{spec.params:,}", trainable, f"{spec.default_size}", weights_column(spec)])
    print(table(rows, ["model", "family", "params", "trainable", "input", "weights"]))
    return 0


def run_info(args: argparse.Namespace) -> int:
    from keras_archs import applications

    spec = applications.get_spec(args.name)
    print(f"{spec.name}  (family: {spec.family})")
    if spec.aliases:
        print(f"aliases:        {', '.join(spec.aliases)}")
    print(f"paper:          {spec.paper}")
    print(f"params:         {spec.params:,} (count_params() with top, {spec.classes} classes)")
    if spec.trainable_params is not None:
        print(f"trainable:      {spec.trainable_params:,}")
    print(f"input size:     {spec.default_size}x{spec.default_size} default, {spec.min_size} minimum")
    print(f"preprocessing:  {spec.preprocessing}")
    if spec.build_kwargs:
        print(f"built with:     {', '.join(f'{k}={v!r}' for k, v in spec.build_kwargs.items())}")
    if not spec.weights:
        print("weights:        none published (weights=None, or a path)")
    for entry in spec.weights:
        variant = "".join(f", {k}={v}" for k, v in entry.variant if k != "include_top")
        print(f"weights:        {entry.tag!r}, include_top={entry.include_top}{variant}")
        print(f"  file:         {entry.fname}")
        print(f"  url:          {entry.url or 'shipped with the package (saved_models/)'}")
        print(f"  hash:         {entry.file_hash or 'none published (HDF5 structure checked instead)'}")
        if entry.source:
            print(f"  source:       {entry.source}" + (f" ({entry.license})" if entry.license else ""))
    return 0


def register(commands: Any) -> None:
    """Adds ``list`` and ``info`` to the ``keras-archs`` subparsers."""
    listing = commands.add_parser(
        "list",
        help="list registered models",
        description="params: count_params() with the classifier (BN moving statistics included); trainable: the "
        "trainable parameters, where the registry records the figure papers quote. weights: tags; '(no top)' / "
        "'(top only)' where a file exists for one include_top only.",
    )
    listing.add_argument("pattern", nargs="?", default=None, help="shell-style pattern, e.g. 'resnet*'")
    listing.add_argument(
        "--pretrained",
        nargs="?",
        const=True,
        default=None,
        metavar="TAG",
        help="only models with weights (optionally with this tag)",
    )
    listing.set_defaults(run=run_list)

    info = commands.add_parser("info", help="show one model's facts and weight files")
    info.add_argument("name", help="registry name or alias")
    info.set_defaults(run=run_info)
