"""The training objective of eq. 12: the released estimator, the paper's, and the safety checks."""

import itertools
import math

import pytest
import torch
from _training import tiny_config

import baryir.train as train_module
from baryir.barycenter import estimator_coefficients, sample_weighted_mean
from baryir.checkpoint import load_checkpoint
from baryir.config import OptimConfig
from baryir.costs import MLOTCost
from baryir.errors import TrainingDivergedError
from baryir.models import build_model, build_potentials
from baryir.train import GRADIENT_FIELDS, Trainer, restoration_loss


def _cos(a, b):
    return torch.dot(a, b) / (a.norm() * b.norm())


def released_loss_by_hand(out, clean, source, labels, potentials, lam, gamma=0.05, tau=0.07, l1_weight=1e4):
    """The released trainer's restoration loss, one sample at a time (float64).

    ``mean_i lambda_{k(i)} [rmse_i + gamma (ort_i + ctr_i) - f_{k(i)}(z_B,i)] + l1_weight * L1``
    with ``ort_i = sum_j cos(z_B,i, s_j)^2`` and a contrastive term whose positives are the
    samples with the same label, the sample itself included.
    """
    n = source.shape[0]
    z, zb = out.z.flatten(1), out.z_b.flatten(1)
    s = z - zb
    terms = []
    for i in range(n):
        rmse = ((z[i] - zb[i]) ** 2).mean().sqrt()
        ort = sum(_cos(zb[i], s[j]) ** 2 for j in range(n))
        sims = [torch.exp(_cos(s[i], s[j]) / tau) for j in range(n)]
        positive = sum(sims[j] for j in range(n) if labels[j] == labels[i])
        ctr = -torch.log(positive / sum(sims))
        f_own = potentials(out.z_b[i:i + 1], source[i:i + 1])[0]
        terms.append(lam[source[i]] * (rmse + gamma * (ort + ctr) - f_own))
    return sum(terms) / n + l1_weight * (out.restored - clean).abs().mean()


def test_reference_objective_is_the_released_formula():
    torch.manual_seed(0)
    model = build_model("tiny", dim=4).double()
    potentials = build_potentials(model.config, 3, kind="pooled").double()
    potentials.requires_grad_(False)
    degraded = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    clean = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    source = torch.tensor([0, 2, 2])  # source 1 absent: lambda must not be renormalised
    labels = torch.tensor([0, 2, 3])
    lam = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    shares = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    coefficients = estimator_coefficients(lam, shares, "reference")

    out = model(degraded)
    ours, _ = restoration_loss(out, clean, source, labels, MLOTCost("reference"), potentials, coefficients,
                               OptimConfig())
    hand = released_loss_by_hand(out, clean, source, labels, potentials, lam)
    params = list(model.parameters())
    g_ours = torch.autograd.grad(ours, params, retain_graph=True, allow_unused=True)
    g_hand = torch.autograd.grad(hand, params, allow_unused=True)
    assert ours.item() == pytest.approx(hand.item(), rel=1e-6)
    for a, b in zip(g_ours, g_hand):
        if a is None:
            assert b is None
            continue
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-9 * max(1.0, float(b.abs().max())))


def test_paper_objective_is_eq12_on_a_balanced_batch():
    values = torch.tensor([1.0, 3.0, -2.0, 4.0, 10.0, 0.0], dtype=torch.float64)
    source = torch.tensor([0, 0, 1, 1, 2, 2])
    lam = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    uniform = torch.full((3,), 1 / 3, dtype=torch.float64)
    eq12 = 0.6 * 2.0 + 0.3 * 1.0 + 0.1 * 5.0
    paper = sample_weighted_mean(values, source, estimator_coefficients(lam, uniform, "paper"))
    assert paper.item() == pytest.approx(eq12)
    released = sample_weighted_mean(values, source, estimator_coefficients(lam, uniform, "reference"))
    assert released.item() == pytest.approx(eq12 / 3)  # sum_k p_k lambda_k E_k: a different weighting


