"""The neural barycenter solver (eq. 9/12) against exact references, and its objectives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baryir import toy
from baryir.barycenter import (
    BarycenterMap,
    BarycenterSolver,
    SolverConfig,
    congruence_penalty,
    congruence_residual,
    exact_congruence,
    map_objective,
    potential_objective,
    weighted_source_mean,
)
from baryir.costs import quadratic_cost
from baryir.errors import ConfigError


def gaussian_sampler(means, roots):
    """Sampler for Gaussians N(m_k, R_k R_k^T): ``(n, rng) -> [ (n, d) per source ]``."""
    return lambda n, rng: [m + rng.standard_normal((n, len(m))) @ r.T for m, r in zip(means, roots)]


# --- objectives ---------------------------------------------------------------------------


def test_weighted_source_mean_matches_per_source_averages():
    values = torch.tensor([1.0, 3.0, 10.0, 4.0, 6.0, 8.0])
    source = torch.tensor([0, 0, 1, 2, 2, 2])
    weights = torch.tensor([0.2, 0.3, 0.5])
    expected = 0.2 * 2.0 + 0.3 * 10.0 + 0.5 * 6.0
    assert torch.allclose(weighted_source_mean(values, source, weights), torch.tensor(expected))


def test_weighted_source_mean_renormalises_absent_sources():
    values = torch.tensor([1.0, 3.0, 6.0])
    source = torch.tensor([0, 0, 2])  # source 1 is absent
    weights = torch.tensor([0.25, 0.25, 0.5])
    expected = (0.25 * 2.0 + 0.5 * 6.0) / 0.75
    assert torch.allclose(weighted_source_mean(values, source, weights), torch.tensor(expected))


def test_exact_congruence_sums_to_zero_to_float_precision():
    gen = torch.Generator().manual_seed(0)
    g_all = 100 * torch.randn(500, 4, generator=gen, dtype=torch.float64)
    weights = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    f_all = exact_congruence(g_all, weights)
    residual = congruence_residual(f_all, weights)
    assert residual.abs().max() < 1e-12 * g_all.abs().max()
    # the construction of NOTB, written out for one source
    k = 2
    others = sum(weights[i] * g_all[:, i] for i in range(4) if i != k)
    assert torch.allclose(f_all[:, k], g_all[:, k] - others / (3 * weights[k]))
    f32 = exact_congruence(g_all.float(), weights.float())
    assert congruence_residual(f32, weights.float()).abs().max() < 1e-5 * g_all.abs().max()


def test_objectives_are_generic_over_latent_shapes():
    """Eq. 12 on image-like latents (N, C, h, w): F and the omega objective, written out."""
    gen = torch.Generator().manual_seed(1)
    z, z_b = torch.randn(6, 3, 4, 4, generator=gen), torch.randn(6, 3, 4, 4, generator=gen)
    source = torch.tensor([0, 1, 1, 0, 1, 1])
    weights = torch.tensor([0.4, 0.6])
    f_all = torch.randn(6, 2, generator=gen)
    f_own = f_all.gather(1, source[:, None])[:, 0]
    costs = quadratic_cost(z, z_b, source)
    per_sample = costs - f_own
    expected_f = 0.4 * per_sample[source == 0].mean() + 0.6 * per_sample[source == 1].mean()
    assert torch.allclose(map_objective(costs, f_own, source, weights), expected_f)
    rho = ((0.4 * f_all[:, 0] + 0.6 * f_all[:, 1]) ** 2).mean()
    assert torch.allclose(congruence_penalty(f_all, weights), rho)
    expected_omega = 0.4 * f_own[source == 0].mean() + 0.6 * f_own[source == 1].mean() + 10 * rho
    assert torch.allclose(potential_objective(f_own, source, weights, f_all, 10.0), expected_omega)


def test_per_source_map_agrees_on_grouped_and_mixed_batches():
    torch.manual_seed(0)
    net = BarycenterMap("per_source", dim=3, n_sources=2, hidden=8, depth=2, activation="silu")
    for w in net.net.weights:  # move off the zero initialisation of the last layer
        torch.nn.init.normal_(w)
    z = torch.randn(2, 5, 3)
    grouped = net.forward_grouped(z)
    mixed = net(z.reshape(10, 3), torch.arange(2).repeat_interleave(5))
    assert torch.allclose(grouped.reshape(10, 3), mixed, atol=1e-6)
    assert not torch.allclose(grouped[0], grouped[1])


# --- the solver against exact barycenters ------------------------------------------------


@pytest.mark.slow
def test_two_gaussians_recover_mccann_interpolation():
    """K = 2: the barycenter is McCann's interpolant ((1 - t) I + t T_01) # P_0 at t = lambda_1."""
    rng = np.random.default_rng(0)
    weights = np.array([0.3, 0.7])
    means = [np.array([-1.0, 0.5]), np.array([1.0, -0.5])]
    roots = [np.array([[1.2, 0.0], [0.4, 0.5]]), np.array([[0.5, -0.3], [0.0, 1.3]])]
    covs = [r @ r.T for r in roots]
    t = weights[1]
    a01 = toy.gaussian_ot_matrix(covs[0], covs[1])
    mix = (1 - t) * np.eye(2) + t * a01
    mean_star, cov_star = (1 - t) * means[0] + t * means[1], mix @ covs[0] @ mix
    _, cov_fixed_point = toy.gaussian_barycenter(np.stack(means), np.stack(covs), weights)
    assert np.allclose(cov_star, cov_fixed_point, atol=1e-8)  # closed form = fixed point

    config = SolverConfig(dim=2, weights=weights, map_kind="conditioned", batch_size=128, seed=0)
    solver = BarycenterSolver(config)
    solver.fit(gaussian_sampler(means, roots), steps=150, progress=False)

    clouds = [m + rng.standard_normal((20_000, 2)) @ r.T for m, r in zip(means, roots)]
    t_01 = mean_star + (clouds[0] - means[0]) @ mix  # mix is symmetric
    t_10 = mean_star + (clouds[1] - means[1]) @ (t * np.eye(2) + (1 - t) * toy.gaussian_ot_matrix(covs[1], covs[0]))
    pushed = [solver.transport(x, k) for k, x in enumerate(clouds)]
    l2_uvp = toy.l2_uvp(pushed, [t_01, t_10], weights, cov_star)
    identity_l2_uvp = toy.l2_uvp(clouds, [t_01, t_10], weights, cov_star)
    assert l2_uvp < 1.0 and identity_l2_uvp > 50.0  # percent
    for cloud in pushed:
        assert toy.bw2_uvp(cloud, mean_star, cov_star) < 0.5


