"""Tests of baryir.toy against exact references (closed forms, assignments, POT)."""

import numpy as np
import ot
import pytest
from scipy.optimize import linear_sum_assignment

from baryir import toy

WEIGHTS = (0.25, 0.25, 0.5)


def random_spd(rng, d):
    mat = rng.standard_normal((d, d))
    return mat @ mat.T + 0.5 * np.eye(d)


# --- samplers ---------------------------------------------------------------------


@pytest.mark.parametrize("name", toy.TOY_NAMES)
def test_sample_is_seeded_and_matches_exact_moments(name):
    x = toy.sample(name, 200_000, seed=3)
    assert x.shape == (200_000, 2)
    np.testing.assert_array_equal(toy.sample(name, 50, seed=3), toy.sample(name, 50, seed=3))
    assert not np.allclose(toy.sample(name, 50, seed=3), toy.sample(name, 50, seed=4))
    mean, cov = toy.toy_moments(name)
    # standard errors are below 0.003 for these sizes; 0.01 is > 3 of them
    np.testing.assert_allclose(x.mean(axis=0), mean, atol=0.01)
    np.testing.assert_allclose(np.cov(x, rowvar=False), cov, atol=0.01)


def test_sample_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown toy distribution"):
        toy.sample("banana", 10)
    with pytest.raises(ValueError, match="positive integer"):
        toy.sample("ring", 0)


# --- distances --------------------------------------------------------------------


def test_w2_of_a_cloud_with_itself_is_zero_and_w2_is_symmetric():
    x, y = toy.sample("moons", 300, seed=0), toy.sample("ring", 200, seed=1)
    assert toy.w2_squared(x, x) == pytest.approx(0.0, abs=1e-12)
    assert toy.w2_squared(x, y) == pytest.approx(toy.w2_squared(y, x), rel=1e-10)
    assert toy.w2_squared(x, y) > 0.01


def test_w2_of_a_translation_is_the_squared_shift():
    x = toy.sample("spiral", 250, seed=0)
    shift = np.array([0.3, -1.2])
    assert toy.w2_squared(x, x + shift) == pytest.approx(shift @ shift, rel=1e-9)


def test_w2_equals_optimal_assignment_for_equal_uniform_clouds():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal((40, 3)) + 1
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    assert toy.w2_squared(x, y) == pytest.approx(cost[rows, cols].mean(), rel=1e-10)


def test_w2_with_masses_matches_duplicated_points():
    x, y = toy.sample("square", 30, seed=0), toy.sample("gaussian", 20, seed=1)
    a = np.r_[np.full(10, 2.0), np.full(20, 1.0)] / 40
    duplicated = np.concatenate([x[:10], x[:10], x[10:]])
    assert toy.w2_squared(x, y, a=a) == pytest.approx(toy.w2_squared(duplicated, y), rel=1e-9)


def test_w2_rejects_bad_input():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="dimension"):
        toy.w2_squared(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="shape"):
        toy.w2_squared(np.zeros(5), x)
    with pytest.raises(ValueError, match="NaN"):
        toy.w2_squared(np.full((5, 2), np.nan), x)
    with pytest.raises(ValueError, match="masses a"):
        toy.w2_squared(x, x, a=np.full(5, 0.1))


def test_bures_wasserstein_matches_closed_forms_and_pot():
    rng = np.random.default_rng(1)
    m1, m2 = rng.standard_normal(4), rng.standard_normal(4)
    S1, S2 = random_spd(rng, 4), random_spd(rng, 4)
    assert toy.bures_wasserstein_squared(m1, S1, m1, S1) == pytest.approx(0.0, abs=1e-10)
    value = toy.bures_wasserstein_squared(m1, S1, m2, S2)
    assert value == pytest.approx(toy.bures_wasserstein_squared(m2, S2, m1, S1), rel=1e-9)
    assert value == pytest.approx(float(ot.gaussian.bures_wasserstein_distance(m1, m2, S1, S2)) ** 2, rel=1e-8)
    a, b = np.array([0.5, 2.0, 3.0, 1.0]), np.array([1.0, 0.2, 3.0, 4.0])
    diagonal = toy.bures_wasserstein_squared(m1, np.diag(a), m2, np.diag(b))
    assert diagonal == pytest.approx(np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-10)


def test_bures_wasserstein_rejects_non_psd():
    with pytest.raises(ValueError, match="positive semi-definite"):
        toy.bures_wasserstein_squared(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="symmetric"):
        toy.bures_wasserstein_squared(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2))


