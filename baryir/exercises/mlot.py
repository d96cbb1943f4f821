"""Checks for the exercises of notebook 03 (the MLOT transport cost)."""

from __future__ import annotations

import numpy as np
import torch

from baryir import costs
from baryir.exercises.verdict import verdict


def check_barycenter_mean(answer, weights, axis_length: float = 3.0, content_dim: int = 4,
                          specific_dim: int = 4, atol: float = 0.15) -> bool:
    """Exercise 1: the mean of the squared-cost barycenter of notebook 03's sources.

    Source k is ``(c, u_k)`` in the unrotated basis with ``E[c] = 0`` and
    ``E[u_k] = axis_length * E[a] * e_k = axis_length * e_k`` (``a ~ U(0.5, 1.5)``); the
    W2 barycenter's mean is the weighted mean of the sources' means,
    ``sum_k lambda_k E[z_k]``.

    Parameters
    ----------
    answer : array-like, shape (content_dim + specific_dim,)
        The learner's mean, in the unrotated basis (content block first).
    weights : sequence of float
        The weights lambda_k used (K = len(weights) <= specific_dim).
    atol : float
        Tolerance, wide enough for an estimate from a few hundred samples per source.
    """
    weights = np.asarray(weights, dtype=float)
    expected = np.zeros(content_dim + specific_dim)
    expected[content_dim:content_dim + len(weights)] = axis_length * weights
    answer = np.asarray(answer, dtype=float).ravel()
    if answer.shape != expected.shape:
        return verdict(False, f"expected a vector of {expected.size} numbers, got shape {answer.shape}")
    error = float(np.abs(answer - expected).max())
    return verdict(error <= atol, f"largest deviation from sum_k lambda_k E[z_k] is {error:.3f} (tolerance {atol})")


def check_released_orthogonality(fn, trials: int = 3) -> bool:
    """Exercise 2: the released code's orthogonality term, ``sum_j <z_b,i, s_j>^2`` per sample.

    ``fn(z_b, s)`` must accept tensors of shape (N, C, h, w) and return shape (N,); it is
    compared with :func:`baryir.costs.orthogonality_loss` (``squared=True``, self
    included, summed) on random batches.
    """
    generator = torch.Generator().manual_seed(7)
    for trial in range(trials):
        n = 3 + 2 * trial
        z_b = torch.randn(n, 2, 3, 3, generator=generator, dtype=torch.float64)
        s = torch.randn(n, 2, 3, 3, generator=generator, dtype=torch.float64)
        got = torch.as_tensor(fn(z_b, s), dtype=torch.float64)
        expected = costs.orthogonality_loss(z_b, s, squared=True)
        if got.shape != expected.shape:
            return verdict(False, f"for N = {n} samples the result must have shape {tuple(expected.shape)}, "
                                  f"got {tuple(got.shape)}")
        if not torch.allclose(got, expected, atol=1e-8):
            error = (got - expected).abs().max().item()
            return verdict(False, f"differs from the released form by up to {error:.3g} on a batch of {n}")
    return verdict(True, f"matches sum_j cos(z_b,i, s_j)^2 on {trials} random batches")


def check_nonconvex_point(y, z, z_b, source, index: int = 0, gamma: float = 0.01, tau: float = 0.1) -> bool:
    """Exercise 3: a point where ``y -> C(z_index, y)`` (squared distance, tiny gamma) is not convex.

    The check builds ``MLOTCost("paper", distance="squared", gamma=gamma, tau=tau)``
    and asks :func:`baryir.costs.landscape_curvature` for the smallest Hessian
    eigenvalue at ``y``, the rest of the batch held fixed. Right when it is negative.
    """
    if gamma > 0.01:
        return verdict(False, f"use gamma <= 0.01 (got {gamma}): the point is that even a tiny gamma breaks convexity")
    z, z_b = torch.as_tensor(z, dtype=torch.float64), torch.as_tensor(z_b, dtype=torch.float64)
    point = torch.as_tensor(y, dtype=torch.float64).reshape(1, *z.shape[1:])
    cost = costs.MLOTCost("paper", distance="squared", gamma=gamma, tau=tau)
    curvature = costs.landscape_curvature(cost, z, z_b, torch.as_tensor(source), index, point).item()
    return verdict(curvature < 0, f"smallest Hessian eigenvalue at y = {point.flatten().tolist()} is {curvature:.3g}")


def check_probe_rises(z_b, source, gamma: float, baseline_gamma: float, margin: float = 0.08, seed: int = 0) -> bool:
    """Exercise 4: a gamma large enough that a linear probe finds the source in ``z_B``.

    Parameters
    ----------
    z_b : array-like, shape (N, d)
        Barycenter representations of held-out samples from the run trained with ``gamma``.
    source : array-like of int, shape (N,)
    gamma, baseline_gamma : float
        The learner's gamma and the notebook's (whose probe stayed near chance).
    margin : float
        How far above chance (1/K) the probe must be: about 3.5 standard deviations of
        a chance-level probe's accuracy on 450 held-out samples.
    """
    source = np.asarray(source)
    chance = 1 / len(np.unique(source))
    accuracy = costs.linear_probe_accuracy(z_b, source, seed=seed)
    if gamma <= baseline_gamma:
        return verdict(False, f"raise gamma above the notebook's {baseline_gamma} (got {gamma})")
    return verdict(accuracy > chance + margin,
                   f"probe on z_B {accuracy:.3f} at gamma = {gamma} (chance {chance:.3f}, needs > {chance + margin:.3f})")
