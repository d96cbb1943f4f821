"""The Table 8 ablation command, its weight choice, and the linear probes."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from baryir import ablation, bench, probes
from baryir.data import benchmark_spec, build_demo_benchmark
from baryir.errors import ConfigError
from baryir.models import build_model


def test_probe_separates_a_linearly_coded_type_and_not_noise():
    rng = np.random.default_rng(0)
    types = np.repeat(["noise", "rain", "haze"], 40)
    groups = np.tile(np.repeat(["a", "b", "c", "d"], 10), 3)
    coded = rng.normal(size=(120, 20))
    coded[:, 0] += 4.0 * (types == "rain")  # each type but one on its own direction
    coded[:, 1] += 4.0 * (types == "haze")
    blind = rng.normal(size=(120, 20))
    assert probes.probe_accuracy(coded, types, groups) > 0.9
    assert abs(probes.probe_accuracy(blind, types, groups) - probes.chance_level(types)) < 0.2
    assert probes.chance_level(types) == pytest.approx(1 / 3)


def test_probe_holds_out_whole_groups():
    # each group has its own offset and a single class: a probe that could see the held-out
    # group would score 1, one that cannot has nothing to go on
    features = np.repeat(np.eye(4) * 10, 5, axis=0)
    labels = np.repeat(["x", "y", "x", "y"], 5)
    groups = np.repeat(list("abcd"), 5)
    assert probes.probe_accuracy(features, labels, groups) < 0.5
    with pytest.raises(ConfigError, match="two groups"):
        probes.probe_accuracy(features, labels, ["a"] * 20)


def test_pooled_codes_are_the_spatial_means_of_the_latents():
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    images = torch.rand(3, 3, 32, 32)
    codes = probes.pooled_codes(model, images, batch_size=2)
    with torch.no_grad():
        out = model(images)
    for name in ("z", "z_b", "s"):
        assert codes[name].shape == (3, out.z.shape[1])
        assert np.allclose(codes[name], getattr(out, name).mean(dim=(2, 3)).double().numpy(), atol=1e-6)
    assert np.allclose(codes["s"], codes["z"] - codes["z_b"], atol=1e-6)


def test_weight_choice_takes_the_smallest_in_band_else_the_closest():
    weights = (1.0, 10.0, 30.0, 100.0)
    assert ablation.choose_weight(weights, (0.004, 0.03, 0.12, 0.25), (0.1, 0.3)) == 30.0
    assert ablation.choose_weight(weights, (0.004, 0.01, 0.02, 0.05), (0.1, 0.3)) == 100.0
    assert ablation.choose_weight(weights, (0.5, 1.0, 2.0, 4.0), (0.1, 0.3)) == 1.0


def test_demo3_is_the_three_task_subset_of_the_demo():
    demo, demo3 = benchmark_spec("demo"), benchmark_spec("demo3")
    assert set(demo3.tasks) < set(demo.tasks) and demo3.sources == ("noise", "rain", "haze")
    assert demo.demo and demo3.demo and not benchmark_spec("aio3").demo  # counts from the demo manifest
    assert list(demo3.test_sets) == list(ablation.SEEN_SETS)


def test_probe_set_labels_every_crop_with_its_type_and_photograph(tmp_path):
    root = build_demo_benchmark(tmp_path / "demo", seed=0, size=64)
    images, types, photographs = ablation.probe_set(root, crop=32)
    n_images = 8  # per test set; 4 crops of 32 px each
    assert images.shape == (3 * n_images * 4, 3, 32, 32)
    assert sorted(set(types)) == ["haze", "noise", "rain"] and (types == "rain").sum() == n_images * 4
    assert sorted(set(photographs)) == ["chelsea", "china", "coffee", "flower"]
    assert all((photographs == p).sum() == len(types) // 4 for p in set(photographs))


@pytest.mark.slow
def test_ablation_command_writes_the_documented_json(tmp_path, monkeypatch):
    out = tmp_path / "ablation.json"
    argv = ["ablation", "--steps", "2", "--seeds", "2", "--sweep-steps", "2", "--variants", "original+specific",
            "--work", str(tmp_path / "work"), "--json", str(out), "--no-progress"]
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["command"].startswith("python -m baryir.bench ablation --steps 2 --seeds 2")
    assert report["steps"] == 2 and "cores" in report["hardware"] and report["workers"] == 1
    assert set(report["variants"]) == {"barycenter+specific", "original+specific"}
    full, original = report["variants"]["barycenter+specific"], report["variants"]["original+specific"]
    assert full["parameters"] == original["parameters"]  # the fair pair has one architecture
    sets = [*ablation.SEEN_SETS, *ablation.UNSEEN_SETS]
    for row in report["variants"].values():
        assert row["seeds"] == [0, 1] and set(row["psnr"]) == set(sets)
        assert all(len(row["psnr"][s]) == 2 for s in sets) and len(row["average_unseen"]) == 2
        assert np.mean([row["psnr"][s][0] for s in ablation.SEEN_SETS]) == pytest.approx(row["average_seen"][0])
    assert full["psnr"] != original["psnr"]  # the decoders read different codes
    for kind in ("trained", "untrained"):
        assert set(report["probes"][kind]) == {"z", "z_b", "s"}
        assert all(0.0 <= acc <= 1.0 for acc in report["probes"][kind].values())
    assert report["probes"]["chance"] == pytest.approx(1 / 3)
    assert set(report["pushes"]) == set(ablation.PUSHES)
    for name, row in report["pushes"].items():
        assert row["overrides"] == list(ablation.PUSHES[name]) and len(row["probes"]) == 2
        assert row["parameters"] == full["parameters"] and set(row["psnr"]) == set(sets)
    assert report["pushes"]["gamma x20"]["psnr"] != full["psnr"]  # the change reaches the training
    sweep = report["sweep"]
    assert len(sweep["ratio"]["map"]) == len(sweep["weights"]) and sweep["chosen_weight"] in sweep["weights"]
    assert sweep["ratio"]["map"][-1] > sweep["ratio"]["map"][0]  # heavier weight, larger share
    # a rerun reuses the finished runs (same results, no training)
    again = tmp_path / "again.json"
    assert bench.main([*argv[:-3], "--json", str(again), "--no-progress"]) == 0
    assert json.loads(again.read_text())["variants"] == report["variants"]
    assert report["code"] == ablation.code_fingerprint()
    # other training code: the benchmark is rebuilt and every run retrained, not reused
    monkeypatch.setattr(ablation, "code_fingerprint", lambda: "other-code")
    stamp = tmp_path / "work" / "demo_benchmark_128.code"
    assert bench.main([*argv[:-3], "--json", str(again), "--no-progress"]) == 0
    retrained = json.loads(again.read_text())
    assert retrained["code"] == "other-code" and stamp.read_text() == "other-code"
    assert retrained["variants"]["original+specific"]["train_seconds"] != original["train_seconds"]
    run = tmp_path / "work" / "original_specific" / "seed_1" / "result.json"
    assert json.loads(run.read_text())["code"] == "other-code"


def test_unknown_variant_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["ablation", "--variants", "nope"])
    assert exit_info.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err


def test_load_report_says_what_to_do_when_missing_or_wrong(tmp_path):
    with pytest.raises(ConfigError, match="python -m baryir.bench ablation"):
        ablation.load_report(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"variants": {}}')
    with pytest.raises(ConfigError, match="not an ablation report"):
        ablation.load_report(tmp_path / "bad.json")


def test_committed_report_has_the_documented_shape_and_budget():
    report = ablation.load_report()
    assert report["command"].startswith("python -m baryir.bench ablation")
    assert report["steps"] == report["settings"]["steps"] >= 1000 and "cores" in report["hardware"]
    assert set(report["variants"]) == set(ablation.VARIANTS)
    sets = {*ablation.SEEN_SETS, *ablation.UNSEEN_SETS}
    for row in report["variants"].values():
        assert len(row["seeds"]) >= 3 and row["parameters"] > 0 and set(row["psnr"]) == sets
        assert all(len(values) == len(row["seeds"]) for values in row["psnr"].values())
        assert len(row["average_seen"]) == len(row["average_unseen"]) == len(row["seeds"])
    for kind in ("trained", "untrained"):
        assert set(report["probes"][kind]) == {"z", "z_b", "s"}
    assert set(report["pushes"]) == set(ablation.PUSHES)
    assert all(len(row["probes"]) == len(row["seeds"]) >= 3 for row in report["pushes"].values())
    defaults = dataclasses.asdict(ablation.AblationSettings())
    assert {k: v for k, v in report["settings"].items() if k in defaults and k != "barycenter_weight"} == {
        k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items() if k != "barycenter_weight"}
    sweep = report["sweep"]
    assert sweep["chosen_weight"] == report["settings"]["barycenter_weight"]
    low, high = sweep["target_ratio"]
    assert low <= sweep["ratio"]["map"][sweep["weights"].index(sweep["chosen_weight"])] <= high


def test_committed_report_ran_on_the_current_training_code():
    """Every run of the report was trained and scored by this checkout's training code."""
    report = ablation.load_report()
    assert report["commit"] and not report["commit"].endswith("+dirty"), report["commit"]
    assert report["code"] == ablation.code_fingerprint(), (
        "the training code changed since the ablation report was made: rerun its command "
        f"({report['command']}) on a clean tree and re-execute notebook 06")


def test_code_fingerprint_sees_every_training_file(tmp_path, monkeypatch):
    package = tmp_path / "baryir"
    shutil.copytree(Path(ablation.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(ablation, "__file__", str(package / "ablation.py"))
    before = ablation.code_fingerprint()
    assert before == ablation.code_fingerprint() and len(before) == 16
    for changed in ("train.py", "models/network.py", "data/degradations.py", "configs/demo.yaml", "metrics.py",
                    "ablation.py"):
        original = (package / changed).read_bytes()
        (package / changed).write_bytes(original + (b"\n_PROBE = 1\n" if changed.endswith(".py") else b"\n"))
        assert ablation.code_fingerprint() != before, changed
        (package / changed).write_bytes(original)
    (package / "plotting.py").write_text("# not training code\n")
    assert ablation.code_fingerprint() == before
    train = (package / "train.py").read_text()
    (package / "train.py").write_text(train.replace('"""', '"""A reworded docstring. ', 1) + "# a comment\n")
    assert ablation.code_fingerprint() == before  # docstrings and comments are not code
