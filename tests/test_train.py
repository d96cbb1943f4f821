"""The training engine on the tiny model and the demo benchmark (CPU, a few steps)."""

import math

import pytest
import torch
from _training import tiny_config

import baryir.train as train_module
from baryir.checkpoint import load_checkpoint
from baryir.config import OptimConfig
from baryir.errors import CheckpointError, TrainingDivergedError
from baryir.train import Trainer, lr_factor


def test_lr_schedules():
    step = OptimConfig(schedule="step", decay_every=5, decay_factor=0.1)
    assert [lr_factor(s, step, 20) for s in (0, 4, 5, 10)] == pytest.approx([1, 1, 0.1, 0.01])
    assert lr_factor(5, step, 20, steps_per_unit=10) == 1  # decay_every in epochs of 10 steps
    cosine = OptimConfig(schedule="cosine", warmup_steps=4, min_lr_factor=0.1)
    assert [lr_factor(s, cosine, 14) for s in (0, 3, 4, 9, 14)] == pytest.approx(
        [0.25, 1.0, 1.0, 0.1 + 0.9 * 0.5, 0.1])


def test_steps_reduce_loss_on_fixed_batch(demo_root, tmp_path):
    trainer = Trainer(tiny_config(demo_root, tmp_path, "loop.steps=100"))
    batch = next(iter(torch.utils.data.DataLoader(trainer.train_set, batch_size=3)))
    losses = [trainer.train_step(batch)["l1"] for _ in range(12)]
    assert losses[-1] < 0.7 * losses[0], losses


def test_history_files_and_keep_best(demo_root, tmp_path):
    history = Trainer(tiny_config(demo_root, tmp_path, "loop.val_every=3", "loop.keep_best=true")).fit(progress=False)
    assert [r["step"] for r in history] == list(range(1, 7))
    assert all(math.isfinite(r[k]) for r in history for k in ("loss", "l1", "cost", "congruence"))
    assert history[2]["val_psnr"] is not None and history[5]["val_psnr"] is not None
    for name in ("last.pt", "best.pt", "history.csv", "history.json", "config.yaml"):
        assert (tmp_path / name).is_file(), name
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["best_metric"] == max(r["val_psnr"] for r in history if r["val_psnr"] is not None)
    assert best["history"][-1]["step"] == best["step"]  # ends with the record that chose it
    assert best["history"][-1]["val_psnr"] == best["best_metric"]
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 7


@pytest.mark.parametrize("mode", ["second", "reuse"])
def test_exact_resume(demo_root, tmp_path, mode):
    extra = ("optim.schedule=cosine", "optim.warmup_steps=2", f"loop.potentials_forward={mode}")
    straight = Trainer(tiny_config(demo_root, tmp_path / "a", *extra))
    straight.fit(progress=False)
    first = Trainer(tiny_config(demo_root, tmp_path / "b", *extra))
    first.fit(progress=False, stop_after=3)
    resumed = Trainer(tiny_config(demo_root, tmp_path / "b", *extra), resume=tmp_path / "b" / "last.pt")
    assert resumed.step == 3
    resumed.fit(progress=False)
    for a, b in ((straight.model, resumed.model), (straight.potentials, resumed.potentials)):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [r["loss"] for r in straight.history] == [r["loss"] for r in resumed.history]
    assert not all(torch.equal(p, q) for p, q in zip(straight.model.parameters(), first.model.parameters()))


def test_missing_or_corrupt_resume_is_an_error(demo_root, tmp_path):
    config = tiny_config(demo_root, tmp_path)
    with pytest.raises(CheckpointError, match="nope.pt"):
        Trainer(config, resume=tmp_path / "nope.pt")
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="bad.pt"):
        Trainer(config, resume=tmp_path / "bad.pt")


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(demo_root, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = train_module.restoration_loss

    def poisoned(*args):
        calls["n"] += 1
        loss, parts = original(*args)
        return (loss * float("nan"), parts) if calls["n"] == 4 else (loss, parts)

    monkeypatch.setattr(train_module, "restoration_loss", poisoned)
    trainer = Trainer(tiny_config(demo_root, tmp_path, "loop.checkpoint_every=2"))
    with pytest.raises(TrainingDivergedError, match="step 4") as info:
        trainer.fit(progress=False)
    assert str(tmp_path) in str(info.value)
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["step"] == 2
    assert all(torch.isfinite(v).all() for v in saved["model"].values())
