"""Toy optimal transport: 2-D sources, reference barycenters, benchmark metrics.

Everything here is numpy in, numpy out. The exact references for the neural solver in
:mod:`baryir.barycenter` are closed forms (Gaussian barycenters, the location-scatter
benchmark) and linear programs (W2 between clouds); POT's free-support barycenter is
a heuristic, a local solution.

- Samplers: :func:`sample` draws seeded 2-D toy clouds (:data:`TOY_NAMES`).
- Barycenters (paper eq. 3 with the quadratic cost): :func:`free_support_barycenter`
  for point clouds (POT's fixed point over m equal-weight atoms, a local solution of a
  non-convex problem) and :func:`gaussian_barycenter` for Gaussians (the closed form,
  by the Bures-Wasserstein fixed point, or POT).
- Distances: :func:`w2_squared` (exact, ``ot.emd2``) and
  :func:`bures_wasserstein_squared` (closed form between Gaussians).
- Benchmark: :class:`LocationScatterBenchmark` (sources with a known barycenter and
  known optimal maps), its metrics :func:`l2_uvp` and :func:`bw2_uvp`, and
  :func:`shared_map_floor` (the best error of one map shared by all sources).

Conventions: ``W2^2(P, Q) = min_pi E_pi ||x - y||^2`` (no factor 1/2); weights are the
``lambda_k`` of eq. 3, positive and summing to one (see :func:`check_weights`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import ot
from scipy.stats import ortho_group

from baryir.errors import ConfigError

TOY_NAMES = ("gaussian", "ring", "moons", "spiral", "square", "mixture")

# Shape parameters of the toy distributions (all live roughly in [-1.5, 1.5]^2).
_GAUSSIAN_STD = 0.5
_SQUARE_HALF_WIDTH = 1.0
_MIXTURE_RADIUS, _MIXTURE_STD, _MIXTURE_COMPONENTS = 1.0, 0.12, 8
# Curve-based toys: a point on a curve parametrised by u ~ U[0, 1), plus N(0, std^2 I).
_CURVE_NOISE_STD = {"ring": 0.08, "moons": 0.06, "spiral": 0.04}
_QUADRATURE_POINTS = 2**18  # midpoint rule for the curves' exact moments (error ~1e-11)
_EMD_MAX_ITER = 10_000_000


def _rng(seed) -> np.random.Generator:
    """A numpy Generator from ``None``, an int or an existing Generator."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check_count(n, what: str = "n") -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{what} must be a positive integer, got {n!r}")
    return int(n)


def _check_cloud(x, what: str = "x", dim: int | None = None) -> np.ndarray:
    """Return ``x`` as a finite float array of shape (n, d) or raise ValueError."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty array of shape (n, d), got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{what} has dimension {x.shape[1]}, expected {dim}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return x


def check_weights(weights, n_sources: int | None = None) -> np.ndarray:
    """Validate barycentric weights ``lambda_k`` (eq. 3) and return them as floats.

    Parameters
    ----------
    weights : array-like, shape (K,)
        Positive numbers summing to one (within 1e-6).
    n_sources : int, optional
        Expected length K.

    Returns
    -------
    ndarray, shape (K,)
        The weights, renormalised to sum to exactly one.

    Raises
    ------
    ConfigError
        (a ``ValueError``) if the weights are not a 1-D finite array of the expected
        length, are not all positive, or do not sum to one.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0:
        raise ConfigError(f"weights must be a non-empty 1-D sequence, got shape {w.shape}")
    if n_sources is not None and w.size != n_sources:
        raise ConfigError(f"expected {n_sources} weights (one per source), got {w.size}: {w.tolist()}")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ConfigError(f"weights must be positive and finite, got {w.tolist()}")
    if abs(w.sum() - 1.0) > 1e-6:
        raise ConfigError(
            f"weights must sum to 1, got sum {w.sum():.8g} for {w.tolist()}; divide them by their sum"
        )
    return w / w.sum()


# --- samplers -------------------------------------------------------------------


