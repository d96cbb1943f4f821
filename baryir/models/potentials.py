"""Kantorovich potentials ``f_1, ..., f_K`` on the barycenter latent space (eq. 6-12).

Each ``f_k`` maps one barycenter representation ``z_B`` of shape ``(C, h, w)`` to a
scalar. Training maximises ``-sum_k lambda_k E[f_k(T(z_k))]`` over the potentials
under the congruence condition ``sum_k lambda_k f_k = 0`` (penalty ``rho``, eq. 12),
and the map ``T`` minimises ``C_k(z_k, T(z_k)) - f_k(T(z_k))``. At test time the
potentials are not used.

Two kinds of potential network:

``"reference"`` (released code)
    strided grouped conv ``C -> C`` (kernel 4, stride 4, padding 1, 4 groups, no
    bias, weights ~ N(0, 0.02)), LeakyReLU(0.2), flatten to ``F`` features,
    Linear ``F -> F/4``, Linear ``F/4 -> 64``, LeakyReLU(0.2), Linear ``64 -> 1``.
    ``F = C * o^2`` with ``o = (latent_size - 2) // 4 + 1``, so the network only
    accepts latents of the training size (``latent_size = patch_size / 8``; F = 6144
    for C = 384 and patch 128).
``"pooled"`` (resolution independent)
    3x3 grouped conv ``C -> C`` (4 groups), LeakyReLU(0.2), global average pooling
    over pixels, Linear ``C -> hidden``, LeakyReLU(0.2), Linear ``hidden -> 1``.
    Works for any latent size; much smaller than the reference form.
"""

from __future__ import annotations

import torch
from torch import nn

from baryir.errors import ConfigError

POTENTIAL_KINDS = ("pooled", "reference")
_GROUPS = 4
_SLOPE = 0.2


def _reference_features(channels: int, latent_size: int) -> int:
    side = (latent_size + 2 - 4) // 4 + 1
    return channels * side * side


def _reference_potential(channels: int, latent_size: int) -> nn.Sequential:
    features = _reference_features(channels, latent_size)
    conv = nn.Conv2d(channels, channels, kernel_size=4, stride=4, padding=1, groups=_GROUPS, bias=False)
    nn.init.normal_(conv.weight, 0.0, 0.02)
    return nn.Sequential(
        conv,
        nn.LeakyReLU(_SLOPE),
        nn.Flatten(),
        nn.Linear(features, features // 4),
        nn.Linear(features // 4, 64),
        nn.LeakyReLU(_SLOPE),
        nn.Linear(64, 1),
    )


def _pooled_potential(channels: int, hidden: int) -> nn.Sequential:
    conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1, groups=_GROUPS, bias=False)
    nn.init.normal_(conv.weight, 0.0, 0.02)
    return nn.Sequential(
        conv,
        nn.LeakyReLU(_SLOPE),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, hidden),
        nn.LeakyReLU(_SLOPE),
        nn.Linear(hidden, 1),
    )


class Potentials(nn.Module):
    """``K`` potential networks, evaluated on a batch of barycenter latents.

    Parameters
    ----------
    n_sources : int
        Number of sources ``K``.
    channels : int
        Latent channels ``C`` (``BaryIRConfig.latent_channels``); divisible by 4.
    kind : {"pooled", "reference"}
        Network form (module docstring).
    latent_size : int, optional
        Side ``h = w`` of the latents the ``"reference"`` form is built for
        (training patch size / 8). Required for ``"reference"``, ignored otherwise.
    hidden : int
        Hidden width of the ``"pooled"`` form's MLP.
    """

    def __init__(self, n_sources: int, channels: int, kind: str = "pooled", latent_size: int | None = None, hidden: int = 64):
        super().__init__()
        if n_sources < 1:
            raise ConfigError(f"n_sources must be >= 1, got {n_sources}")
        if kind not in POTENTIAL_KINDS:
            raise ConfigError(f"potential kind must be one of {POTENTIAL_KINDS}, got {kind!r}")
        if channels % _GROUPS:
            raise ConfigError(f"potential channels must be divisible by {_GROUPS}, got {channels}")
        if kind == "reference" and (latent_size is None or latent_size < 2):
            raise ConfigError(
                "kind='reference' potentials need latent_size = patch_size // 8 (>= 2); "
                "pass it, or use kind='pooled' for any image size"
            )
        self.n_sources = n_sources
        self.channels = channels
        self.kind = kind
        self.latent_size = latent_size if kind == "reference" else None
        if kind == "reference":
            nets = [_reference_potential(channels, latent_size) for _ in range(n_sources)]
        else:
            nets = [_pooled_potential(channels, hidden) for _ in range(n_sources)]
        self.nets = nn.ModuleList(nets)

    def _check(self, z_b: torch.Tensor) -> None:
        if z_b.ndim != 4 or z_b.shape[1] != self.channels:
            raise ValueError(f"expected z_b of shape (N, {self.channels}, h, w), got {tuple(z_b.shape)}")
        if self.latent_size is not None and tuple(z_b.shape[-2:]) != (self.latent_size, self.latent_size):
            raise ConfigError(
                f"'reference' potentials were built for {self.latent_size}x{self.latent_size} latents "
                f"(patch size {8 * self.latent_size}) but got {z_b.shape[-2]}x{z_b.shape[-1]}; "
                "train on patches of that size or use kind='pooled'"
            )

    def forward(self, z_b: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """``f_{source_i}(z_b_i)`` for each sample.

        Parameters
        ----------
        z_b : Tensor (N, C, h, w)
            Barycenter representations.
        source : LongTensor (N,)
            Source index of each sample, in ``[0, K)``.

        Returns
        -------
        Tensor (N,)
            Each sample goes only through its own source's network (one batched
            call per source present).
        """
        self._check(z_b)
        source = torch.as_tensor(source, device=z_b.device).long().reshape(-1)
        if source.shape[0] != z_b.shape[0]:
            raise ValueError(f"source has {source.shape[0]} entries for {z_b.shape[0]} samples")
        if source.numel() and (source.min() < 0 or source.max() >= self.n_sources):
            raise ValueError(f"source indices must lie in [0, {self.n_sources}), got {source.tolist()}")
        values = z_b.new_zeros(z_b.shape[0])
        for k in source.unique().tolist():
            rows = (source == k).nonzero().squeeze(1)
            values = values.index_copy(0, rows, self.nets[k](z_b[rows]).squeeze(1))
        return values

    def all_sources(self, z_b: torch.Tensor) -> torch.Tensor:
        """Every potential at every sample: ``(N, C, h, w) -> (N, K)``, column k = ``f_k``.

        Used for the congruence penalty ``(sum_k lambda_k f_k(z_B))^2`` (eq. 12).
        """
        self._check(z_b)
        return torch.cat([net(z_b) for net in self.nets], dim=1)
