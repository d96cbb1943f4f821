"""The exercise checks of notebooks 01 and 02 accept a right answer and reject a wrong one."""

import numpy as np
import ot
import pytest

from baryir import bench, toy
from baryir.exercises import maximin, ot_basics

WEIGHTS = (0.25, 0.25, 0.5)


@pytest.fixture(scope="module")
def gaussian_problem():
    return toy.LocationScatterBenchmark(2, WEIGHTS, base="gaussian", seed=0)


@pytest.fixture(scope="module")
def masses_and_cost():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 2)), rng.standard_normal((8, 2)) + 1.0
    a, b = rng.dirichlet(np.full(7, 5.0)), rng.dirichlet(np.full(8, 5.0))
    cost = ot.dist(x, y)
    return a, b, cost / cost.max()


# --- notebook 01 ----------------------------------------------------------------------


def test_inverse_map_average(gaussian_problem, capsys):
    inverse = np.linalg.inv(gaussian_problem.true_map_matrices)
    inverse_average = np.einsum("k,kij->ij", gaussian_problem.weights, inverse)
    forward_average = np.einsum("k,kij->ij", gaussian_problem.weights, gaussian_problem.true_map_matrices)
    assert ot_basics.check_inverse_map_average(gaussian_problem, inverse_average, forward_average)
    assert capsys.readouterr().out.startswith("Right:")
    # averaging the forward maps (the wrong statement) is rejected as the inverse average
    assert not ot_basics.check_inverse_map_average(gaussian_problem, forward_average, forward_average)
    assert not ot_basics.check_inverse_map_average(gaussian_problem, inverse_average, np.eye(2))
    assert capsys.readouterr().out.startswith("Not yet:")


def test_entropic_plan(masses_and_cost):
    a, b, cost = masses_and_cost
    right = ot.sinkhorn(a, b, cost, 0.01, method="sinkhorn_log", numItermax=100_000, stopThr=1e-12)
    assert ot_basics.check_entropic_plan(right, a, b, cost, 0.01)
    other_eps = ot.sinkhorn(a, b, cost, 0.05, method="sinkhorn_log", numItermax=100_000, stopThr=1e-12)
    assert not ot_basics.check_entropic_plan(other_eps, a, b, cost, 0.01)
    assert not ot_basics.check_entropic_plan(np.full_like(right, np.nan), a, b, cost, 0.01)
    assert not ot_basics.check_entropic_plan(np.outer(a, b) * 0.9, a, b, cost, 0.01)
    assert not ot_basics.check_entropic_plan(right[:, :-1], a, b, cost, 0.01)


def test_price_prediction(masses_and_cost):
    a, b, cost = masses_and_cost
    _, log = ot.emd(a, b, cost, log=True)
    v = log["v"]
    delta = 1e-4
    prediction = delta * (v[5] - v[2])
    assert ot_basics.check_price_prediction(a, b, cost, 2, 5, delta, prediction)
    assert not ot_basics.check_price_prediction(a, b, cost, 2, 5, delta, -prediction)
    with pytest.raises(ValueError, match="delta"):
        ot_basics.check_price_prediction(a, b, cost, 2, 5, 2.0, prediction)


def test_1d_barycenter():
    rng = np.random.default_rng(1)
    sources = [rng.normal(m, s, 50) for m, s in ((-3, 1), (0, 0.3), (4, 2))]
    right = np.einsum("k,kn->n", np.array(WEIGHTS), np.sort(np.stack(sources), axis=1))
    assert ot_basics.check_1d_barycenter(sources, WEIGHTS, rng.permutation(right))
    unsorted_average = np.einsum("k,kn->n", np.array(WEIGHTS), np.stack(sources))
    assert not ot_basics.check_1d_barycenter(sources, WEIGHTS, unsorted_average)
    assert not ot_basics.check_1d_barycenter(sources, WEIGHTS, right[:-1])


# --- notebook 02 ----------------------------------------------------------------------


def test_penalty_offset():
    assert maximin.check_penalty_offset(2.0, -0.25)
    assert not maximin.check_penalty_offset(2.0, 0.25)
    assert not maximin.check_penalty_offset(2.0, -0.5)
    with pytest.raises(ValueError, match="positive"):
        maximin.check_penalty_offset(0.0, 0.0)


def test_exact_congruence_history():
    optimal = 0.36
    rng = np.random.default_rng(0)
    noise = 0.003 * rng.standard_normal(40)
    exact = {"F": list(optimal + noise), "residual": [1e-7] * 40}
    assert maximin.check_exact_congruence(exact, optimal)
    penalty = {"F": list(optimal + 0.05 + noise), "residual": [0.05] * 40}
    assert not maximin.check_exact_congruence(penalty, optimal)
    offset_only = {"F": list(optimal + 0.05 + noise), "residual": [1e-7] * 40}
    assert not maximin.check_exact_congruence(offset_only, optimal)


def test_shared_map_gap(gaussian_problem):
    estimate = maximin._shared_map_gap(gaussian_problem, 100_000, seed=7)
    assert estimate > 0.05 * bench.optimal_dual_value(gaussian_problem)  # a real gap, not noise
    assert maximin.check_shared_map_gap(gaussian_problem, estimate)
    assert not maximin.check_shared_map_gap(gaussian_problem, 0.0)
    with pytest.raises(ValueError, match="Gaussian"):
        maximin.check_shared_map_gap(toy.LocationScatterBenchmark(2, WEIGHTS, base="ring"), estimate)


def test_separation_threshold(gaussian_problem):
    grid = [0.0, 2.0, 4.0, 6.0, 8.0]
    assert maximin.check_separation_threshold(gaussian_problem, grid, 6.0)
    assert not maximin.check_separation_threshold(gaussian_problem, grid, 4.0)
    with pytest.raises(ValueError, match="extend the grid"):
        maximin.check_separation_threshold(gaussian_problem, [0.0, 2.0], 2.0)
