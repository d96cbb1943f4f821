"""Checks for the exercises of notebook 02 (the neural barycenter maximin).

Like :mod:`baryir.exercises.ot_basics`, every ``check_*`` function prints a one-line
verdict and returns True or False. The references use the Gaussian location-scatter
family (:class:`baryir.toy.LocationScatterBenchmark`), where the optimal maps
``x -> A_k x``, the barycenter and the optimal potentials are known in closed form:
for the cost ``1/2 |x - y|^2``, ``f*_k(y) = 1/2 y^T (I - A_k^{-1}) y``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import multivariate_normal

from baryir import bench, toy
from baryir.exercises.ot_basics import report


def check_penalty_offset(penalty_weight: float, offset: float) -> bool:
    """Exercise 1: where the penalty makes ``sum_k lambda_k f_k`` settle.

    When every pushforward is the barycenter, the potential step minimises
    ``E[r + w r^2]`` in the residual ``r = sum_k lambda_k f_k``, smallest at
    ``r = -1 / (2 w)``.

    Parameters
    ----------
    penalty_weight : float
        The penalty's weight w > 0.
    offset : float
        The learner's predicted residual.
    """
    if not penalty_weight > 0:
        raise ValueError(f"penalty_weight must be positive, got {penalty_weight!r}")
    truth = -1.0 / (2.0 * penalty_weight)
    ok = abs(offset - truth) <= 1e-9 + 1e-6 * abs(truth)
    return report(ok, f"with w = {penalty_weight:g} the residual settles at {truth:.4g}",
                  f"{offset:.4g} is not the minimiser of r + w r^2 (differentiate it)")


def check_exact_congruence(history: dict, optimal_value: float, penalty_weight: float = 10.0,
                           last: int = 20) -> bool:
    """Exercise 2: a run with ``congruence="exact"`` has no residual and no offset.

    Parameters
    ----------
    history : dict of lists
        The learner's :meth:`baryir.barycenter.BarycenterSolver.fit` history.
    optimal_value : float
        The exact ``L*``.
    penalty_weight : float
        The weight w of the penalty run it is compared with (offset ``1/(2w)``).
    last : int
        F is averaged over this many final steps (it is a mini-batch estimate).
    """
    residual = float(history["residual"][-1])
    if residual > 1e-4:
        return report(False, "", f"the RMS residual ends at {residual:.2e}: this run is not exactly congruent "
                                 "(pass congruence='exact' to SolverConfig)")
    offset = float(np.mean(history["F"][-last:])) - optimal_value
    ok = abs(offset) < 0.25 / (2 * penalty_weight)
    return report(ok, f"residual {residual:.1e}, and F - L* = {offset:+.4f} (the penalty run's offset is "
                      f"{1 / (2 * penalty_weight):.3f})",
                  f"F - L* = {offset:+.4f} over the last {last} steps: train longer")


def _shared_map_gap(problem: toy.LocationScatterBenchmark, n: int, seed) -> float:
    """``inf_T F(f*, T) - L*`` over maps T(z) shared by all sources, by Monte Carlo."""
    rng = np.random.default_rng(seed)
    inverse = np.linalg.inv(problem.true_map_matrices)  # A_k^{-1}
    curvature = np.eye(problem.dim) - inverse  # f*_k(y) = 1/2 y^T (I - A_k^{-1}) y
    clouds = [problem.sample_source(k, n, rng) for k in range(problem.n_sources)]
    values = []
    for k, z in enumerate(clouds):
        log_density = np.stack([np.log(w) + multivariate_normal(np.zeros(problem.dim), c).logpdf(z)
                                for w, c in zip(problem.weights, problem.covs)], axis=1)
        posterior = np.exp(log_density - log_density.max(axis=1, keepdims=True))
        posterior /= posterior.sum(axis=1, keepdims=True)
        # pointwise minimiser of sum_i p(i|z) [1/2 |z - y|^2 - f*_i(y)]: (sum_i p(i|z) A_i^{-1}) y = z
        y = np.linalg.solve(np.einsum("ni,ide->nde", posterior, inverse), z[..., None])[..., 0]
        cost = 0.5 * np.sum((z - y) ** 2, axis=1) - 0.5 * np.einsum("nd,de,ne->n", y, curvature[k], y)
        values.append(cost.mean())
    return float(problem.weights @ np.array(values)) - bench.optimal_dual_value(problem)


def check_shared_map_gap(problem: toy.LocationScatterBenchmark, gap: float) -> bool:
    """Exercise 3: ``inf_T F(f*, T) - L*`` when one map T(z) serves every source.

    With the optimal potentials ``f*``, per-source maps reach ``L(f*) = L*``; a shared
    map must send every z to one point, the minimiser of
    ``sum_k p(k | z) [1/2 |z - y|^2 - f*_k(y)]``, and cannot do better than that.
    The reference is a Monte-Carlo estimate with 200,000 samples per source; the answer
    must be within 5 % of it.

    Parameters
    ----------
    problem : toy.LocationScatterBenchmark
        With ``base="gaussian"`` and centred (overlapping) sources.
    gap : float
        The learner's estimate.
    """
    if problem.base != "gaussian":
        raise ValueError(f"the posterior needs Gaussian sources, got base={problem.base!r}")
    truth = _shared_map_gap(problem, 200_000, seed=12345)
    ok = abs(gap - truth) <= 0.05 * abs(truth)
    return report(ok, f"a shared map stays {truth:.4f} above L* (a {100 * truth / bench.optimal_dual_value(problem):.1f} % gap) "
                      "even with the optimal potentials",
                  f"the gap is about {truth:.4f}, you found {gap:.4f} (minimise over y the posterior-weighted "
                  "objective for every z, then average with the weights lambda_k)")


def check_separation_threshold(problem: toy.LocationScatterBenchmark, separations, answer: float,
                               threshold: float = 1.0) -> bool:
    """Exercise 4: the smallest separation at which a shared map can be accurate.

    Sources are moved by ``toy.circle_offsets(s, K)``; the answer is the smallest s in
    ``separations`` whose :func:`baryir.toy.shared_map_floor` (default sample size and
    seed) is below ``threshold`` percent.

    Parameters
    ----------
    problem : toy.LocationScatterBenchmark
        With ``base="gaussian"``.
    separations : sequence of float
        The grid, in increasing order.
    answer : float
        The learner's separation.
    threshold : float
        L2-UVP floor (%) below which a shared map counts as accurate.
    """
    separations = np.asarray(separations, dtype=float)
    floors = np.array([toy.shared_map_floor(problem, toy.circle_offsets(s, problem.n_sources)) for s in separations])
    below = np.flatnonzero(floors < threshold)
    if below.size == 0:
        raise ValueError(f"no separation in the grid brings the floor below {threshold} %; extend the grid")
    truth = separations[below[0]]
    ok = np.isclose(answer, truth)
    return report(ok, f"from a separation of {truth:g} the best shared map's L2-UVP is {floors[below[0]]:.2f} % "
                      f"(< {threshold:g} %); at {separations[max(below[0] - 1, 0)]:g} it is "
                      f"{floors[max(below[0] - 1, 0)]:.2f} %",
                  f"the floor first drops below {threshold:g} % at a separation of {truth:g}, not {answer:g}")
