"""Small networks shared by the tiling tests."""

from __future__ import annotations

import torch


def equivariant_conv_net(seed: int = 0, width: int = 6) -> torch.nn.Module:
    """A translation-equivariant float64 conv net (one stride-2 level down and up).

    Its receptive-field radius is at most 6 pixels, so tiles whose discarded margin is
    at least that wide reproduce whole-image inference up to rounding. Weights are
    drawn from N(0, 0.3^2) with a private generator seeded by ``seed``.
    """
    gen = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, width, 3, padding=1),
        torch.nn.GELU(),
        torch.nn.Conv2d(width, width, 3, stride=2, padding=1),
        torch.nn.GELU(),
        torch.nn.ConvTranspose2d(width, width, 2, stride=2),
        torch.nn.Conv2d(width, 3, 3, padding=1),
    ).double()
    with torch.no_grad():
        for param in net.parameters():
            param.copy_(0.3 * torch.randn(param.shape, generator=gen, dtype=torch.float64))
    return net.eval()
