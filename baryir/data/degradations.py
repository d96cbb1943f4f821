"""Seeded synthesis of the five degradations of the all-in-one benchmarks.

Every function takes a clean ``uint8`` image of shape ``(H, W, 3)`` and a random
generator (``numpy.random.Generator``, an integer seed, or ``None`` for fresh entropy)
and returns a degraded ``uint8`` image of the same shape. A parameter left as ``None``
is drawn uniformly from its range in :data:`PARAMETER_RANGES`; the same generator state
and parameters always give the same output.

========== ====================================================================== ==========================
kind       model                                                                  parameters (default range)
========== ====================================================================== ==========================
noise      ``clip(x + N(0, sigma^2), 0, 255)`` truncated to uint8 (the benchmark  ``sigma`` (no default
           convention of BSD68 / CBSD68, as in PromptIR's test code)              range; 25 if omitted)
rain       screen blend ``1 - (1 - x)(1 - a S)`` of a streak layer ``S``: sparse  ``density`` 0.002-0.01,
           random seeds smeared along a line of ``length`` px at ``angle``        ``length`` 8-24 px,
           degrees from vertical                                                  ``angle`` -25..25 deg,
                                                                                  ``intensity`` 0.5-0.9
haze       atmospheric scattering ``I = J t + A (1 - t)``, ``t = exp(-beta d)``   ``A`` 0.7-1.0,
           with a depth proxy ``d`` in [0, 1] (far at the top of the image plus   ``beta`` 0.6-1.8
           a smooth random field), see :func:`depth_proxy`
blur       convolution with a normalised motion (line) or defocus (disk) kernel,  ``kernel`` motion/defocus,
           reflective borders                                                     ``length`` 5-15 px,
                                                                                  ``angle`` 0-180 deg,
                                                                                  ``radius`` 1.5-4 px
lowlight   ``255 s x^g`` (x in [0, 1]) plus sensor noise ``N(0, n^2)``, clipped  ``gamma`` g 1.5-3,
           and rounded                                                           ``scale`` s 0.15-0.45,
                                                                                  ``noise_sigma`` n 1-5
========== ====================================================================== ==========================

The haze parameters are on a normalised depth, so ``beta`` here is not the ``beta`` of
RESIDE's file names (those use metric depth); the demo benchmark writes its own values in
the same ``<id>_<A>_<beta>`` naming.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage, signal

from baryir.data.io import round_to_uint8

#: Default range of every sampled parameter, per degradation kind.
PARAMETER_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "noise": {},
    "rain": {"density": (0.002, 0.01), "length": (8.0, 24.0), "angle": (-25.0, 25.0),
             "intensity": (0.5, 0.9)},
    "haze": {"A": (0.7, 1.0), "beta": (0.6, 1.8)},
    "blur": {"length": (5.0, 15.0), "angle": (0.0, 180.0), "radius": (1.5, 4.0)},
    "lowlight": {"gamma": (1.5, 3.0), "scale": (0.15, 0.45), "noise_sigma": (1.0, 5.0)},
}

BLUR_KERNELS = ("motion", "defocus")


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Return ``rng`` itself, or a new generator seeded with it (``None``: fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"expected a uint8 image (H, W, C), got {image.dtype} {image.shape}")
    return image


def _prepare(image: np.ndarray, rng) -> tuple[np.ndarray, np.random.Generator]:
    """Validate the input image and resolve the generator."""
    return _check_image(image), as_rng(rng)


def _draw(rng: np.random.Generator, kind: str, name: str, value: float | None) -> float:
    """Return ``value`` or a uniform draw from ``PARAMETER_RANGES[kind][name]``."""
    if value is not None:
        return float(value)
    low, high = PARAMETER_RANGES[kind][name]
    return float(rng.uniform(low, high))


def sample_parameters(kind: str, rng: np.random.Generator | int | None = None,
                      significant: int = 3) -> dict[str, float | str]:
    """Draw every parameter of ``kind`` from :data:`PARAMETER_RANGES`, rounded to
    ``significant`` significant digits (so a small value such as a rain density of
    0.003 keeps its size; the range ends have at most 3 digits, so a rounded value
    stays in its range).

    For ``"blur"`` the kernel shape is drawn first and only its own parameters are returned.
    ``"noise"`` has no default range (its ``sigma`` is part of the task) and returns ``{}``.
    Passing the result to :func:`degrade` reproduces the degradation exactly and lets the
    caller record the values (the demo benchmark writes them into file names).
    """
    if kind not in PARAMETER_RANGES:
        raise ValueError(f"unknown degradation {kind!r}; use one of {sorted(PARAMETER_RANGES)}")
    rng = as_rng(rng)
    names = list(PARAMETER_RANGES[kind])
    params: dict[str, float | str] = {}
    if kind == "blur":
        params["kernel"] = BLUR_KERNELS[int(rng.integers(len(BLUR_KERNELS)))]
        names = ["length", "angle"] if params["kernel"] == "motion" else ["radius"]
    for name in names:
        params[name] = float(f"{_draw(rng, kind, name, None):.{significant}g}")
    return params


def add_gaussian_noise(image: np.ndarray, sigma: float = 25.0,
                       rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Add white Gaussian noise with the benchmark convention.

    ``uint8(clip(x + sigma * N(0, 1), 0, 255))`` with truncation toward zero, exactly
    as the BSD68 / CBSD68 all-in-one protocol (fresh noise per training patch, a fixed
    seed for test sets).

    Parameters
    ----------
    image : ndarray, uint8, shape (H, W, C)
    sigma : float
        Standard deviation on the 0-255 scale (15, 25, 50 in training; 60 and 75 for the
        unseen-level test of Table 7).
    rng : Generator, int or None

    Returns
    -------
    ndarray, uint8, shape (H, W, C)
    """
    image = _check_image(image)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    noise = as_rng(rng).standard_normal(image.shape) * float(sigma)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def line_kernel(length: float, angle: float) -> np.ndarray:
    """A normalised line kernel (sum 1) of ``length`` pixels at ``angle`` degrees.

    The angle is measured from the vertical axis (0: vertical streak, 90: horizontal).

    Returns
    -------
    ndarray, float64, shape (k, k) with ``k`` odd and ``k >= length``
    """
    size = int(np.ceil(length)) | 1
    centre = size // 2
    theta = np.deg2rad(angle)
    kernel = np.zeros((size, size))
    for t in np.linspace(-(length - 1) / 2, (length - 1) / 2, 4 * size):
        row = int(round(centre - t * np.cos(theta)))
        col = int(round(centre + t * np.sin(theta)))
        kernel[row, col] = 1.0
    return kernel / kernel.sum()


