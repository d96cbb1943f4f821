"""The speed benchmark's own correctness: its baseline is the released iteration (checked
against a hand-written float64 transcription of the released formulas), its kernel
variants compute the same network, and its timings are attributed to the right variant."""

import copy
import math
import time

import numpy as np
import pytest
import torch

from baryir.errors import ConfigError
from baryir.models import (
    MDTA,
    PointwiseConv,
    build_model,
    build_potentials,
    config_from_preset,
)
from benchmarks import perf
from benchmarks.released_loop import (
    ReleasedLoop,
    ReleasedMDTA,
    congruence_loss,
    potentials_loss,
    restoration_loss,
    use_released_kernels,
)

LAMBDAS = [0.5, 0.3, 0.2]
SOURCE = [0, 2, 0, 1]
LABELS = [0, 4, 1, 0]  # contrastive groups: samples 0 and 3 share a label across sources


def _setup(n: int = 4):
    """A float64 tiny network, reference potentials (patch 32), a batch of ``n`` samples."""
    torch.manual_seed(0)
    model = build_model("tiny").double()
    potentials = build_potentials(config_from_preset("tiny"), 3, kind="reference", patch_size=32).double()
    generator = torch.Generator().manual_seed(1)
    batch = {
        "degraded": torch.rand(n, 3, 32, 32, generator=generator, dtype=torch.float64),
        "clean": torch.rand(n, 3, 32, 32, generator=generator, dtype=torch.float64),
        "source": torch.tensor(SOURCE[:n]),
        "label": torch.tensor(LABELS[:n]),
    }
    return model, potentials, batch


def _f(potentials, k: int, z_b: np.ndarray) -> float:
    """``f_k`` of one latent, through the potentials' own network."""
    return float(potentials.nets[k](torch.from_numpy(z_b)[None]).item())


def _hand_written(out, batch, potentials, per_source: bool = False) -> float:
    """The released restoration loss transcribed from its trainer with numpy float64.

    ``per_source=True`` is the other estimator, ``sum_k lambda_k mean_{i in k}[.]``
    (not the released one), to show the test tells them apart.
    """
    z, z_b = out.z.detach().numpy(), out.z_b.detach().numpy()
    n = z.shape[0]
    flat_s = (z - z_b).reshape(n, -1)

    def unit(v):
        v = v.reshape(-1)
        return v / max(np.linalg.norm(v), 1e-12)

    terms = []
    for i in range(n):
        rmse = math.sqrt(np.mean((z[i] - z_b[i]) ** 2))
        ort = sum(float(unit(z_b[i]) @ unit(flat_s[j])) ** 2 for j in range(n))
        sims = [math.exp(float(unit(flat_s[i]) @ unit(flat_s[j])) / 0.07) for j in range(n)]
        pos = sum(s for j, s in enumerate(sims) if LABELS[j] == LABELS[i])
        ctr = -math.log(pos / sum(sims))
        k = SOURCE[i]
        terms.append((k, rmse + 0.05 * (ort + ctr) - _f(potentials, k, z_b[i])))
    if per_source:
        present = sorted({k for k, _ in terms})
        barycenter = sum(LAMBDAS[k] * np.mean([t for kk, t in terms if kk == k]) for k in present)
    else:
        barycenter = sum(LAMBDAS[k] * t for k, t in terms) / n
    l1 = np.mean(np.abs(out.restored.detach().numpy() - batch["clean"].numpy()))
    return barycenter + 1e4 * l1


