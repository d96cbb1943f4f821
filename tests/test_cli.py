"""``baryir train``, ``baryir demo``, ``baryir config`` and the GPU check script, from the command line."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from baryir import cli
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
    assert main(["train", "--config", "demo", "loop.stepz=3"]) == 2
    assert "loop.stepz" in capsys.readouterr().err


@pytest.mark.slow
def test_train_and_resume_from_the_command_line(tmp_path, capsys):
    root = build_demo_benchmark(tmp_path / "bench", size=48)
    args = ["train", "--config", "demo", "--no-progress", f"data.root={root}",
            "data.patch_size=32", "model.overrides.dim=4", "loop.steps=2", "loop.val_images=1",
            f"output.dir={tmp_path / 'run'}"]
    assert main(args) == 0
    assert load_config(tmp_path / "run" / "config.yaml").loop.steps == 2
    assert main(args[:3] + ["--resume", str(tmp_path / "missing.pt")] + args[3:]) == 2
    assert "missing.pt" in capsys.readouterr().err
    assert main(args[:3] + ["--resume", str(tmp_path / "run" / "last.pt")] + args[3:-2] + ["loop.steps=3",
                args[-1]]) == 0
    assert "trained 3 steps" in capsys.readouterr().out


def test_demo_settings_are_the_packaged_demo_config():
    ours = demo_config("somewhere/bench", "somewhere/run", steps=7, seed=3)
    packaged = load_config("demo", ["data.root=somewhere/bench", "output.dir=somewhere/run", "loop.steps=7",
                                    "loop.seed=3"])
    assert config_to_dict(ours) == config_to_dict(packaged)
    assert ours.data.oversample["derain"] == 12  # the packaged file's values, not defaults


@pytest.mark.slow
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


def _imported_modules(*args: str) -> set[str]:
    """Top-level modules a fresh ``python -X importtime -m baryir ARGS`` imports."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "baryir", *args], capture_output=True,
                          text=True, check=True)
    rows = [line.split("|") for line in proc.stderr.splitlines() if line.startswith("import time:")]
    return {row[-1].strip().split(".")[0] for row in rows[1:]}  # the first row is the header


@pytest.mark.parametrize("args", [["--help"], ["config", "list"]])
def test_help_and_config_list_import_no_heavy_module(args):
    imported = _imported_modules(*args)
    assert {"baryir", "argparse"} <= imported
    assert not imported & {"torch", "numpy", "ot", "skimage", "matplotlib", "scipy"}, sorted(imported)


def test_lazy_placeholders_carry_the_commands_own_help_lines():
    full = cli.build_parser()._subparsers._group_actions[0]
    lazy = cli.build_parser([])._subparsers._group_actions[0]
    helps = {action.dest: action.help for action in full._choices_actions}
    assert helps == {action.dest: action.help for action in lazy._choices_actions}
    assert sorted(helps) == sorted(cli.COMMANDS)


def test_config_list_and_show(capsys, tmp_path):
    assert main(["config", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == ["aio3", "aio5", "demo", "pretrain-demo", "pretrain-demo-finetune",
                                                         "pretrain-demo-online"]
    assert main(["config", "show", "aio3"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("# Paper size, 3 degradations") and "decay_every: 50" in shown
    (tmp_path / "aio3.yaml").write_text(shown)
    assert config_to_dict(load_config(tmp_path / "aio3.yaml")) == config_to_dict(load_config("aio3"))
    assert main(["config", "show", "aio3", "--set", "loop.epochs=2", "model.overrides.dim=16"]) == 0
    (tmp_path / "changed.yaml").write_text(capsys.readouterr().out)
    changed = load_config(tmp_path / "changed.yaml")
    assert changed.loop.epochs == 2 and changed.model.overrides == {"dim": 16}
    assert changed.optim.decay_every == 50  # everything else as shipped


@pytest.mark.parametrize(("args", "message"), [
    (["config", "show", "aio7"], "unknown config 'aio7'"),
    (["config", "show", "aio3", "--set", "model.overrides.dim=wide"], "model.overrides.dim"),
    (["train", "--config", "demo", "model.preset=huge"], "unknown preset 'huge'"),
    (["train", "--config", "demo", "loop.device=cuda"], "CUDA is not available"),
    (["restore", "--ckpt", "missing.pt", "--device", "cuda", "in.png", "--out", "out"], "CUDA is not available"),
])
def test_user_errors_are_one_line_without_traceback(args, message, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"baryir {args[0]}: error: ")


@pytest.mark.slow
def test_python_m_bench_goes_through_the_same_entry_point():
    proc = subprocess.run([sys.executable, "-m", "baryir.bench", "barycenter", "--steps", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "baryir bench: error: --steps must be >= 1, got 0"
