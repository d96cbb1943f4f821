"""``baryir data``: check a benchmark folder, or build the demo benchmark.

::

    baryir data check ROOT [--benchmark aio3|aio5|demo] [--splits train,test,val]
                           [--images] [--patch-size P]
    baryir data demo OUT [--seed S] [--size N]
"""

from __future__ import annotations

import argparse

from baryir.data.demo import SHIPPED_SIDE, build_demo_benchmark
from baryir.data.layout import BENCHMARKS, SPLIT_FOLDERS, scan_layout
from baryir.errors import ConfigError


def _splits(text: str) -> tuple[str, ...]:
    splits = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in splits if s not in SPLIT_FOLDERS]
    if unknown or not splits:
        raise argparse.ArgumentTypeError(f"splits must be a comma list of {sorted(SPLIT_FOLDERS)}")
    return splits


def run_check(args: argparse.Namespace) -> int:
    """Print the per-folder count table of ``args.root``; raise on layout problems."""
    report = scan_layout(args.root, args.benchmark, args.splits, args.images, args.patch_size, progress=True)
    print(f"benchmark {args.benchmark!r} under {args.root}")
    print(report.table())
    if args.benchmark != "demo":
        print("(expected = file counts of the published data sets; see data/README.md)")
    report.raise_for_problems()
    print("layout ok")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """Build the demo benchmark into ``args.out``."""
    if not 16 <= args.size <= SHIPPED_SIDE:
        raise ConfigError(f"--size must be between 16 and {SHIPPED_SIDE}, got {args.size}")
    out = build_demo_benchmark(args.out, seed=args.seed, size=args.size, progress=True)
    print(f"demo benchmark written to {out}; check it with: baryir data check {out} --benchmark demo "
          "--splits train,val,test")
    return 0


def register(subparsers) -> None:
    """Add the ``data`` command with its ``check`` and ``demo`` sub-commands."""
    parser = subparsers.add_parser("data", help="check benchmark folders or build the demo benchmark",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    check = actions.add_parser("check", help="count the files of a benchmark root and check its layout")
    check.add_argument("root", help="benchmark root holding Train/ and Test/ (and optionally Val/)")
    check.add_argument("--benchmark", choices=sorted(BENCHMARKS), default="aio3")
    check.add_argument("--splits", type=_splits, default=("train", "test"),
                       help="comma list of train,test,val (default train,test)")
    check.add_argument("--images", action="store_true",
                       help="also decode every image to find unreadable files (slow on the real sets)")
    check.add_argument("--patch-size", type=int, default=None,
                       help="also report training images smaller than this patch size")
    check.set_defaults(func=run_check)

    demo = actions.add_parser("demo", help="build the demo benchmark from the shipped photographs")
    demo.add_argument("out", help="output folder (new, empty, or an earlier demo benchmark)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--size", type=int, default=128, help=f"image side, 16-{SHIPPED_SIDE} (default 128)")
    demo.set_defaults(func=run_demo)

