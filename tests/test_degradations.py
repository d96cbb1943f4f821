"""Statistics and determinism of the synthetic degradations (baryir.data.degradations)."""

import numpy as np
import pytest

from baryir.data.degradations import (
    DEGRADATIONS,
    PARAMETER_RANGES,
    add_blur,
    add_gaussian_noise,
    add_haze,
    add_rain,
    degrade,
    depth_proxy,
    disk_kernel,
    haze_transmission,
    line_kernel,
    low_light,
    rain_layer,
    sample_parameters,
)
from baryir.data.demo import load_demo_images


@pytest.fixture(scope="module")
def photo():
    return load_demo_images("train", size=96)[0][1]


@pytest.mark.parametrize("sigma", [15, 25, 50])
def test_noise_std_matches_sigma_before_clipping(sigma):
    grey = np.full((128, 128, 3), 128, dtype=np.uint8)  # clipping affects < 1.2 % of pixels
    residual = add_gaussian_noise(grey, sigma, rng=0).astype(np.float64) - 128
    # truncation toward zero shifts the mean by about -0.5 and adds 1/12 to the variance
    assert abs(residual.mean() + 0.5) < 0.02 * sigma
    assert abs(residual.std() - np.sqrt(sigma**2 + 1 / 12)) < 0.03 * sigma


@pytest.mark.parametrize("sigma", [15, 60, 75])
def test_noise_follows_the_benchmark_convention(photo, sigma):
    expected = np.clip(photo + np.random.default_rng(3).standard_normal(photo.shape) * sigma, 0, 255)
    assert np.array_equal(add_gaussian_noise(photo, sigma, np.random.default_rng(3)), expected.astype(np.uint8))


def test_rain_only_brightens_and_covers_a_fraction(photo):
    rainy = add_rain(photo, rng=1, density=0.01, length=15, angle=10, intensity=0.8)
    assert (rainy >= photo).all()
    changed = (rainy.astype(int) - photo > 8).any(axis=2).mean()
    assert 0.02 < changed < 0.6
    assert np.array_equal(add_rain(photo, rng=1, density=0.0), photo)


def test_rain_layer_is_in_unit_interval():
    layer = rain_layer((64, 64), rng=2)
    assert layer.min() >= 0.0 and layer.max() <= 1.0 and layer.max() > 0.3


def test_line_kernel_direction_and_normalisation():
    vertical = line_kernel(7, 0)
    assert np.isclose(vertical.sum(), 1.0)
    assert vertical[:, 3].sum() == pytest.approx(1.0)  # all weight on the centre column
    horizontal = line_kernel(7, 90)
    assert horizontal[3, :].sum() == pytest.approx(1.0)
    assert np.isclose(disk_kernel(2.5).sum(), 1.0)


@pytest.mark.parametrize("beta", [0.0, 0.6, 1.8, 5.0])
def test_haze_transmission_in_unit_interval(beta):
    depth = depth_proxy((64, 48), rng=4)
    assert depth.min() >= 0.0 and depth.max() <= 1.0
    t = haze_transmission(depth, beta)
    assert (t > 0).all() and (t <= 1).all()
    assert np.allclose(t, np.exp(-beta * depth))


def test_depth_proxy_is_far_at_the_top():
    depth = depth_proxy((64, 64), rng=5)
    assert depth[:8].mean() > depth[-8:].mean() + 0.4


def test_haze_follows_the_scattering_model(photo):
    depth = depth_proxy(photo.shape[:2], rng=6)
    hazy = add_haze(photo, rng=0, A=0.9, beta=1.2, depth=depth)
    t = np.exp(-1.2 * depth)[:, :, None]
    model = photo * t + 255 * 0.9 * (1 - t)
    assert np.abs(hazy - model).max() <= 0.5 + 1e-9
    assert hazy.std() < photo.std()  # haze lowers contrast
    airlight = np.full_like(photo, round(255 * 0.9))
    assert np.abs(add_haze(airlight, rng=0, A=0.9, beta=1.2).astype(int) - airlight).max() <= 1


@pytest.mark.parametrize("params", [dict(kernel="motion", length=11, angle=30), dict(kernel="defocus", radius=3)])
def test_blur_preserves_mean_and_removes_detail(photo, params):
    blurred = add_blur(photo, rng=0, **params)
    assert abs(blurred.mean() - photo.mean()) < 0.5
    detail = np.abs(np.diff(photo.astype(float), axis=1)).mean()
    assert np.abs(np.diff(blurred.astype(float), axis=1)).mean() < 0.8 * detail
    flat = np.full((32, 32, 3), 77, dtype=np.uint8)
    assert np.array_equal(add_blur(flat, rng=0, **params), flat)


def test_low_light_darkens(photo):
    dark = low_light(photo, rng=0)
    assert dark.mean() < 0.5 * photo.mean()
    exact = low_light(photo, rng=0, gamma=2.0, scale=0.3, noise_sigma=0.0)
    assert np.array_equal(exact, np.round(255 * 0.3 * (photo / 255.0) ** 2).astype(np.uint8))
    assert exact.max() <= round(0.3 * 255)


@pytest.mark.parametrize("kind", sorted(DEGRADATIONS))
def test_seeded_determinism(photo, kind):
    params = {"sigma": 25} if kind == "noise" else {}
    first = degrade(photo, kind, 11, **params)
    assert first.dtype == np.uint8 and first.shape == photo.shape
    assert np.array_equal(first, degrade(photo, kind, np.random.default_rng(11), **params))
    assert not np.array_equal(first, degrade(photo, kind, 12, **params))


@pytest.mark.parametrize("kind", sorted(PARAMETER_RANGES))
def test_sampled_parameters_lie_in_their_ranges_and_reproduce(photo, kind):
    for seed in range(200):  # rounding must never push a value out of (or to 0 in) its range
        for name, value in sample_parameters(kind, rng=seed).items():
            if name in PARAMETER_RANGES[kind]:
                low, high = PARAMETER_RANGES[kind][name]
                assert low <= value <= high, (kind, name, value, seed)
    params = sample_parameters(kind, rng=7)
    if kind == "blur":  # with every parameter fixed, blur has no randomness left
        assert np.array_equal(degrade(photo, kind, 0, **params), degrade(photo, kind, 1, **params))
    assert sample_parameters(kind, rng=7) == params


def test_bad_inputs_are_rejected(photo):
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(photo, "snow", 0)
    with pytest.raises(ValueError, match="uint8"):
        add_gaussian_noise(photo.astype(np.float32), 25, 0)
    with pytest.raises(ValueError, match="sigma"):
        add_gaussian_noise(photo, -1, 0)
    with pytest.raises(ValueError, match="kernel"):
        add_blur(photo, 0, kernel="gaussian")