def test_paper_estimator_is_unbiased_at_batch_size_two():
    """Averaged over every batch of 2 drawn with shares p, the estimate is eq. 12 exactly."""
    population = [(0, 1.0), (0, 3.0), (1, -2.0), (2, 10.0), (2, 4.0), (2, 0.0)]  # (source, value)
    counts = torch.tensor([2.0, 1.0, 3.0], dtype=torch.float64)
    shares = counts / counts.sum()
    lam = torch.tensor([0.5, 0.2, 0.3], dtype=torch.float64)
    eq12 = 0.5 * 2.0 + 0.2 * -2.0 + 0.3 * (14.0 / 3)
    c = estimator_coefficients(lam, shares, "paper")
    estimates = [
        sample_weighted_mean(torch.tensor([a[1], b[1]], dtype=torch.float64), torch.tensor([a[0], b[0]]), c)
        for a, b in itertools.product(population, repeat=2)
    ]
    assert (sum(estimates) / len(estimates)).item() == pytest.approx(eq12)


def test_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="objective"):
        estimator_coefficients(torch.ones(2) / 2, torch.ones(2) / 2, "neither")


def test_objective_follows_the_cost_preset(demo_root, tmp_path):
    assert Trainer(tiny_config(demo_root, tmp_path / "a", "cost.preset=paper")).objective == "paper"
    trainer = Trainer(tiny_config(demo_root, tmp_path / "b", "optim.objective=paper"))
    counts = torch.tensor(trainer.train_set.source_counts(), dtype=torch.float32)
    assert torch.allclose(trainer.coefficients, trainer.weights * counts.sum() / counts)
    assert Trainer(tiny_config(demo_root, tmp_path / "c")).objective == "reference"


def test_non_finite_potentials_loss_keeps_last_checkpoint_finite(demo_root, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = train_module.potentials_loss

    def poisoned(*args):
        calls["n"] += 1
        loss, f_all = original(*args)
        return (loss * float("nan"), f_all) if calls["n"] == 4 else (loss, f_all)

    monkeypatch.setattr(train_module, "potentials_loss", poisoned)
    trainer = Trainer(tiny_config(demo_root, tmp_path, "loop.checkpoint_every=1"))
    with pytest.raises(TrainingDivergedError, match="potentials loss.*step 4"):
        trainer.fit(progress=False)
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["step"] == 3
    for part in ("model", "potentials"):
        assert all(torch.isfinite(v).all() for v in saved[part].values()), part


def test_gradient_norms_are_logged(demo_root, tmp_path):
    history = Trainer(tiny_config(demo_root, tmp_path / "a", "loop.steps=3")).fit(progress=False)
    for record in history:
        assert set(GRADIENT_FIELDS) <= set(record)
        assert record["grad_bary_decoder"] == 0.0  # the barycenter terms see z and z_B only
        assert all(record[f"grad_l1_{g}"] > 0 for g in ("encoder", "map", "decoder"))
        assert record["grad_bary_map"] > 0 and record["grad_bary_encoder"] > 0
    off = Trainer(tiny_config(demo_root, tmp_path / "b", "loop.steps=2", "optim.barycenter_weight=0"))
    assert all(r[f"grad_bary_{g}"] == 0 for r in off.fit(progress=False) for g in ("encoder", "map"))
    header = (tmp_path / "a" / "history.csv").read_text().splitlines()[0]
    assert all(field in header for field in GRADIENT_FIELDS)
    assert all(math.isfinite(r["grad_l1_decoder"]) for r in history)


def test_latent_ratio_is_logged(demo_root, tmp_path):
    trainer = Trainer(tiny_config(demo_root, tmp_path, "loop.steps=2"))
    history = trainer.fit(progress=False)
    batch = next(iter(torch.utils.data.DataLoader(trainer.train_set, batch_size=2)))
    with torch.no_grad():
        out = trainer.model(batch["degraded"])
    expected = (out.s.norm() / out.z.norm()).item()
    assert all(0 < r["s_over_z"] < 10 for r in history)
    assert 0.1 * expected < history[-1]["s_over_z"] < 10 * expected  # same network, another batch
    assert "s_over_z" in (tmp_path / "history.csv").read_text().splitlines()[0]


def test_init_starts_a_fresh_run_from_checkpoint_weights(demo_root, tmp_path):
    first = Trainer(tiny_config(demo_root, tmp_path / "a", "loop.steps=2"))
    first.fit(progress=False)
    tuned = Trainer(tiny_config(demo_root, tmp_path / "b", f"model.init={tmp_path / 'a' / 'last.pt'}"))
    assert tuned.step == 0
    assert all(torch.equal(p, q) for p, q in zip(tuned.model.parameters(), first.model.parameters()))
    from baryir.errors import ConfigError

    with pytest.raises(ConfigError, match="neither a checkpoint file nor a shipped model"):
        Trainer(tiny_config(demo_root, tmp_path / "c", "model.init=nope"))
