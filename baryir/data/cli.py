"""``baryir data``: check a benchmark folder, or build the demo benchmark.

::

    baryir data check ROOT [--benchmark aio3|aio5|demo] [--splits train,test,val]
                           [--images] [--patch-size P]
    baryir data demo OUT [--seed S] [--size N] [--extra-train FOLDER]
    baryir data val ROOT [--benchmark aio3|aio5|demo] [--per-set N] [--seed S] [--dry-run]
    baryir data val ROOT --undo
"""

from __future__ import annotations

import argparse

from baryir.data.demo import SHIPPED_SIDE, build_demo_benchmark
from baryir.data.layout import BENCHMARKS, SPLIT_FOLDERS, benchmark_spec, scan_layout
from baryir.data.validation import make_validation_split, undo_validation_split
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
    if not benchmark_spec(args.benchmark).demo:
        print("(expected = file counts of the published data sets; see data/README.md)")
    report.raise_for_problems()
    print("layout ok")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """Build the demo benchmark into ``args.out``."""
    if not 16 <= args.size <= SHIPPED_SIDE:
        raise ConfigError(f"--size must be between 16 and {SHIPPED_SIDE}, got {args.size}")
    out = build_demo_benchmark(args.out, seed=args.seed, size=args.size, progress=True, extra_train=args.extra_train)
    print(f"demo benchmark written to {out}; check it with: baryir data check {out} --benchmark demo "
          "--splits train,val,test")
    return 0


def run_val(args: argparse.Namespace) -> int:
    """Move training pairs into ``ROOT/Val/`` (or undo that), printing what moves."""
    if args.undo:
        moved = undo_validation_split(args.root)
        print(f"moved {moved} file(s) back from {args.root}/Val to the training folders")
        return 0
    moves = make_validation_split(args.root, args.benchmark, args.per_set, args.seed, args.dry_run)
    verb = "would move" if args.dry_run else "moved"
    for source, destination in moves[:args.show]:
        print(f"{verb} {source} -> {destination}")
    if len(moves) > args.show:
        print(f"... and {len(moves) - args.show} more")
    print(f"{verb} {len(moves)} file(s) into {args.root}/Val; check with: baryir data check {args.root} "
          f"--benchmark {args.benchmark} --splits train,val,test" + ("" if args.dry_run else
                                                                    f"; undo with: baryir data val {args.root} --undo"))
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
    demo.add_argument("--extra-train", metavar="FOLDER", default=None,
                      help="add 2 x 2 crops of every photograph in FOLDER to the training split")
    demo.set_defaults(func=run_demo)

    val = actions.add_parser("val", help="move a few training pairs per task into ROOT/Val/ (validation split)")
    val.add_argument("root", help="benchmark root holding Train/")
    val.add_argument("--benchmark", choices=sorted(BENCHMARKS), default="aio3")
    val.add_argument("--per-set", type=int, default=10, help="clean images moved per task (default 10)")
    val.add_argument("--seed", type=int, default=0, help="seed of the random choice (default 0)")
    val.add_argument("--dry-run", action="store_true", help="print the moves without making them")
    val.add_argument("--undo", action="store_true", help="move the files of an earlier split back")
    val.add_argument("--show", type=int, default=5, help="how many moves to print (default 5)")
    val.set_defaults(func=run_val)