def _curve_points(name: str, u: np.ndarray) -> np.ndarray:
    """Noise-free point of a curve-based toy at parameters ``u`` in [0, 1), shape (n, 2)."""
    if name == "ring":
        angle = 2 * np.pi * u
        return np.stack([np.cos(angle), np.sin(angle)], axis=1)
    if name == "moons":
        upper = u < 0.5
        t = np.pi * np.where(upper, 2 * u, 2 * u - 1)
        x = np.where(upper, np.cos(t), 1 - np.cos(t))
        y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
        return 0.75 * np.stack([x - 0.5, y - 0.25], axis=1)
    if name == "spiral":
        radius, angle = 0.1 + 0.9 * u, 3 * np.pi * u
        return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    raise KeyError(name)


def sample(name: str, n: int, seed=None) -> np.ndarray:
    """Draw ``n`` points from a 2-D toy distribution.

    Parameters
    ----------
    name : str
        One of :data:`TOY_NAMES`: ``"gaussian"`` (isotropic, std 0.5), ``"ring"``
        (unit circle), ``"moons"`` (two interleaved half circles), ``"spiral"``,
        ``"square"`` (uniform on [-1, 1]^2), ``"mixture"`` (8 Gaussians on the unit circle).
    n : int
        Number of points.
    seed : int, numpy Generator or None
        Randomness; the same int gives the same points.

    Returns
    -------
    ndarray, shape (n, 2)
    """
    if name not in TOY_NAMES:
        raise ValueError(f"unknown toy distribution {name!r}; choose one of {TOY_NAMES}")
    n = _check_count(n)
    rng = _rng(seed)
    if name == "gaussian":
        return _GAUSSIAN_STD * rng.standard_normal((n, 2))
    if name == "square":
        return rng.uniform(-_SQUARE_HALF_WIDTH, _SQUARE_HALF_WIDTH, size=(n, 2))
    if name == "mixture":
        angle = 2 * np.pi * rng.integers(_MIXTURE_COMPONENTS, size=n) / _MIXTURE_COMPONENTS
        centers = _MIXTURE_RADIUS * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        return centers + _MIXTURE_STD * rng.standard_normal((n, 2))
    points = _curve_points(name, rng.random(n))
    return points + _CURVE_NOISE_STD[name] * rng.standard_normal((n, 2))


