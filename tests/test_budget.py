"""Counted cost of a training run without a GPU (baryir.budget)."""


import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from baryir import budget
from baryir.config import load_config
from baryir.data.datasets import AllInOneTrainDataset
from baryir.data.demo import build_demo_benchmark, demo_counts
from baryir.data.layout import BENCHMARKS
from baryir.errors import ConfigError
from baryir.models import build_model


def test_released_network_counts_106_gflops_per_128px_image():
    table = budget.forward_flops("reference", 128, 128)
    assert table["total"] == 106_387_752_960
    assert sum(v for k, v in table.items() if k != "total") == table["total"]
    assert table["barycenter_map"] == 7_502_340_096


def test_flops_scale_with_batch_and_pixels():
    one = budget.forward_flops("tiny", 32, 32)["total"]
    assert budget.forward_flops("tiny", 32, 32, batch=3)["total"] == 3 * one
    assert budget.forward_flops("tiny", 64, 64)["total"] == pytest.approx(4 * one, rel=0.05)


def test_backward_rule_is_exact_for_the_matrix_products():
    model = build_model("tiny")
    forward, both = FlopCounterMode(display=False), FlopCounterMode(display=False)
    x = torch.rand(2, 3, 32, 32)
    with forward:
        model(x)
    with both:
        out = model(x)
        (out.restored.mean() + out.z_b.mean()).backward()
    for op in (torch.ops.aten.mm, torch.ops.aten.bmm):
        assert both.get_flop_counts()["Global"][op] == 3 * forward.get_flop_counts()["Global"][op]


def test_iteration_adds_the_second_pass_only_when_asked():
    forward = budget.forward_flops("tiny", 32, 32, 2)
    second = sum(forward[name] for name in budget.SECOND_PASS_MODULES if name in forward)
    assert budget.iteration_flops("tiny", 32, 2, "reuse") == 3 * forward["total"]
    assert budget.iteration_flops("tiny", 32, 2, "second") == 3 * forward["total"] + second
    with pytest.raises(ConfigError):
        budget.iteration_flops("tiny", 32, 2, "twice")


def test_saved_activations_on_meta_equal_those_of_a_real_forward():
    model = build_model("tiny")
    storages = {}

    def pack(tensor):
        storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.rand(2, 3, 32, 32))
    assert budget.saved_activation_bytes("tiny", 32, 2) == sum(storages.values())


def test_epoch_samples_match_the_dataset(tmp_path):
    root = build_demo_benchmark(tmp_path / "demo", seed=0, size=32)
    counts = {task: demo_counts()[("train", task)] for task in BENCHMARKS["demo"].tasks}
    assert budget.epoch_samples("demo", counts) == len(AllInOneTrainDataset(root, "demo", 16))
    assert budget.epoch_samples("aio3") == 5144 * 3 * 5 + 200 * 360 + 72135
    assert budget.epoch_samples("aio3", oversample={"derain": 40}) == 5144 * 15 + 200 * 40 + 72135


def test_iterations_per_epoch_follow_the_distributed_sampler():
    assert budget.iterations_per_epoch(221_295, 3) == 73_765
    assert budget.iterations_per_epoch(221_295, 3, gpus=4) == (221_295 // 4) // 3
    with pytest.raises(ConfigError):
        budget.iterations_per_epoch(100, 0)


def test_estimate_of_the_paper_size_run():
    config = load_config("aio3")
    run = budget.estimate_run(config)
    assert run.iterations == 56 * 73_765
    assert run.flops_per_iteration == budget.iteration_flops("reference", 128, 3, "second")
    assert run.memory["weights"] == 4 * (53_549_774 + 30_380_931)  # network + released potentials (K = 3)
    assert run.memory["optimizer_state"] == run.memory["weights"]  # RMSprop: one buffer
    assert run.hours(20) == pytest.approx(2 * run.hours(40))
    four = budget.estimate_run(config, gpus=4)
    assert four.hours(20) == pytest.approx(run.hours(20) / 4, rel=1e-4)
    with pytest.raises(ConfigError):
        run.hours(0)
