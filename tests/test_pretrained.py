"""Shipped pretrained models: export, checksum, loading, the CLI, and the restoration benchmark."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import baryir.pretrained as pretrained
from baryir import restoration_bench
from baryir.config import load_config
from baryir.data import read_image, write_image
from baryir.errors import CheckpointError, ConfigError
from baryir.train import Trainer


@pytest.fixture(scope="module")
def exported(demo_root, tmp_path_factory):
    """A 3-step tiny model exported into a scratch weights folder."""
    run = tmp_path_factory.mktemp("run")
    trainer = Trainer(load_config(None, [
        f"data.root={demo_root}", "model.preset=tiny", "model.overrides.dim=4", "data.patch_size=32",
        "loop.batch_size=3", "loop.steps=3", "loop.device=cpu", "loop.val_every=0", "loop.keep_best=false", f"output.dir={run}",
    ]))
    trainer.fit(progress=False)
    folder = tmp_path_factory.mktemp("weights")
    path = pretrained.export_pretrained(run / "last.pt", "toy-tiny", "a 3-step test model",
                                        {"config": "none", "hardware": "test"}, folder)
    return folder, path, trainer


def use_folder(monkeypatch, folder):
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", folder)


def test_export_is_weights_only_and_loads_the_same_network(exported, monkeypatch):
    folder, path, trainer = exported
    use_folder(monkeypatch, folder)
    state = torch.load(path, weights_only=True)
    assert set(state) == {"format", "model", "model_config"}
    assert pretrained.available() == {"toy-tiny": "a 3-step test model"}
    model = pretrained.load("toy-tiny")
    x = torch.rand(1, 3, 24, 40)
    with torch.no_grad():
        assert torch.equal(model(x).restored, trainer.model.eval()(x).restored)
    entry = pretrained.info("toy-tiny")
    assert entry["step"] == 3 and entry["sha256"] == pretrained.sha256(path)
    assert [r["step"] for r in pretrained.history("toy-tiny")] == [r["step"] for r in trainer.history]


def test_unknown_name_lists_the_available_ones(exported, monkeypatch):
    use_folder(monkeypatch, exported[0])
    with pytest.raises(ConfigError, match="unknown pretrained model 'nope'.*toy-tiny"):
        pretrained.load("nope")


def test_a_changed_file_fails_the_checksum(exported, monkeypatch, tmp_path):
    folder, path, _ = exported
    copy = tmp_path / "weights"
    copy.mkdir()
    (copy / pretrained.MANIFEST).write_text((folder / pretrained.MANIFEST).read_text())
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    (copy / path.name).write_bytes(bytes(data))
    use_folder(monkeypatch, copy)
    with pytest.raises(CheckpointError, match="checksum"):
        pretrained.load("toy-tiny")
    (copy / path.name).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        pretrained.load("toy-tiny")


def test_shipped_models_are_listed_and_verified():
    names = pretrained.available()
    assert restoration_bench.DEFAULT_MODEL in names
    for name in names:
        entry = pretrained.info(name)
        assert pretrained.sha256(pretrained.WEIGHTS_DIR / entry["file"]) == entry["sha256"]
        assert (pretrained.WEIGHTS_DIR / entry["file"]).stat().st_size < 20e6


def test_restore_cli_with_the_shipped_model(tmp_path):
    """Any photograph, any size: the shipped model restores a noisy crop better than its input."""
    from skimage import data

    clean = data.astronaut()[100:229, 150:291]  # 129 x 141: not a multiple of 8
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    write_image(tmp_path / "photo.png", noisy)
    result = subprocess.run(
        [sys.executable, "-m", "baryir", "restore", "--pretrained", restoration_bench.DEFAULT_MODEL,
         str(tmp_path / "photo.png"), "--out", str(tmp_path / "out"), "--quiet", "--device", "cpu"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    restored = read_image(tmp_path / "out" / "photo.png")
    assert restored.shape == clean.shape
    from baryir.metrics import psnr

    assert psnr(restored, clean) > psnr(noisy, clean) + 3.0


def test_restore_cli_unknown_name_is_one_line(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((16, 16, 3), np.uint8))
    result = subprocess.run(
        [sys.executable, "-m", "baryir", "restore", "--pretrained", "nope", str(tmp_path / "a.png"),
         "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "unknown pretrained model 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_restoration_report_shape_and_targets(demo_root, exported, monkeypatch, tmp_path):
    use_folder(monkeypatch, exported[0])
    report = restoration_bench.restoration_report("toy-tiny", demo_root, max_images=1)
    assert report["model"] == "toy-tiny" and report["sha256"] == pretrained.info("toy-tiny")["sha256"]
    assert list(report["tasks"]) == restoration_bench.benchmark_sets("demo")
    assert {"bsd68_60", "bsd68_75", "sots", "gopro"} <= set(report["tasks"])
    for name, row in report["tasks"].items():
        assert set(row) == {"degraded", "model", "nlm", "tv", "dcp"}
        noise = name.startswith("bsd68")
        assert (row["nlm"] is not None) == noise and (row["tv"] is not None) == noise
        assert (row["dcp"] is not None) == (name == "sots")
    targets = restoration_bench.check_targets(report)
    assert len(targets) == 7 + 2 + 1 + 2
    assert not all(targets.values())  # a 3-step model meets none of the demo model's targets
    assert "| sots |" in restoration_bench.format_report(report)
    json.dumps(report)


def test_committed_restoration_report_scored_the_shipped_weights():
    """benchmarks/results/restoration.json was computed on the weights shipped now (rerun it otherwise)."""
    report = json.loads((Path(__file__).parents[1] / "benchmarks" / "results" / "restoration.json").read_text())
    assert report["model"] == restoration_bench.DEFAULT_MODEL
    assert report["sha256"] == pretrained.info(report["model"])["sha256"]
    assert list(report["tasks"]) == restoration_bench.benchmark_sets("demo")
