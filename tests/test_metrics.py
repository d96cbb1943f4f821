"""Metrics follow the protocol: scikit-image on 8-bit RGB cropped to a multiple of 16."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from baryir import metrics
from baryir.errors import MissingWeightsError


def _pair(seed, shape=(53, 70, 3)):
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, shape, dtype=np.uint8)
    noisy = np.clip(clean + rng.normal(0, 20, shape), 0, 255).astype(np.uint8)
    return noisy, clean


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_ssim_match_scikit_image_on_cropped_rgb(seed):
    noisy, clean = _pair(seed)
    a, b = noisy[:48, :64], clean[:48, :64]
    assert metrics.psnr(noisy, clean) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=255))
    expected = structural_similarity(b, a, channel_axis=-1, data_range=255, win_size=7)
    assert metrics.ssim(noisy, clean) == pytest.approx(expected)


def test_psnr_hand_computed():
    clean = np.zeros((16, 16, 3), np.uint8)
    restored = clean.copy()
    restored[0, 0, 0] = 16  # one error of 16 over 768 values: MSE = 256 / 768
    mse = 16**2 / (16 * 16 * 3)
    assert metrics.psnr(restored, clean) == pytest.approx(10 * math.log10(255**2 / mse))


def test_ssim_hand_computed_constant_shift():
    """Constant images a, b: SSIM = (2ab + C1) / (a^2 + b^2 + C1) (zero variances)."""
    a, b = 100.0, 120.0
    c1 = (0.01 * 255) ** 2
    restored = np.full((32, 32, 3), a, np.uint8)
    clean = np.full((32, 32, 3), b, np.uint8)
    assert metrics.ssim(restored, clean) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1))


def test_identical_images():
    _, clean = _pair(3)
    assert metrics.psnr(clean, clean) == math.inf
    assert metrics.ssim(clean, clean) == pytest.approx(1.0)


def test_y_channel_variant_differs_and_uses_bt601():
    noisy, clean = _pair(4)
    y = metrics.rgb_to_y(np.array([[[255, 255, 255], [0, 0, 0]]], np.uint8))
    assert y[0, 0] == pytest.approx(235.0) and y[0, 1] == pytest.approx(16.0)
    assert metrics.psnr(noisy, clean, y_channel=True) > metrics.psnr(noisy, clean) + 1.0


def test_tensor_input_and_size_mismatch():
    noisy, clean = _pair(5, (32, 48, 3))
    as_tensor = torch.from_numpy(noisy).permute(2, 0, 1).float() / 255
    assert metrics.psnr(as_tensor, clean) == pytest.approx(metrics.psnr(noisy, clean))
    with pytest.raises(ValueError, match="sizes differ"):
        metrics.psnr(noisy[:16], clean)
    with pytest.raises(TypeError, match="uint8"):
        metrics.psnr(noisy.astype(np.float32), clean)


def test_piqe_orders_noise_and_flat_images():
    from skimage import data

    clean = data.astronaut()[::2, ::2]
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    assert 0 <= metrics.piqe(clean) < metrics.piqe(noisy) <= 100
    assert metrics.piqe(np.full((48, 48, 3), 7, np.uint8)) == pytest.approx(100.0)


def test_missing_weights_give_the_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("BARYIR_WEIGHTS", str(tmp_path))
    image = torch.rand(1, 3, 32, 32)
    for call in (lambda: metrics.lpips(image, image), lambda: metrics.fid([image[0]], [image[0]])):
        with pytest.raises(MissingWeightsError, match=f"weights not found at {tmp_path}.*see README"):
            call()
    with pytest.raises(MissingWeightsError, match="niqe_pristine.npz"):
        metrics.niqe(np.zeros((96, 96, 3), np.uint8))


def test_missing_weights_lists_what_each_metric_still_needs(tmp_path, monkeypatch):
    monkeypatch.setenv("BARYIR_WEIGHTS", str(tmp_path))
    missing = metrics.missing_weights()
    assert missing["LPIPS"] == [tmp_path / metrics.LPIPS_ALEX_FILE, tmp_path / metrics.LPIPS_LINEAR_FILE]
    (tmp_path / metrics.NIQE_FILE).write_bytes(b"")
    (tmp_path / metrics.LPIPS_ALEX_FILE).write_bytes(b"")
    missing = metrics.missing_weights()
    assert missing["NIQE"] == [] and missing["LPIPS"] == [tmp_path / metrics.LPIPS_LINEAR_FILE]
    assert missing["FID"] == [tmp_path / "checkpoints" / metrics.FID_INCEPTION_FILE]


def test_lpips_with_given_weights_is_a_distance():
    """Random (not pretrained) weights: checks the plumbing, not the calibration."""
    torch.manual_seed(0)
    trunk = {f"features.{k}": v for k, v in metrics._AlexFeatures().features.state_dict().items()}
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}
    model = metrics.LPIPS(state_dicts=(trunk, heads))
    x = torch.rand(2, 3, 64, 64)
    y = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    assert torch.allclose(metrics.lpips(x, x, model), torch.zeros(2), atol=1e-7)
    assert (metrics.lpips(x, y, model) > 0).all()


def test_niqe_with_fitted_model_prefers_clean_images(tmp_path):
    from skimage import data

    clean = [data.astronaut()[:192, :192], data.coffee()[:192, :192], data.chelsea()[:192, :192]]
    path = tmp_path / "niqe_pristine.npz"
    model = metrics.fit_niqe_model(clean, path)
    assert model["mu"].shape == (36,) and model["cov"].shape == (36, 36)
    rng = np.random.default_rng(0)
    noisy = np.clip(clean[0] + rng.normal(0, 30, clean[0].shape), 0, 255).astype(np.uint8)
    assert metrics.niqe(clean[0], path) < metrics.niqe(noisy, path)


def test_frechet_distance_of_gaussians():
    pytest.importorskip("baryir.toy")
    mu1, mu2 = np.zeros(2), np.array([3.0, 4.0])
    cov = np.diag([1.0, 4.0])
    assert metrics.frechet_distance(mu1, cov, mu2, cov) == pytest.approx(25.0)
    assert metrics.frechet_distance(mu1, np.eye(2), mu1, 4 * np.eye(2)) == pytest.approx(2.0)


def test_fid_resize_gives_inception_size_once():
    """evaluate_set stores resized images and fid() resizes again: the second pass must
    leave them unchanged."""
    image = torch.rand(3, 40, 57)
    resized = metrics.fid_resize(image)
    assert resized.shape == (3, 299, 299)
    assert torch.equal(metrics.fid_resize(resized), resized)
