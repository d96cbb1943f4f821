"""The ``baryir`` command line (also ``python -m baryir``).

Each sub-command lives in the module that does the work; that module exposes
``register(subparsers)``, which adds its parser and sets ``func`` to the function
that runs it (called with the parsed arguments, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from baryir import __version__
from baryir.errors import BaryIRError

# Modules that contribute sub-commands, in the order they appear in ``--help``.
COMMAND_MODULES = (
    "baryir.demo",
    "baryir.train",
    "baryir.evaluate",
    "baryir.released",
    "baryir.data.cli",
    "baryir.bench",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="baryir",
        description="BaryIR: all-in-one image restoration in a learned OT barycenter space.",
    )
    parser.add_argument("--version", action="version", version=f"baryir {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BaryIRError as err:
        print(f"baryir {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
