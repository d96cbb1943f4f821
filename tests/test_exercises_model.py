"""The exercise checks of notebooks 03, 04 and 07 accept a right answer and reject a wrong one."""

import shutil

import numpy as np
import pytest
import torch

from baryir import budget, costs
from baryir.config import load_config
from baryir.data.demo import build_demo_benchmark
from baryir.data.validation import make_validation_split
from baryir.exercises import mlot, network, runbook
from baryir.models import DECODE_FROM

AIO3 = "aio3"  # the packaged config

# --- notebook 03 -------------------------------------------------------------------------


def test_barycenter_mean():
    weights = [0.5, 0.25, 0.25]
    assert mlot.check_barycenter_mean([0, 0, 0, 0, 1.5, 0.75, 0.75, 0], weights)
    assert mlot.check_barycenter_mean([0.05, 0, 0, 0, 1.45, 0.8, 0.75, 0], weights)  # a sample estimate
    assert not mlot.check_barycenter_mean([0, 0, 0, 0, 1, 1, 1, 0], weights)  # equal weights
    assert not mlot.check_barycenter_mean([1.5, 0.75, 0.75], weights)  # wrong length


def test_released_orthogonality():
    assert mlot.check_released_orthogonality(lambda z_b, s: costs.orthogonality_loss(z_b, s, squared=True))
    assert not mlot.check_released_orthogonality(lambda z_b, s: costs.orthogonality_loss(z_b, s))  # |cos|
    assert not mlot.check_released_orthogonality(lambda z_b, s: costs.orthogonality_loss(z_b, s, squared=True).sum())


@pytest.fixture
def small_batch():
    g = torch.Generator().manual_seed(0)
    source = torch.arange(9) % 3
    z = torch.randn(9, 2, generator=g, dtype=torch.float64) + source[:, None].double()
    return z, 0.5 * z, source


def test_nonconvex_point(small_batch):
    z, z_b, source = small_batch
    cost = costs.MLOTCost("paper", distance="squared", gamma=0.01, tau=0.1)
    angles = torch.linspace(0, 2 * np.pi, 73, dtype=torch.float64)[:-1]
    circle = z[0] + 0.05 * torch.stack([angles.cos(), angles.sin()], dim=1)
    curvature = costs.landscape_curvature(cost, z, z_b, source, 0, circle)
    assert mlot.check_nonconvex_point(circle[curvature.argmin()], z, z_b, source, 0, gamma=0.01)
    far = z[0] + torch.tensor([3.0, 3.0], dtype=torch.float64)
    assert costs.landscape_curvature(cost, z, z_b, source, 0, far[None]).item() > 0
    assert not mlot.check_nonconvex_point(far, z, z_b, source, 0, gamma=0.01)
    assert not mlot.check_nonconvex_point(circle[curvature.argmin()], z, z_b, source, 0, gamma=0.5)


def test_probe_rises():
    rng = np.random.default_rng(0)
    source = np.repeat(np.arange(3), 150)
    informative = np.eye(3)[source] * 2 + rng.normal(size=(450, 3))
    assert mlot.check_probe_rises(informative, source, gamma=16, baseline_gamma=0.5)
    assert not mlot.check_probe_rises(rng.normal(size=(450, 3)), source, gamma=16, baseline_gamma=0.5)
    assert not mlot.check_probe_rises(informative, source, gamma=0.5, baseline_gamma=0.5)


# --- notebook 04 -------------------------------------------------------------------------


def test_latent_shape():
    assert network.check_latent_shape((384, 41, 61), height=321, width=481, dim=48)
    assert not network.check_latent_shape((384, 40, 60), height=321, width=481, dim=48)
    assert not network.check_latent_shape((1, 384, 41, 61), height=321, width=481, dim=48)


def test_block_parameters():
    def right(c, heads, expansion):
        m = int(c * expansion)
        return 4 * c + 4 * c * c + 27 * c + heads + 3 * m * c + 18 * m

    assert network.check_block_parameters(right)
    assert not network.check_block_parameters(lambda c, h, e: right(c, h, e) - h)  # forgot the temperatures


def test_variants_using_map():
    assert network.check_variants_using_map(["barycenter", "original+specific", "barycenter+specific"])
    assert not network.check_variants_using_map(["barycenter", "barycenter+specific"])
    assert not network.check_variants_using_map(list(DECODE_FROM))
    assert not network.check_variants_using_map(["z_B only"])


def test_forward_flops():
    flops = budget.forward_flops("tiny", 64, 64)["total"]
    assert network.check_forward_flops(flops, "tiny", 64)
    assert not network.check_forward_flops(flops / 2, "tiny", 64)  # multiply-adds, not FLOPs


# --- notebook 07 -------------------------------------------------------------------------


def test_iterations_per_epoch():
    assert runbook.check_iterations_per_epoch(18_441, "aio3", batch_size=3, gpus=4)
    assert not runbook.check_iterations_per_epoch(18_442, "aio3", batch_size=3, gpus=4)


def test_rain100h_config():
    good = ["data.root=data/benchmarks/aio3_rain100h", "data.oversample.derain=40", "output.dir=runs/rain100h"]
    assert runbook.check_rain100h_config(load_config(AIO3, good))
    assert not runbook.check_rain100h_config(load_config(AIO3, good[:1] + good[2:]))
    assert not runbook.check_rain100h_config(load_config(AIO3, good[1:]))
    assert not runbook.check_rain100h_config(load_config(AIO3, good + ["data.oversample.derain=360"]))


def test_run_hours():
    config = load_config(None, ["model.preset=tiny", "data.patch_size=32", "loop.steps=1000"])
    hours = budget.estimate_run(config, gpus=2).hours(5)
    assert runbook.check_run_hours(hours, config, gpus=2, sustained_tflops=5)
    assert not runbook.check_run_hours(2 * hours, config, gpus=2, sustained_tflops=5)


def test_validation_split(tmp_path):
    root = build_demo_benchmark(tmp_path / "demo", seed=0, size=32)
    shutil.rmtree(root / "Val")
    assert not runbook.check_validation_split(root, "demo")  # no Val/ at all
    make_validation_split(root, "demo", per_set=1)
    assert runbook.check_validation_split(root, "demo")
    moved = next((root / "Val/deblur/GoPro/target").iterdir())
    shutil.copy(moved, root / "Train/Deblur/sharp" / moved.name)
    shutil.copy(root / "Val/deblur/GoPro/input" / moved.name, root / "Train/Deblur/blur" / moved.name)
    assert not runbook.check_validation_split(root, "demo")  # the pair is back in training
