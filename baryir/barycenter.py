r"""Continuous neural OT barycenters: the congruent dual and its maximin (paper eq. 6-12).

The barycenter of sources ``P_1..P_K`` with weights ``lambda_k`` under costs ``C_k``
(eq. 3/5) has the dual (Theorem 4.1, eq. 6-7)

.. math::

    L^* = \sup_{\sum_k \lambda_k f_k = 0} L(f), \qquad
    L(f) = \sum_k \lambda_k \, \mathbb{E}_{P_k}\left[ f_k^{C_k}(z_k) \right], \qquad
    f^{C}(z) = \inf_{z_b} \left[ C(z, z_b) - f(z_b) \right] \quad \text{(the } C\text{-transform).}

Replacing the inner ``inf`` over points by an ``inf`` over maps (eq. 8) gives the
maximin of eq. 9 / 12. Because ``f_k`` depends on ``k``, the exchange is exact with one
map per source, ``T_k(z)`` or ``T(z, k)``:

.. math::

    F(f, T) = \sum_k \lambda_k \, \mathbb{E}_{z \sim P_k}\left[ C_k(z, T_k(z)) - f_k(T_k(z)) \right],
    \qquad \max_f \min_T \; F(f, T) - \rho(f), \qquad
    \rho(f) = \mathbb{E}\left[ \Big( \sum_k \lambda_k f_k(z_b) \Big)^2 \right].

With one shared map ``T(z)`` for all sources (BaryIR's form) the inner ``min`` runs over
a smaller set, so only ``sup_f inf_T F >= L*`` holds, with equality when the sources'
supports do not overlap (then a shared map can act as each ``T_k`` on its own source).

This module writes these objectives once, generic over latent shapes ``(N, ...)``, so the
vector solver below and the image model's training (``baryir.train``) share them:

- :func:`weighted_source_mean` estimates ``sum_k lambda_k E_{P_k}[.]`` on a mixed batch;
- :func:`map_objective` is ``F`` (minimised over the map parameters theta);
- :func:`potential_objective` is ``-F + rho`` up to terms constant in omega (minimised
  over the potential parameters omega);
- :func:`congruence_residual`, :func:`congruence_penalty` give ``sum_k lambda_k f_k`` and
  ``rho``; :func:`exact_congruence` builds congruent potentials by construction (NOTB).

:class:`BarycenterSolver` trains maps and potentials on vector data ``(N, d)`` (2-D toys,
Gaussian benchmarks) with three map kinds:

``"shared"``
    one map ``T(z)`` for all sources, as in BaryIR. It can only be every source's OT map
    when the sources' supports do not overlap (a point shared by two sources would need
    two images).
``"conditioned"``
    one network that also sees the source, ``T(z, k)`` (a one-hot code is concatenated).
``"per_source"``
    one network per source, ``T_k(z)`` (NOTB).

All maps are residual, ``T(z) = z + net(z)``, with the last layer initialised at zero so
training starts at the identity. Both learning rates follow a cosine decay. In
``"penalty"`` mode a map step only evaluates each sample's own potential (K times
cheaper than ``"exact"``, which needs every ``g_i`` at every point).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from baryir.costs import quadratic_cost
from baryir.errors import ConfigError, TrainingDivergedError
from baryir.toy import check_weights

MAP_KINDS = ("shared", "conditioned", "per_source")
CONGRUENCE_MODES = ("penalty", "exact")
ACTIVATIONS = {"relu": nn.functional.relu, "silu": nn.functional.silu, "celu": nn.functional.celu}

Cost = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Sampler = Callable[[int, np.random.Generator], Sequence]


# --- the objectives of eq. 9 / 12 (generic over latent shapes) -------------------------


def _check_weight_vector(weights: torch.Tensor, n_sources: int) -> None:
    if weights.ndim != 1 or weights.shape[0] != n_sources:
        raise ValueError(
            f"weights must have shape ({n_sources},) to match {n_sources} sources, "
            f"got {tuple(weights.shape)}"
        )


def _check_per_sample(values: torch.Tensor, source: torch.Tensor) -> None:
    if values.ndim != 1 or source.shape != values.shape:
        raise ValueError(
            f"values and source must both have shape (N,), got {tuple(values.shape)} and {tuple(source.shape)}"
        )


def weighted_source_mean(values: torch.Tensor, source: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Estimate ``sum_k lambda_k E_{P_k}[v]`` from a batch that mixes sources.

    Each source's samples are averaged, then the averages are combined with the
    weights. Sources absent from the batch are skipped and the weights of the present
    ones renormalised to sum to one, so the estimate stays an average of the same
    scale (unbiased over batches that contain every source).

    Parameters
    ----------
    values : Tensor, shape (N,)
        One value per sample.
    source : LongTensor, shape (N,)
        Source index of every sample, in ``[0, K)``.
    weights : Tensor, shape (K,)
        Source weights ``lambda_k``.

    Returns
    -------
    Tensor, shape ()
    """
    _check_per_sample(values, source)
    n_sources = weights.shape[0]
    counts = torch.bincount(source, minlength=n_sources)
    if counts.shape[0] != n_sources:
        raise ValueError(f"source indices must lie in [0, {n_sources}), got max {int(source.max())}")
    sums = values.new_zeros(n_sources).index_add(0, source, values)
    present = counts > 0
    w = weights.to(values.dtype) * present
    w = w / w.sum()
    return (w * sums / counts.clamp(min=1)).sum()