def test_penalty_residual_shrinks_as_its_weight_grows():
    """Penalty mode settles where E[residual] = -1 / (2 w): the weight controls congruence."""
    means = [np.zeros(2), np.array([2.0, 0.0]), np.array([0.0, 2.0])]
    roots = [np.eye(2), 0.5 * np.eye(2), np.diag([1.0, 0.5])]
    sampler = gaussian_sampler(means, roots)
    residuals = {}
    for weight in (1.0, 10.0):
        config = SolverConfig(dim=2, weights=(1 / 3, 1 / 3, 1 / 3), congruence="penalty",
                              penalty_weight=weight, batch_size=128, inner_steps=3, seed=0)
        solver = BarycenterSolver(config)
        history = solver.fit(sampler, steps=60, progress=False)
        residuals[weight] = np.mean(history["residual"][-20:])
    assert residuals[10.0] < 0.2 * residuals[1.0]
    for weight, residual in residuals.items():
        assert residual == pytest.approx(1 / (2 * weight), rel=0.2)


def test_exact_mode_keeps_potentials_congruent_and_gaps_are_estimated():
    means = [np.zeros(2), np.array([1.0, 1.0])]
    roots = [np.eye(2), np.diag([0.5, 1.5])]
    config = SolverConfig(dim=2, weights=(0.5, 0.5), congruence="exact", batch_size=64, inner_steps=2, seed=3)
    solver = BarycenterSolver(config)
    history = solver.fit(gaussian_sampler(means, roots), steps=20, progress=False, gap_every=10)
    assert max(history["residual"]) < 1e-5
    assert history["gap_step"] == [9, 19]
    assert all(gap >= 0 for gap in history["gap_inner"])  # F >= L_hat by construction
    f_all = solver.potentials(np.random.default_rng(0).standard_normal((50, 2)))
    assert f_all.shape == (50, 2)
    assert congruence_residual(f_all, solver.weights).abs().max() < 1e-5


@pytest.mark.parametrize("map_kind", ["shared", "conditioned", "per_source"])
def test_fit_is_deterministic_given_a_seed(map_kind):
    means, roots = [np.zeros(2), np.ones(2)], [np.eye(2), 2 * np.eye(2)]
    x = np.random.default_rng(0).standard_normal((10, 2))

    def run(seed):
        config = SolverConfig(dim=2, weights=(0.5, 0.5), map_kind=map_kind, batch_size=32, inner_steps=2, seed=seed)
        solver = BarycenterSolver(config)
        history = solver.fit(gaussian_sampler(means, roots), steps=5, progress=False)
        return history["F"], solver.transport(x, 1)

    (f_a, t_a), (f_b, t_b), (f_c, t_c) = run(0), run(0), run(1)
    assert f_a == f_b and np.array_equal(t_a, t_b)
    assert f_a != f_c and not np.allclose(t_a, t_c)


# --- bad inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"weights": (0.5, 0.6)}, "sum to 1"),
        ({"weights": (1.0,)}, "at least two sources"),
        ({"weights": (-0.5, 1.5)}, "positive"),
        ({"map_kind": "global"}, "map_kind"),
        ({"congruence": "soft"}, "congruence"),
        ({"dim": 0}, "dim"),
        ({"penalty_weight": 0.0}, "penalty_weight"),
    ],
)
def test_bad_config_raises_clear_errors(overrides, message):
    settings = {"dim": 2, "weights": (0.5, 0.5), **overrides}
    with pytest.raises(ConfigError, match=message):
        SolverConfig(**settings)


def test_mismatched_sources_and_dimensions_raise():
    solver = BarycenterSolver(SolverConfig(dim=2, weights=(0.25, 0.25, 0.5), batch_size=8))
    two_sources = gaussian_sampler([np.zeros(2)] * 2, [np.eye(2)] * 2)
    with pytest.raises(ValueError, match="returned 2 sources, expected 3"):
        solver.fit(two_sources, steps=1, progress=False)
    wrong_dim = gaussian_sampler([np.zeros(3)] * 3, [np.eye(3)] * 3)
    with pytest.raises(ValueError, match=r"shape \(8, 2\)"):
        solver.fit(wrong_dim, steps=1, progress=False)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        solver.transport(np.zeros((4, 3)), 0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        solver.transport(np.zeros((4, 2)), 3)
    with pytest.raises(ValueError, match="shape"):
        congruence_residual(torch.zeros(4, 3), torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        weighted_source_mean(torch.zeros(3), torch.tensor([0, 1, 2]), torch.tensor([0.5, 0.5]))
