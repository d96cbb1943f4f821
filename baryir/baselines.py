"""Classical (non-learned) restoration baselines, used as labelled reference rows.

These run offline on a CPU and need no training, so the evaluation tables and
notebook 06 can show where a learned model stands:

- ``nlm``: scikit-image non-local means denoising (Buades et al., 2005);
- ``tv``: scikit-image total-variation denoising (Chambolle, 2004);
- ``dcp``: the dark-channel-prior dehazer (He, Sun and Tang, 2009), written here,
  with guided-filter refinement of the transmission (He et al., 2010);
- ``input``: the degraded image itself (the "do nothing" row).

Every function maps a uint8 (H, W, 3) image to a uint8 (H, W, 3) image. They are
*not* all-in-one methods: each targets one degradation (``BASELINES[name].task``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

from baryir.data.io import round_to_uint8


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Gaussian noise level on the 0-255 scale (Immerkaer, 1996), mean over channels.

    ``sigma = sqrt(pi / 2) / (6 (H - 2)(W - 2)) * sum |I * L|`` with the Laplacian-
    difference mask L = [[1, -2, 1], [-2, 4, -2], [1, -2, 1]] (insensitive to
    image structure up to second order).
    """
    mask = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    h, w = image.shape[:2]
    levels = [
        np.abs(ndimage.convolve(image[..., c].astype(np.float64), mask)[1:-1, 1:-1]).sum()
        for c in range(image.shape[2])
    ]
    return float(np.sqrt(np.pi / 2) * np.mean(levels) / (6.0 * (h - 2) * (w - 2)))


def _noise_sigma(image: np.ndarray, sigma: float | None) -> float:
    """Noise level in [0, 1] units: the given 8-bit sigma, or :func:`estimate_noise_sigma`."""
    return (estimate_noise_sigma(image) if sigma is None else float(sigma)) / 255.0


def nlm_denoise(image: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Non-local means (5 x 5 patches, 13 x 13 search window, h = 0.6 sigma, fast mode).

    Parameters
    ----------
    image : uint8 (H, W, 3)
    sigma : float, optional
        Noise standard deviation on the 0-255 scale; estimated when omitted.
    """
    s = _noise_sigma(image, sigma)
    out = denoise_nl_means(
        image / 255.0, h=0.6 * s, sigma=s, patch_size=5, patch_distance=6,
        fast_mode=True, channel_axis=-1,
    )  # fmt: skip
    return round_to_uint8(255.0 * out)


def tv_denoise(image: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Total-variation denoising (Chambolle) with a weight proportional to sigma.

    The weight ``0.8 * sigma`` (sigma in [0, 1] units; 0.078 at sigma 25) and
    non-local means' ``h = 0.6 sigma`` were chosen on scikit-image's astronaut at
    sigma 25 (NLM 29.3 dB / 0.762, TV 28.0 dB / 0.74 from 20.9 dB); they are not
    tuned per test set.
    """
    s = _noise_sigma(image, sigma)
    return round_to_uint8(255.0 * denoise_tv_chambolle(image / 255.0, weight=0.8 * s, channel_axis=-1))


def dark_channel(image: np.ndarray, patch: int = 15) -> np.ndarray:
    """Dark channel: min over colour channels, then min over a ``patch`` window. (H, W)."""
    return ndimage.minimum_filter(image.min(axis=2), size=patch, mode="nearest")


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-guide guided filter (He et al., 2010): edge-aware smoothing of ``source``."""

    def box(x):
        return ndimage.uniform_filter(x, size=2 * radius + 1, mode="reflect")

    mean_g, mean_s = box(guide), box(source)
    cov = box(guide * source) - mean_g * mean_s
    var = box(guide * guide) - mean_g**2
    a = cov / (var + eps)
    b = mean_s - a * mean_g
    return box(a) * guide + box(b)


def dcp_dehaze(
    image: np.ndarray, patch: int = 15, omega: float = 0.95, t_min: float = 0.1,
    top_fraction: float = 0.001, refine: bool = True,
) -> np.ndarray:  # fmt: skip
    """Dark-channel-prior dehazing, inverting ``I = J t + A (1 - t)``.

    Parameters
    ----------
    image : uint8 (H, W, 3)
        Hazy image.
    patch : int
        Window of the dark channel.
    omega : float
        Fraction of haze removed (keeps a little for depth perception).
    t_min : float
        Lower bound on the transmission.
    top_fraction : float
        Fraction of the brightest dark-channel pixels whose mean colour estimates
        the atmospheric light A (mean rather than max, for robustness).
    refine : bool
        Refine the transmission with a guided filter (radius 4 * patch, eps 1e-3).
    """
    hazy = image / 255.0
    dark = dark_channel(hazy, patch)
    n_top = max(1, int(dark.size * top_fraction))
    brightest = np.argsort(dark.ravel())[-n_top:]
    airlight = hazy.reshape(-1, 3)[brightest].mean(axis=0)
    transmission = 1.0 - omega * dark_channel(hazy / np.maximum(airlight, 1e-6), patch)
    if refine:
        transmission = guided_filter(hazy.mean(axis=2), transmission, 4 * patch, 1e-3)
    transmission = np.maximum(transmission, t_min)[..., None]
    return round_to_uint8(255.0 * ((hazy - airlight) / transmission + airlight))


@dataclass(frozen=True)
class Baseline:
    """A classical method: ``fn(image_uint8, **params) -> image_uint8`` for one task."""

    name: str
    label: str
    task: str
    fn: Callable[..., np.ndarray]


BASELINES = {
    "input": Baseline("input", "degraded input (no restoration)", "any", lambda image, **_: image),
    "nlm": Baseline("nlm", "non-local means (scikit-image, classical)", "denoise", nlm_denoise),
    "tv": Baseline("tv", "TV denoising (scikit-image, classical)", "denoise", tv_denoise),
    "dcp": Baseline("dcp", "dark channel prior (He et al. 2009, classical)", "dehaze", dcp_dehaze),
}
