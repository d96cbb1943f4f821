"""`baryir restore` on awkward files and `baryir eval` on the demo benchmark."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from baryir.checkpoint import save_checkpoint
from baryir.cli import main
from baryir.data.io import read_image
from baryir.models import build_model


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("tiny")
    path = tmp_path_factory.mktemp("ckpt") / "last.pt"
    save_checkpoint({"model": model.state_dict(), "model_config": model.config.to_dict()}, path)
    return path


def _write_inputs(folder):
    rng = np.random.default_rng(0)
    folder.mkdir()
    Image.fromarray(rng.integers(0, 256, (37, 51, 3), dtype=np.uint8)).save(folder / "odd.png")
    Image.fromarray(rng.integers(0, 256, (40, 24), dtype=np.uint8)).save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 256, (30, 33, 4), dtype=np.uint8), "RGBA").save(folder / "rgba.png")
    Image.fromarray(rng.integers(0, 65536, (21, 29), dtype=np.uint16)).save(folder / "deep16.png")
    Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(folder / "photo.jpg")
    return {"odd": (37, 51), "gray": (40, 24), "rgba": (30, 33), "deep16": (21, 29), "photo": (48, 40)}


def test_restore_handles_odd_gray_rgba_16bit_jpeg(ckpt, tmp_path, capsys):
    sizes = _write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    code = main(["restore", "--ckpt", str(ckpt), str(tmp_path / "in"), "--out", str(out),
                 "--device", "cpu", "--quiet"])
    assert code == 0
    assert "restored 5 image(s)" in capsys.readouterr().out
    for stem, size in sizes.items():
        restored = read_image(out / f"{stem}.png")
        assert restored.shape == (*size, 3)


def test_restore_tiled_matches_whole_when_the_image_fits(ckpt, tmp_path):
    sizes = _write_inputs(tmp_path / "in")
    whole, tiled = tmp_path / "whole", tmp_path / "tiled"
    for out, extra in ((whole, []), (tiled, ["--tile", "64"])):
        assert main(["restore", "--ckpt", str(ckpt), str(tmp_path / "in" / "odd.png"), "--out", str(out),
                     "--device", "cpu", "--quiet", *extra]) == 0
    assert np.array_equal(read_image(whole / "odd.png"), read_image(tiled / "odd.png"))
    assert sizes["odd"][0] < 64


def test_restore_reports_unreadable_files_without_traceback(ckpt, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"")
    code = main(["restore", "--ckpt", str(ckpt), str(bad), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "broken.png" in err and "Traceback" not in err


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    code = main(["restore", "--ckpt", str(tmp_path / "nope.pt"), str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "nope.pt" in capsys.readouterr().err


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    from baryir.data.demo import build_demo_benchmark

    root = build_demo_benchmark(tmp_path_factory.mktemp("bench") / "demo", size=48)
    heavy = root / "Test" / "derain" / "Rain100H"
    if not heavy.exists():  # stands in for a heavier-rain test set in the same layout
        shutil.copytree(root / "Test" / "derain" / "Rain100L", heavy)
    return root


def test_eval_on_demo_benchmark_writes_the_table(ckpt, demo_root, tmp_path, capsys):
    from baryir.data.datasets import PairedTestDataset
    from baryir.data.io import to_uint8
    from baryir.metrics import RGB_CONVENTION, psnr

    out = tmp_path / "eval"
    code = main(["eval", "--ckpt", str(ckpt), "--benchmark", "demo", "--data", str(demo_root),
                 "--out", str(out), "--baselines", "--device", "cpu", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    table = (out / "table.md").read_text()
    assert RGB_CONVENTION in printed and RGB_CONVENTION in table
    header = table.splitlines()[2]
    for column in ("sots", "rain100l", "bsd68_25", "gopro", "lol", "Average", "bsd68_75 (unseen)",
                   "rain100h (unseen)"):
        assert column in header
    results = json.loads((out / "results.json").read_text())
    rows = results["rows"]
    model_row = rows["BaryIR (last.pt)"]
    main_sets = results["main_sets"]
    assert results["averages"]["BaryIR (last.pt)"][0] == pytest.approx(
        np.mean([model_row[s]["psnr"] for s in main_sets]))
    # the "input" row is the plain PSNR of the degraded images, computed independently here
    dataset = PairedTestDataset(demo_root, "bsd68_25")
    expected = np.mean([psnr(to_uint8(item["degraded"]), to_uint8(item["clean"])) for item in dataset])
    baseline_rows = {name.split(" (")[0]: row for name, row in rows.items()}
    assert baseline_rows["degraded input"]["bsd68_25"]["psnr"] == pytest.approx(expected)
    assert baseline_rows["non-local means"]["bsd68_25"]["psnr"] > expected + 2
    assert "sots" not in baseline_rows["non-local means"]
    assert (out / "table.csv").read_text().count("\n") == 1 + len(rows)


def test_rain100h_training_moves_rain100l_to_the_unseen_columns(demo_root):
    from baryir.evaluate import evaluate_benchmark

    table = evaluate_benchmark({"identity": lambda x: x}, demo_root, "demo", rain_trained_on="rain100h",
                               max_images=1, progress=False)
    assert "rain100l" not in table.main_sets and table.unseen_sets[0] == "rain100l"
    assert table.unseen_sets[1:] == ["bsd68_60", "bsd68_75"]
    assert "rain100l (unseen)" in table.to_markdown()
    assert table.rows["identity"]["rain100l"].n_images == 1


def test_eval_on_a_missing_root_names_the_path(ckpt, tmp_path, capsys):
    code = main(["eval", "--ckpt", str(ckpt), "--benchmark", "aio3", "--data", str(tmp_path / "absent"),
                 "--quiet", "--device", "cpu"])
    assert code == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "absent") in err and "Traceback" not in err


def test_eval_without_lpips_fid_weights_runs_and_says_why(ckpt, demo_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BARYIR_WEIGHTS", str(tmp_path / "no_weights"))
    out = tmp_path / "eval"
    code = main(["eval", "--ckpt", str(ckpt), "--benchmark", "demo", "--data", str(demo_root), "--out", str(out),
                 "--lpips", "--fid", "--max-images", "1", "--no-unseen", "--device", "cpu", "--quiet"])
    assert code == 0
    captured = capsys.readouterr()
    table = (out / "table.md").read_text()
    for name in ("LPIPS", "FID"):
        assert f"{name} not computed: weights not found at {tmp_path / 'no_weights'}" in table
        assert f"{name} not computed" in captured.err
    assert "PSNR (dB) / SSIM;" in table


def test_eval_with_lpips_weights_adds_the_column(ckpt, demo_root, tmp_path, monkeypatch):
    from baryir import metrics
    from baryir.evaluate import evaluate_benchmark, load_perceptual

    torch.manual_seed(0)
    trunk = {f"features.{k}": v for k, v in metrics._AlexFeatures().features.state_dict().items()}
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}
    stored_weights = metrics.LPIPS
    monkeypatch.setattr(metrics, "LPIPS", lambda: stored_weights((trunk, heads)))
    perceptual = load_perceptual(lpips=True)
    assert perceptual.lpips_model is not None and not perceptual.notes
    table = evaluate_benchmark({"identity": lambda x: x}, demo_root, "demo", unseen=False, max_images=1,
                               perceptual=perceptual, progress=False)
    result = table.rows["identity"]["bsd68_50"]
    assert result.lpips > table.rows["identity"]["bsd68_15"].lpips > 0
    assert result.cell().count("/") == 2 and "PSNR (dB) / SSIM / LPIPS" in table.to_markdown()