def toy_moments(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean (2,) and covariance (2, 2) of a toy distribution of :func:`sample`.

    Closed forms for ``gaussian``, ``square`` and ``mixture``; a midpoint rule with
    2^18 nodes over the curve parameter (plus the noise variance) for the curves.
    """
    if name not in TOY_NAMES:
        raise ValueError(f"unknown toy distribution {name!r}; choose one of {TOY_NAMES}")
    if name == "gaussian":
        return np.zeros(2), _GAUSSIAN_STD**2 * np.eye(2)
    if name == "square":
        return np.zeros(2), _SQUARE_HALF_WIDTH**2 / 3 * np.eye(2)
    if name == "mixture":
        return np.zeros(2), (_MIXTURE_RADIUS**2 / 2 + _MIXTURE_STD**2) * np.eye(2)
    u = (np.arange(_QUADRATURE_POINTS) + 0.5) / _QUADRATURE_POINTS
    points = _curve_points(name, u)
    mean = points.mean(axis=0)
    centred = points - mean
    cov = centred.T @ centred / len(u) + _CURVE_NOISE_STD[name] ** 2 * np.eye(2)
    return mean, cov


# --- distances ------------------------------------------------------------------


def _uniform_or_checked(masses, n: int, what: str) -> np.ndarray:
    if masses is None:
        return np.full(n, 1.0 / n)
    try:
        return check_weights(masses, n)
    except ConfigError as err:
        raise ConfigError(f"{what}: {err}") from None


def w2_squared(x, y, a=None, b=None) -> float:
    """Exact squared 2-Wasserstein distance between two weighted point clouds.

    Solves the Kantorovich linear program (eq. 1 with ``c = ||x - y||^2``) with
    ``ot.emd2``.

    Parameters
    ----------
    x : array-like, shape (n, d)
    y : array-like, shape (m, d)
    a, b : array-like, shape (n,) and (m,), optional
        Positive masses summing to one; uniform by default.

    Returns
    -------
    float
        ``min_pi sum_ij pi_ij ||x_i - y_j||^2``.

    Raises
    ------
    RuntimeError
        If the network simplex stops before the optimum (iteration cap).
    """
    x = _check_cloud(x, "x")
    y = _check_cloud(y, "y", dim=x.shape[1])
    a = _uniform_or_checked(a, len(x), "masses a")
    b = _uniform_or_checked(b, len(y), "masses b")
    cost, log = ot.emd2(a, b, ot.dist(x, y), numItermax=_EMD_MAX_ITER, log=True)
    if log["result_code"] != 1:
        raise RuntimeError(f"ot.emd2 did not reach the optimum: {log['warning']}")
    return max(float(cost), 0.0)


def _sqrtm_psd(mat: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (d, d)."""
    eigval, eigvec = np.linalg.eigh(0.5 * (mat + mat.T))
    return (eigvec * np.sqrt(np.clip(eigval, 0.0, None))) @ eigvec.T


def _check_covariance(cov, what: str, dim: int | None = None) -> np.ndarray:
    cov = np.asarray(cov, dtype=float)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or (dim is not None and cov.shape[0] != dim):
        expected = f"({dim}, {dim})" if dim is not None else "(d, d)"
        raise ValueError(f"{what} must have shape {expected}, got {cov.shape}")
    if not np.all(np.isfinite(cov)) or not np.allclose(cov, cov.T, rtol=1e-8, atol=1e-10):
        raise ValueError(f"{what} must be a finite symmetric matrix")
    if np.linalg.eigvalsh(cov).min() < -1e-10 * max(1.0, np.abs(cov).max()):
        raise ValueError(f"{what} must be positive semi-definite")
    return 0.5 * (cov + cov.T)


def bures_wasserstein_squared(m1, S1, m2, S2) -> float:
    """Squared W2 between Gaussians N(m1, S1) and N(m2, S2) (closed form).

    ``||m1 - m2||^2 + tr S1 + tr S2 - 2 tr (S1^{1/2} S2 S1^{1/2})^{1/2}``; for any two
    laws with these means and covariances it is a lower bound on W2^2 (Gelbrich).

    Parameters
    ----------
    m1, m2 : array-like, shape (d,)
    S1, S2 : array-like, shape (d, d), symmetric positive semi-definite
    """
    m1, m2 = np.asarray(m1, dtype=float), np.asarray(m2, dtype=float)
    if m1.ndim != 1 or m1.shape != m2.shape:
        raise ValueError(f"means must be 1-D of equal length, got shapes {m1.shape} and {m2.shape}")
    S1 = _check_covariance(S1, "S1", len(m1))
    S2 = _check_covariance(S2, "S2", len(m1))
    root = _sqrtm_psd(S1)
    cross = np.trace(_sqrtm_psd(root @ S2 @ root))
    value = np.sum((m1 - m2) ** 2) + np.trace(S1) + np.trace(S2) - 2 * cross
    return max(float(value), 0.0)


# --- reference barycenters ------------------------------------------------------


def mixture_of_clouds(clouds: Sequence, weights) -> tuple[np.ndarray, np.ndarray]:
    """The weighted mixture ``sum_k lambda_k P_k`` of uniform point clouds.

    Returns
    -------
    points : ndarray, shape (sum_k n_k, d)
    masses : ndarray, shape (sum_k n_k,)
        ``lambda_k / n_k`` for each point of cloud k.
    """
    clouds = _check_clouds(clouds)
    weights = check_weights(weights, len(clouds))
    masses = np.concatenate([np.full(len(c), w / len(c)) for c, w in zip(clouds, weights)])
    return np.concatenate(clouds), masses / masses.sum()


def _check_clouds(clouds: Sequence) -> list[np.ndarray]:
    if len(clouds) == 0:
        raise ValueError("need at least one point cloud")
    first = _check_cloud(clouds[0], "clouds[0]")
    return [first] + [_check_cloud(c, f"clouds[{k}]", first.shape[1]) for k, c in enumerate(clouds[1:], 1)]


def free_support_barycenter(
    clouds: Sequence, weights, n_support: int, seed=0, num_iter: int = 100
) -> np.ndarray:
    """Free-support W2 barycenter of uniform point clouds (eq. 3, quadratic cost).

    Runs POT's ``ot.lp.free_support_barycenter`` (Cuturi & Doucet, 2014): alternately
    solve the exact OT from the current support to each cloud and move every support
    point to the weighted average of its barycentric projections. The support is
    initialised with points drawn from the weighted mixture of the clouds. The problem
    is not convex in the support's positions, so the result is a local fixed point that
    depends on the initialisation, not necessarily the exact barycenter. Each inner ``ot.emd`` has POT's default
    iteration cap, so keep clouds and support below ~4000 points.

    Parameters
    ----------
    clouds : list of array-like, shapes (n_k, d)
    weights : array-like, shape (K,)
    n_support : int
        Number of (uniformly weighted) barycenter atoms.
    seed : int or numpy Generator
        Initialisation randomness.
    num_iter : int
        Maximum number of fixed-point iterations.

    Returns
    -------
    ndarray, shape (n_support, d)
    """
    clouds = _check_clouds(clouds)
    weights = check_weights(weights, len(clouds))
    n_support = _check_count(n_support, "n_support")
    num_iter = _check_count(num_iter, "num_iter")
    rng = _rng(seed)
    counts = rng.multinomial(n_support, weights)
    init = np.concatenate(
        [c[rng.choice(len(c), size=m, replace=m > len(c))] for c, m in zip(clouds, counts)]
    )
    masses = [np.full(len(c), 1.0 / len(c)) for c in clouds]
    return ot.lp.free_support_barycenter(
        clouds, masses, init, weights=weights, numItermax=num_iter, stopThr=1e-7
    )


def assign_to_support(cloud, support) -> np.ndarray:
    """Exact W2 map from a uniform cloud onto uniform atoms of the same number.

    With n points and n atoms of mass 1/n each, an optimal plan of the discrete OT
    problem can be taken to be a permutation (a vertex of the Birkhoff polytope); it is
    computed with ``ot.emd`` and read off as the atom each point goes to.

    Parameters
    ----------
    cloud : array-like, shape (n, d)
    support : array-like, shape (n, d)

    Returns
    -------
    ndarray of int, shape (n,)
        ``support[result[i]]`` is the image of ``cloud[i]``.
    """
    cloud = _check_cloud(cloud, "cloud")
    support = _check_cloud(support, "support", cloud.shape[1])
    if len(cloud) != len(support):
        raise ValueError(f"cloud and support need the same number of points, got {len(cloud)} and {len(support)}")
    n = len(cloud)
    plan = ot.emd(np.full(n, 1.0 / n), np.full(n, 1.0 / n), ot.dist(cloud, support), numItermax=max(100_000, 50 * n * n))
    return plan.argmax(axis=1)


def barycenter_objective(support, clouds: Sequence, weights, support_masses=None) -> float:
    """Objective of eq. 3 for a candidate Q: ``sum_k lambda_k W2^2(Q, P_k)`` (exact)."""
    clouds = _check_clouds(clouds)
    weights = check_weights(weights, len(clouds))
    return float(sum(w * w2_squared(support, c, a=support_masses) for c, w in zip(clouds, weights)))


def _check_gaussians(means, covs, weights):
    means = np.asarray(means, dtype=float)
    covs = np.asarray(covs, dtype=float)
    if means.ndim != 2:
        raise ValueError(f"means must have shape (K, d), got {means.shape}")
    n_sources, dim = means.shape
    if covs.shape != (n_sources, dim, dim):
        raise ValueError(f"covs must have shape ({n_sources}, {dim}, {dim}) to match means, got {covs.shape}")
    covs = np.stack([_check_covariance(c, f"covs[{k}]") for k, c in enumerate(covs)])
    if np.linalg.eigvalsh(covs).min() <= 0:
        raise ValueError("covariances must be positive definite for the Gaussian barycenter")
    return means, covs, check_weights(weights, n_sources)


def gaussian_barycenter(
    means, covs, weights, method: str = "fixed_point", tol: float = 1e-10, max_iter: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """W2 barycenter of Gaussians N(m_k, Sigma_k): N(sum_k lambda_k m_k, S).

    ``S`` is the unique positive definite solution of
    ``S = sum_k lambda_k (S^{1/2} Sigma_k S^{1/2})^{1/2}``, found with the fixed point
    (Alvarez-Esteban et al., 2016)
    ``S <- S^{-1/2} (sum_k lambda_k (S^{1/2} Sigma_k S^{1/2})^{1/2})^2 S^{-1/2}``
    started at ``sum_k lambda_k Sigma_k``.

    Parameters
    ----------
    means : array-like, shape (K, d)
    covs : array-like, shape (K, d, d), symmetric positive definite
    weights : array-like, shape (K,)
    method : {"fixed_point", "pot"}
        This module's iteration, or POT's ``ot.gaussian.bures_wasserstein_barycenter``
        (its fixed-point method); the two agree to ~1e-10.
    tol : float
        Stop when the relative Frobenius change of S is below ``tol``.
    max_iter : int
        Iteration cap; a ``RuntimeWarning`` is issued if it is reached.

    Returns
    -------
    mean : ndarray, shape (d,)
    cov : ndarray, shape (d, d)
    """
    means, covs, weights = _check_gaussians(means, covs, weights)
    max_iter = _check_count(max_iter, "max_iter")
    mean = weights @ means
    if method == "pot":
        _, cov = ot.gaussian.bures_wasserstein_barycenter(
            means, covs, weights=weights, method="fixed_point", num_iter=max_iter, eps=tol
        )
        return mean, 0.5 * (cov + cov.T)
    if method != "fixed_point":
        raise ValueError(f"unknown method {method!r}; use 'fixed_point' or 'pot'")
    cov = np.einsum("k,kij->ij", weights, covs)
    for _ in range(max_iter):
        root = _sqrtm_psd(cov)
        inv_root = np.linalg.inv(root)
        average = sum(w * _sqrtm_psd(root @ c @ root) for w, c in zip(weights, covs))
        new = inv_root @ average @ average @ inv_root
        new = 0.5 * (new + new.T)
        change = np.linalg.norm(new - cov) / np.linalg.norm(cov)
        cov = new
        if change < tol:
            return mean, cov
    warnings.warn(
        f"gaussian_barycenter: fixed point not converged after {max_iter} iterations "
        f"(last relative change {change:.2e}); raise max_iter",
        RuntimeWarning,
        stacklevel=2,
    )
    return mean, cov


def gaussian_ot_matrix(cov_from, cov_to) -> np.ndarray:
    """Matrix A of the OT map x -> A x from N(0, cov_from) to N(0, cov_to).

    ``A = C^{-1/2} (C^{1/2} D C^{1/2})^{1/2} C^{-1/2}`` with C = cov_from, D = cov_to;
    symmetric positive definite, so x -> A x is the gradient of a convex function.
    """
    cov_from = _check_covariance(cov_from, "cov_from")
    cov_to = _check_covariance(cov_to, "cov_to", cov_from.shape[0])
    root = _sqrtm_psd(cov_from)
    inv_root = np.linalg.inv(root)
    mat = inv_root @ _sqrtm_psd(root @ cov_to @ root) @ inv_root
    return 0.5 * (mat + mat.T)


# --- benchmark ------------------------------------------------------------------


class LocationScatterBenchmark:
    """Sources with a known W2 barycenter and known optimal maps.

    The location-scatter benchmark of the neural barycenter papers (Korotin et al.,
    ICLR 2021; Kolesov et al., ICML 2024).

    Covariances: for each source k, a Haar rotation R_k (``scipy.stats.ortho_group``,
    drawn in order from ``numpy.random.default_rng(seed)``) and
    ``Sigma_k = R_k D^2 R_k^T`` with ``D = diag(exp(linspace(log 0.5, log 2, d)))``
    (eigenvalues in [0.25, 4]); the barycenter covariance S solves the fixed point of
    :func:`gaussian_barycenter`, and the true maps are ``T*_k(x) = A_k x`` with
    ``A_k`` = :func:`gaussian_ot_matrix` (Sigma_k -> S).

    Laws: with X0 drawn from the base (mean 0, covariance I), the barycenter is
    ``Q = law(S^{1/2} X0)`` and source k is ``P_k = law(W_k X0)`` with
    ``W_k = A_k^{-1} S^{1/2}`` (so ``W_k W_k^T = Sigma_k``). Because the fixed point
    gives ``sum_k lambda_k A_k^{-1} = I`` and each ``A_k^{-1}`` is symmetric positive
    definite, Q is the exact barycenter for *any* base, not only a Gaussian one. For
    a Gaussian base the sources have the same laws as ``R_k D X0``.

    Parameters
    ----------
    dim : int
        Dimension d >= 2.
    weights : array-like, shape (K,)
        Barycentric weights, e.g. (1/4, 1/4, 1/2) (NOTB) or (.1, .2, .3, .4) (CW2B).
    base : str
        ``"gaussian"`` (N(0, I)), ``"rectangles"`` (uniform cube scaled to unit
        variance), or for ``dim == 2`` any name in :data:`TOY_NAMES`, whitened with its
        exact moments (:func:`toy_moments`).
    seed : int
        Seed of the rotations.

    Attributes
    ----------
    n_sources : int
    weights : ndarray (K,)
    matrices : ndarray (K, d, d)
        ``W_k``.
    covs : ndarray (K, d, d)
        ``Sigma_k``.
    bary_mean : ndarray (d,)
        Zero.
    bary_cov : ndarray (d, d)
        ``S``.
    true_map_matrices : ndarray (K, d, d)
        ``A_k``.
    """

    def __init__(self, dim: int, weights, base: str = "gaussian", seed: int = 0):
        self.dim = _check_count(dim, "dim")
        if self.dim < 2:
            raise ValueError(f"dim must be at least 2, got {dim}")
        self.weights = check_weights(weights)
        self.n_sources = len(self.weights)
        if base not in ("gaussian", "rectangles") + TOY_NAMES:
            raise ValueError(f"unknown base {base!r}; use 'gaussian', 'rectangles' or one of {TOY_NAMES}")
        if base in TOY_NAMES and base != "gaussian" and self.dim != 2:
            raise ValueError(f"base {base!r} is a 2-D toy distribution; use it with dim=2, not {dim}")
        self.base = base
        self.seed = seed
        if base in TOY_NAMES and base != "gaussian":
            mean, cov = toy_moments(base)
            self._toy_shift, self._toy_whitener = mean, np.linalg.inv(_sqrtm_psd(cov))

        rng = np.random.default_rng(seed)
        scales = np.exp(np.linspace(np.log(0.5), np.log(2.0), self.dim))
        rotations = [ortho_group.rvs(self.dim, random_state=rng) for _ in range(self.n_sources)]
        self.covs = np.stack([(r * scales**2) @ r.T for r in rotations])
        self.bary_mean = np.zeros(self.dim)
        _, self.bary_cov = gaussian_barycenter(
            np.zeros((self.n_sources, self.dim)), self.covs, self.weights
        )
        self.bary_root = _sqrtm_psd(self.bary_cov)
        self.true_map_matrices = np.stack([gaussian_ot_matrix(c, self.bary_cov) for c in self.covs])
        self.matrices = np.stack([np.linalg.solve(a, self.bary_root) for a in self.true_map_matrices])

    def __repr__(self) -> str:
        return (
            f"LocationScatterBenchmark(dim={self.dim}, weights={self.weights.tolist()}, "
            f"base={self.base!r}, seed={self.seed})"
        )

    def _check_source(self, k) -> int:
        if not isinstance(k, (int, np.integer)) or not 0 <= k < self.n_sources:
            raise ValueError(f"source index must be an int in [0, {self.n_sources}), got {k!r}")
        return int(k)

    def sample_base(self, n: int, rng=None) -> np.ndarray:
        """Draw X0 from the base: mean 0, covariance I; shape (n, d)."""
        n = _check_count(n)
        rng = _rng(rng)
        if self.base == "gaussian":
            return rng.standard_normal((n, self.dim))
        if self.base == "rectangles":
            return np.sqrt(3.0) * rng.uniform(-1.0, 1.0, size=(n, self.dim))
        return (sample(self.base, n, rng) - self._toy_shift) @ self._toy_whitener

    def sample_source(self, k: int, n: int, rng=None) -> np.ndarray:
        """Draw n points of source P_k = law(W_k X0); shape (n, d)."""
        k = self._check_source(k)
        return self.sample_base(n, rng) @ self.matrices[k].T

    def sample_barycenter(self, n: int, rng=None) -> np.ndarray:
        """Draw n points of the exact barycenter Q = law(S^{1/2} X0); shape (n, d)."""
        return self.sample_base(n, rng) @ self.bary_root

    def true_map(self, k: int, x) -> np.ndarray:
        """Optimal map of source k to the barycenter, ``x -> A_k x``; x (n, d) -> (n, d)."""
        k = self._check_source(k)
        return _check_cloud(x, "x", self.dim) @ self.true_map_matrices[k]


def circle_offsets(radius: float, n_sources: int) -> np.ndarray:
    """Offsets (K, 2) that spread K sources evenly on a circle, the first one straight up.

    For K = 3 the directions are 90, 210 and 330 degrees; every pair of offsets is
    ``radius * sqrt(3)`` apart.
    """
    if not np.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be finite and >= 0, got {radius!r}")
    n_sources = _check_count(n_sources, "n_sources")
    angles = np.pi / 2 + 2 * np.pi * np.arange(n_sources) / n_sources
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def shared_map_floor(problem: LocationScatterBenchmark, shifts=None, n: int = 20_000, seed=2) -> float:
    """L2-UVP (%) of the best *shared* map T(z) on Gaussian sources moved by ``shifts``.

    Source k is ``P_k + shifts[k]``; its optimal map to the barycenter is
    ``z -> A_k (z - shifts[k]) + sum_i lambda_i shifts[i]``. One map for all sources
    that minimises the weighted squared error is the posterior average of these maps,
    ``T(z) = sum_k p(k | z) T*_k(z)`` with ``p(k | z)`` proportional to
    ``lambda_k p_k(z)``; its L2-UVP (:func:`l2_uvp`, estimated on n samples per source)
    is a floor that no shared map can beat. It is zero only when the sources' supports
    do not overlap.

    Parameters
    ----------
    problem : LocationScatterBenchmark
        With ``base="gaussian"`` (the posterior needs the densities).
    shifts : array-like, shape (K, 2), optional
        Offsets of the sources (zeros: all centred).
    n : int
        Samples per source.
    seed : int or numpy Generator

    Returns
    -------
    float
        Percent.
    """
    from scipy.stats import multivariate_normal

    if problem.base != "gaussian":
        raise ValueError(f"shared_map_floor needs a Gaussian base, got base={problem.base!r}")
    k_all = problem.n_sources
    shifts = np.zeros((k_all, problem.dim)) if shifts is None else np.asarray(shifts, dtype=float)
    if shifts.shape != (k_all, problem.dim):
        raise ValueError(f"shifts must have shape ({k_all}, {problem.dim}), got {shifts.shape}")
    rng = _rng(seed)
    clouds = [problem.sample_source(k, n, rng) + shifts[k] for k in range(k_all)]
    target_shift = problem.weights @ shifts

    def optimal_images(z):  # (K, N, d): every source's optimal map applied to z
        return np.stack([problem.true_map(k, z - shifts[k]) + target_shift for k in range(k_all)])

    def best_shared(z):
        log_density = np.stack([np.log(w) + multivariate_normal(m, c).logpdf(z)
                                for w, m, c in zip(problem.weights, shifts, problem.covs)], axis=1)
        posterior = np.exp(log_density - log_density.max(axis=1, keepdims=True))
        posterior /= posterior.sum(axis=1, keepdims=True)
        return np.einsum("nk,knd->nd", posterior, optimal_images(z))

    truth = [optimal_images(z)[k] for k, z in enumerate(clouds)]
    return l2_uvp([best_shared(z) for z in clouds], truth, problem.weights, problem.bary_cov)


def _per_source_list(arrays, n_sources: int, what: str) -> Sequence:
    """A list indexed by source from a list, or from a dict keyed 0..K-1."""
    if not isinstance(arrays, Mapping):
        return arrays
    if set(arrays) != set(range(n_sources)):
        raise ValueError(
            f"{what} must have the keys 0..{n_sources - 1} (one per source), got {sorted(arrays)}"
        )
    return [arrays[k] for k in range(n_sources)]


def l2_uvp(predicted: Sequence | Mapping, truth: Sequence | Mapping, weights, bary_cov) -> float:
    """Weighted L2 unexplained variance percentage of estimated maps (Korotin et al., 2021).

    ``100 * sum_k lambda_k mean_i ||T_hat(x_ki) - T*_k(x_ki)||^2 / tr S``.

    Parameters
    ----------
    predicted, truth : list of K arrays, shapes (n_k, d), or dicts {k: array} for k < K
        Estimated and true images of the same source samples x_k ~ P_k.
    weights : array-like, shape (K,)
    bary_cov : array-like, shape (d, d)
        Covariance S of the true barycenter (denominator: its full variance).

    Returns
    -------
    float
        Percent.
    """
    weights = check_weights(weights)
    predicted, truth = (_per_source_list(arrays, len(weights), name) for arrays, name in
                        ((predicted, "predicted"), (truth, "truth")))
    if len(predicted) != len(weights) or len(truth) != len(weights):
        raise ValueError(
            f"need one predicted and one true array per source ({len(weights)}), "
            f"got {len(predicted)} and {len(truth)}"
        )
    bary_cov = _check_covariance(bary_cov, "bary_cov")
    total = 0.0
    for k, (pred, true, w) in enumerate(zip(predicted, truth, weights)):
        true = _check_cloud(true, f"truth[{k}]", bary_cov.shape[0])
        pred = _check_cloud(pred, f"predicted[{k}]", bary_cov.shape[0])
        if pred.shape != true.shape:
            raise ValueError(f"predicted[{k}] has shape {pred.shape} but truth[{k}] has {true.shape}")
        total += w * np.mean(np.sum((pred - true) ** 2, axis=1))
    return float(100.0 * total / np.trace(bary_cov))


def bw2_uvp(samples, bary_mean, bary_cov) -> float:
    """Bures-Wasserstein unexplained variance percentage (Korotin et al., 2021).

    ``100 * BW2^2(N(m_hat, Sigma_hat), N(m, S)) / tr S`` where m_hat, Sigma_hat are the
    sample mean and (unbiased) covariance of ``samples`` (n, d), n >= 2.
    """
    bary_mean = np.asarray(bary_mean, dtype=float)
    samples = _check_cloud(samples, "samples", bary_mean.shape[0] if bary_mean.ndim == 1 else None)
    if len(samples) < 2:
        raise ValueError("bw2_uvp needs at least 2 samples to estimate a covariance")
    bary_cov = _check_covariance(bary_cov, "bary_cov", samples.shape[1])
    cov_hat = np.atleast_2d(np.cov(samples, rowvar=False))
    distance = bures_wasserstein_squared(samples.mean(axis=0), cov_hat, bary_mean, bary_cov)
    return float(100.0 * distance / np.trace(bary_cov))
