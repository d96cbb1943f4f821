"""The performance benchmark's own correctness: the re-stated released iteration
computes the same updates as the engine, and the inference probe reports memory."""

from itertools import islice

import pytest
import torch
from torch.utils.data import DataLoader

from baryir import bench, cli
from baryir.config import load_config
from baryir.data import build_demo_benchmark
from baryir.errors import ConfigError
from baryir.models import MDTA, PointwiseConv, build_model, build_potentials, config_from_preset
from baryir.perf import (
    VARIANTS,
    ReleasedMDTA,
    compare_network,
    compare_training,
    comparison_overrides,
    format_network,
    inference_case,
    looped_all_potentials,
    released_train_step,
    use_released_kernels,
)
from baryir.train import Trainer


def test_released_loops_and_engine_agree_on_losses_and_weights():
    report = compare_training("tiny", patch=32, batch=3, iters=2, warmup=0)
    assert all(gap < 1e-5 for gap in report["agreement"].values()), report["agreement"]
    assert report["max_relative_loss_gap"] < 1e-4  # two steps: rounding barely amplified
    assert report["first_loss_equal_in_reuse"]
    assert set(report["seconds"]) == set(VARIANTS) and min(report["seconds"].values()) > 0
    losses = report["losses"]
    for name in ("fused", "channels-last", "encoder", "vectorised"):  # the same algorithm as the released loop
        for (a, pa), (b, pb) in zip(losses[name], losses["released"]):
            assert abs(a - b) <= 1e-4 * abs(b) and abs(pa - pb) <= 1e-3
    assert losses["reuse"][1] != losses["vectorised"][1]  # reuse really changes the potentials step
    speed = report["speedup"]
    assert speed["released"] == {"total": 1.0, "step": 1.0}
    assert speed["encoder"]["step"] == pytest.approx(report["seconds"]["channels-last"] / report["seconds"]["encoder"])


def test_released_and_engine_trajectories_stay_equal_in_float64(tmp_path):
    """In float32 the two trajectories drift apart within ~10 steps (RMSprop turns
    rounding-level sign flips of near-zero gradients into steps of ~10 lr). In float64
    the rounding is 1e-16 instead of 1e-7 and they stay equal: the same algorithm."""
    root = build_demo_benchmark(tmp_path / "bench", seed=0, size=48)
    overrides = comparison_overrides(root, "tiny", 32, 3, "reference", tmp_path / "run")
    released, ours = Trainer(load_config(None, overrides)), Trainer(load_config(None, overrides))
    use_released_kernels(released.model)
    for trainer in (released, ours):
        trainer.model.double()
        trainer.potentials.double()
    loader = DataLoader(ours.train_set, batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(0))
    for batch in islice(loader, 12):
        batch = {k: v.double() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in batch.items()}
        a, b = released_train_step(released, batch), ours.train_step(batch)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-10)  # float32: up to 6e-5 after 12 steps
        assert a["potential_loss"] == pytest.approx(b["potential_loss"], rel=0, abs=1e-10)
    for w_a, w_b in zip(released.model.parameters(), ours.model.parameters()):
        assert torch.allclose(w_a, w_b, rtol=0, atol=1e-9)  # float32: 1e-3 apart after 12 steps


def _model_pair(preset="tiny"):
    torch.manual_seed(0)
    ours = build_model(preset).double()
    released = build_model(preset).double()
    released.load_state_dict(ours.state_dict())
    return ours, released


@pytest.mark.parametrize("kernels", [{}, {"layernorm": False, "attention": False}])
def test_released_kernels_compute_the_same_network(kernels):
    """Our fused LayerNorm, Gram-normalised attention and channels-last layout with
    GEMM 1x1 convolutions equal the released kernels, all together and the layout
    alone (float64, so only the rounding of the different orders of operations is left)."""
    ours, released = _model_pair()
    blocks = sum(isinstance(m, MDTA) for m in released.modules())
    pointwise = sum(isinstance(m, PointwiseConv) for m in released.modules())
    expected = pointwise if kernels else 3 * blocks + 1 + pointwise  # 2 LayerNorms + 1 attention per block, latent LN
    assert use_released_kernels(released, **kernels) == expected
    assert sum(isinstance(m, ReleasedMDTA) for m in released.modules()) == (0 if kernels else blocks)
    assert not any(isinstance(m, PointwiseConv) for m in released.modules())
    assert released.memory_format == torch.contiguous_format and ours.memory_format == torch.channels_last
    assert released.state_dict().keys() == ours.state_dict().keys()
    x = torch.rand(2, 3, 20, 28, dtype=torch.float64)
    outputs = []
    for model in (ours, released):
        out = model(x)
        (out.restored.square().mean() + out.z_b.square().mean()).backward()
        outputs.append((out, [p.grad for p in model.parameters()]))
    (a, grads_a), (b, grads_b) = outputs
    assert a.z.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(a.restored, b.restored, atol=1e-12) and torch.allclose(a.z_b, b.z_b, atol=1e-12)
    for ga, gb in zip(grads_a, grads_b):
        assert torch.allclose(ga, gb, rtol=1e-9, atol=1e-12)