# --- Gaussian barycenter ----------------------------------------------------------


@pytest.mark.parametrize("method", ["fixed_point", "pot"])
def test_gaussian_barycenter_of_identical_gaussians_is_that_gaussian(method):
    rng = np.random.default_rng(2)
    mean, cov = rng.standard_normal(3), random_spd(rng, 3)
    means, covs = np.stack([mean] * 3), np.stack([cov] * 3)
    bary_mean, bary_cov = toy.gaussian_barycenter(means, covs, WEIGHTS, method=method)
    np.testing.assert_allclose(bary_mean, mean, atol=1e-12)
    np.testing.assert_allclose(bary_cov, cov, atol=1e-9)


@pytest.mark.parametrize("dim", [2, 16])
def test_fixed_point_agrees_with_pot_and_solves_the_barycenter_equation(dim):
    rng = np.random.default_rng(dim)
    means = rng.standard_normal((3, dim))
    covs = np.stack([random_spd(rng, dim) for _ in range(3)])
    m_fp, S_fp = toy.gaussian_barycenter(means, covs, WEIGHTS)
    m_pot, S_pot = toy.gaussian_barycenter(means, covs, WEIGHTS, method="pot")
    np.testing.assert_allclose(m_fp, np.asarray(WEIGHTS) @ means, atol=1e-12)
    np.testing.assert_allclose(m_fp, m_pot, atol=1e-12)
    np.testing.assert_allclose(S_fp, S_pot, atol=1e-8 * np.abs(S_fp).max())
    root = toy._sqrtm_psd(S_fp)
    rhs = sum(w * toy._sqrtm_psd(root @ c @ root) for w, c in zip(WEIGHTS, covs))
    np.testing.assert_allclose(S_fp, rhs, atol=1e-8 * np.abs(S_fp).max())


def test_gaussian_barycenter_of_commuting_covariances_has_closed_form():
    diagonals = np.array([[0.25, 1.0, 4.0], [1.0, 2.0, 0.5], [9.0, 0.1, 1.0]])
    _, S = toy.gaussian_barycenter(np.zeros((3, 3)), np.stack([np.diag(v) for v in diagonals]), WEIGHTS)
    np.testing.assert_allclose(S, np.diag((np.asarray(WEIGHTS) @ np.sqrt(diagonals)) ** 2), atol=1e-10)


def test_gaussian_barycenter_rejects_bad_input():
    covs = np.stack([np.eye(2)] * 3)
    with pytest.raises(ValueError, match="covs must have shape"):
        toy.gaussian_barycenter(np.zeros((3, 2)), covs[:2], WEIGHTS)
    with pytest.raises(ValueError, match="positive definite"):
        toy.gaussian_barycenter(np.zeros((3, 2)), np.stack([np.eye(2), np.eye(2), np.diag([1.0, 0.0])]), WEIGHTS)
    with pytest.raises(ValueError, match="unknown method"):
        toy.gaussian_barycenter(np.zeros((3, 2)), covs, WEIGHTS, method="newton")
    with pytest.raises(ValueError, match="3 weights"):
        toy.gaussian_barycenter(np.zeros((3, 2)), covs, (0.5, 0.5))


# --- free-support barycenter ------------------------------------------------------


def test_free_support_barycenter_of_translated_clouds_is_the_average_translation():
    x = toy.sample("moons", 120, seed=0)
    shift = np.array([2.0, -1.0])
    bary = toy.free_support_barycenter([x, x + shift], (0.5, 0.5), n_support=120, seed=1)
    assert toy.w2_squared(bary, x + shift / 2) < 1e-10


def test_free_support_barycenter_beats_each_source_and_the_mixture():
    clouds = [toy.sample(name, 150, seed=k) + shift for k, (name, shift) in
              enumerate(zip(["ring", "square", "moons"], [(-2, 0), (2, 0), (0, 2)]))]
    bary = toy.free_support_barycenter(clouds, WEIGHTS, n_support=150)
    objective = toy.barycenter_objective(bary, clouds, WEIGHTS)
    points, masses = toy.mixture_of_clouds(clouds, WEIGHTS)
    assert objective < toy.barycenter_objective(points, clouds, WEIGHTS, support_masses=masses)
    for cloud in clouds:
        assert objective < toy.barycenter_objective(cloud, clouds, WEIGHTS)


