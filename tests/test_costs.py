"""Tests of the MLOT transport costs (baryir.costs, paper eq. 4)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from baryir.costs import (
    COST_PRESETS,
    MLOTCost,
    contrastive_loss,
    cosine_matrix,
    cost_landscape,
    landscape_curvature,
    linear_probe_accuracy,
    orthogonality_loss,
    quadratic_cost,
    transport_distance,
)
from baryir.errors import ConfigError

PRESETS = sorted(COST_PRESETS)


# ----------------------------------------------------------------------------
# Naive per-sample float64 references, written straight from the equations.
# ----------------------------------------------------------------------------

def _flat(x, i):
    return [float(v) for v in x[i].reshape(-1).tolist()]


def _norm(a):
    return math.sqrt(sum(v * v for v in a))


def _cos(a, b, eps=1e-8):
    return sum(x * y for x, y in zip(a, b)) / (max(_norm(a), eps) * max(_norm(b), eps))


def naive_distance(z, z_b, kind):
    out = []
    for i in range(z.shape[0]):
        a, b = _flat(z, i), _flat(z_b, i)
        if kind == "sphere":
            na, nb = max(_norm(a), 1e-8), max(_norm(b), 1e-8)
            a, b = [v / na for v in a], [v / nb for v in b]
        d = _norm([x - y for x, y in zip(a, b)])
        out.append(d / math.sqrt(len(a)) if kind == "rmse" else d)
    return out


def naive_contrastive(s, labels, tau, self_positive):
    n = s.shape[0]
    out = []
    for i in range(n):
        pos = neg = 0.0
        n_pos = 0
        for j in range(n):
            if j == i and not self_positive:
                continue
            e = math.exp(_cos(_flat(s, i), _flat(s, j)) / tau)
            if labels[i] == labels[j]:
                pos += e
                n_pos += 1
            else:
                neg += e
        out.append(-math.log(pos / (pos + neg)) if n_pos else 0.0)
    return out


def naive_orthogonality(z_b, s, squared, include_self, reduction="sum"):
    n = z_b.shape[0]
    out = []
    for i in range(n):
        terms = []
        for j in range(n):
            if j == i and not include_self:
                continue
            c = _cos(_flat(z_b, i), _flat(s, j))
            terms.append(c * c if squared else abs(c))
        total = sum(terms)
        out.append(total / max(len(terms), 1) if reduction == "mean" else total)
    return out


def naive_mlot(z, z_b, source, labels, preset, gamma=None):
    p = COST_PRESETS[preset]
    gamma = p.gamma if gamma is None else gamma
    s = z - z_b
    groups = labels if (p.positives == "label" and labels is not None) else source
    d = naive_distance(z, z_b, p.distance)
    c = naive_contrastive(s, groups.tolist(), p.tau, p.self_positive)
    o = naive_orthogonality(z_b, s, p.ort_squared, p.ort_include_self, p.ort_reduction)
    return [di + gamma * (ci + oi) for di, ci, oi in zip(d, c, o)]


def _batch(n=7, shape=(3, 2, 2), k=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((n, *shape), generator=g, dtype=dtype)
    z_b = torch.randn((n, *shape), generator=g, dtype=dtype)
    source = torch.arange(n) % k
    return z, z_b, source


def _assert_close(actual, expected, rtol=1e-10, atol=1e-10):
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=actual.dtype), rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------
# Each term against the naive loop
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["norm", "rmse", "sphere"])
def test_distance_matches_naive_loop(kind):
    z, z_b, _ = _batch(seed=1)
    _assert_close(transport_distance(z, z_b, kind), naive_distance(z, z_b, kind))


def test_rmse_is_norm_over_sqrt_numel():
    z, z_b, _ = _batch(seed=2, shape=(4, 3, 5))
    torch.testing.assert_close(transport_distance(z, z_b, "rmse") * math.sqrt(60), transport_distance(z, z_b, "norm"))


@pytest.mark.parametrize("self_positive", [False, True])
@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_contrastive_matches_naive_loop(self_positive, tau):
    _, s, _ = _batch(n=9, seed=3)
    labels = torch.tensor([0, 0, 1, 2, 1, 0, 2, 2, 3])  # label 3 has a single member
    got = contrastive_loss(s, labels, tau, self_positive)
    _assert_close(got, naive_contrastive(s, labels.tolist(), tau, self_positive), rtol=1e-9, atol=1e-9)
    assert torch.all(got >= 0)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("include_self", [False, True])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_orthogonality_matches_naive_loop(squared, include_self, reduction):
    z_b, s, _ = _batch(n=6, seed=4)
    got = orthogonality_loss(z_b, s, squared, include_self, reduction)
    _assert_close(got, naive_orthogonality(z_b, s, squared, include_self, reduction))


@pytest.mark.parametrize("preset", PRESETS)
def test_mlot_cost_matches_naive_loop(preset):
    z, z_b, source = _batch(n=8, seed=5)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])  # differs from source = arange % 3
    cost = MLOTCost(preset, gamma=0.3)
    _assert_close(cost(z, z_b, source, labels), naive_mlot(z, z_b, source, labels, preset, gamma=0.3))
    terms = cost.terms(z, z_b, source, labels)
    torch.testing.assert_close(terms["total"], cost(z, z_b, source, labels))
    assert set(terms) == {"distance", "contrastive", "orthogonality", "total"}


def test_presets_differ_as_documented():
    paper, ref = COST_PRESETS["paper"], COST_PRESETS["reference"]
    assert (paper.distance, ref.distance) == ("norm", "rmse")
    assert (paper.ort_squared, ref.ort_squared) == (False, True)
    assert (paper.self_positive, ref.self_positive) == (False, True)
    assert (paper.positives, ref.positives) == ("source", "label")
    assert paper.ort_include_self and ref.ort_include_self
    assert ref.tau == 0.07 and ref.gamma == 0.05


def test_reference_positives_follow_labels_and_paper_ignores_them():
    z, z_b, source = _batch(n=6, seed=6)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])  # every sample its own label: no positive but self
    ref = MLOTCost("reference").terms(z, z_b, source, labels)["contrastive"]
    ref_by_source = MLOTCost("reference").terms(z, z_b, source)["contrastive"]
    _assert_close(ref, naive_contrastive(z - z_b, labels.tolist(), 0.07, True))
    assert not torch.allclose(ref, ref_by_source)
    paper = MLOTCost("paper")
    torch.testing.assert_close(paper(z, z_b, source, labels), paper(z, z_b, source))


def test_ablation_switches_remove_terms():
    z, z_b, source = _batch(seed=7)
    t = MLOTCost("paper", gamma=0.2).terms(z, z_b, source)
    only_d = MLOTCost("paper", gamma=0.2, use_contrastive=False, use_orthogonality=False)
    plus_ctr = MLOTCost("paper", gamma=0.2, use_orthogonality=False)
    plus_ort = MLOTCost("paper", gamma=0.2, use_contrastive=False)
    torch.testing.assert_close(only_d(z, z_b, source), t["distance"])
    torch.testing.assert_close(plus_ctr(z, z_b, source), t["distance"] + 0.2 * t["contrastive"])
    torch.testing.assert_close(plus_ort(z, z_b, source), t["distance"] + 0.2 * t["orthogonality"])


def test_quadratic_cost_unchanged():
    z, z_b, source = _batch(seed=8)
    torch.testing.assert_close(quadratic_cost(z, z_b, source), 0.5 * transport_distance(z, z_b).square())


# ----------------------------------------------------------------------------
# Gradients, invariances, equivariance
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("distance", ["norm", "sphere"])
def test_gradcheck(preset, distance):
    z, z_b, source = _batch(n=5, shape=(3,), seed=9)
    labels = torch.tensor([0, 1, 0, 1, 1])
    cost = MLOTCost(preset, gamma=0.5, tau=0.5, distance=distance)
    z.requires_grad_(True)
    z_b.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: cost(a, b, source, labels), (z, z_b))


def test_gradcheck_individual_terms():
    z_b, s, _ = _batch(n=4, shape=(3,), seed=10)
    labels = torch.tensor([0, 0, 1, 2])
    s.requires_grad_(True)
    z_b.requires_grad_(True)
    for self_positive in (False, True):
        assert torch.autograd.gradcheck(lambda x, sp=self_positive: contrastive_loss(x, labels, 0.3, sp), (s,))
    for squared in (False, True):
        assert torch.autograd.gradcheck(lambda a, b, sq=squared: orthogonality_loss(a, b, sq, True, "mean"), (z_b, s))


def test_cosine_terms_invariant_to_positive_rescaling():
    z_b, s, _ = _batch(n=8, seed=11)
    labels = torch.arange(8) % 3
    g = torch.Generator().manual_seed(0)
    scale = torch.exp(3 * torch.randn(8, 1, 1, 1, generator=g, dtype=torch.float64))  # per-sample factors
    for self_positive in (False, True):
        torch.testing.assert_close(
            contrastive_loss(scale * s, labels, 0.1, self_positive), contrastive_loss(s, labels, 0.1, self_positive)
        )
    for squared in (False, True):
        torch.testing.assert_close(
            orthogonality_loss(scale * z_b, 7.0 * s, squared), orthogonality_loss(z_b, s, squared)
        )
    torch.testing.assert_close(transport_distance(scale * s, 2 * scale * z_b, "sphere"), transport_distance(s, z_b, "sphere"))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 9), seed=st.integers(0, 10_000), preset=st.sampled_from(PRESETS))
def test_permutation_equivariance(n, seed, preset):
    z, z_b, _ = _batch(n=n, shape=(4,), seed=seed)
    g = torch.Generator().manual_seed(seed)
    source = torch.randint(0, 3, (n,), generator=g)
    labels = torch.randint(0, 4, (n,), generator=g)
    perm = torch.randperm(n, generator=g)
    cost = MLOTCost(preset, gamma=0.7)
    torch.testing.assert_close(cost(z[perm], z_b[perm], source[perm], labels[perm]), cost(z, z_b, source, labels)[perm])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), k=st.integers(1, 4), seed=st.integers(0, 10_000), preset=st.sampled_from(PRESETS))
def test_float32_matches_float64_and_is_finite(n, k, seed, preset):
    z, z_b, _ = _batch(n=n, shape=(2, 3), seed=seed)
    source = torch.arange(n) % k
    cost = MLOTCost(preset)
    c64 = cost(z, z_b, source)
    c32 = cost(z.float(), z_b.float(), source)
    assert torch.isfinite(c32).all()
    torch.testing.assert_close(c32.double(), c64, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------
# Edge cases
# ----------------------------------------------------------------------------

def _value_and_grads(cost, z, z_b, source):
    z = z.clone().requires_grad_(True)
    z_b = z_b.clone().requires_grad_(True)
    value = cost(z, z_b, source)
    value.sum().backward()
    return value, z.grad, z_b.grad


@pytest.mark.parametrize("preset", PRESETS)
def test_single_sample(preset):
    z, z_b, source = _batch(n=1, seed=12)
    cost = MLOTCost(preset, gamma=1.0)
    terms = cost.terms(z, z_b, source)
    assert terms["contrastive"].item() == 0.0
    _assert_close(terms["orthogonality"], naive_orthogonality(z_b, z - z_b, cost.settings.ort_squared, True))
    value, gz, gzb = _value_and_grads(cost, z, z_b, source)
    assert torch.isfinite(value).all() and torch.isfinite(gz).all() and torch.isfinite(gzb).all()


@pytest.mark.parametrize("preset", PRESETS)
def test_one_source_in_batch_has_zero_contrastive(preset):
    z, z_b, _ = _batch(n=5, seed=13)
    source = torch.full((5,), 2)
    terms = MLOTCost(preset).terms(z, z_b, source)
    torch.testing.assert_close(terms["contrastive"], torch.zeros(5, dtype=torch.float64), rtol=0, atol=1e-12)


def test_sample_without_positive_gets_zero_with_zero_gradient():
    _, s, _ = _batch(n=4, seed=14)
    labels = torch.tensor([0, 0, 1, 1])
    labels_lonely = torch.tensor([0, 0, 1, 2])  # samples 2 and 3 alone in their group
    s = s.clone().requires_grad_(True)
    loss = contrastive_loss(s, labels_lonely, 0.07, self_positive=False)
    assert loss[2].item() == 0.0 and loss[3].item() == 0.0 and loss[0].item() > 0
    (grad,) = torch.autograd.grad(loss[3], s)
    assert torch.count_nonzero(grad) == 0
    assert torch.isfinite(contrastive_loss(s, labels, 0.07, False)).all()


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("which", ["z_b", "s", "both"])
def test_zero_vectors_are_finite(preset, which):
    z, z_b, source = _batch(n=4, seed=15)
    if which in ("z_b", "both"):
        z_b[1] = 0.0
        z[1] = 1.0
    if which in ("s", "both"):
        z[2] = z_b[2]  # s_2 = 0
    if which == "both":
        z[3] = 0.0
        z_b[3] = 0.0
    cost = MLOTCost(preset, gamma=1.0)
    value, gz, gzb = _value_and_grads(cost, z, z_b, source)
    assert torch.isfinite(value).all() and torch.isfinite(gz).all() and torch.isfinite(gzb).all()
    torch.testing.assert_close(value.detach(), torch.tensor(naive_mlot(z, z_b, source, None, preset, 1.0), dtype=torch.float64))
    cos = cosine_matrix(z_b, z - z_b)
    if which in ("z_b", "both"):
        assert torch.all(cos[1] == 0)
    if which in ("s", "both"):
        assert torch.all(cos[:, 2] == 0)


def test_distance_zero_when_map_is_identity_with_zero_gradient():
    z, _, source = _batch(n=3, seed=16)
    for kind in ("norm", "rmse"):
        zz = z.clone().requires_grad_(True)
        d = transport_distance(zz, zz.detach().clone(), kind)
        d.sum().backward()
        assert torch.all(d == 0) and torch.all(zz.grad == 0)


def test_sphere_distance_ignores_norm_of_barycenter():
    z, _, _ = _batch(n=4, seed=17)
    torch.testing.assert_close(transport_distance(z, 0.1 * z, "sphere"), torch.zeros(4, dtype=torch.float64))
    assert torch.all(transport_distance(z, 0.1 * z, "norm") > 0)


def test_large_logits_are_stable():
    _, s, _ = _batch(n=6, seed=18)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    loss = contrastive_loss(s.float(), labels, tau=1e-3, self_positive=False)
    assert torch.isfinite(loss).all()
    _assert_close(loss.double(), naive_contrastive_stable(s, labels.tolist(), 1e-3), rtol=1e-3, atol=1e-3)


def naive_contrastive_stable(s, labels, tau):
    """The naive loop with the maximum logit factored out (exp would overflow at tau=1e-3)."""
    n = s.shape[0]
    out = []
    for i in range(n):
        logits = {j: _cos(_flat(s, i), _flat(s, j)) / tau for j in range(n) if j != i}
        m = max(logits.values())
        pos = sum(math.exp(v - m) for j, v in logits.items() if labels[j] == labels[i])
        out.append(-math.log(pos / sum(math.exp(v - m) for v in logits.values())))
    return out


# ----------------------------------------------------------------------------
# Configuration errors
# ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs",
    [{"preset": "nope"}, {"tau": 0.0}, {"gamma": -1.0}, {"distance": "l1"}, {"positives": "x"}, {"bogus": 1}],
)
def test_invalid_settings_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        MLOTCost(**kwargs)


def test_shape_mismatch_raises():
    z, z_b, source = _batch(n=4, seed=19)
    with pytest.raises(ValueError, match="same shape"):
        MLOTCost()(z, z_b[:3], source)
    with pytest.raises(ValueError, match="source/labels"):
        MLOTCost()(z, z_b, source[:3])


# ----------------------------------------------------------------------------
# Squared distance, cost landscape, linear probe
# ----------------------------------------------------------------------------

def test_squared_distance_is_quadratic_cost():
    z, z_b, source = _batch(seed=20)
    torch.testing.assert_close(transport_distance(z, z_b, "squared"), quadratic_cost(z, z_b, source))


@pytest.mark.parametrize("preset", PRESETS)
def test_cost_landscape_matches_replacing_one_row(preset):
    z, z_b, source = _batch(n=6, shape=(2,), seed=21)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    points = torch.randn(7, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    cost = MLOTCost(preset, gamma=0.4)
    got = cost_landscape(cost, z, z_b, source, 2, points, labels)
    expected = []
    for y in points:
        moved = z_b.clone()
        moved[2] = y
        expected.append(cost(z, moved, source, labels)[2])
    torch.testing.assert_close(got, torch.stack(expected))
    assert got.shape == (7,)


def test_landscape_curvature_of_the_distances_and_of_the_regularisers():
    z, z_b, source = _batch(n=6, shape=(2,), seed=22)
    points = 3 * torch.randn(40, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    squared = landscape_curvature(MLOTCost("paper", distance="squared", gamma=0.0), z, z_b, source, 1, points)
    torch.testing.assert_close(squared, torch.ones(40, dtype=torch.float64))  # Hessian = I
    norm = landscape_curvature(MLOTCost("paper", gamma=0.0), z, z_b, source, 1, points)
    assert norm.abs().max() < 1e-9  # flat along the ray from z_1
    # a finite-difference second derivative along one direction agrees with the Hessian's range
    cost = MLOTCost("paper", distance="squared", gamma=0.5, tau=0.1)
    curvature = landscape_curvature(cost, z, z_b, source, 1, points)
    assert curvature.min() < 0  # the cosine terms are not convex
    h, y, u = 1e-4, points[0], torch.tensor([0.6, 0.8], dtype=torch.float64)
    values = cost_landscape(cost, z, z_b, source, 1, torch.stack([y - h * u, y, y + h * u]))
    assert (values[0] - 2 * values[1] + values[2]) / h**2 >= curvature[0] - 1e-3


def test_linear_probe_separable_and_random():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (600,), generator=g)
    noise = torch.randn(600, 5, generator=g)
    assert linear_probe_accuracy(noise, labels) < 0.45  # chance is 1/3
    shifted = noise.clone()
    shifted[:, 0] += 6.0 * labels
    assert linear_probe_accuracy(shifted, labels) > 0.97


def test_plotting_helpers_of_notebook_03():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from baryir.plotting import pca_2d, plot_cost_landscape

    rng = np.random.default_rng(0)
    line = np.outer(rng.normal(size=50), [1.0, 2.0, -1.0]) + 0.01 * rng.normal(size=(50, 3))
    proj = pca_2d(line)
    assert proj.shape == (50, 2)
    assert proj[:, 0].var() > 1e3 * proj[:, 1].var()  # the line lies along the first axis
    axis = np.linspace(-1, 1, 5)
    values = np.add.outer(axis, axis) ** 2
    fig = plot_cost_landscape(axis, axis, values, rng.normal(size=(4, 2)), np.array([0, 0, 1, 1]), 0)
    assert len(fig.axes) == 2  # the map and its colour bar
    plt.close(fig)