def test_released_objectives_equal_a_hand_written_transcription():
    model, potentials, batch = _setup()
    potentials.requires_grad_(False)
    out = model(batch["degraded"])
    loss = restoration_loss(out, batch["clean"], SOURCE, LABELS, potentials, LAMBDAS)
    expected = _hand_written(out, batch, potentials)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    other = _hand_written(out, batch, potentials, per_source=True)
    assert abs(other - expected) > 1e3 * abs(loss.item() - expected)  # the estimators differ here

    z_b = out.z_b.detach().numpy()
    f_own = [_f(potentials, k, z_b[i]) for i, k in enumerate(SOURCE)]
    expected_pot = sum(LAMBDAS[k] * f for k, f in zip(SOURCE, f_own)) / len(SOURCE)
    assert potentials_loss(potentials, out.z_b, SOURCE, LAMBDAS).item() == pytest.approx(expected_pot, rel=1e-12)
    residual = sum(LAMBDAS[j] * _f(potentials, j, z_b[-1]) for j in range(3))  # the last sample only
    assert congruence_loss(potentials, out.z_b[-1], LAMBDAS).item() == pytest.approx(10 * residual**2, rel=1e-12)


def test_released_step_takes_its_optimiser_steps_and_one_sample_potential_calls():
    """One network step, two potentials steps, and N + N + K potential evaluations of one sample each."""
    model, potentials, batch = _setup(n=3)
    before_model, before_potentials = copy.deepcopy(model), copy.deepcopy(potentials)
    calls = []
    for k, net in enumerate(potentials.nets):
        net.register_forward_hook(lambda module, args, output, k=k: calls.append((k, args[0].shape[0])))
    loop = ReleasedLoop(model, potentials, LAMBDAS)
    scalars = loop.step(batch)
    assert calls == [(0, 1), (2, 1), (0, 1)] * 2 + [(0, 1), (1, 1), (2, 1)]
    assert {state["step"].item() for state in loop.opt_model.state.values()} == {1}
    steps = [{loop.opt_pot.state[p]["step"].item() for p in net.parameters()} for net in potentials.nets]
    assert steps == [{2}, {1}, {2}]  # f_1 sees no sample of its source: only the congruence step moves it
    before_potentials.requires_grad_(False)
    expected = restoration_loss(before_model(batch["degraded"]), batch["clean"], SOURCE[:3], LABELS[:3],
                                before_potentials, LAMBDAS)
    assert scalars["loss"] == pytest.approx(expected.item(), rel=1e-12)  # before the update
    with torch.no_grad():
        z_b = model(batch["degraded"]).z_b  # the updated network's second forward
        expected_pot = potentials_loss(before_potentials, z_b, SOURCE[:3], LAMBDAS)
    assert scalars["potential_loss"] == pytest.approx(expected_pot.item(), rel=1e-12)
    assert not any(p.requires_grad for p in model.parameters())  # frozen after the step, as released


def test_encoder_only_second_forward_gives_the_same_iteration():
    results = []
    for second in ("full", "encoder"):
        model, potentials, batch = _setup(n=3)
        results.append(ReleasedLoop(model, potentials, LAMBDAS, second).step(batch))
    assert results[0] == pytest.approx(results[1], rel=1e-12)
    with pytest.raises(ValueError, match="second_forward"):
        ReleasedLoop(model, potentials, LAMBDAS, "half")


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


def test_training_comparison_runs_the_released_algorithm_in_every_released_variant():
    report = perf.compare_training("tiny", patch=32, batch=3, iters=2, warmup=0)
    for clock in ("cpu", "wall"):
        assert set(report["times"][clock]) == set(perf.VARIANTS)
        assert all(len(t) == 2 and min(t) > 0 for t in report["times"][clock].values())
    for name in perf.RELEASED_VARIANTS:  # kernels and the second pass's end change rounding only
        assert report["released_gap"][name] < 1e-4, (name, report["released_gap"])
    for name in ("ours", "reuse"):  # another potentials step: its losses are not the released ones
        assert report["losses"][name][1][1] != pytest.approx(report["losses"]["released"][1][1], rel=1e-3)
    assert report["losses"]["reuse"][0][0] == pytest.approx(report["losses"]["ours"][0][0], rel=1e-6)  # same state
    assert report["losses"]["reuse"][0][1] != pytest.approx(report["losses"]["ours"][0][1], rel=1e-3)  # z_B reused
    assert len(report["load"]["before"]) == 3


