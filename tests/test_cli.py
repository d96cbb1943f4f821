"""``baryir train``, ``baryir demo`` and the GPU check script, from the command line."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from baryir.cli import main
from baryir.config import config_to_dict, load_config
from baryir.data import build_demo_benchmark
from baryir.data.demo import DEMO_PHOTOS
from baryir.demo import demo_config, run_demo

REPO = Path(__file__).resolve().parents[1]


def test_train_help_lists_overrides(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    assert "section.key=value" in capsys.readouterr().out


def test_train_config_errors_are_reported_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: fast\n")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "optim.lr" in err and "Traceback" not in err
    assert main(["train", "--config", str(REPO / "configs/demo.yaml"), "loop.stepz=3"]) == 2
    assert "loop.stepz" in capsys.readouterr().err


def test_train_and_resume_from_the_command_line(tmp_path, capsys):
    root = build_demo_benchmark(tmp_path / "bench", size=48)
    args = ["train", "--config", str(REPO / "configs/demo.yaml"), "--no-progress", f"data.root={root}",
            "data.patch_size=32", "model.overrides.dim=4", "loop.steps=2", "loop.val_images=1",
            f"output.dir={tmp_path / 'run'}"]
    assert main(args) == 0
    assert load_config(tmp_path / "run" / "config.yaml").loop.steps == 2
    assert main(args[:3] + ["--resume", str(tmp_path / "missing.pt")] + args[3:]) == 2
    assert "missing.pt" in capsys.readouterr().err
    assert main(args[:3] + ["--resume", str(tmp_path / "run" / "last.pt")] + args[3:-2] + ["loop.steps=3",
                args[-1]]) == 0
    assert "trained 3 steps" in capsys.readouterr().out


def test_demo_yaml_matches_demo_config():
    shipped = config_to_dict(load_config(REPO / "configs/demo.yaml"))
    assert shipped == config_to_dict(demo_config("data/demo_benchmark", "runs/demo"))


def test_run_demo_writes_metrics_and_figures(tmp_path):
    result = run_demo(tmp_path, steps=2, progress=False)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["tasks"].keys() == result["tasks"].keys() and len(saved["tasks"]) == 7
    n_test = sum(photo.split == "test" for photo in DEMO_PHOTOS)
    for row in saved["tasks"].values():
        assert 5 < row["psnr_degraded"] < 60 and 0 < row["psnr_restored"] < 60 and row["n_images"] == n_test
    assert (tmp_path / "restorations.png").stat().st_size > 0 and (tmp_path / "training.png").is_file()


def test_gpu_check_without_cuda_exits_with_a_message(monkeypatch, capsys, tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path / "r.json")]) == gpu_check.NO_CUDA_EXIT
    assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
