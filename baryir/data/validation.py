"""A validation split ``ROOT/Val/`` carved out of ``ROOT/Train/``, and its undo.

Keep-best during training scores ``ROOT/Val/`` (the ``Test/`` layout), never the test
sets. The real benchmarks ship no validation split (the released BaryIR code validated
on the Rain100L *test* set), so :func:`make_validation_split` moves ``per_set`` training
pairs of each task into the folder of the matching test set under ``Val/``: they are
then no longer trained on. For dehazing a whole clean image moves, with every hazy
version of it, so that no hazy copy of a validation image stays in training.

Nothing is copied or deleted: files are renamed (moved) within the root, and
``Val/val_split.json`` records every move so that :func:`undo_validation_split` (or
``baryir data val ROOT --undo``) puts them back.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from baryir.data.layout import (
    TASKS,
    TEST_SETS,
    FolderSpec,
    benchmark_spec,
    list_pairs,
    parse_test_set,
    split_root,
)
from baryir.errors import DatasetLayoutError

MANIFEST = "val_split.json"


def _task_for(test_spec: FolderSpec, tasks: tuple[str, ...]) -> str:
    """The benchmark's first training task with the test set's degradation kind."""
    return next(task for task in tasks if TASKS[task].kind == test_spec.kind)


def _groups(train_dir: Path, task: FolderSpec) -> list[list[tuple[Path | None, Path]]]:
    """Training pairs grouped by clean image (one pair per group, except several hazy images)."""
    pairs = list_pairs(train_dir, task)
    if task.pairing != "haze":
        return [[pair] for pair in pairs]
    by_clean: dict[Path, list] = {}
    for degraded, clean in pairs:
        by_clean.setdefault(clean, []).append((degraded, clean))
    return [by_clean[clean] for clean in sorted(by_clean, key=lambda p: p.as_posix())]


def plan_validation_split(root: str | Path, benchmark: str, per_set: int = 10, seed: int = 0) -> list[tuple[Path, Path]]:
    """The moves ``(from, to)`` that :func:`make_validation_split` would make; nothing moves.

    Parameters
    ----------
    root : str or Path
        Benchmark root holding ``Train/``.
    benchmark : str
        ``"aio3"``, ``"aio5"`` or ``"demo"``: which tasks and test sets.
    per_set : int
        Clean images taken from each task (with all their degraded versions).
    seed : int
        Seed of the random choice (sorted file lists, so the choice is reproducible).

    Raises
    ------
    DatasetLayoutError
        ``Train/`` is incomplete, a ``Val/`` folder that would be filled already holds
        files, a task has no more than ``per_set`` clean images, or two moved files
        would land on the same name.
    """
    if per_set < 1:
        raise DatasetLayoutError(f"per_set must be at least 1, got {per_set}")
    root = Path(root)
    spec = benchmark_spec(benchmark)
    train_dir = split_root(root, "train")
    val_dir = root / "Val"
    rng = random.Random(seed)
    moves: list[tuple[Path, Path]] = []
    test_specs = {parse_test_set(name)[0].name: parse_test_set(name)[0] for name in spec.test_sets}
    for test_spec in test_specs.values():
        task = TASKS[_task_for(test_spec, spec.tasks)]
        target = val_dir / test_spec.folder
        if target.is_dir() and any(p.is_file() for p in target.rglob("*")):
            raise DatasetLayoutError(f"{target} already holds files; keep that validation split, or undo it with "
                                     f"`baryir data val {root} --undo` before making a new one")
        groups = _groups(train_dir, task)
        if len(groups) <= per_set:
            raise DatasetLayoutError(f"{train_dir / task.folder}: only {len(groups)} clean image(s), cannot move "
                                     f"{per_set} to {target} and keep any for training; lower --per-set")
        for group in rng.sample(groups, per_set):
            clean = group[0][1]
            moves.append((clean, target / test_spec.clean / clean.name))
            moves += [(degraded, target / test_spec.degraded / degraded.name) for degraded, _ in group if degraded]
    destinations = [to for _, to in moves]
    clashes = sorted({p for p in destinations if destinations.count(p) > 1})
    if clashes:
        raise DatasetLayoutError(f"{len(clashes)} moved file(s) would share a name in Val/, e.g. {clashes[0]}; "
                                 "rename them in Train/ first")
    return moves


def make_validation_split(root: str | Path, benchmark: str, per_set: int = 10, seed: int = 0,
                          dry_run: bool = False) -> list[tuple[Path, Path]]:
    """Move ``per_set`` training pairs of each task into ``ROOT/Val/`` (see the module docstring).

    The manifest ``Val/val_split.json`` is written before the first move, so even an
    interrupted split can be undone. Returns the moves (made, or planned when ``dry_run``).
    """
    moves = plan_validation_split(root, benchmark, per_set, seed)
    if dry_run:
        return moves
    manifest = Path(root) / "Val" / MANIFEST
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"benchmark": benchmark, "per_set": per_set, "seed": seed,
                                    "moves": [[str(a), str(b)] for a, b in moves]}, indent=1))
    for source, destination in moves:
        destination.parent.mkdir(parents=True, exist_ok=True)
        source.rename(destination)
    return moves


def undo_validation_split(root: str | Path) -> int:
    """Move every file recorded in ``Val/val_split.json`` back to ``Train/``; return how many.

    Files already back (or never moved) are skipped; emptied ``Val/`` folders and the
    manifest are removed.

    Raises
    ------
    DatasetLayoutError
        There is no manifest, or a file's old place is taken by another file.
    """
    manifest = Path(root) / "Val" / MANIFEST
    if not manifest.is_file():
        raise DatasetLayoutError(f"{manifest} not found: no validation split made by `baryir data val` to undo")
    moves = [(Path(a), Path(b)) for a, b in json.loads(manifest.read_text())["moves"]]
    taken = [source for source, destination in moves if destination.exists() and source.exists()]
    if taken:
        raise DatasetLayoutError(f"{taken[0]} exists again in Train/; move it away before undoing the split")
    moved = 0
    for source, destination in moves:
        if destination.exists():
            source.parent.mkdir(parents=True, exist_ok=True)
            destination.rename(source)
            moved += 1
    manifest.unlink()
    for folder in sorted((p for p in manifest.parent.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()
    if manifest.parent.is_dir() and not any(manifest.parent.iterdir()):
        manifest.parent.rmdir()
    return moved


def leaked_names(root: str | Path, benchmark: str) -> list[str]:
    """Clean images of ``Val/`` that ``Train/`` still holds, by file name (should be empty).

    For every test set of ``benchmark`` found under ``Val/``, the clean-image names
    (without extension) of its pairs are compared with those of the matching training
    task.
    """
    spec = benchmark_spec(benchmark)
    train_dir, val_dir = split_root(root, "train"), Path(root) / "Val"
    leaked: set[str] = set()
    for name in dict.fromkeys(parse_test_set(t)[0].name for t in spec.test_sets):
        test_spec = TEST_SETS[name]
        if not (val_dir / test_spec.folder).is_dir():
            continue
        val_clean = {clean.stem for _, clean in list_pairs(val_dir, test_spec)}
        train_clean = {clean.stem for _, clean in list_pairs(train_dir, TASKS[_task_for(test_spec, spec.tasks)])}
        leaked |= val_clean & train_clean
    return sorted(leaked)
