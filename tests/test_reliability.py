"""Faults and bad inputs that other test files do not cover.

* A training process killed with SIGKILL in the middle of an iteration, or in the
  middle of writing a checkpoint, resumes from ``last.pt`` to exactly the weights of
  an uninterrupted run.
* A process killed at random moments while it saves checkpoints in a loop never
  leaves a half-written file under the final name.
* Resuming from another model's checkpoint, a NaN/Inf in a batch, and an unreadable
  image met in the middle of a run stop with a :class:`BaryIRError` and lose nothing
  (the checkpoint on disk is untouched and finite).

Bad image files, bad layouts, small or mismatched images, and bad config keys/types
are tested in ``test_data_io.py``, ``test_datasets.py``, ``test_config.py``,
``test_checkpoint.py`` and ``test_cli.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from baryir.checkpoint import load_checkpoint
from baryir.cli import main as cli_main
from baryir.config import load_config
from baryir.errors import CheckpointError, TrainingDivergedError
from baryir.train import Trainer

STEPS = 6
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "BARYIR_THREADS": "1", "PYTHONHASHSEED": "0"}

# Runs a short training in a fresh process and SIGKILLs itself at the chosen place:
# "step": inside iteration k, after the network's update and before the potentials';
# "save": inside the k-th checkpoint save, after the bytes are written, before the rename.
TRAIN_CHILD = """
import json, os, signal, sys
import torch
import baryir.checkpoint as checkpoint
import baryir.train as train
from baryir.config import load_config

torch.set_num_threads(1)
args = json.loads(sys.argv[1])
calls = {"n": 0}

def count_and_maybe_die():
    calls["n"] += 1
    return calls["n"] == args["kill_at"]

if args["mode"] == "step":
    real_loss = train.potentials_loss
    def potentials_loss(*a, **kw):
        if count_and_maybe_die():
            os.kill(os.getpid(), signal.SIGKILL)
        return real_loss(*a, **kw)
    train.potentials_loss = potentials_loss
else:
    real_save = checkpoint.torch.save
    def save(obj, handle, *a, **kw):
        real_save(obj, handle, *a, **kw)
        if count_and_maybe_die():
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    checkpoint.torch.save = save
train.Trainer(load_config(None, args["overrides"])).fit(progress=False)
"""

# Saves checkpoints of growing step numbers in a loop until killed; a checkpoint is
# consistent when every weight equals its step number.
SAVE_LOOP_CHILD = """
import sys
import torch
from baryir.checkpoint import save_checkpoint

path = sys.argv[1]
for step in range(1, 100000):
    save_checkpoint({"step": step, "w": torch.full((1_000_000,), float(step))}, path)
    print(step, flush=True)
"""


@pytest.fixture(autouse=True)
def one_thread():
    """The killed child runs on one thread; the parent must do the same arithmetic."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def overrides(root, out_dir, *extra) -> list[str]:
    return [
        f"data.root={root}", "data.benchmark=demo", "data.patch_size=32", "model.preset=tiny",
        "model.overrides.dim=4", "optim.name=adam", "optim.lr=1e-3", "optim.schedule=cosine",
        "optim.warmup_steps=2", "loop.batch_size=3", f"loop.steps={STEPS}", "loop.device=cpu",
        "loop.log_every=1", "loop.val_every=0", "data.validate=false", "loop.keep_best=false",
        "loop.checkpoint_every=1", f"output.dir={out_dir}", *extra,
    ]


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    state = {f"model.{k}": v for k, v in trainer.model.state_dict().items()}
    state.update({f"potentials.{k}": v for k, v in trainer.potentials.state_dict().items()})
    return state


@pytest.fixture(scope="module")
def straight(demo_root, tmp_path_factory):
    """An uninterrupted run of STEPS steps (weights and loss history)."""
    torch.set_num_threads(1)
    trainer = Trainer(load_config(None, overrides(demo_root, tmp_path_factory.mktemp("straight"))))
    trainer.fit(progress=False)
    return weights(trainer), [r["loss"] for r in trainer.history]


# Kill points drawn once from a seeded generator (reproducible "random" steps in 2..STEPS-1).
KILL_POINTS = np.random.default_rng(8).integers(2, STEPS, size=2).tolist()