def disk_kernel(radius: float) -> np.ndarray:
    """A normalised defocus (uniform disk) kernel of the given radius in pixels."""
    half = int(np.ceil(radius))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    kernel = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    return kernel / kernel.sum()


def rain_layer(shape: tuple[int, int], rng: np.random.Generator | int | None = None,
               density: float | None = None, length: float | None = None,
               angle: float | None = None) -> np.ndarray:
    """Synthetic rain-streak layer ``S`` in [0, 1], shape ``(H, W)``.

    Seeds are placed at a fraction ``density`` of the pixels with random brightness in
    [0.5, 1] and smeared along :func:`line_kernel` (scaled so that a streak reaches its
    seed's brightness), then softened by a 0.5 px Gaussian.
    """
    rng = as_rng(rng)
    density = _draw(rng, "rain", "density", density)
    length = _draw(rng, "rain", "length", length)
    angle = _draw(rng, "rain", "angle", angle)
    seeds = (rng.random(shape) < density) * rng.uniform(0.5, 1.0, size=shape)
    kernel = line_kernel(length, angle)
    streaks = signal.fftconvolve(seeds, kernel / kernel.max(), mode="same")
    return np.clip(ndimage.gaussian_filter(streaks, 0.5), 0.0, 1.0)


def add_rain(image: np.ndarray, rng: np.random.Generator | int | None = None,
             density: float | None = None, length: float | None = None,
             angle: float | None = None, intensity: float | None = None) -> np.ndarray:
    """Add bright rain streaks with a screen blend ``1 - (1 - x)(1 - intensity * S)``.

    The screen blend only brightens, as real streaks do. See :func:`rain_layer` for the
    streak parameters and :data:`PARAMETER_RANGES` for their defaults.

    Returns
    -------
    ndarray, uint8, same shape as ``image``
    """
    image, rng = _prepare(image, rng)
    intensity = _draw(rng, "rain", "intensity", intensity)
    streaks = intensity * rain_layer(image.shape[:2], rng, density, length, angle)
    clean = image / 255.0
    rainy = 1.0 - (1.0 - clean) * (1.0 - streaks[:, :, None])
    return round_to_uint8(255.0 * rainy)


def depth_proxy(shape: tuple[int, int], rng: np.random.Generator | int | None = None) -> np.ndarray:
    """A plausible normalised scene depth in [0, 1], shape ``(H, W)``.

    ``0.7 * (1 - row / (H - 1)) + 0.3 * smooth``: far (1) at the top of the frame and near
    (0) at the bottom, as in most outdoor photographs, plus a smooth random field
    (Gaussian-filtered noise rescaled to [0, 1], filter width an eighth of the image).
    """
    rng = as_rng(rng)
    height, width = shape
    vertical = 1.0 - np.linspace(0.0, 1.0, height)[:, None] * np.ones((1, width))
    field = ndimage.gaussian_filter(rng.standard_normal(shape), max(height, width) / 8.0)
    field = (field - field.min()) / max(field.max() - field.min(), 1e-12)
    return np.clip(0.7 * vertical + 0.3 * field, 0.0, 1.0)


