"""Classical baselines improve their own degradation on real images."""

import numpy as np
import pytest
from skimage import data

from baryir import baselines, metrics
from baryir.data.degradations import add_gaussian_noise, add_haze


@pytest.fixture(scope="module")
def clean():
    return data.astronaut()[100:292, 100:292]


@pytest.mark.parametrize("name", ["nlm", "tv"])
def test_denoisers_gain_psnr_at_sigma_25(clean, name):
    noisy = add_gaussian_noise(clean, 25, rng=0)
    before = metrics.psnr(noisy, clean)
    after = metrics.psnr(baselines.BASELINES[name].fn(noisy, sigma=25), clean)
    assert after > before + 4.0
    blind = metrics.psnr(baselines.BASELINES[name].fn(noisy), clean)
    assert blind > before + 3.0


def test_noise_estimate_recovers_sigma():
    flat = np.full((128, 128, 3), 120, np.uint8)
    for sigma in (15, 25, 50):
        noisy = add_gaussian_noise(flat, sigma, rng=1)
        assert baselines.estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.1)


def test_dark_channel_prior_dehazes(clean):
    hazy = add_haze(clean, rng=0)
    restored = baselines.dcp_dehaze(hazy)
    assert restored.dtype == np.uint8 and restored.shape == clean.shape
    assert metrics.psnr(restored, clean) > metrics.psnr(hazy, clean) + 3.0
    assert metrics.ssim(restored, clean) > metrics.ssim(hazy, clean)


def test_dark_channel_is_low_on_clear_images(clean):
    hazy = add_haze(clean, rng=0) / 255.0
    assert baselines.dark_channel(clean / 255.0).mean() < baselines.dark_channel(hazy).mean()


def test_guided_filter_preserves_constants():
    guide = np.random.default_rng(0).random((40, 40))
    out = baselines.guided_filter(guide, np.full((40, 40), 0.3), radius=4, eps=1e-3)
    assert np.allclose(out, 0.3)


def test_registry_labels_say_classical():
    for name in ("nlm", "tv", "dcp"):
        assert "classical" in baselines.BASELINES[name].label
    image = np.zeros((8, 8, 3), np.uint8)
    assert baselines.BASELINES["input"].fn(image) is image