@pytest.mark.slow  # a subprocess killed with SIGKILL, then a resumed run
@pytest.mark.parametrize("mode, kill_at", [("step", KILL_POINTS[0]), ("save", KILL_POINTS[1])])
def test_sigkill_then_resume_equals_uninterrupted_run(demo_root, tmp_path, straight, mode, kill_at):
    args = {"mode": mode, "kill_at": kill_at, "overrides": overrides(demo_root, tmp_path)}
    proc = subprocess.run([sys.executable, "-c", TRAIN_CHILD, json.dumps(args)], env=CHILD_ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    last = tmp_path / "last.pt"
    assert load_checkpoint(last)["step"] == kill_at - 1  # the kill's own step/save never landed
    if mode == "save":  # the interrupted write is a stray temporary file, never last.pt
        assert [p.name for p in tmp_path.glob(".last.pt.tmp-*")]
    resumed = Trainer(load_config(None, overrides(demo_root, tmp_path)), resume=last)
    resumed.fit(progress=False)
    assert resumed.step == STEPS
    expected_weights, expected_losses = straight
    got = weights(resumed)
    assert got.keys() == expected_weights.keys()
    assert all(torch.equal(got[k], expected_weights[k]) for k in got), f"killed at step {kill_at} ({mode})"
    assert [r["loss"] for r in resumed.history] == expected_losses
    assert not list(tmp_path.glob(".last.pt.tmp-*"))  # the resumed run's save removed the stray


@pytest.mark.slow  # subprocesses killed with SIGKILL mid-write
def test_checkpoint_killed_at_random_moments_is_old_or_new_never_partial(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "last.pt"
    kills, mid_write = 2, 0
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", SAVE_LOOP_CHILD, str(path)], env=CHILD_ENV,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "1"  # the first save is complete
        time.sleep(float(rng.uniform(0.0, 0.4)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
        state = load_checkpoint(path)  # never a CheckpointError
        assert state["step"] >= 1 and torch.equal(state["w"], torch.full((1_000_000,), float(state["step"])))
        strays = list(tmp_path.glob(".last.pt.tmp-*"))
        mid_write += bool(strays)
        for stray in strays:
            stray.unlink()
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    print(f"{kills} kills, {mid_write} during a write")


@pytest.mark.parametrize("change, detail", [
    ("model.overrides.dim=8", r"layer '.*' has shape"),           # another width
    ("model.potentials=reference", r"missing|unexpected"),        # another potentials form
])
def test_resume_from_another_configuration_names_the_layer_and_keeps_the_file(demo_root, tmp_path, change,
                                                                               detail):
    Trainer(load_config(None, overrides(demo_root, tmp_path, "loop.steps=1"))).fit(progress=False)
    last = tmp_path / "last.pt"
    before = last.read_bytes()
    with pytest.raises(CheckpointError, match=detail) as info:
        Trainer(load_config(None, overrides(demo_root, tmp_path / "other", change)), resume=last)
    assert "last.pt" in str(info.value)
    assert last.read_bytes() == before


@pytest.mark.parametrize("field, value", [("degraded", float("nan")), ("clean", float("nan")),
                                          ("degraded", float("inf"))])
def test_non_finite_batch_stops_without_updating_anything(demo_root, tmp_path, field, value):
    trainer = Trainer(load_config(None, overrides(demo_root, tmp_path)))
    batch = next(iter(torch.utils.data.DataLoader(trainer.train_set, batch_size=3)))
    trainer.train_step(batch)  # a good step first: optimiser state exists
    before = {k: v.clone() for k, v in weights(trainer).items()}
    moments = {k: v.clone() for k, v in trainer.opt_model.state_dict()["state"][0].items()}
    batch[field][1, 0, 5, 7] = value
    with pytest.raises(TrainingDivergedError, match="step 2") as info:
        trainer.train_step(batch)
    assert "last good checkpoint" in str(info.value)
    assert trainer.step == 1
    assert all(torch.equal(v, before[k]) for k, v in weights(trainer).items())
    after = trainer.opt_model.state_dict()["state"][0]
    assert all(torch.equal(after[k], moments[k]) for k in moments)


def test_nan_image_in_the_data_keeps_the_last_checkpoint(demo_root, tmp_path, monkeypatch):
    trainer = Trainer(load_config(None, overrides(demo_root, tmp_path)))
    original = type(trainer.train_set).__getitem__
    served = {"n": 0}

    def poisoned(self, index):
        item = original(self, index)
        served["n"] += 1
        if served["n"] == 7:  # an item of the third batch
            item["degraded"] = torch.full_like(item["degraded"], float("nan"))
        return item

    monkeypatch.setattr(type(trainer.train_set), "__getitem__", poisoned)
    with pytest.raises(TrainingDivergedError, match="step 3"):
        trainer.fit(progress=False)
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["step"] == 2
    assert all(torch.isfinite(v).all() for v in saved["model"].values())
    assert all(torch.isfinite(v).all() for v in saved["potentials"].values())


@pytest.mark.slow
def test_unreadable_image_mid_run_is_reported_by_the_cli_and_keeps_the_checkpoint(demo_root, tmp_path, capsys):
    root = tmp_path / "bench"
    shutil.copytree(demo_root, root)
    train_dir = root / "Train"
    victim = sorted(p for p in train_dir.rglob("*.png"))[0]
    victim.write_bytes(victim.read_bytes()[:200])  # truncated
    args = ["train", "--config", "demo", "--no-progress",
            *overrides(root, tmp_path / "run", "loop.steps=40")]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert victim.name in err and "truncated or corrupt" in err and "Traceback" not in err
    saved = tmp_path / "run" / "last.pt"
    state = load_checkpoint(saved)  # the seeded order meets the bad image at step 5
    assert 1 <= state["step"] < 40 and all(torch.isfinite(v).all() for v in state["model"].values())


def test_a_new_run_removes_temporaries_of_killed_saves_before_it_trains(demo_root, tmp_path, monkeypatch):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # a process id that no longer runs, as after a SIGKILL mid-save
    for name in ("last.pt", "best.pt"):
        (tmp_path / f".{name}.tmp-{finished.pid}").write_bytes(b"half a checkpoint")
    trainer = Trainer(load_config(None, overrides(demo_root, tmp_path)))
    at_first_step = []

    def stop(batch, **_):
        at_first_step.append(sorted(p.name for p in tmp_path.glob(".*.tmp-*")))
        raise KeyboardInterrupt  # no save happens: only the start of the run can have cleaned up

    monkeypatch.setattr(trainer, "train_step", stop)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(progress=False)
    assert at_first_step == [[]]
