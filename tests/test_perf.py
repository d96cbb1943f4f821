"""The performance benchmark's own correctness: the re-stated released iteration
computes the same updates as the engine, and the inference probe reports memory."""

import pytest
import torch

from baryir import bench, cli
from baryir.errors import ConfigError
from baryir.perf import compare_training, inference_case, looped_all_potentials
from baryir.models import build_potentials, config_from_preset


def test_released_loops_and_engine_agree_on_losses_and_weights():
    report = compare_training("tiny", patch=32, batch=3, iters=2, warmup=0)
    assert all(gap < 1e-5 for gap in report["agreement"].values()), report["agreement"]
    assert report["max_relative_loss_gap"] < 1e-4  # two steps: rounding barely amplified
    assert report["first_loss_equal_in_reuse"]
    assert all(report["seconds"][name] > 0 for name in ("released", "vectorised", "reuse"))
    losses = report["losses"]
    assert losses["reuse"][1] != losses["vectorised"][1]  # reuse really changes the potentials step


def test_looped_potentials_equal_batched_ones():
    potentials = build_potentials(config_from_preset("tiny"), 3, kind="reference", patch_size=32)
    z_b = torch.randn(4, potentials.channels, 4, 4)
    assert torch.allclose(looped_all_potentials(potentials, z_b), potentials.all_sources(z_b), atol=1e-6)


def test_bench_registers_the_performance_commands():
    args = cli.build_parser().parse_args(["bench", "train", "--iters", "3"])
    assert args.func is bench.BENCHMARKS["train"][2] and args.iters == 3 and args.preset == "tiny"
    args = cli.build_parser().parse_args(["bench", "inference", "--sizes", "512"])
    assert args.sizes == [512] and args.tile == 256
    args = cli.build_parser().parse_args(["bench", "solver-threads", "--threads", "1"])
    assert args.func is bench.BENCHMARKS["solver-threads"][2] and args.threads == [1] and args.steps == 600


def test_bad_benchmark_sizes_are_clear_errors(capsys):
    assert bench.main(["inference", "--sizes", "4"]) == 2
    assert "--sizes" in capsys.readouterr().err
    assert bench.main(["solver-threads", "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="iters"):
        compare_training(iters=0)


def test_tiled_inference_memory_stays_bounded_as_the_image_grows():
    """Whole-image activations grow with the image; tiled ones do not (only the output
    buffers do, about 60 bytes per pixel)."""
    small, large = inference_case(192, tile=96), inference_case(384, tile=96)
    whole = inference_case(384, tile=None)
    for row in (small, large, whole):
        assert row["finite"] and row["seconds"] > 0 and row["peak_mib"] >= row["before_mib"] > 0
    added_pixels = 384 * 384 - 192 * 192
    assert (large["growth_mib"] - small["growth_mib"]) * 2**20 < 100 * added_pixels
    assert whole["growth_mib"] > 3 * large["growth_mib"]
