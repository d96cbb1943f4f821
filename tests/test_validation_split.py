"""A validation split carved out of Train/ (baryir.data.validation, `baryir data val`)."""

import shutil

import pytest

from baryir.cli import main
from baryir.data.demo import DEMO_PHOTOS, build_demo_benchmark
from baryir.data.layout import TASKS, check_layout, list_pairs
from baryir.data.validation import (
    MANIFEST,
    leaked_names,
    make_validation_split,
    plan_validation_split,
    undo_validation_split,
)
from baryir.errors import DatasetLayoutError


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = build_demo_benchmark(tmp_path_factory.mktemp("val") / "bench", seed=0, size=32)
    shutil.rmtree(root / "Val")
    return root


@pytest.fixture
def root(built, tmp_path):
    return shutil.copytree(built, tmp_path / "bench")


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_split_moves_pairs_into_val_and_leaves_a_valid_layout(root):
    before = _files(root)
    haze_before = len(list_pairs(root / "Train", TASKS["dehaze"]))
    moves = make_validation_split(root, "demo", per_set=2, seed=3)
    report = check_layout(root, "demo", splits=("train", "val", "test"))
    counts = {(row.split, row.name): row.count for row in report.rows}
    assert counts[("Val", "rain100l")] == counts[("Val", "gopro")] == counts[("Val", "lol")] == 2
    assert counts[("Val", "bsd68")] == 2 and counts[("Val", "sots")] == 2 * 3  # every hazy version moves
    assert counts[("Train", "dehaze")] == haze_before - 6
    assert leaked_names(root, "demo") == []
    assert all(not a.exists() and b.exists() for a, b in moves)
    # nothing lost: the same number of files, plus the manifest
    assert len(_files(root)) == len(before) + 1 and (root / "Val" / MANIFEST).is_file()


def test_split_is_reproducible_and_dry_run_moves_nothing(root):
    plan = plan_validation_split(root, "aio3", per_set=1, seed=7)
    assert plan == make_validation_split(root, "aio3", per_set=1, seed=7, dry_run=True)
    assert all(a.exists() and not b.exists() for a, b in plan)
    assert plan != plan_validation_split(root, "aio3", per_set=1, seed=8)


def test_undo_restores_the_original_tree(root):
    before = _files(root)
    make_validation_split(root, "aio5", per_set=1)
    assert undo_validation_split(root) > 0
    assert _files(root) == before and not (root / "Val").exists()


def test_refuses_to_overwrite_or_empty_a_task(root):
    make_validation_split(root, "demo", per_set=1)
    with pytest.raises(DatasetLayoutError, match="already holds files"):
        make_validation_split(root, "demo", per_set=1)
    undo_validation_split(root)
    with pytest.raises(DatasetLayoutError, match="lower --per-set"):
        make_validation_split(root, "demo", per_set=sum(p.split == "train" for p in DEMO_PHOTOS))
    with pytest.raises(DatasetLayoutError, match="no validation split"):
        undo_validation_split(root)


def test_leak_is_reported(root):
    make_validation_split(root, "demo", per_set=1)
    moved = next((root / "Val/derain/Rain100L/target").iterdir())
    shutil.copy(moved, root / "Train/Derain/gt" / moved.name)
    shutil.copy(next((root / "Val/derain/Rain100L/input").iterdir()), root / "Train/Derain/rainy")
    assert leaked_names(root, "demo") == [moved.stem]


def test_cli_val_and_undo(root, capsys):
    assert main(["data", "val", str(root), "--benchmark", "demo", "--per-set", "1", "--dry-run"]) == 0
    assert "would move" in capsys.readouterr().out and not (root / "Val").exists()
    assert main(["data", "val", str(root), "--benchmark", "demo", "--per-set", "1"]) == 0
    assert "undo with" in capsys.readouterr().out
    assert main(["data", "check", str(root), "--benchmark", "demo", "--splits", "train,val,test"]) == 0
    assert main(["data", "val", str(root), "--benchmark", "demo"]) == 2  # already split
    assert "already holds files" in capsys.readouterr().err
    assert main(["data", "val", str(root), "--undo"]) == 0