def test_free_support_barycenter_rejects_mismatched_clouds():
    with pytest.raises(ValueError, match="dimension"):
        toy.free_support_barycenter([np.zeros((5, 2)), np.zeros((5, 3))], (0.5, 0.5), 5)
    with pytest.raises(ValueError, match="n_support"):
        toy.free_support_barycenter([np.zeros((5, 2))], (1.0,), 0)


# --- benchmark --------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 8])
def test_benchmark_matrices_are_consistent(dim):
    bench = toy.LocationScatterBenchmark(dim, WEIGHTS, seed=0)
    assert bench.n_sources == 3
    np.testing.assert_allclose(np.einsum("kij,klj->kil", bench.matrices, bench.matrices), bench.covs, atol=1e-10)
    eigenvalues = np.linalg.eigvalsh(bench.covs)
    np.testing.assert_allclose(eigenvalues[:, 0], 0.25, rtol=1e-8)
    np.testing.assert_allclose(eigenvalues[:, -1], 4.0, rtol=1e-8)
    for cov, A in zip(bench.covs, bench.true_map_matrices):  # A_k pushes Sigma_k to S
        np.testing.assert_allclose(A @ cov @ A, bench.bary_cov, atol=1e-9)
        assert np.linalg.eigvalsh(A).min() > 0
    inverse_average = sum(w * np.linalg.inv(A) for w, A in zip(bench.weights, bench.true_map_matrices))
    np.testing.assert_allclose(inverse_average, np.eye(dim), atol=1e-9)  # barycenter first-order condition


@pytest.mark.parametrize("base", ["gaussian", "rectangles", "ring", "moons"])
def test_benchmark_source_statistics_match_covariances(base):
    bench = toy.LocationScatterBenchmark(2, WEIGHTS, base=base, seed=1)
    rng = np.random.default_rng(0)
    for k in range(bench.n_sources):
        x = bench.sample_source(k, 100_000, rng)
        np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=0.03)
        np.testing.assert_allclose(np.cov(x, rowvar=False), bench.covs[k], atol=0.05)


def test_true_maps_send_sources_exactly_onto_barycenter_samples():
    bench = toy.LocationScatterBenchmark(4, WEIGHTS, base="rectangles", seed=2)
    for k in range(bench.n_sources):
        np.testing.assert_allclose(
            bench.true_map(k, bench.sample_source(k, 500, 7)), bench.sample_barycenter(500, 7), atol=1e-10
        )


def test_l2_uvp_of_true_maps_is_zero_and_of_identity_matches_closed_form():
    bench = toy.LocationScatterBenchmark(2, WEIGHTS, seed=0)
    rng = np.random.default_rng(0)
    sources = [bench.sample_source(k, 200_000, rng) for k in range(3)]
    truth = [bench.true_map(k, x) for k, x in enumerate(sources)]
    assert toy.l2_uvp(truth, truth, bench.weights, bench.bary_cov) == 0.0
    as_dicts = [dict(enumerate(arrays)) for arrays in (sources, truth)]
    from_lists = toy.l2_uvp(sources, truth, bench.weights, bench.bary_cov)
    assert toy.l2_uvp(*as_dicts, bench.weights, bench.bary_cov) == from_lists
    eye = np.eye(2)
    exact = 100 * sum(
        w * np.trace((eye - A) @ cov @ (eye - A))
        for w, A, cov in zip(bench.weights, bench.true_map_matrices, bench.covs)
    ) / np.trace(bench.bary_cov)
    measured = toy.l2_uvp(sources, truth, bench.weights, bench.bary_cov)
    assert measured == pytest.approx(exact, rel=0.02)
    assert measured > 5.0  # the identity is far from the barycenter maps


