"""Transport costs ``C_k(z_k, z_k^B)`` for the barycenter solver.

Cost interface (used by :mod:`baryir.barycenter` and :mod:`baryir.train`)::

    cost(z, z_b, source) -> Tensor of shape (N,)

``z`` and ``z_b`` have shape (N, ...) (vectors or feature maps), ``source`` is a
LongTensor (N,) of source indices. A cost may use the whole mini-batch (the MLOT
contrastive and orthogonality terms do) but returns one value per sample.
:class:`MLOTCost` also accepts an optional fourth argument ``labels`` (N,).

The MLOT cost (paper, section 4.1, eq. 4)
-----------------------------------------
With the source-specific representation ``s = z - z_b``::

    C_k(z_k, z_k^B) = d(z_k, z_k^B) + gamma * (L_k^ctr + L_k^ort)

* ``d``: the transport distance, :func:`transport_distance`;
* ``L^ctr``: source-level contrastiveness of ``s`` over the mini-batch,
  :func:`contrastive_loss`;
* ``L^ort``: barycenter-anchored orthogonality between ``z_b`` and every ``s``
  of the mini-batch, :func:`orthogonality_loss`.

Every feature map is flattened per sample; ``<a, b>`` is the cosine similarity
``a.b / (max(|a|, eps) max(|b|, eps))``, so a zero vector has cosine 0 with
everything (and a gradient bounded by ``1/eps``).

Two presets (:data:`COST_PRESETS`)
----------------------------------
``"paper"`` follows the equations of the paper; ``"reference"`` follows the
authors' released training scripts. Every difference:

================== ================================ =======================================
item               ``paper``                        ``reference`` (released code)
================== ================================ =======================================
distance           ``|z - z_b|`` (L2 norm, raw      RMSE ``|z - z_b| / sqrt(D)``, D = numel
                   features; ``"sphere"`` optional) per sample: smaller by ``sqrt(D)``
                                                    (313x for 384x16x16 latents)
L^ort summand      ``|<z_b,i, s_j>|``               ``<z_b,i, s_j>^2``
L^ort range        all j in the batch, self         same
                   included (eq. 4 sums over all
                   S_j)
L^ctr positives    same *source* k                  same *degradation label* (3-task
                                                    setting: noise sigma 15/25/50 are three
                                                    labels but one source)
L^ctr self term    excluded (self-similarity is     included as a positive (and so in the
                   the constant 1/tau)              denominator)
L^ctr evaluation   log-sum-exp                      direct ``exp`` sums; the DDP script adds
                                                    1e-6 to numerator and denominator (not
                                                    reproduced here; negligible)
tau                0.07 (the paper gives no value;  0.07
                   taken from the code)
gamma              0.05 (no value in the paper;     0.05 (single-GPU script; the DDP script
                   taken from the code)             uses 0.02)
zero vectors       ``eps = 1e-8``                   ``F.normalize``'s ``eps = 1e-12``
                                                    (same values unless a norm < 1e-8)
================== ================================ =======================================

Shared by both: the sums over the batch (not means), so ``L^ort`` grows with the
batch size (``ort_reduction="mean"`` removes that); gradients flow through every
sample's ``s_j`` and ``z_b`` (nothing is detached); the per-source weights
``lambda_k`` and the potentials belong to the solver (:mod:`baryir.barycenter`).

Why the paper preset measures the distance on raw features by default
---------------------------------------------------------------------
Section 4.1 says the MLOT objective is placed "on the unit sphere", but eq. 4
writes the plain norm ``|z_k - z_k^B|``. We read the unit sphere as where the
two regularisers live (they compare directions only, through cosines) and keep
the distance on raw features, because (i) that is eq. 4 as written and what the
released code does (up to the RMSE scale), (ii) the decomposition
``z = z_b + s`` is additive in raw features, and a sphere distance is blind to
the norm of ``z_b``: ``z_b = c z`` costs nothing for every ``c > 0``, so the
distance would no longer keep ``z_b`` near ``z`` in magnitude, and (iii) the
sphere distance is undefined at ``z_b = 0`` and not convex. Pass
``distance="sphere"`` to measure it between unit-normalised features.
``distance="squared"`` (``|z - z_b|^2 / 2``) is offered too: Theorem 4.2 needs
``z_b -> C_k(z_k, z_b) - f_k(z_b)`` to be strongly convex, which the norm is not, and
``|z - y| - f(y)`` is unbounded below once a potential's slope exceeds 1 (notebook 03
trains its synthetic experiment with it).

Edge cases (all values and gradients finite)
--------------------------------------------
* Single sample (N = 1): ``paper`` has no positive and no negative: ``L^ctr = 0``;
  ``reference`` has only itself: ``-log(1) = 0``. ``L^ort`` uses the one pair
  (i, i) unless ``include_self=False`` (then 0).
* One source (or label) in the batch: no negatives, ``L^ctr = 0`` for every
  sample that has a positive.
* A sample with no positive in the batch (``self_positive=False`` and it is the
  only one of its source): ``L^ctr`` is undefined (log 0); it is set to 0 with a
  zero gradient, as supervised-contrastive implementations do.
* Zero vectors (``z_b = 0`` or ``s = 0``): cosine 0; distance 0 at ``z = z_b``
  with a zero (sub)gradient.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import torch

from baryir.errors import ConfigError

DISTANCE_KINDS = ("norm", "rmse", "sphere", "squared")


def quadratic_cost(z: torch.Tensor, z_b: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
    """Quadratic cost ``1/2 ||z - z_b||^2`` per sample.

    Parameters
    ----------
    z, z_b : Tensor, shape (N, ...)
        Source samples and their images under the barycenter map.
    source : LongTensor, shape (N,), optional
        Unused; present to match the cost interface.

    Returns
    -------
    Tensor, shape (N,)
    """
    return transport_distance(z, z_b, "squared")


def _unit_rows(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Flatten (N, ...) to (N, D) and divide each row by ``max(|row|, eps)``."""
    flat = x.flatten(1)
    return flat / torch.linalg.vector_norm(flat, dim=1, keepdim=True).clamp_min(eps)