def test_gram_normalised_attention_handles_zero_channels_like_normalize():
    """A channel that is zero at every pixel has norm 0: both kernels clamp it to 1e-12
    and give it cosine 0, so the attention rows stay finite and equal."""
    torch.manual_seed(1)
    ours = MDTA(8, heads=2).double()
    released = MDTA(8, heads=2).double()
    released.load_state_dict(ours.state_dict())
    use_released_kernels(released)
    with torch.no_grad():
        ours.to_qkv.weight[:3] = 0  # q channels 0-2 vanish everywhere
        released.to_qkv.weight[:3] = 0
    x = torch.randn(2, 8, 5, 6, dtype=torch.float64)
    a, b = ours(x), released(x)
    assert torch.isfinite(a).all() and torch.allclose(a, b, atol=1e-12)


def test_network_kernel_comparison_reports_equal_outputs():
    report = compare_network("tiny", patch=16, batch=2, iters=1, warmup=0)
    assert set(report["seconds"]) == {"released", "fused-layernorm", "fused", "ours"}
    assert report["compile_seconds"] is None and min(report["seconds"].values()) > 0
    assert all(gap < 1e-5 for gap in report["relative_gap"].values()), report["relative_gap"]
    assert report["relative_gap"]["ours"] == 0.0
    assert "fused LayerNorm only" in format_network(report)


def test_released_step_rejects_an_unknown_second_forward():
    with pytest.raises(ConfigError, match="second_forward"):
        released_train_step(None, {}, second_forward="half")


def test_looped_potentials_equal_batched_ones():
    potentials = build_potentials(config_from_preset("tiny"), 3, kind="reference", patch_size=32)
    z_b = torch.randn(4, potentials.channels, 4, 4)
    assert torch.allclose(looped_all_potentials(potentials, z_b), potentials.all_sources(z_b), atol=1e-6)


def test_bench_registers_the_performance_commands():
    args = cli.build_parser().parse_args(["bench", "train", "--iters", "3"])
    assert args.func is bench.BENCHMARKS["train"][2] and args.iters == 3 and args.preset == "tiny"
    args = cli.build_parser().parse_args(["bench", "network", "--preset", "reference", "--compile"])
    assert args.func is bench.BENCHMARKS["network"][2] and args.compile and args.patch == 32
    args = cli.build_parser().parse_args(["bench", "inference", "--sizes", "512"])
    assert args.sizes == [512] and args.tile == 256
    args = cli.build_parser().parse_args(["bench", "solver-threads", "--threads", "1"])
    assert args.func is bench.BENCHMARKS["solver-threads"][2] and args.threads == [1] and args.steps == 600


def test_bad_benchmark_sizes_are_clear_errors(capsys):
    assert bench.main(["inference", "--sizes", "4"]) == 2
    assert "--sizes" in capsys.readouterr().err
    assert bench.main(["solver-threads", "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err
    assert bench.main(["train", "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="iters"):
        compare_training(iters=0)
    with pytest.raises(ConfigError, match="iters"):
        compare_network(iters=0)


def test_tiled_inference_memory_stays_bounded_as_the_image_grows():
    """Whole-image activations grow with the image; tiled ones do not (only the float32
    output accumulator does, 12 bytes per pixel; 14 measured)."""
    small, large = inference_case(192, tile=96), inference_case(384, tile=96)
    whole = inference_case(384, tile=None)
    for row in (small, large, whole):
        assert row["finite"] and row["seconds"] > 0 and row["peak_mib"] >= row["before_mib"] > 0
    added_pixels = 384 * 384 - 192 * 192
    assert (large["growth_mib"] - small["growth_mib"]) * 2**20 < 40 * added_pixels
    assert whole["growth_mib"] > 3 * large["growth_mib"]