def haze_transmission(depth: np.ndarray, beta: float) -> np.ndarray:
    """Transmission ``t = exp(-beta * depth)``, in (0, 1] for ``beta >= 0`` and finite depth."""
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    return np.exp(-float(beta) * np.asarray(depth, dtype=np.float64))


def add_haze(image: np.ndarray, rng: np.random.Generator | int | None = None,
             A: float | None = None, beta: float | None = None,
             depth: np.ndarray | None = None) -> np.ndarray:
    """Add haze with the atmospheric scattering model ``I = J t + A (1 - t)``.

    Parameters
    ----------
    image : ndarray, uint8, shape (H, W, 3)
        The clean scene ``J``.
    rng : Generator, int or None
    A : float, optional
        Global atmospheric light in [0, 1] (default range 0.7-1.0).
    beta : float, optional
        Scattering coefficient on the normalised depth (default range 0.6-1.8).
    depth : ndarray (H, W), optional
        Depth in [0, 1]; :func:`depth_proxy` when omitted.

    Returns
    -------
    ndarray, uint8, same shape as ``image``
    """
    image, rng = _prepare(image, rng)
    A = _draw(rng, "haze", "A", A)
    beta = _draw(rng, "haze", "beta", beta)
    if depth is None:
        depth = depth_proxy(image.shape[:2], rng)
    t = haze_transmission(depth, beta)[:, :, None]
    return round_to_uint8(image * t + 255.0 * A * (1.0 - t))


def add_blur(image: np.ndarray, rng: np.random.Generator | int | None = None,
             kernel: str | None = None, length: float | None = None,
             angle: float | None = None, radius: float | None = None) -> np.ndarray:
    """Blur with a normalised motion (line) or defocus (disk) kernel.

    The kernel sums to one, so the image mean is preserved up to border effects
    (reflective padding) and rounding.

    Parameters
    ----------
    kernel : {"motion", "defocus"}, optional
        Kernel shape, drawn with equal probability when omitted.
    length, angle : float, optional
        Motion length in pixels and direction in degrees (:func:`line_kernel`).
    radius : float, optional
        Defocus disk radius in pixels (:func:`disk_kernel`).
    """
    image, rng = _prepare(image, rng)
    if kernel is None:
        kernel = BLUR_KERNELS[int(rng.integers(len(BLUR_KERNELS)))]
    if kernel == "motion":
        weights = line_kernel(_draw(rng, "blur", "length", length), _draw(rng, "blur", "angle", angle))
    elif kernel == "defocus":
        weights = disk_kernel(_draw(rng, "blur", "radius", radius))
    else:
        raise ValueError(f"unknown blur kernel {kernel!r}; use one of {BLUR_KERNELS}")
    channels = [ndimage.convolve(image[:, :, c].astype(np.float64), weights, mode="reflect")
                for c in range(image.shape[2])]
    return round_to_uint8(np.stack(channels, axis=2))


def low_light(image: np.ndarray, rng: np.random.Generator | int | None = None,
              gamma: float | None = None, scale: float | None = None,
              noise_sigma: float | None = None) -> np.ndarray:
    """Simulate an under-exposed photograph: ``255 * scale * x**gamma + N(0, noise_sigma^2)``.

    ``x`` is the clean image in [0, 1]; ``gamma > 1`` crushes the shadows, ``scale < 1``
    lowers the exposure, and the sensor noise (0-255 scale) is added after darkening.
    """
    image, rng = _prepare(image, rng)
    gamma = _draw(rng, "lowlight", "gamma", gamma)
    scale = _draw(rng, "lowlight", "scale", scale)
    noise_sigma = _draw(rng, "lowlight", "noise_sigma", noise_sigma)
    dark = 255.0 * scale * (image / 255.0) ** gamma
    return round_to_uint8(dark + noise_sigma * rng.standard_normal(image.shape))


#: Degradation kind -> function ``f(image, rng=..., **params) -> uint8 image``.
DEGRADATIONS: dict[str, Callable[..., np.ndarray]] = {
    "noise": add_gaussian_noise,
    "rain": add_rain,
    "haze": add_haze,
    "blur": add_blur,
    "lowlight": low_light,
}


def degrade(image: np.ndarray, kind: str, rng: np.random.Generator | int | None = None,
            **params) -> np.ndarray:
    """Apply the degradation ``kind`` (a key of :data:`DEGRADATIONS`) with ``params``.

    Examples
    --------
    >>> noisy = degrade(clean, "noise", rng, sigma=25)  # doctest: +SKIP
    >>> hazy = degrade(clean, "haze", 0, A=0.9, beta=1.2)  # doctest: +SKIP
    """
    if kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}; use one of {sorted(DEGRADATIONS)}")
    return DEGRADATIONS[kind](image, rng=rng, **params)
