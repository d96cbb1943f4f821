"""Transport costs ``C_k(z_k, z_k^B)`` for the barycenter solver.

Cost interface (used by :mod:`baryir.barycenter` and :mod:`baryir.train`)::

    cost(z, z_b, source) -> Tensor of shape (N,)

``z`` and ``z_b`` have shape (N, ...) (vectors or feature maps), ``source`` is a
LongTensor (N,) of source indices. A cost may use the whole mini-batch (the MLOT
contrastive and orthogonality terms do) but returns one value per sample.
"""

from __future__ import annotations

import torch


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
    return 0.5 * (z - z_b).flatten(1).pow(2).sum(dim=1)
