"""Checks for the exercises of notebook 01 (optimal transport and barycenters with POT).

Every ``check_*`` function takes a learner's answer, prints one line that says whether
it is right (and, when it is not, what is off), and returns True or False, so that a
solution cell can ``assert`` it. The references are computed here independently of
the notebook: closed forms, exact linear programs (``ot.emd2``) and a log-domain
Sinkhorn written with ``scipy.special.logsumexp``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import ot
from scipy.special import logsumexp

from baryir import toy


def report(ok: bool, right: str, wrong: str) -> bool:
    """Print the verdict on an answer and return it.

    Parameters
    ----------
    ok : bool
        Whether the answer is right.
    right, wrong : str
        What to print in either case.
    """
    print(f"Right: {right}" if ok else f"Not yet: {wrong}")
    return bool(ok)


def check_inverse_map_average(benchmark: toy.LocationScatterBenchmark, inverse_average, forward_average) -> bool:
    """Exercise 1: ``sum_k lambda_k A_k^{-1} = I`` but ``sum_k lambda_k A_k != I``.

    Parameters
    ----------
    benchmark : toy.LocationScatterBenchmark
        Its optimal maps are ``x -> A_k x`` (``true_map_matrices``).
    inverse_average : array-like, shape (d, d)
        The learner's ``sum_k lambda_k A_k^{-1}``.
    forward_average : array-like, shape (d, d)
        The learner's ``sum_k lambda_k A_k``.
    """
    matrices, weights = benchmark.true_map_matrices, benchmark.weights
    inverse_truth = np.einsum("k,kij->ij", weights, np.linalg.inv(matrices))
    forward_truth = np.einsum("k,kij->ij", weights, matrices)
    inverse_average = np.asarray(inverse_average, dtype=float)
    forward_average = np.asarray(forward_average, dtype=float)
    if inverse_average.shape != inverse_truth.shape or forward_average.shape != forward_truth.shape:
        return report(False, "", f"both answers must be {inverse_truth.shape} matrices, got "
                                 f"{inverse_average.shape} and {forward_average.shape}")
    if not np.allclose(inverse_average, inverse_truth, atol=1e-8):
        return report(False, "", "the weighted average of the inverse matrices is off; invert each A_k "
                                 "(np.linalg.inv) before weighting")
    if not np.allclose(forward_average, forward_truth, atol=1e-8):
        return report(False, "", "the weighted average of the matrices A_k themselves is off")
    distance = np.abs(forward_truth - np.eye(len(forward_truth))).max()
    return report(True, f"sum_k lambda_k A_k^-1 = I to {np.abs(inverse_truth - np.eye(len(inverse_truth))).max():.1e}, "
                        f"while sum_k lambda_k A_k differs from I by up to {distance:.3f}", "")


def _log_sinkhorn(a, b, cost_matrix, eps: float, tol: float = 1e-11, max_iter: int = 200_000) -> np.ndarray:
    """Entropic OT plan by Sinkhorn's iterations on the potentials (log domain).

    ``f_i = eps log a_i - eps logsumexp_j((g_j - C_ij) / eps)`` and the same for g,
    until the row marginals are within ``tol`` of a (the columns are exact after each
    g update). The plan is ``exp((f_i + g_j - C_ij) / eps)``; no kernel ``exp(-C / eps)``
    is formed, so nothing underflows however small eps is.

    Parameters
    ----------
    a : array, shape (n,)
    b : array, shape (m,)
    cost_matrix : array, shape (n, m)
    eps : float
        Entropic regularisation (in the units of the cost).
    tol : float
        Stop when the row marginals are within this (max-norm) of a.
    max_iter : int

    Returns
    -------
    ndarray, shape (n, m)
    """
    a, b, cost = (np.asarray(v, dtype=float) for v in (a, b, cost_matrix))
    f, g = np.zeros(len(a)), np.zeros(len(b))
    for _ in range(max_iter):
        f = eps * (np.log(a) - logsumexp((g[None, :] - cost) / eps, axis=1))
        g = eps * (np.log(b) - logsumexp((f[:, None] - cost) / eps, axis=0))
        plan = np.exp((f[:, None] + g[None, :] - cost) / eps)
        if np.abs(plan.sum(axis=1) - a).max() < tol:
            break
    return plan


def check_entropic_plan(plan, a, b, cost_matrix, eps: float) -> bool:
    """Exercise 2: the entropic OT plan at a small eps (log-domain Sinkhorn).

    Parameters
    ----------
    plan : array-like, shape (n, m)
        The learner's plan.
    a, b : arrays, shapes (n,), (m,)
        The marginals.
    cost_matrix : array, shape (n, m)
    eps : float
    """
    plan = np.asarray(plan, dtype=float)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if plan.shape != (len(a), len(b)):
        return report(False, "", f"the plan must have shape {(len(a), len(b))}, got {plan.shape}")
    if not np.all(np.isfinite(plan)):
        return report(False, "", "the plan contains NaN or inf: the scalings u = exp(f/eps) over- or "
                                 "underflowed; use ot.sinkhorn(..., method='sinkhorn_log')")
    marginal_error = max(np.abs(plan.sum(axis=1) - a).max(), np.abs(plan.sum(axis=0) - b).max())
    if marginal_error > 1e-6:
        return report(False, "", f"the marginals are off by {marginal_error:.1e}: plain Sinkhorn's kernel "
                                 "exp(-C/eps) has underflowed, or the iterations stopped too early "
                                 "(use method='sinkhorn_log', a small stopThr and enough numItermax)")
    reference = _log_sinkhorn(a, b, cost_matrix, eps)
    distance = np.abs(plan - reference).max()
    if distance > 1e-6:
        return report(False, "", f"the marginals are right but the plan is {distance:.1e} away from the entropic "
                                 "optimum: is it computed with this eps and this cost matrix?")
    return report(True, f"the plan at eps = {eps:g} matches the entropic optimum to {distance:.1e}", "")


def check_price_prediction(a, b, cost_matrix, move_from: int, move_to: int, delta: float,
                           predicted_change: float) -> bool:
    """Exercise 3: predict from the potentials how the OT cost changes when target mass moves.

    Moving a mass ``delta`` of the target from ``y[move_from]`` to ``y[move_to]`` changes
    the exact OT cost by ``delta * (v[move_to] - v[move_from])`` as long as delta is
    small enough for the optimal plan to keep its support. The reference re-solves the
    perturbed problem with ``ot.emd2``.

    Parameters
    ----------
    a, b : arrays, shapes (n,), (m,)
    cost_matrix : array, shape (n, m)
    move_from, move_to : int
        Target indices.
    delta : float
        Mass moved, ``0 < delta <= b[move_from]``.
    predicted_change : float
        The learner's prediction of ``OT(a, b') - OT(a, b)``.
    """
    b = np.asarray(b, dtype=float)
    if not 0 < delta <= b[move_from]:
        raise ValueError(f"delta must lie in (0, b[move_from]] = (0, {b[move_from]:.4g}], got {delta!r}")
    moved = b.copy()
    moved[move_from] -= delta
    moved[move_to] += delta
    change = ot.emd2(a, moved, cost_matrix) - ot.emd2(a, b, cost_matrix)
    ok = abs(predicted_change - change) <= 1e-9 + 1e-6 * abs(change)
    return report(ok, f"the OT cost changes by {change:.6g}, as predicted",
                  f"the OT cost changes by {change:.6g}, you predicted {predicted_change:.6g} (use the target "
                  "potentials v of ot.emd's log; if the sign is right, try a smaller delta)")


def check_1d_barycenter(sources: Sequence, weights, barycenter) -> bool:
    """Exercise 4: the exact barycenter of 1-D empirical measures with n points each.

    In 1-D the optimal plans match sorted points (quantiles), so the barycenter of K
    clouds of n equally weighted points is the n points ``sum_k lambda_k sort(x_k)``.

    Parameters
    ----------
    sources : list of K arrays, shape (n,)
    weights : array-like, shape (K,)
    barycenter : array-like, shape (n,)
        The learner's n atoms (in any order).
    """
    sources = [np.asarray(x, dtype=float).ravel() for x in sources]
    if len({len(x) for x in sources}) != 1:
        raise ValueError("every source must have the same number of points")
    weights = toy.check_weights(weights, len(sources))
    truth = np.einsum("k,kn->n", weights, np.sort(np.stack(sources), axis=1))
    answer = np.sort(np.asarray(barycenter, dtype=float).ravel())
    if answer.shape != truth.shape:
        return report(False, "", f"expected {len(truth)} atoms (one per quantile), got {answer.size}")
    error = np.abs(answer - truth).max()
    ok = error <= 1e-9 * max(1.0, np.abs(truth).max())
    return report(ok, "these are the barycenter's atoms: weighted averages of matching quantiles",
                  f"atoms off by up to {error:.3g}; sort each source, then average position by position")
