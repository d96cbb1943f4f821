"""Smoke test of the benchmark command and its JSON report (tiny sizes)."""

from __future__ import annotations

import json

import pytest

from baryir import bench, cli

TINY = ["--steps", "2", "--dims", "2", "--n-eval", "400", "--n-toy", "100", "--repeats", "1", "--no-progress"]


def test_barycenter_benchmark_writes_the_documented_json(tmp_path, capsys):
    out = tmp_path / "report" / "bary.json"
    assert bench.main(["barycenter", "--quick", *TINY, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["mode"] == "quick"
    toy2d = report["toy2d"]
    for key in ("w2_sq", "noise_floor", "pot_w2_sq", "map", "seconds"):
        assert key in toy2d
    assert toy2d["n"] == 100 and toy2d["map"] == "conditioned"
    assert 0 < toy2d["noise_floor"] and 0 < toy2d["pot_w2_sq"] < toy2d["w2_sq"]  # 2 steps: far from done
    rows = report["gaussian"]
    assert [(row["dim"], row["map"]) for row in rows] == [(2, "conditioned"), (2, "shared")]
    for row in rows:
        for key in ("l2_uvp", "bw2_uvp", "seconds", "identity_l2_uvp", "trivial_bw2_uvp", "gap_inner"):
            assert isinstance(row[key], float) and row[key] >= 0
    assert report["settings"]["steps"] == 2 and report["machine"]["torch_threads"] >= 1
    assert "L2-UVP" in capsys.readouterr().out


def test_bench_is_a_subcommand_of_the_cli():
    args = cli.build_parser().parse_args(["bench", "barycenter", "--quick", "--steps", "5"])
    assert args.func is bench.BENCHMARKS["barycenter"][2] and args.quick and args.steps == 5


@pytest.mark.parametrize(("argv", "message"), [(["--steps", "0"], "--steps"), (["--dims", "1"], "--dims")])
def test_bad_sizes_are_reported_without_traceback(argv, message, capsys):
    assert bench.main(["barycenter", "--quick", *argv]) == 2
    assert message in capsys.readouterr().err


def test_toy2d_row_without_pot_draws_reports_none_and_warns_nothing(recwarn):
    settings = bench.BarycenterBenchSettings(dims=(2,), steps=2, n_eval=400, n_toy=100, toy_repeats=1,
                                             pot_repeats=0)
    row = bench.toy2d_row(settings, progress=False)
    assert row["pot_w2_sq"] is None and row["w2_sq"] > 0 and row["noise_floor"] > 0
    assert "POT -" in bench.format_toy2d_row(row)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_source_sampler_moves_each_source_by_its_shift():
    import numpy as np

    from baryir import toy

    problem = toy.LocationScatterBenchmark(2, (0.25, 0.25, 0.5), base="gaussian", seed=0)
    shifts = toy.circle_offsets(3.0, 3)
    centred = bench.source_sampler(problem)(5, np.random.default_rng(1))
    moved = bench.source_sampler(problem, shifts)(5, np.random.default_rng(1))
    for k in range(3):
        np.testing.assert_allclose(moved[k], centred[k] + shifts[k])
    with pytest.raises(ValueError, match="shifts must have shape"):
        bench.source_sampler(problem, shifts[:2])
