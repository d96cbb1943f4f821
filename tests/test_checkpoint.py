"""Checkpoints: atomic writes, weights_only loading, clear errors, RNG capture."""

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from baryir import checkpoint
from baryir.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    load_model,
    load_state_checked,
    remove_stale_temporaries,
    restore_rng_state,
    save_checkpoint,
)
from baryir.errors import CheckpointError
from baryir.models import build_model


def test_round_trip_with_weights_only(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = save_checkpoint({"model": model.state_dict(), "step": 4, "config": {"a": [1, 2]}}, tmp_path / "c.pt")
    raw = torch.load(path, weights_only=True)  # loadable without pickled classes
    assert raw["step"] == 4 and raw["config"] == {"a": [1, 2]}
    assert torch.equal(load_checkpoint(path)["model"]["weight"], model.weight.detach())
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left


def test_interrupted_save_keeps_previous_file(tmp_path, monkeypatch):
    path = save_checkpoint({"step": 1}, tmp_path / "last.pt")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint({"step": 2}, path)
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_save_removes_temporaries_of_dead_processes_only(tmp_path):
    """A save killed mid-write leaves `.NAME.tmp-PID`; the next save deletes it unless
    that process still runs (then it may be writing right now)."""
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead = tmp_path / f".last.pt.tmp-{finished.pid}"
    alive = tmp_path / f".last.pt.tmp-{os.getppid()}"
    other = tmp_path / f".best.pt.tmp-{finished.pid}"
    for stray in (dead, alive, other):
        stray.write_bytes(b"half a checkpoint")
    save_checkpoint({"step": 3}, tmp_path / "last.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name, "last.pt"])
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 3


def test_stale_temporaries_are_kept_where_processes_cannot_be_probed(tmp_path, monkeypatch):
    """On Windows os.kill would terminate the process it probes, so nothing is removed."""
    stray = tmp_path / ".last.pt.tmp-999999999"
    stray.write_bytes(b"half a checkpoint")
    monkeypatch.setattr(checkpoint, "CAN_PROBE_PROCESSES", False)
    monkeypatch.setattr(os, "kill", lambda *args: pytest.fail("os.kill must not be called"))
    assert remove_stale_temporaries(tmp_path / "last.pt") == [] and stray.exists()


def test_missing_and_corrupt_files_name_the_path(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="nope.pt.*does not exist"):
        load_checkpoint(missing)
    corrupt = tmp_path / "corrupt.pt"
    save_checkpoint({"w": torch.ones(1000)}, corrupt)
    corrupt.write_bytes(corrupt.read_bytes()[:300])  # truncated
    with pytest.raises(CheckpointError, match="corrupt.pt.*corrupt"):
        load_checkpoint(corrupt)
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="text.pt"):
        load_checkpoint(tmp_path / "text.pt")


def test_pickled_module_is_refused(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), path)  # the released code's whole-module format
    with pytest.raises(CheckpointError, match="module.pt"):
        load_checkpoint(path)


def test_shape_mismatch_names_the_layer():
    small, large = torch.nn.Linear(3, 2), torch.nn.Linear(3, 4)
    with pytest.raises(CheckpointError, match="'weight'.*\\(2, 3\\).*\\(4, 3\\)"):
        load_state_checked(large, small.state_dict(), "x.pt")
    with pytest.raises(CheckpointError, match="missing"):
        load_state_checked(large, {}, "x.pt")


def test_rng_state_round_trip(tmp_path):
    state = capture_rng_state()
    first = (random.random(), np.random.rand(3), torch.rand(3))
    save_checkpoint({"rng": state}, tmp_path / "rng.pt")
    restore_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    again = (random.random(), np.random.rand(3), torch.rand(3))
    assert first[0] == again[0]
    assert np.array_equal(first[1], again[1]) and torch.equal(first[2], again[2])


def test_load_model_rebuilds_for_inference(tmp_path):
    model = build_model("tiny", dim=4)
    path = save_checkpoint({"model": model.state_dict(), "model_config": model.config.to_dict()}, tmp_path / "m.pt")
    loaded, config = load_model(path, "cpu")
    assert config == model.config and not loaded.training
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x).restored, model.eval()(x).restored)
    wrong = build_model("tiny", dim=8)
    bad = save_checkpoint({"model": wrong.state_dict(), "model_config": model.config.to_dict()}, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="b.pt.*layer"):
        load_model(bad, "cpu")
    partial = save_checkpoint({"model": model.state_dict()}, tmp_path / "p.pt")
    with pytest.raises(CheckpointError, match="model_config"):
        load_model(partial, "cpu")