def sample_weighted_mean(values: torch.Tensor, source: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """Per-sample estimate ``mean_i c_{k(i)} v_i`` of a source-weighted expectation.

    With ``c = lambda`` this is the released BaryIR trainer's estimator: each sample
    weighted by its own source's ``lambda_k``, averaged over the whole batch, never
    renormalised over the sources present. Its expectation over batches drawn with
    source shares ``p_k`` is ``sum_k p_k lambda_k E_{P_k}[v]``. With
    ``c_k = lambda_k / p_k`` (importance weights, :func:`estimator_coefficients`) the
    expectation is eq. 12's ``sum_k lambda_k E_{P_k}[v]`` at every batch size.

    Parameters
    ----------
    values : Tensor, shape (N,)
    source : LongTensor, shape (N,)
        Source index of every sample, in ``[0, K)``.
    coefficients : Tensor, shape (K,)
        Per-source factor ``c_k``.

    Returns
    -------
    Tensor, shape ()
    """
    _check_per_sample(values, source)
    return (coefficients.to(values.dtype)[source] * values).mean()


def estimator_coefficients(weights: torch.Tensor, shares: torch.Tensor, objective: str) -> torch.Tensor:
    """The per-source factors ``c_k`` of :func:`sample_weighted_mean` for an objective.

    - ``"reference"`` (released code): ``c_k = lambda_k``.
    - ``"paper"`` (eq. 12, unbiased at any batch size): ``c_k = lambda_k / p_k``, where
      ``p_k`` is the probability that a training sample comes from source ``k``.

    Parameters
    ----------
    weights : Tensor, shape (K,)
        Barycenter weights ``lambda_k``.
    shares : Tensor, shape (K,)
        Sampling shares ``p_k`` (positive, summing to one).
    objective : {"reference", "paper"}

    Returns
    -------
    Tensor, shape (K,)
    """
    _check_weight_vector(shares, weights.shape[0])
    if objective == "reference":
        return weights.clone()
    if objective == "paper":
        return weights / shares.to(weights.dtype)
    raise ValueError(f"unknown objective {objective!r}; use 'reference' or 'paper'")


def congruence_residual(f_all: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_k lambda_k f_k(z_b)`` for every sample: zero for congruent potentials (eq. 7).

    Parameters
    ----------
    f_all : Tensor, shape (N, K)
        Every potential evaluated at every barycenter sample.
    weights : Tensor, shape (K,)

    Returns
    -------
    Tensor, shape (N,)
    """
    _check_weight_vector(weights, f_all.shape[1])
    return f_all @ weights.to(f_all.dtype)


def congruence_penalty(f_all: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """BaryIR's congruence penalty ``rho`` of eq. 12: the mean squared residual.

    Parameters
    ----------
    f_all : Tensor, shape (N, K)
    weights : Tensor, shape (K,)

    Returns
    -------
    Tensor, shape ()
    """
    return congruence_residual(f_all, weights).pow(2).mean()


def exact_congruence(g_all: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Turn free potentials ``g_k`` into congruent ones (the NOTB construction).

    ``f_k = g_k - sum_{i != k} lambda_i g_i / ((K - 1) lambda_k)``, so that
    ``sum_k lambda_k f_k = sum_k lambda_k g_k - sum_i lambda_i g_i = 0`` identically.

    Parameters
    ----------
    g_all : Tensor, shape (N, K)
        Free potentials evaluated at the barycenter samples.
    weights : Tensor, shape (K,)

    Returns
    -------
    Tensor, shape (N, K)
    """
    n_sources = g_all.shape[1]
    _check_weight_vector(weights, n_sources)
    if n_sources < 2:
        raise ValueError("exact congruence needs at least two sources")
    w = weights.to(g_all.dtype)
    weighted = g_all * w
    others = weighted.sum(dim=1, keepdim=True) - weighted
    return g_all - others / ((n_sources - 1) * w)


def map_objective(costs: torch.Tensor, f_at_zb: torch.Tensor, source: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``F`` of eq. 9 / 12 on a batch, to minimise over the map parameters theta.

    Parameters
    ----------
    costs : Tensor, shape (N,)
        ``C_k(z_i, T(z_i))`` with ``k = source_i``.
    f_at_zb : Tensor, shape (N,)
        ``f_k(T(z_i))`` with ``k = source_i`` (each sample's own potential).
    source : LongTensor, shape (N,)
    weights : Tensor, shape (K,)

    Returns
    -------
    Tensor, shape ()
        ``sum_k lambda_k mean_{i in k} [C_k(z_i, T(z_i)) - f_k(T(z_i))]``.
    """
    return weighted_source_mean(costs - f_at_zb, source, weights)


def potential_objective(
    f_at_zb: torch.Tensor,
    source: torch.Tensor,
    weights: torch.Tensor,
    f_all: torch.Tensor | None = None,
    penalty_weight: float = 0.0,
) -> torch.Tensor:
    """The omega step of eq. 12, as a scalar to *minimise*.

    Maximising ``F - rho`` over the potentials with the map fixed drops the cost term
    (it does not depend on omega), leaving ``-sum_k lambda_k E[f_k(T(z))] - w rho``; this
    returns its negative, ``sum_k lambda_k E[f_k(T(z))] + w rho``.

    Parameters
    ----------
    f_at_zb : Tensor, shape (N,)
        Each sample's own potential at its barycenter image (map detached).
    source : LongTensor, shape (N,)
    weights : Tensor, shape (K,)
    f_all : Tensor, shape (N, K), optional
        All potentials at the barycenter samples; needed when ``penalty_weight > 0``.
    penalty_weight : float
        Weight ``w`` of ``rho`` (0 for exactly congruent potentials, or when the caller
        steps the penalty separately, as the released BaryIR code does).

    Returns
    -------
    Tensor, shape ()
    """
    loss = weighted_source_mean(f_at_zb, source, weights)
    if penalty_weight:
        if f_all is None:
            raise ValueError("potential_objective needs f_all (N, K) when penalty_weight > 0")
        loss = loss + penalty_weight * congruence_penalty(f_all, weights)
    return loss


# --- networks ----------------------------------------------------------------------------


class EnsembleMLP(nn.Module):
    """``n_models`` independent MLPs evaluated together with batched matrix products.

    Parameters
    ----------
    n_models, in_dim, out_dim : int
    hidden : int
        Width of every hidden layer.
    depth : int
        Number of hidden layers.
    activation : str
        One of ``ACTIVATIONS``.
    zero_last : bool
        Initialise the output layer at zero (a residual map then starts at identity).
    """

    def __init__(self, n_models: int, in_dim: int, hidden: int, depth: int, out_dim: int,
                 activation: str = "relu", zero_last: bool = False):
        super().__init__()
        dims = [in_dim] + [hidden] * depth + [out_dim]
        self.activation = ACTIVATIONS[activation]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(dims[:-1], dims[1:]):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation
            self.weights.append(nn.Parameter(torch.empty(n_models, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n_models, 1, fan_out).uniform_(-bound, bound)))
        if zero_last:
            nn.init.zeros_(self.weights[-1])
            nn.init.zeros_(self.biases[-1])

    def forward(self, x: torch.Tensor, model: int | None = None) -> torch.Tensor:
        """Evaluate the models.

        Parameters
        ----------
        x : Tensor, shape (M, n, in_dim)
            ``M = n_models`` (model m sees ``x[m]``), or ``M = 1`` with ``model`` set.
        model : int, optional
            Evaluate only this model.

        Returns
        -------
        Tensor, shape (M, n, out_dim)
        """
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if model is not None:
                w, b = w[model : model + 1], b[model : model + 1]
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = self.activation(x)
        return x


class BarycenterMap(nn.Module):
    """Residual barycenter map ``T(z) = z + net(.)`` of one of the ``MAP_KINDS``.

    Parameters
    ----------
    kind : str
        ``"shared"`` (net sees z), ``"conditioned"`` (net sees z and one-hot(k)) or
        ``"per_source"`` (net_k sees z).
    dim, n_sources, hidden, depth : int
    activation : str
    """

    def __init__(self, kind: str, dim: int, n_sources: int, hidden: int, depth: int, activation: str):
        super().__init__()
        self.kind = kind
        self.n_sources = n_sources
        in_dim = dim + n_sources if kind == "conditioned" else dim
        n_models = n_sources if kind == "per_source" else 1
        self.net = EnsembleMLP(n_models, in_dim, hidden, depth, dim, activation, zero_last=True)

    def forward_grouped(self, z: torch.Tensor) -> torch.Tensor:
        """Map a source-balanced batch.

        Parameters
        ----------
        z : Tensor, shape (K, n, d)
            ``z[k]`` holds n samples of source k.

        Returns
        -------
        Tensor, shape (K, n, d)
        """
        n_sources, n, dim = z.shape
        if self.kind == "per_source":
            return z + self.net(z)
        inputs = z
        if self.kind == "conditioned":
            code = torch.eye(n_sources, dtype=z.dtype, device=z.device)[:, None, :].expand(n_sources, n, n_sources)
            inputs = torch.cat([z, code], dim=-1)
        return z + self.net(inputs.reshape(1, n_sources * n, -1)).reshape(n_sources, n, dim)

    def forward(self, z: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Map samples with arbitrary source labels.

        Parameters
        ----------
        z : Tensor, shape (N, d)
        source : LongTensor, shape (N,)

        Returns
        -------
        Tensor, shape (N, d)
        """
        if self.kind == "shared":
            return z + self.net(z[None])[0]
        if self.kind == "conditioned":
            code = nn.functional.one_hot(source, self.n_sources).to(z.dtype)
            return z + self.net(torch.cat([z, code], dim=1)[None])[0]
        out = torch.empty_like(z)
        for k in torch.unique(source).tolist():  # a loop over sources, not samples
            rows = source == k
            out[rows] = z[rows] + self.net(z[rows][None], model=k)[0]
        return out


class PotentialNets(nn.Module):
    """K scalar potentials ``f_k(y) = net_k(y)``, evaluated together.

    Parameters
    ----------
    n_sources, dim, hidden, depth : int
    activation : str
    """

    def __init__(self, n_sources: int, dim: int, hidden: int, depth: int, activation: str):
        super().__init__()
        self.net = EnsembleMLP(n_sources, dim, hidden, depth, 1, activation)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` (K, n, d), net k evaluated on ``y[k]`` -> (K, n)."""
        return self.net(y)[..., 0]


# --- the solver ---------------------------------------------------------------------------


@dataclass
class SolverConfig:
    """Settings of :class:`BarycenterSolver`.

    Parameters
    ----------
    dim : int
        Dimension d of the samples.
    weights : sequence of float
        Source weights ``lambda_k`` (positive, summing to one); K = len(weights).
    map_kind : str
        One of ``MAP_KINDS``.
    congruence : str
        ``"exact"`` (NOTB construction) or ``"penalty"`` (BaryIR's rho, eq. 12).
    penalty_weight : float
        Weight of rho in ``"penalty"`` mode.
    hidden, depth : int
        MLP width (default ``max(64, 2 d)``) and number of hidden layers, for maps and
        potentials.
    activation : str
        One of ``ACTIVATIONS``. The smooth default (SiLU) gives potentials with smooth
        gradients, which drive the map; on the 2-D Gaussian benchmark it reached 2-3x
        lower L2-UVP than ReLU in the same number of steps.
    batch_size : int
        Samples per source in every mini-batch.
    inner_steps : int
        Map (theta) steps per potential (omega) step.
    map_lr, potential_lr : float
        Initial Adam learning rates.
    final_lr_ratio : float
        Learning rates decay along a cosine from 1 to this fraction of their start.
    betas : tuple of float
        Adam's betas.
    seed : int
        Seeds the network initialisation and the sampling.
    """

    dim: int
    weights: Sequence[float]
    map_kind: str = "conditioned"
    congruence: str = "penalty"
    penalty_weight: float = 10.0
    hidden: int | None = None
    depth: int = 3
    activation: str = "silu"
    batch_size: int = 256
    inner_steps: int = 10
    map_lr: float = 3e-3
    potential_lr: float = 3e-3
    final_lr_ratio: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    seed: int = 0
    cost: Cost = field(default=quadratic_cost, repr=False)

    def __post_init__(self) -> None:
        self.weights = tuple(float(w) for w in check_weights(self.weights))
        choices = {"map_kind": MAP_KINDS, "congruence": CONGRUENCE_MODES, "activation": tuple(ACTIVATIONS)}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"SolverConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        positive = ("dim", "depth", "batch_size", "inner_steps", "map_lr", "potential_lr")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"SolverConfig.{name} must be positive, got {getattr(self, name)!r}")
        if self.hidden is None:
            self.hidden = max(64, 2 * self.dim)
        if len(self.weights) < 2:
            raise ConfigError("a barycenter needs at least two sources (weights of length >= 2)")
        if self.congruence == "penalty" and self.penalty_weight <= 0:
            raise ConfigError("SolverConfig.penalty_weight must be positive in 'penalty' mode")
        if not 0 <= self.final_lr_ratio <= 1:
            raise ConfigError(f"SolverConfig.final_lr_ratio must lie in [0, 1], got {self.final_lr_ratio}")

    @property
    def n_sources(self) -> int:
        """Number of sources K."""
        return len(self.weights)

    def as_dict(self) -> dict:
        """The settings as plain values (the cost by name), e.g. for a JSON report."""
        values = asdict(self)
        values["cost"] = getattr(self.cost, "__name__", repr(self.cost))
        return values


class BarycenterSolver:
    """Neural barycenter solver: alternating max-min on eq. 12 (or NOTB's exact form).

    Every outer step makes ``inner_steps`` map steps (minimise :func:`map_objective` on
    fresh batches), then one potential step (minimise :func:`potential_objective` with the
    map fixed; in ``"penalty"`` mode it includes ``penalty_weight * rho``).

    Diagnostics (the ``history`` returned by :meth:`fit`, one entry per outer step):

    ``F``
        the map objective of the last inner step (eq. 9); it tends to ``L*`` in
        ``"exact"`` mode (for a ``"shared"`` map surely only when the sources'
        supports do not overlap; otherwise it may stay above ``L*``) and to about ``L* + 1 / (2 w)`` in ``"penalty"`` mode, because
        there the potentials settle with ``sum_k lambda_k f_k ~ -1 / (2 w)``: when every
        pushforward is the barycenter Q, the omega objective is ``E_Q[r + w r^2]`` in the
        residual r, smallest at ``r = -1 / (2 w)``. A constant offset leaves the map's
        gradients unchanged.
    ``potential_loss``
        the value minimised in the potential step.
    ``residual``
        root-mean-square congruence residual ``sum_k lambda_k f_k(T(z))`` on the pushed
        batch (exactly 0 up to rounding in ``"exact"`` mode).
    ``map_lr``, ``potential_lr``
        the learning rates used.

    Duality gaps (Theorem 4.2, eq. 10-11) are estimated by :meth:`duality_gaps`, and by
    :meth:`fit` every ``gap_every`` steps (keys ``gap_step``, ``gap_inner``, ``gap_outer``).

    Parameters
    ----------
    config : SolverConfig
    device : str or torch.device
    """

    def __init__(self, config: SolverConfig, device: str | torch.device = "cpu"):
        self.config = config
        self.device = torch.device(device)
        k, c = config.n_sources, config
        self.weights = torch.tensor(config.weights, dtype=torch.float32, device=self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.map = BarycenterMap(c.map_kind, c.dim, k, c.hidden, c.depth, c.activation).to(self.device)
            self.potential_nets = PotentialNets(k, c.dim, c.hidden, c.depth, c.activation).to(self.device)
        self.map_optimizer = torch.optim.Adam(self.map.parameters(), lr=c.map_lr, betas=c.betas)
        self.potential_optimizer = torch.optim.Adam(self.potential_nets.parameters(), lr=c.potential_lr, betas=c.betas)
        self.rng = np.random.default_rng(config.seed)
        self.steps_done = 0

    # -- evaluation --------------------------------------------------------------------

    def _as_tensor(self, z) -> torch.Tensor:
        z = torch.as_tensor(np.asarray(z) if not isinstance(z, torch.Tensor) else z, dtype=torch.float32)
        if z.ndim != 2 or z.shape[1] != self.config.dim:
            raise ValueError(f"expected samples of shape (N, {self.config.dim}), got {tuple(z.shape)}")
        return z.to(self.device)

    def _source_vector(self, k, n: int) -> torch.Tensor:
        source = torch.as_tensor(k, dtype=torch.long, device=self.device)
        if source.ndim == 0:
            source = source.expand(n)
        if source.shape != (n,):
            raise ValueError(f"source must be an int or have shape ({n},), got {tuple(source.shape)}")
        if n and (int(source.min()) < 0 or int(source.max()) >= self.config.n_sources):
            raise ValueError(f"source indices must lie in [0, {self.config.n_sources})")
        return source

    @torch.no_grad()
    def transport(self, z, k):
        """Push samples of source(s) ``k`` to the barycenter, ``z_b = T(z, k)``.

        Parameters
        ----------
        z : ndarray or Tensor, shape (N, d)
        k : int or LongTensor/ndarray of shape (N,)
            Source of every sample.

        Returns
        -------
        same type as ``z``, shape (N, d)
        """
        z_t = self._as_tensor(z)
        z_b = self.map(z_t, self._source_vector(k, z_t.shape[0]))
        return z_b.cpu().numpy() if isinstance(z, np.ndarray) else z_b

    def _potentials(self, z_b: torch.Tensor) -> torch.Tensor:
        n_sources = self.config.n_sources
        g_all = self.potential_nets(z_b[None].expand(n_sources, *z_b.shape)).T
        return exact_congruence(g_all, self.weights) if self.config.congruence == "exact" else g_all

    def potentials(self, z_b) -> torch.Tensor:
        """All potentials ``f_k`` at barycenter points (congruent in ``"exact"`` mode).

        Parameters
        ----------
        z_b : ndarray or Tensor, shape (N, d)

        Returns
        -------
        Tensor, shape (N, K)
        """
        with torch.no_grad():
            return self._potentials(self._as_tensor(z_b))

    # -- training ----------------------------------------------------------------------

    def _draw(self, sampler: Sampler, n: int, rng: np.random.Generator) -> torch.Tensor:
        clouds = sampler(n, rng)
        if len(clouds) != self.config.n_sources:
            raise ValueError(f"the sampler returned {len(clouds)} sources, expected {self.config.n_sources}")
        z = torch.stack([torch.as_tensor(np.asarray(c), dtype=torch.float32) for c in clouds])
        if z.shape != (self.config.n_sources, n, self.config.dim):
            raise ValueError(
                f"the sampler must return {self.config.n_sources} arrays of shape ({n}, {self.config.dim}), "
                f"got shape {tuple(z.shape)}"
            )
        return z.to(self.device)

    def _batch_terms(self, z: torch.Tensor):
        """Map a balanced batch (K, n, d); return flat z, z_b, source and own potential f_k(z_b)."""
        n_sources, n, dim = z.shape
        z_b = self.map.forward_grouped(z)
        source = torch.arange(n_sources, device=z.device).repeat_interleave(n)
        if self.config.congruence == "exact":  # every f_k needs every g_i at the point
            f_own = self._potentials(z_b.reshape(-1, dim)).gather(1, source[:, None])[:, 0]
        else:  # each sample only meets its own potential: K times cheaper
            f_own = self.potential_nets(z_b).reshape(-1)
        return z.reshape(-1, dim), z_b.reshape(-1, dim), source, f_own

    def _set_lr(self, progress: float) -> tuple[float, float]:
        c = self.config
        factor = c.final_lr_ratio + (1 - c.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
        for optimizer, base in ((self.map_optimizer, c.map_lr), (self.potential_optimizer, c.potential_lr)):
            for group in optimizer.param_groups:
                group["lr"] = base * factor
        return c.map_lr * factor, c.potential_lr * factor

    def fit(
        self,
        sampler: Sampler,
        steps: int,
        progress: bool = True,
        gap_every: int = 0,
        optimal_value: float | None = None,
        callback: Callable[[int, BarycenterSolver], dict] | None = None,
        callback_every: int = 0,
    ) -> dict[str, list]:
        """Train for ``steps`` outer steps; return the history (a dict of lists).

        Parameters
        ----------
        sampler : callable ``(n, rng) -> sequence of K arrays (n, d)``
            Draws n samples of every source with the numpy generator ``rng``.
        steps : int
            Outer (potential) steps; the cosine decay spans them.
        progress : bool
            Show a tqdm bar.
        gap_every : int
            Estimate the duality gaps every this many steps (0: never).
        optimal_value : float, optional
            ``L*`` when known (e.g. Gaussians), for the outer gap E2.
        callback : callable ``(step, solver) -> dict``, optional
            Extra evaluation (e.g. L2-UVP); its values are stored under ``eval_<key>``
            with the step in ``eval_step``.
        callback_every : int
            Call ``callback`` every this many steps (and after the last).

        Returns
        -------
        dict of lists
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        c = self.config
        history: dict[str, list] = {"step": [], "F": [], "potential_loss": [], "residual": [], "map_lr": [], "potential_lr": []}
        penalty = c.penalty_weight if c.congruence == "penalty" else 0.0
        for step in tqdm(range(steps), desc="barycenter", disable=not progress, leave=False):
            map_lr, potential_lr = self._set_lr(step / steps)
            self.potential_nets.requires_grad_(False)
            for _ in range(c.inner_steps):
                z, z_b, source, f_own = self._batch_terms(self._draw(sampler, c.batch_size, self.rng))
                map_loss = map_objective(c.cost(z, z_b, source), f_own, source, self.weights)
                self.map_optimizer.zero_grad(set_to_none=True)
                map_loss.backward()
                self.map_optimizer.step()
            self.potential_nets.requires_grad_(True)
            z = self._draw(sampler, c.batch_size, self.rng)
            with torch.no_grad():
                z_b = self.map.forward_grouped(z).reshape(-1, c.dim)
            source = torch.arange(c.n_sources, device=self.device).repeat_interleave(c.batch_size)
            f_all = self._potentials(z_b)
            f_own = f_all.gather(1, source[:, None])[:, 0]
            potential_loss = potential_objective(f_own, source, self.weights, f_all, penalty)
            self.potential_optimizer.zero_grad(set_to_none=True)
            potential_loss.backward()
            self.potential_optimizer.step()
            self.steps_done += 1
            self._log(history, step, map_loss, potential_loss, f_all, map_lr, potential_lr)
            last = step == steps - 1
            if gap_every and (step % gap_every == gap_every - 1 or last):
                gaps = self.duality_gaps(sampler, optimal_value=optimal_value)
                history.setdefault("gap_step", []).append(step)
                history.setdefault("gap_inner", []).append(gaps["inner"])
                history.setdefault("gap_outer", []).append(gaps["outer"])
            if callback is not None and callback_every and (step % callback_every == callback_every - 1 or last):
                history.setdefault("eval_step", []).append(step)
                for key, value in callback(step, self).items():
                    history.setdefault(f"eval_{key}", []).append(value)
            if not math.isfinite(history["F"][-1]):
                raise TrainingDivergedError(
                    f"the barycenter objective became {history['F'][-1]} at step {step}; "
                    "lower map_lr/potential_lr or use congruence='exact'"
                )
        return history

    def _log(self, history, step, map_loss, potential_loss, f_all, map_lr, potential_lr) -> None:
        residual = congruence_residual(f_all.detach(), self.weights)
        history["step"].append(step)
        history["F"].append(map_loss.item())
        history["potential_loss"].append(potential_loss.item())
        history["residual"].append(float(residual.pow(2).mean().sqrt()))
        history["map_lr"].append(map_lr)
        history["potential_lr"].append(potential_lr)

    def duality_gaps(
        self,
        sampler: Sampler,
        n: int = 1024,
        optimal_value: float | None = None,
        transform_steps: int = 100,
        step_size: float = 0.2,
        seed: int = 12345,
    ) -> dict[str, float]:
        """Estimate the duality gaps of Theorem 4.2 (eq. 10-11) on fresh samples.

        ``F(f, T)`` is the map objective on n samples per source. The dual value
        ``L(f) = sum_k lambda_k E[f_k^C(z)]`` needs the C-transform
        ``f^C(z) = min_y C(z, y) - f(y)``: it is approximated per sample by
        ``transform_steps`` gradient-descent steps on y started at ``T(z)``, keeping the
        best value seen (vectorised over samples; exact for separable costs such as the
        quadratic one). Because the minimum is approximated from above, ``L_hat >= L``,
        so both estimates below are *lower* estimates of the true gaps (up to sampling
        noise):

        - ``inner`` = ``F - L_hat`` (E1, >= 0 by construction): how far T is from the best
          response to the current potentials;
        - ``outer`` = ``L* - L_hat`` (E2), only when ``optimal_value = L*`` is known (for
          the quadratic cost, ``L* = sum_k lambda_k W2^2(P_k, Q*) / 2``).

        With beta-strongly convex ``y -> C(z, y) - f_k(y)``, Theorem 4.2 bounds the maps'
        error by ``(2 / beta)(E1 + E2)``. The dual (eq. 7) is only defined for congruent
        potentials, so both values use their congruent projection
        ``f_k - sum_i lambda_i f_i`` (a no-op in ``"exact"`` mode). In ``"penalty"`` mode
        this matters: there the residual settles near ``-1 / (2 w)`` (see
        :class:`BarycenterSolver`), which would otherwise inflate ``L`` by about ``1 / (2 w)``
        and make ``E2`` negative.

        Returns
        -------
        dict with ``F``, ``L_hat``, ``inner``, ``outer`` (NaN when ``optimal_value`` is None).
        """
        c = self.config
        z = self._draw(sampler, n, np.random.default_rng(seed))
        source = torch.arange(c.n_sources, device=self.device).repeat_interleave(n)
        flat = z.reshape(-1, c.dim)

        def own_congruent_potential(y):  # f_k - sum_i lambda_i f_i is exactly congruent
            f_all = self._potentials(y)
            f_all = f_all - congruence_residual(f_all, self.weights)[:, None]
            return f_all.gather(1, source[:, None])[:, 0]

        with torch.no_grad():
            z_b = self.map.forward_grouped(z).reshape(-1, c.dim)
            f_value = map_objective(c.cost(flat, z_b, source), own_congruent_potential(z_b), source, self.weights)
        self.potential_nets.requires_grad_(False)
        y = z_b.clone().requires_grad_(True)
        best = None
        for _ in range(transform_steps + 1):
            values = c.cost(flat, y, source) - own_congruent_potential(y)
            best = values.detach() if best is None else torch.minimum(best, values.detach())
            (grad,) = torch.autograd.grad(values.sum(), y)
            with torch.no_grad():
                y -= step_size * grad
        self.potential_nets.requires_grad_(True)
        dual = float(weighted_source_mean(best, source, self.weights))
        return {
            "F": float(f_value),
            "L_hat": dual,
            "inner": float(f_value) - dual,
            "outer": (optimal_value - dual) if optimal_value is not None else float("nan"),
        }
