"""Checks for the exercises of notebook 07 (full training on the benchmarks)."""

from __future__ import annotations

from pathlib import Path

from baryir import budget
from baryir.config import TrainConfig
from baryir.data.layout import TASKS, benchmark_spec, parse_test_set, scan_layout
from baryir.data.validation import leaked_names
from baryir.exercises.verdict import verdict

#: Training pairs of Rain100H (its "RainTrainH" set) and the rain samples per epoch of aio3.
RAIN100H_TRAIN_PAIRS = 1800
AIO3_RAIN_PER_EPOCH = TASKS["derain"].expected * 360


def check_iterations_per_epoch(answer: int, benchmark: str = "aio3", batch_size: int = 3, gpus: int = 4) -> bool:
    """Exercise 1: iterations of one process per epoch with the published set sizes."""
    samples = budget.epoch_samples(benchmark)
    expected = budget.iterations_per_epoch(samples, batch_size, gpus)
    return verdict(int(answer) == expected,
                   f"you gave {int(answer):,} iterations per epoch for {benchmark}, batch {batch_size} on {gpus} GPU(s) "
                   f"({samples:,} samples per epoch; each process gets floor(samples / GPUs), then drops the last "
                   "incomplete batch)")


def check_rain100h_config(config: TrainConfig) -> bool:
    """Exercise 2: a config for the Table 6 run (3 degradations, rain from Rain100H's training pairs).

    Right when it keeps the 3-task benchmark and the released schedule, reads another
    root than the Rain100L one, writes another run folder, and oversamples the 1,800
    Rain100H pairs so that an epoch holds as many rain samples as aio3's (200 x 360).
    """
    data = config.data
    factor = data.oversample.get("derain")
    problems = []
    if data.benchmark != "aio3":
        problems.append(f"data.benchmark is {data.benchmark!r}, Table 6 uses the 3-task benchmark 'aio3'")
    if Path(data.root) == Path("data/benchmarks/aio3"):
        problems.append("data.root is the Rain100L root; put Rain100H's pairs in Train/Derain of another root")
    if Path(config.output.dir) == Path("runs/aio3"):
        problems.append("output.dir is the Table 1 run's folder; use another one")
    if factor is None or int(factor) * RAIN100H_TRAIN_PAIRS != AIO3_RAIN_PER_EPOCH:
        problems.append(f"data.oversample.derain is {factor}: {RAIN100H_TRAIN_PAIRS} pairs x factor should give "
                        f"{AIO3_RAIN_PER_EPOCH:,} rain samples per epoch")
    if config.loop.epochs != 56 or config.model.preset != "reference":
        problems.append("keep the released schedule (loop.epochs 56, model.preset reference)")
    return verdict(not problems, "; ".join(problems) or "the Table 6 config keeps aio3's balance of sources")


def check_run_hours(hours: float, config: TrainConfig, gpus: int, sustained_tflops: float, rtol: float = 0.05) -> bool:
    """Exercise 3: wall-clock hours of ``config`` on ``gpus`` GPUs at an assumed sustained rate."""
    expected = budget.estimate_run(config, gpus).hours(sustained_tflops)
    error = abs(float(hours) - expected) / expected
    return verdict(error <= rtol, f"you estimate {float(hours):.1f} h on {gpus} GPU(s) at {sustained_tflops} TFLOP/s "
                                  f"({error:.0%} from the count; tolerance {rtol:.0%})")


def check_validation_split(root, benchmark: str) -> bool:
    """Exercise 4: ``root`` has a leak-free ``Val/`` with a pair for every test set of ``benchmark``."""
    report = scan_layout(root, benchmark, splits=("train", "val", "test"))
    if not report.ok:
        return verdict(False, f"the layout has problems: {report.problems[0]}")
    folders = {parse_test_set(name)[0].folder for name in benchmark_spec(benchmark).test_sets}
    val_rows = {Path(row.path).relative_to(Path(root) / "Val").as_posix(): row.count for row in report.rows
                if row.split.lower() == "val"}
    empty = sorted(folder for folder in folders if not val_rows.get(folder))
    leaked = leaked_names(root, benchmark)
    return verdict(not empty and not leaked, f"Val/ folders without pairs: {empty or 'none'}; "
                                             f"clean images also in Train/: {leaked or 'none'}")