def test_training_comparison_charges_each_variant_its_own_time(monkeypatch):
    """A variant given 0.4 s of extra CPU work shows up as such, on both clocks, in its own row.

    One untimed warm-up round and the median of three keep one-off costs (first calls,
    a busy neighbour) out of the comparison.
    """
    run = perf.run_variant

    def slowed(runner, batch):
        if isinstance(runner, perf.ReleasedLoop) and runner.second_forward == "encoder":
            end = time.process_time() + 0.4
            while time.process_time() < end:  # busy: CPU time and wall time both grow
                pass
        return run(runner, batch)

    monkeypatch.setattr(perf, "run_variant", slowed)
    report = perf.compare_training("tiny", patch=32, batch=3, iters=3, warmup=1)
    for clock in ("cpu", "wall"):
        seconds = report["seconds"][clock]
        assert seconds["encoder"] > 0.4  # the extra work is charged to its own row ...
        assert seconds["encoder"] > seconds["channels-last"] + 0.2  # ... and to no other
        assert report["speedup"][clock]["encoder"] < report["speedup"][clock]["channels-last"]


def test_network_kernel_comparison_reports_equal_outputs():
    report = perf.compare_network("tiny", patch=16, batch=2, iters=1, warmup=0)
    assert set(report["seconds"]) == {"released", "fused-layernorm", "fused", "ours"}
    assert report["compile_seconds"] is None and min(report["seconds"].values()) > 0
    assert all(gap < 1e-5 for gap in report["relative_gap"].values()), report["relative_gap"]
    assert report["relative_gap"]["ours"] == 0.0
    assert "fused LayerNorm only" in perf.format_network(report)


def test_benchmark_command_line_and_its_errors(capsys):
    args = perf.build_parser().parse_args(["train", "--iters", "3"])
    assert args.func is perf.run_training and args.iters == 3 and args.preset == "tiny"
    args = perf.build_parser().parse_args(["network", "--preset", "reference", "--compile"])
    assert args.func is perf.run_network and args.compile and args.patch == 32
    args = perf.build_parser().parse_args(["inference", "--sizes", "512"])
    assert args.sizes == [512] and args.tile == 256
    args = perf.build_parser().parse_args(["solver-threads", "--threads", "1"])
    assert args.threads == [1] and args.steps == 600
    for argv, option in ((["inference", "--sizes", "4"], "--sizes"), (["solver-threads", "--threads", "0"], "--threads"),
                         (["train", "--threads", "0"], "--threads")):
        assert perf.main(argv) == 2
        assert option in capsys.readouterr().err
    with pytest.raises(ConfigError, match="iters"):
        perf.compare_training(iters=0)
    with pytest.raises(ConfigError, match="iters"):
        perf.compare_network(iters=0)


def test_tiled_inference_memory_stays_bounded_as_the_image_grows():
    """Whole-image activations grow with the image; tiled ones do not (only the float32
    output accumulator does, 12 bytes per pixel; 7-23 measured on an idle machine).

    The allocator adds a few MiB of peak resident memory now and then (4.6 MiB once under
    a parallel test run), never less: each tiled case keeps the smallest of three runs.
    """
    small, large = (min((perf.inference_case(size, tile=96) for _ in range(3)), key=lambda r: r["growth_mib"])
                    for size in (192, 384))
    whole = perf.inference_case(384, tile=None)
    for row in (small, large, whole):
        assert row["finite"] and row["seconds"] > 0 and row["peak_mib"] >= row["before_mib"] > 0
    added_pixels = 384 * 384 - 192 * 192
    assert (large["growth_mib"] - small["growth_mib"]) * 2**20 < 40 * added_pixels
    assert whole["growth_mib"] > 3 * large["growth_mib"]
