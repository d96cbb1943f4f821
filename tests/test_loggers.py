"""Training loggers (TensorBoard read back from its event file, W&B through a stand-in
module), per-task validation PSNR, and the warning when ``ROOT/Val/`` is missing."""

from __future__ import annotations

import importlib.machinery
import shutil
import sys
import types
import warnings

import numpy as np
import pytest
import torch

from baryir import loggers
from baryir.cli import main
from baryir.config import load_config
from baryir.data.layout import test_sets
from baryir.errors import BaryIRError, MissingPackageError
from baryir.train import Trainer


def overrides(root, out_dir, *extra) -> list[str]:
    return [
        f"data.root={root}", "data.patch_size=32", "model.overrides.dim=4", "loop.batch_size=3",
        "loop.steps=4", "loop.log_every=1", "loop.val_every=2", "loop.val_images=1",
        "loop.checkpoint_every=0", f"output.dir={out_dir}", *extra,
    ]


def test_scalars_are_every_numeric_history_field():
    record = {"step": 3, "epoch": 0, "loss": 2.5, "lr": 1e-3, "grad_l1_encoder": 0.25, "val_psnr": 21.0,
              "val_psnr_derain": 23.0, "val_psnr_dehaze": None, "flag": True, "note": "x", "n": 4}
    assert loggers.scalar_items(record) == {
        "train/loss": 2.5, "train/lr": 1e-3, "train/grad_l1_encoder": 0.25, "val/psnr": 21.0,
        "val/psnr_derain": 23.0, "train/n": 4.0,
    }


def test_image_strip_puts_degraded_restored_clean_side_by_side():
    panels = {key: torch.full((3, 4, 5), value) for key, value in
              (("degraded", 0.0), ("restored", 0.5), ("clean", 2.0))}  # 2.0 is clipped to white
    strip = loggers.image_strip(panels)
    assert strip.shape == (4, 15, 3) and strip.dtype == np.uint8
    assert (strip[:, :5] == 0).all() and (strip[:, 5:10] == 128).all() and (strip[:, 10:] == 255).all()


def test_tensorboard_event_file_holds_the_history_and_the_image_strips(demo_root, tmp_path):
    from tensorboard.backend.event_processing import event_accumulator  # the dev extra installs it
    trainer = Trainer(load_config("demo", overrides(demo_root, tmp_path, "loop.logger=tensorboard")))
    history = trainer.fit(progress=False)
    tasks = [dataset.name for dataset in trainer.val_sets]
    assert tasks  # the demo benchmark has a validation split

    validated = [r for r in history if r["val_psnr"] is not None]
    assert [r["step"] for r in validated] == [2, 4]
    for record in validated:  # the mean is over images: one per set here
        per_task = [record[f"val_psnr_{task}"] for task in tasks]
        assert record["val_psnr"] == pytest.approx(sum(per_task) / len(per_task))

    events = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard"),
                                                size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {"train/loss", "train/l1", "train/cost", "train/potential", "train/congruence",
                "train/potential_loss", "train/lr", "train/potentials_lr", "train/images_per_s", "val/psnr"}
    assert expected | {f"val/psnr_{task}" for task in tasks} <= scalars
    loss = events.Scalars("train/loss")
    assert [e.step for e in loss] == [1, 2, 3, 4]
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in history], rel=1e-6)
    psnr = events.Scalars("val/psnr")
    assert [e.step for e in psnr] == [2, 4]
    assert [e.value for e in psnr] == pytest.approx([r["val_psnr"] for r in validated], rel=1e-6)
    # the potentials' rate follows the same schedule from its own base rate
    potentials_lr = [e.value for e in events.Scalars("train/potentials_lr")]
    assert potentials_lr == pytest.approx([r["lr"] * 1e-4 / 2e-3 for r in history], rel=1e-6)

    assert set(events.Tags()["images"]) == {f"val/{task}" for task in tasks}
    strips = events.Images(f"val/{tasks[0]}")
    assert [e.step for e in strips] == [2, 4]
    height = trainer.val_sets[0][0]["clean"].shape[1]
    assert (strips[0].height, strips[0].width) == (height, 3 * trainer.val_sets[0][0]["clean"].shape[2])