def test_bw2_uvp_of_the_truth_is_zero():
    bench = toy.LocationScatterBenchmark(3, WEIGHTS, seed=0)
    z = np.random.default_rng(0).standard_normal((1000, 3))
    z = (z - z.mean(axis=0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    exact_moments = z @ toy._sqrtm_psd(bench.bary_cov)  # sample mean 0, sample covariance S
    assert toy.bw2_uvp(exact_moments, bench.bary_mean, bench.bary_cov) == pytest.approx(0.0, abs=1e-9)
    # i.i.d. samples of the barycenter score only the sampling error (about 0.002 % at 100k, measured)
    assert toy.bw2_uvp(bench.sample_barycenter(100_000, 1), bench.bary_mean, bench.bary_cov) < 0.02
    average_cov = np.einsum("k,kij->ij", bench.weights, bench.covs)
    trivial = toy.bures_wasserstein_squared(np.zeros(3), average_cov, np.zeros(3), bench.bary_cov)
    assert trivial / np.trace(bench.bary_cov) * 100 > 0.1


def test_benchmark_rejects_bad_input():
    with pytest.raises(ValueError, match="dim=2"):
        toy.LocationScatterBenchmark(3, WEIGHTS, base="ring")
    with pytest.raises(ValueError, match="unknown base"):
        toy.LocationScatterBenchmark(2, WEIGHTS, base="cube")
    with pytest.raises(ValueError, match="at least 2"):
        toy.LocationScatterBenchmark(1, WEIGHTS)
    bench = toy.LocationScatterBenchmark(2, WEIGHTS)
    with pytest.raises(ValueError, match="source index"):
        bench.sample_source(3, 10)
    with pytest.raises(ValueError, match="one predicted"):
        toy.l2_uvp([np.zeros((4, 2))], [np.zeros((4, 2))], WEIGHTS, bench.bary_cov)


# --- weights ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "weights, n_sources, message",
    [
        ((0.5, 0.6), None, "sum to 1"),
        ((1.2, -0.2), None, "positive"),
        ((0.5, np.nan), None, "positive"),
        ((0.5, 0.5), 3, "expected 3 weights"),
        ([[0.5, 0.5]], None, "1-D"),
        ((), None, "1-D"),
    ],
)
def test_check_weights_rejects_bad_weights(weights, n_sources, message):
    with pytest.raises(ValueError, match=message):
        toy.check_weights(weights, n_sources)


def test_check_weights_returns_normalised_floats():
    w = toy.check_weights([1 / 3, 1 / 3, 1 / 3 + 5e-7])
    assert w.dtype == float and w.sum() == pytest.approx(1.0, abs=1e-15)


def test_assign_to_support_is_the_optimal_permutation():
    rng = np.random.default_rng(3)
    cloud = rng.normal(size=(40, 3))
    order = rng.permutation(40)
    support = cloud[order] + 0.01 * rng.normal(size=(40, 3))  # a small move: the identity matching is optimal
    images = toy.assign_to_support(cloud, support)
    assert sorted(images) == list(range(40))
    np.testing.assert_array_equal(order[images], np.arange(40))
    far = rng.normal(size=(40, 3)) + 2.0
    images = toy.assign_to_support(cloud, far)
    cost = np.mean(np.sum((cloud - far[images]) ** 2, axis=1))
    assert cost == pytest.approx(toy.w2_squared(cloud, far))
    with pytest.raises(ValueError, match="same number"):
        toy.assign_to_support(cloud, far[:10])


# --- one map shared by all sources ------------------------------------------------------


def test_circle_offsets_are_evenly_spread():
    offsets = toy.circle_offsets(2.0, 3)
    np.testing.assert_allclose(offsets[0], [0.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(offsets, axis=1), 2.0)
    np.testing.assert_allclose(offsets.sum(axis=0), 0.0, atol=1e-12)
    pair_distances = [np.linalg.norm(offsets[i] - offsets[j]) for i, j in ((0, 1), (1, 2), (0, 2))]
    np.testing.assert_allclose(pair_distances, 2.0 * np.sqrt(3))
    with pytest.raises(ValueError, match="radius"):
        toy.circle_offsets(-1.0, 3)


def test_shared_map_floor_vanishes_only_for_separated_sources():
    problem = toy.LocationScatterBenchmark(2, WEIGHTS, base="gaussian", seed=0)
    overlapping = toy.shared_map_floor(problem, n=20_000)
    separated = toy.shared_map_floor(problem, toy.circle_offsets(8.0, 3), n=20_000)
    assert 4.0 < overlapping < 9.0  # about 6 % for this draw of the covariances
    assert separated < 0.2
    # the shared map is one of the maps the floor minimises over: the identity scores worse
    rng = np.random.default_rng(2)
    clouds = [problem.sample_source(k, 20_000, rng) for k in range(3)]
    identity = toy.l2_uvp(clouds, [problem.true_map(k, x) for k, x in enumerate(clouds)], WEIGHTS, problem.bary_cov)
    assert overlapping < identity
    with pytest.raises(ValueError, match="Gaussian base"):
        toy.shared_map_floor(toy.LocationScatterBenchmark(2, WEIGHTS, base="ring"))