def cosine_matrix(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pairwise cosine similarities of flattened samples.

    Parameters
    ----------
    a : Tensor, shape (N, ...)
    b : Tensor, shape (M, ...) with the same number of elements per sample as ``a``.
    eps : float
        Norm floor; a zero vector has cosine 0 with everything.

    Returns
    -------
    Tensor, shape (N, M)
        ``out[i, j] = <a_i, b_j>``.
    """
    return _unit_rows(a, eps) @ _unit_rows(b, eps).T


def transport_distance(z: torch.Tensor, z_b: torch.Tensor, kind: str = "norm", eps: float = 1e-8) -> torch.Tensor:
    """Transport term of the MLOT cost (eq. 4), one value per sample.

    Parameters
    ----------
    z, z_b : Tensor, shape (N, ...)
        Latents and their barycenter representations; flattened per sample.
    kind : {"norm", "rmse", "sphere", "squared"}
        ``"norm"``: ``|z - z_b|_2`` (eq. 4, the paper preset's default);
        ``"rmse"``: ``|z - z_b|_2 / sqrt(D)`` with D elements per sample (released
        code); ``"sphere"``: ``|z/|z| - z_b/|z_b||_2`` between unit-normalised
        features (in [0, 2]); ``"squared"``: ``|z - z_b|_2^2 / 2``, the quadratic cost,
        1-strongly convex in ``z_b`` (the norm is not). Theorem 4.2 assumes that
        ``C_k - f_k`` is beta-strongly convex, i.e. ``hess f_k <= hess C_k - beta I``;
        with ``gamma > 0`` the cosine terms break it (notebook 03 measures where).
    eps : float
        Norm floor used by ``"sphere"``.

    Returns
    -------
    Tensor, shape (N,)
        Finite, with a zero subgradient where ``z == z_b``.
    """
    if kind not in DISTANCE_KINDS:
        raise ConfigError(f"unknown transport distance {kind!r}; choose one of {DISTANCE_KINDS}")
    _check_pair(z, z_b)
    if kind == "sphere":
        diff = _unit_rows(z, eps) - _unit_rows(z_b, eps)
    else:
        diff = (z - z_b).flatten(1)
    dist = torch.linalg.vector_norm(diff, dim=1)
    if kind == "rmse":
        dist = dist / math.sqrt(diff.shape[1])
    elif kind == "squared":
        dist = 0.5 * dist.square()
    return dist


def contrastive_loss(
    s: torch.Tensor,
    labels: torch.Tensor,
    tau: float = 0.07,
    self_positive: bool = False,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Source-level contrastive term ``L^ctr`` of the MLOT cost (section 4.1), per sample.

    ``L_i = -log( sum_{p in P(i)} exp(<s_i, s_p>/tau) / sum_{a in A(i)} exp(<s_i, s_a>/tau) )``
    where ``P(i)`` holds the samples with ``labels == labels[i]`` and ``A(i)`` all
    samples; sample ``i`` itself belongs to both when ``self_positive`` and to
    neither otherwise. Evaluated as a difference of log-sum-exps.

    Parameters
    ----------
    s : Tensor, shape (N, ...)
        Source-specific representations ``z - z_b``.
    labels : Tensor, shape (N,)
        Integer group of each sample (source index, or degradation label).
    tau : float
        Temperature, > 0.
    self_positive : bool
        Count each sample as its own positive (released code) or leave it out (paper).
    eps : float
        Norm floor of the cosine similarity.

    Returns
    -------
    Tensor, shape (N,)
        Non-negative. 0 for a sample without negatives, and (with a zero gradient)
        for a sample without positives.
    """
    if tau <= 0:
        raise ConfigError(f"contrastive temperature tau must be > 0, got {tau}")
    n = s.shape[0]
    _check_labels(labels, n)
    labels = labels.to(s.device)
    logits = cosine_matrix(s, s, eps) / tau
    eye = torch.eye(n, dtype=torch.bool, device=s.device)
    same = labels.reshape(-1, 1) == labels.reshape(1, -1)
    if self_positive:
        positive, candidate = same, torch.ones_like(same)
    else:
        positive, candidate = same & ~eye, ~eye
    has_positive = positive.any(dim=1, keepdim=True)
    # Rows without a positive compare the diagonal with itself: exactly 0, zero gradient.
    positive = torch.where(has_positive, positive, eye)
    candidate = torch.where(has_positive, candidate, eye)
    neg_inf = torch.finfo(logits.dtype).min
    log_num = torch.logsumexp(logits.masked_fill(~positive, neg_inf), dim=1)
    log_den = torch.logsumexp(logits.masked_fill(~candidate, neg_inf), dim=1)
    return log_den - log_num


def orthogonality_loss(
    z_b: torch.Tensor,
    s: torch.Tensor,
    squared: bool = False,
    include_self: bool = True,
    reduction: str = "sum",
    eps: float = 1e-8,
) -> torch.Tensor:
    """Barycenter-anchored orthogonality term ``L^ort`` of the MLOT cost, per sample.

    ``L_i = sum_j |<z_b,i, s_j>|`` (paper) or ``sum_j <z_b,i, s_j>^2`` (released code),
    over every sample j of the mini-batch, whatever its source.

    Parameters
    ----------
    z_b : Tensor, shape (N, ...)
        Barycenter representations.
    s : Tensor, shape (N, ...)
        Source-specific representations ``z - z_b``.
    squared : bool
        Squared cosine instead of its absolute value.
    include_self : bool
        Include the pair (i, i).
    reduction : {"sum", "mean"}
        Sum over j (paper and code; grows with the batch) or mean over j.
    eps : float
        Norm floor of the cosine similarity.

    Returns
    -------
    Tensor, shape (N,)
        In [0, N] for ``"sum"``, [0, 1] for ``"mean"``; 0 when no pair is left.
    """
    if reduction not in ("sum", "mean"):
        raise ConfigError(f"unknown orthogonality reduction {reduction!r}; choose 'sum' or 'mean'")
    _check_pair(z_b, s)
    cos = cosine_matrix(z_b, s, eps)
    penalty = cos.square() if squared else cos.abs()
    n = cos.shape[0]
    if not include_self:
        penalty = penalty.masked_fill(torch.eye(n, dtype=torch.bool, device=cos.device), 0.0)
    total = penalty.sum(dim=1)
    if reduction == "mean":
        total = total / max(n if include_self else n - 1, 1)
    return total


@dataclass(frozen=True)
class CostSettings:
    """Every choice of the MLOT cost; :data:`COST_PRESETS` holds the two presets.

    Attributes
    ----------
    distance : {"norm", "rmse", "sphere"}
        Transport term, see :func:`transport_distance`.
    gamma : float
        Weight of ``L^ctr + L^ort`` (eq. 4).
    tau : float
        Contrastive temperature.
    self_positive : bool
        Count a sample as its own contrastive positive.
    positives : {"source", "label"}
        Group contrastive positives by source index or by the ``labels`` argument
        (which falls back to ``source`` when not given).
    ort_squared : bool
        Squared cosine in ``L^ort`` instead of its absolute value.
    ort_include_self : bool
        Include the pair (i, i) in ``L^ort``.
    ort_reduction : {"sum", "mean"}
        Sum or mean of ``L^ort`` over the batch.
    use_contrastive, use_orthogonality : bool
        Switch the terms off (the ablation of the paper's Table 8).
    eps : float
        Norm floor of every cosine similarity.
    """

    distance: str = "norm"
    gamma: float = 0.05
    tau: float = 0.07
    self_positive: bool = False
    positives: str = "source"
    ort_squared: bool = False
    ort_include_self: bool = True
    ort_reduction: str = "sum"
    use_contrastive: bool = True
    use_orthogonality: bool = True
    eps: float = 1e-8


COST_PRESETS: dict[str, CostSettings] = {
    "paper": CostSettings(),
    "reference": CostSettings(distance="rmse", self_positive=True, positives="label", ort_squared=True),
}


class MLOTCost:
    """MLOT transport cost of eq. 4, callable with the solver's cost interface.

    Parameters
    ----------
    preset : {"paper", "reference"}
        Starting settings, see :data:`COST_PRESETS` and the module docstring.
    gamma, tau : float, optional
        Override the preset's weight and temperature.
    **overrides
        Any other :class:`CostSettings` field, e.g. ``distance="sphere"`` or
        ``use_orthogonality=False``.

    Raises
    ------
    ConfigError
        Unknown preset or setting name, or an invalid value.

    Examples
    --------
    >>> cost = MLOTCost("paper", gamma=0.1)
    >>> values = cost(z, z_b, source)            # (N,)
    >>> logged = cost.terms(z, z_b, source)      # dict of (N,) tensors
    """

    def __init__(self, preset: str = "paper", gamma: float | None = None, tau: float | None = None, **overrides):
        if preset not in COST_PRESETS:
            raise ConfigError(f"unknown MLOT cost preset {preset!r}; choose one of {sorted(COST_PRESETS)}")
        known = {f.name for f in fields(CostSettings)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown MLOT cost setting(s) {unknown}; valid names: {sorted(known)}")
        if gamma is not None:
            overrides["gamma"] = gamma
        if tau is not None:
            overrides["tau"] = tau
        self.preset = preset
        self.settings = replace(COST_PRESETS[preset], **overrides)
        _validate(self.settings)

    def __repr__(self) -> str:
        return f"MLOTCost(preset={self.preset!r}, settings={asdict(self.settings)})"

    @staticmethod
    def _specific(z: torch.Tensor, z_b: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Check the inputs and return the source-specific part ``s = z - z_b``."""
        _check_pair(z, z_b)
        _check_labels(source, z.shape[0])
        return z - z_b

    def _contrastive_groups(self, source: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.settings.positives == "label" and labels is not None:
            return labels
        return source

    def terms(
        self, z: torch.Tensor, z_b: torch.Tensor, source: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """All terms of the cost per sample, for logging and ablations.

        Parameters
        ----------
        z, z_b : Tensor, shape (N, ...)
        source : LongTensor, shape (N,)
        labels : LongTensor, shape (N,), optional
            Degradation labels for the contrastive positives (``positives="label"``).

        Returns
        -------
        dict
            ``"distance"``, ``"contrastive"``, ``"orthogonality"`` and ``"total"``
            (the value of :meth:`__call__`), each a Tensor (N,). The two regularisers
            are computed even when switched off (then they do not enter ``"total"``).
        """
        st = self.settings
        s = self._specific(z, z_b, source)
        out = {
            "distance": transport_distance(z, z_b, st.distance, st.eps),
            "contrastive": contrastive_loss(s, self._contrastive_groups(source, labels), st.tau, st.self_positive, st.eps),
            "orthogonality": orthogonality_loss(z_b, s, st.ort_squared, st.ort_include_self, st.ort_reduction, st.eps),
        }
        out["total"] = self._combine(out["distance"], out["contrastive"], out["orthogonality"])
        return out

    def _combine(self, distance, contrastive, orthogonality):
        st = self.settings
        regulariser = torch.zeros_like(distance)
        if st.use_contrastive:
            regulariser = regulariser + contrastive
        if st.use_orthogonality:
            regulariser = regulariser + orthogonality
        return distance + st.gamma * regulariser

    def __call__(
        self, z: torch.Tensor, z_b: torch.Tensor, source: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Cost ``C_k(z_i, z_b,i)`` of every sample (eq. 4), shape (N,); see :meth:`terms`."""
        st = self.settings
        s = self._specific(z, z_b, source)
        contrastive = orthogonality = None
        if st.use_contrastive:
            groups = self._contrastive_groups(source, labels)
            contrastive = contrastive_loss(s, groups, st.tau, st.self_positive, st.eps)
        if st.use_orthogonality:
            orthogonality = orthogonality_loss(z_b, s, st.ort_squared, st.ort_include_self, st.ort_reduction, st.eps)
        return self._combine(transport_distance(z, z_b, st.distance, st.eps), contrastive, orthogonality)


def _validate(st: CostSettings) -> None:
    """Raise :class:`ConfigError` for settings outside their allowed values."""
    if st.distance not in DISTANCE_KINDS:
        raise ConfigError(f"unknown transport distance {st.distance!r}; choose one of {DISTANCE_KINDS}")
    if st.positives not in ("source", "label"):
        raise ConfigError(f"positives must be 'source' or 'label', got {st.positives!r}")
    if st.ort_reduction not in ("sum", "mean"):
        raise ConfigError(f"ort_reduction must be 'sum' or 'mean', got {st.ort_reduction!r}")
    if not st.tau > 0:
        raise ConfigError(f"tau must be > 0, got {st.tau}")
    if not st.gamma >= 0:
        raise ConfigError(f"gamma must be >= 0, got {st.gamma}")
    if not st.eps > 0:
        raise ConfigError(f"eps must be > 0, got {st.eps}")


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.dim() < 2 or a.shape[0] < 1:
        raise ValueError(
            f"expected two tensors of the same shape (N, ...) with N >= 1, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def _check_labels(labels: torch.Tensor, n: int) -> None:
    if labels.shape != (n,):
        raise ValueError(f"expected source/labels of shape ({n},), got {tuple(labels.shape)}")


# --- diagnostics of the decomposition z = z_b + s ----------------------------------------


def _one_sample_cost(cost, z, z_b, source, index, labels):
    """Check the inputs; return ``y -> cost(z, z_b with row index set to y, ...)[index]``."""
    _check_pair(z, z_b)
    if not 0 <= index < z.shape[0]:
        raise ValueError(f"index must lie in [0, {z.shape[0]}), got {index}")
    moved = torch.zeros(z.shape[0], dtype=torch.bool, device=z.device)
    moved[index] = True
    moved = moved.reshape(-1, *([1] * (z.dim() - 1)))

    def at(y):
        args = (z, torch.where(moved, y.unsqueeze(0), z_b), source)
        return (cost(*args) if labels is None else cost(*args, labels))[index]

    return at


def _check_points(points: torch.Tensor, z: torch.Tensor) -> None:
    if points.shape[1:] != z.shape[1:]:
        raise ValueError(f"points must have shape (P, {tuple(z.shape[1:])}), got {tuple(points.shape)}")


def cost_landscape(
    cost, z: torch.Tensor, z_b: torch.Tensor, source: torch.Tensor, index: int, points: torch.Tensor,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cost of one sample as a function of its barycenter point, the batch held fixed.

    For every candidate ``y = points[p]`` the batch's ``z_b[index]`` is replaced by ``y``
    and ``cost(z, z_b', source, labels)[index]`` is returned: the function of ``y`` whose
    minimum (minus a potential) the C-transform of eq. 6 takes. With the MLOT cost this
    function also depends on the other samples of the batch, which it freezes: MLOT is not
    a Kantorovich problem with a fixed pairwise cost. Vectorised with
    :func:`torch.func.vmap`.

    Parameters
    ----------
    cost : MLOTCost or callable with the cost interface
    z, z_b : Tensor, shape (N, ...)
    source : LongTensor, shape (N,)
    index : int
        The sample whose barycenter point moves.
    points : Tensor, shape (P, ...)
        Candidate barycenter points, each shaped like ``z[index]``.
    labels : LongTensor, shape (N,), optional

    Returns
    -------
    Tensor, shape (P,)
    """
    at = _one_sample_cost(cost, z, z_b, source, index, labels)
    _check_points(points, z)
    return torch.func.vmap(at)(points)


def landscape_curvature(
    cost, z: torch.Tensor, z_b: torch.Tensor, source: torch.Tensor, index: int, points: torch.Tensor,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Smallest Hessian eigenvalue of :func:`cost_landscape`'s function at each point.

    Theorem 4.2 of the paper assumes ``y -> C_k(z_k, y) - f_k(y)`` to be beta-strongly
    convex, i.e. its Hessian to have every eigenvalue ``>= beta``. For ``f_k = 0`` this
    returns the largest such beta at each point: 1 everywhere for the squared distance
    ``|z - y|^2 / 2``, 0 for the norm ``|z - y|`` (flat along the ray from ``z``), and
    negative wherever the cosine terms of the MLOT cost bend the other way.

    Parameters
    ----------
    cost, z, z_b, source, index, points, labels
        As in :func:`cost_landscape`; each point has ``D`` elements, the Hessian is
        ``D x D``, so keep ``D`` small (the 2-D examples of notebook 03).

    Returns
    -------
    Tensor, shape (P,)
    """
    at = _one_sample_cost(cost, z, z_b, source, index, labels)
    _check_points(points, z)
    shape = points.shape[1:]

    def flat_value(y_flat):
        return at(y_flat.reshape(shape))

    # reverse over reverse: torch.func.hessian (forward over reverse) imports deprecated TorchScript code
    hessians = torch.func.vmap(torch.func.jacrev(torch.func.jacrev(flat_value)))(points.flatten(1))
    return torch.linalg.eigvalsh(hessians)[:, 0]


def linear_probe_accuracy(
    features, labels, train_fraction: float = 0.5, seed: int = 0, l2: float = 1e-4, max_iter: int = 200
) -> float:
    """Held-out accuracy of a multinomial logistic regression (a linear probe).

    Measures how much of the source identity a representation keeps: near ``1/K`` for
    source-agnostic barycenter representations, near 1 for source-specific ones.
    Features are standardised with the training split's statistics; the fit uses L-BFGS
    in float64.

    Parameters
    ----------
    features : array or Tensor, shape (N, ...)
        Flattened per sample.
    labels : array or Tensor of int, shape (N,)
    train_fraction : float
        Share of the (shuffled) samples used for fitting; the rest is scored.
    seed : int
        Seed of the shuffle.
    l2 : float
        Weight of the squared-norm penalty on the weights.
    max_iter : int
        L-BFGS iterations.

    Returns
    -------
    float
        Accuracy on the held-out samples, in [0, 1].
    """
    x = torch.as_tensor(features).detach().to(torch.float64).cpu().flatten(1)
    y = torch.as_tensor(labels).detach().long().cpu()
    n = x.shape[0]
    if y.shape != (n,) or n < 2:
        raise ValueError(f"expected features (N, ...) and labels (N,) with N >= 2, got {tuple(x.shape)}, {tuple(y.shape)}")
    n_train = min(max(int(round(train_fraction * n)), 1), n - 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train, test = order[:n_train], order[n_train:]
    mean, std = x[train].mean(0), x[train].std(0, unbiased=False).clamp_min(1e-12)
    design = torch.cat([(x - mean) / std, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    n_classes = int(y.max()) + 1
    weights = torch.zeros(design.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(design[train] @ weights, y[train]) + l2 * weights.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float(((design[test] @ weights).argmax(1) == y[test]).double().mean())