def test_wandb_run_gets_the_config_scalars_and_images(demo_root, tmp_path, monkeypatch):
    calls = {"log": [], "finished": False}

    class Run:
        def log(self, data, step):
            calls["log"].append((step, data))

        def finish(self):
            calls["finished"] = True

    def init(**kwargs):
        calls["init"] = kwargs
        return Run()

    fake = types.ModuleType("wandb")
    fake.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
    fake.init, fake.Image = init, lambda array, caption: ("image", array.shape, caption)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setenv("WANDB_PROJECT", "mine")
    Trainer(load_config("demo", overrides(demo_root, tmp_path / "run", "loop.logger=wandb"))).fit(progress=False)

    assert calls["init"]["project"] == "mine" and calls["init"]["name"] == "run"
    assert calls["init"]["config"]["loop"]["logger"] == "wandb"
    scalar_steps = [step for step, data in calls["log"] if "train/loss" in data]
    assert scalar_steps == [1, 2, 3, 4]
    images = [(step, data) for step, data in calls["log"] if any(k.startswith("val/") and "psnr" not in k
                                                                  for k in data)]
    assert [step for step, _ in images] == [2, 4]
    assert all(value[0] == "image" and value[2] == "degraded | restored | clean" for value in images[0][1].values())
    assert calls["finished"]


def test_missing_logger_package_fails_before_training_in_one_line(demo_root, tmp_path, monkeypatch, capsys):
    real_find_spec = loggers.importlib.util.find_spec
    monkeypatch.setattr(loggers.importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real_find_spec(name, *a))
    config = load_config("demo", overrides(demo_root, tmp_path, "loop.logger=tensorboard"))
    with pytest.raises(MissingPackageError, match=r'pip install "baryir\[tensorboard\]"'):
        Trainer(config)
    assert issubclass(MissingPackageError, BaryIRError)
    assert main(["train", "--config", "demo", "--no-progress", *overrides(demo_root, tmp_path, "loop.logger=tensorboard")]) == 2
    err = capsys.readouterr().err
    assert "tensorboard" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "last.pt").exists()


def test_missing_validation_split_is_announced(demo_root, tmp_path):
    root = tmp_path / "no_val"
    shutil.copytree(demo_root, root, ignore=shutil.ignore_patterns("Val"))
    with pytest.warns(UserWarning, match=r"data\.validate is on but .*Val.*keep_best.*baryir data val") as record:
        trainer = Trainer(load_config("demo", overrides(root, tmp_path / "run")))
    assert trainer.val_sets == [] and len(record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # validation and keep-best switched off: nothing to announce
        Trainer(load_config("demo", overrides(root, tmp_path / "run", "data.validate=false", "loop.keep_best=false")))


def test_partial_validation_split_names_the_missing_sets(demo_root, tmp_path):
    root = tmp_path / "part_val"
    shutil.copytree(demo_root, root)
    shutil.rmtree(root / "Val" / "deblur")
    with pytest.warns(UserWarning, match=r"lacks the validation sets \['gopro'\]") as record:
        trainer = Trainer(load_config("demo", overrides(root, tmp_path / "run")))
    assert len(trainer.val_sets) == len(test_sets("demo")) - 1 and len(record) == 1


def test_keep_best_without_validation_is_announced(demo_root, tmp_path):
    with pytest.warns(UserWarning, match=r"keep_best is on but data\.validate is off: .*no best\.pt"):
        Trainer(load_config("demo", overrides(demo_root, tmp_path / "run", "data.validate=false")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # val_every=0 still validates at the last step: nothing to announce
        Trainer(load_config("demo", overrides(demo_root, tmp_path / "run", "loop.val_every=0")))


def test_baryir_train_prints_the_validation_warning(demo_root, tmp_path, capsys):
    root = tmp_path / "no_val"
    shutil.copytree(demo_root, root, ignore=shutil.ignore_patterns("Val"))
    assert main(["train", "--config", "demo", "--no-progress", *overrides(root, tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "baryir train: warning: data.validate is on but" in err and (tmp_path / "run" / "last.pt").is_file()
    assert not (tmp_path / "run" / "best.pt").exists()
