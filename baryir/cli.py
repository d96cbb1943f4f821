"""The ``baryir`` command line (also ``python -m baryir`` and ``python -m baryir.bench``).

Each sub-command lives in the module that does the work; that module exposes
``register(subparsers)``, which adds its parser and sets ``func`` to the function
that runs it (called with the parsed arguments, returning an exit code).

Start-up stays fast: only the module of the command being run is imported (most
import torch); ``baryir --help`` lists the commands from :data:`COMMANDS` alone.
Every error caused by the user's input is a :class:`~baryir.errors.BaryIRError`,
printed here in one line without a traceback (exit code 2). The package's own
warnings raised while a command runs (a missing validation split, say) are printed the
same way, as ``baryir COMMAND: warning: ...``, so that they stand out from the progress
output; other libraries' warnings keep Python's format.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path

from baryir import __version__
from baryir.errors import BaryIRError

#: Sub-command -> (module that registers it, help line), in the order of ``--help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("baryir.demo", "build the demo benchmark, train the tiny model on CPU, restore held-out images"),
    "train": ("baryir.train", "train BaryIR from a YAML config (one GPU, CPU, or several with torchrun)"),
    "eval": ("baryir.evaluate", "evaluate a checkpoint on a benchmark (Table 1/2 layout)"),
    "restore": ("baryir.evaluate", "restore your own images with a checkpoint"),
    "convert-released": ("baryir.released", "convert the authors' released checkpoint to a baryir checkpoint"),
    "data": ("baryir.data.cli", "check benchmark folders or build the demo benchmark"),
    "config": ("baryir.config", "list the packaged training configs or print one"),
    "bench": ("baryir.bench", "accuracy benchmarks against exact references"),
}


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser.

    Parameters
    ----------
    commands : iterable of str, optional
        Sub-commands whose modules are imported to register their full parsers
        (default: all). The others get a placeholder that only carries their help line.
    """
    parser = argparse.ArgumentParser(
        prog="baryir",
        description="BaryIR: all-in-one image restoration in a learned OT barycenter space.",
    )
    parser.add_argument("--version", action="version", version=f"baryir {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = COMMANDS if commands is None else [name for name in commands if name in COMMANDS]
    for module in dict.fromkeys(COMMANDS[name][0] for name in wanted):
        importlib.import_module(module).register(subparsers)
    for name, (_, help_text) in COMMANDS.items():
        if name not in subparsers.choices:
            subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    parser = build_parser([command] if command else [])
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    package = str(Path(__file__).parent)
    show_other = warnings.showwarning

    def show_warning(message, category, filename, lineno, file=None, line=None):
        if str(filename).startswith(package):  # ours: one line, like the errors
            print(f"baryir {args.command}: warning: {message}", file=sys.stderr)
        else:  # a library's: as Python shows it
            show_other(message, category, filename, lineno, file, line)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            return int(args.func(args) or 0)
    except BaryIRError as err:
        print(f"baryir {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
