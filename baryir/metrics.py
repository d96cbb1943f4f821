"""Image-quality metrics with the all-in-one restoration protocol.

Convention (the released BaryIR code and PromptIR, named ``RGB_CONVENTION`` in
every table): 8-bit RGB images, both cropped at the bottom/right to a multiple of
16 pixels, scikit-image ``peak_signal_noise_ratio`` (data range 255) and
``structural_similarity`` with ``channel_axis=-1`` and its default window (7 x 7
uniform, sample covariance, K1 = 0.01, K2 = 0.03). The Y-channel variants
(ITU-R BT.601 luma, as MATLAB's ``rgb2ycbcr``) give very different numbers (about
+2 dB): they exist for comparison with papers that use them and are never the
default.

No-reference metrics for real-world images (paper Tables 4-5):

- :func:`piqe` (Venkatanath et al., 2015) needs no parameters; it follows the
  MATLAB ``piqe`` description (16 x 16 blocks, MSCN activity threshold 0.1,
  6-pixel edge segments, centre/surround noise criterion). It has not been
  checked bit-for-bit against MATLAB.
- :func:`niqe` (Mittal et al., 2013) needs the mean and covariance of the
  "pristine" natural-scene model. The original parameters are fitted on 125
  pristine images that are not available offline, so :func:`niqe` loads them from
  ``niqe_pristine.npz`` in :func:`weights_dir` and raises
  :class:`~baryir.errors.MissingWeightsError` when that file is absent;
  :func:`fit_niqe_model` builds such a file from images you choose (scores are
  then comparable only among themselves, not with published NIQE values).

Learned metrics need pretrained networks that cannot be downloaded here:
:func:`lpips` (AlexNet variant, Zhang et al. 2018) and :func:`fid` (pytorch-fid's
Inception-v3) look for their weights in :func:`weights_dir` and raise
``MissingWeightsError("weights not found at PATH, see README")`` otherwise, so an
evaluation can skip them cleanly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from baryir.errors import MissingWeightsError

RGB_CONVENTION = "RGB, 8-bit, cropped to a multiple of 16, scikit-image PSNR / SSIM (7x7 uniform)"
Y_CONVENTION = "Y (BT.601), 8-bit, cropped to a multiple of 16, scikit-image PSNR / SSIM (7x7 uniform)"
CROP_MULTIPLE = 16

NIQE_FILE = "niqe_pristine.npz"
LPIPS_ALEX_FILE = "alexnet-owt-7be5be79.pth"
LPIPS_LINEAR_FILE = "lpips_alex_v0.1.pth"
FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"


# --- protocol helpers ------------------------------------------------------------


def weights_dir() -> Path:
    """Folder searched for optional metric weights.

    ``$BARYIR_WEIGHTS`` when set, else ``~/.cache/baryir/weights``.
    """
    return Path(os.environ.get("BARYIR_WEIGHTS", Path.home() / ".cache" / "baryir" / "weights"))


def _weights_file(name: str) -> Path:
    path = weights_dir() / name
    if not path.is_file():
        raise MissingWeightsError(
            f"weights not found at {path}, see README (section 'Optional metric weights'); "
            "set BARYIR_WEIGHTS to the folder that holds them"
        )
    return path


#: Files each optional metric needs in :func:`weights_dir` (FID also needs ``pip install pytorch-fid``).
WEIGHT_FILES = {
    "LPIPS": (LPIPS_ALEX_FILE, LPIPS_LINEAR_FILE),
    "FID": (f"checkpoints/{FID_INCEPTION_FILE}",),
    "NIQE": (NIQE_FILE,),
}


def missing_weights() -> dict[str, list[Path]]:
    """For each optional metric, the files of :data:`WEIGHT_FILES` not yet in :func:`weights_dir`.

    An empty list means the metric is ready (for FID, once ``pytorch-fid`` is installed).
    """
    folder = weights_dir()
    return {metric: [folder / name for name in names if not (folder / name).is_file()]
            for metric, names in WEIGHT_FILES.items()}


def as_uint8_rgb(image) -> np.ndarray:
    """Return an image as a uint8 (H, W, 3) array.

    Parameters
    ----------
    image : ndarray uint8 (H, W, 3) or torch.Tensor float (3, H, W) / (1, 3, H, W) in [0, 1]
        Tensors are converted with :func:`baryir.data.io.to_uint8` (round and clip).
    """
    if isinstance(image, torch.Tensor):
        from baryir.data.io import to_uint8

        return to_uint8(image.detach().cpu().squeeze(0))
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise TypeError(
            f"expected a uint8 (H, W, 3) RGB array or a float tensor, got {image.dtype} {image.shape}"
        )
    return image


def crop_to_multiple(image: np.ndarray, multiple: int = CROP_MULTIPLE) -> np.ndarray:
    """Crop an (H, W, ...) array at the bottom/right so H and W are multiples of ``multiple``."""
    h, w = image.shape[:2]
    return image[: h - h % multiple, : w - w % multiple]


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of a uint8 RGB image, float64 in [16, 235] (MATLAB ``rgb2ycbcr``)."""
    rgb = image.astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def _prepare_pair(restored, clean, crop_multiple: int) -> tuple[np.ndarray, np.ndarray]:
    restored, clean = as_uint8_rgb(restored), as_uint8_rgb(clean)
    if restored.shape != clean.shape:
        raise ValueError(f"image sizes differ: restored {restored.shape} vs clean {clean.shape}")
    return crop_to_multiple(restored, crop_multiple), crop_to_multiple(clean, crop_multiple)


# --- full-reference metrics --------------------------------------------------------


def psnr(restored, clean, *, y_channel: bool = False, crop_multiple: int = CROP_MULTIPLE) -> float:
    """Peak signal-to-noise ratio in dB with the protocol of the module docstring.

    Parameters
    ----------
    restored, clean : uint8 (H, W, 3) arrays or float tensors (3, H, W) in [0, 1]
    y_channel : bool
        Compare BT.601 luma instead of RGB (not the paper's convention).
    crop_multiple : int
        Both images are cropped to a multiple of this (16 in the protocol).
    """
    restored, clean = _prepare_pair(restored, clean, crop_multiple)
    if y_channel:
        restored, clean = rgb_to_y(restored), rgb_to_y(clean)
    with np.errstate(divide="ignore"):  # identical images: +inf dB, no warning
        return float(peak_signal_noise_ratio(clean, restored, data_range=255))


def ssim(restored, clean, *, y_channel: bool = False, crop_multiple: int = CROP_MULTIPLE) -> float:
    """Structural similarity with scikit-image's default 7 x 7 uniform window.

    Parameters are as in :func:`psnr`. RGB SSIM is the mean of the per-channel
    SSIM maps (``channel_axis=-1``), data range 255.
    """
    restored, clean = _prepare_pair(restored, clean, crop_multiple)
    if y_channel:
        return float(structural_similarity(rgb_to_y(clean), rgb_to_y(restored), data_range=255))
    return float(structural_similarity(clean, restored, channel_axis=-1, data_range=255))


# --- no-reference: PIQE ---------------------------------------------------------------


def _gray(image: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` weights, rounded to 8 bits, as float64."""
    rgb = image.astype(np.float64)
    return np.round(0.2989 * rgb[..., 0] + 0.5870 * rgb[..., 1] + 0.1140 * rgb[..., 2])


def mscn(gray: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients (7 x 7 Gaussian, sigma 7/6).

    ``(I - mu) / (sigma + c)`` with local mean/std from a 7-tap Gaussian window and
    replicated borders; used by PIQE (c = 1) and NIQE.
    """
    sigma = 7.0 / 6.0
    kwargs = dict(sigma=sigma, truncate=3.0 / sigma, mode="nearest")
    mu = ndimage.gaussian_filter(gray, **kwargs)
    var = np.abs(ndimage.gaussian_filter(gray * gray, **kwargs) - mu * mu)
    return (gray - mu) / (np.sqrt(var) + c)


def _piqe_block_impaired(block: np.ndarray, window: int = 6, threshold: float = 0.1) -> bool:
    """Noticeable-artifact criterion: some 6-pixel segment of a block edge is flat."""
    edges = (block[0], block[-1], block[:, 0], block[:, -1])
    segments = np.stack(
        [np.lib.stride_tricks.sliding_window_view(edge, window) for edge in edges]
    )
    return bool((segments.std(axis=-1, ddof=1) < threshold).any())


def _piqe_block_noisy(block: np.ndarray, block_var: float) -> bool:
    """Noise criterion: block std versus the centre/surround std ratio."""
    mid = block.shape[1] // 2
    centre = block[:, mid - 1 : mid + 1]
    surround = np.delete(block, [mid - 1, mid], axis=1)
    ratio = centre.std(ddof=1) / surround.std(ddof=1) if surround.std(ddof=1) > 0 else 0.0
    sigma = np.sqrt(block_var)
    beta = abs(sigma - ratio) / max(sigma, ratio)
    return bool(sigma > 2 * beta)


def piqe(image, block: int = 16, activity_threshold: float = 0.1) -> float:
    """PIQE no-reference score in [0, 100] (lower is better).

    Parameters
    ----------
    image : uint8 (H, W, 3) array or float tensor (3, H, W)
    block : int
        Block size (16); the image is padded symmetrically to a multiple of it.
    activity_threshold : float
        MSCN variance above which a block counts as spatially active.

    Notes
    -----
    Score = 100 (C + sum_active D_k) / (C + N_active), C = 1, where a block with a
    noticeable artifact adds ``1 - var`` and a noisy block adds ``var`` (var: the
    block's MSCN variance). A flat image scores 100.
    """
    gray = _gray(as_uint8_rgb(image))
    pad = [(0, (-n) % block) for n in gray.shape]
    coeffs = mscn(np.pad(gray, pad, mode="symmetric"))
    n_active, distortion = 0, 0.0
    for i in range(0, coeffs.shape[0], block):
        for j in range(0, coeffs.shape[1], block):
            patch = coeffs[i : i + block, j : j + block]
            var = float(patch.var(ddof=1))
            if var <= activity_threshold:
                continue
            n_active += 1
            if _piqe_block_impaired(patch):
                distortion += 1.0 - var
            if _piqe_block_noisy(patch, var):
                distortion += var
    return float(100.0 * (distortion + 1.0) / (n_active + 1.0))


# --- no-reference: NIQE -----------------------------------------------------------------


def _ggd_fit(x: np.ndarray) -> tuple[float, float]:
    """Moment-matching fit of a zero-mean generalised Gaussian: (shape, variance)."""
    from scipy.special import gamma

    shapes = np.arange(0.2, 10.0, 0.001)
    ratio = gamma(1 / shapes) * gamma(3 / shapes) / gamma(2 / shapes) ** 2
    rho = np.mean(x**2) / (np.mean(np.abs(x)) ** 2 + 1e-12)
    return float(shapes[np.argmin((ratio - rho) ** 2)]), float(np.mean(x**2))


def _aggd_fit(x: np.ndarray) -> tuple[float, float, float, float]:
    """Asymmetric GGD fit (Lasmar et al.): (shape, mean, left var, right var)."""
    from scipy.special import gamma

    left, right = x[x < 0], x[x > 0]
    sl = np.sqrt(np.mean(left**2)) if left.size else 1e-6
    sr = np.sqrt(np.mean(right**2)) if right.size else 1e-6
    g = sl / sr
    r = np.mean(np.abs(x)) ** 2 / (np.mean(x**2) + 1e-12)
    r_hat = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    shapes = np.arange(0.2, 10.0, 0.001)
    ratio = gamma(2 / shapes) ** 2 / (gamma(1 / shapes) * gamma(3 / shapes))
    shape = float(shapes[np.argmin((ratio - r_hat) ** 2)])
    mean = (sr - sl) * gamma(2 / shape) / gamma(1 / shape) * np.sqrt(gamma(1 / shape) / gamma(3 / shape))
    return shape, float(mean), float(sl**2), float(sr**2)


def _niqe_patch_features(coeffs: np.ndarray) -> list[float]:
    """18 NSS features of one MSCN patch: GGD (2) + 4 paired products x AGGD (4)."""
    feats = list(_ggd_fit(coeffs))
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        shifted = np.roll(coeffs, shift=(-dy, -dx), axis=(0, 1))
        feats.extend(_aggd_fit((coeffs * shifted).ravel()))
    return feats


def niqe_features(image, patch: int = 96) -> np.ndarray:
    """NIQE features per patch at two scales, shape (n_patches, 36)."""
    from skimage.transform import rescale

    gray = _gray(as_uint8_rgb(image))
    gray = gray[: gray.shape[0] - gray.shape[0] % patch, : gray.shape[1] - gray.shape[1] % patch]
    if gray.shape[0] == 0 or gray.shape[1] == 0:
        raise ValueError(f"NIQE needs an image of at least {patch} x {patch} pixels")
    scales = [gray, rescale(gray, 0.5, order=3, anti_aliasing=True, preserve_range=True)]
    per_scale = []
    for level, img in enumerate(scales):
        coeffs, size = mscn(img), patch >> level
        per_scale.append(
            [
                _niqe_patch_features(coeffs[i : i + size, j : j + size])
                for i in range(0, coeffs.shape[0] - size + 1, size)
                for j in range(0, coeffs.shape[1] - size + 1, size)
            ]
        )
    return np.concatenate([np.asarray(f) for f in per_scale], axis=1)


def fit_niqe_model(images, path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Fit a NIQE pristine model (mean (36,), covariance (36, 36)) on your own images.

    The model is fitted on every 96 x 96 patch (the original selects the sharpest
    ones) and saved to ``path`` (default ``weights_dir() / NIQE_FILE``, where
    :func:`niqe` looks). Scores with such a model are not comparable to published NIQE.
    """
    feats = np.concatenate([niqe_features(img) for img in images], axis=0)
    model = {"mu": feats.mean(axis=0), "cov": np.cov(feats, rowvar=False)}
    target = Path(path) if path is not None else weights_dir() / NIQE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez(target, **model)
    return model


def niqe(image, model_path: str | Path | None = None) -> float:
    """NIQE score (lower is better) against the pristine model in ``model_path``.

    Raises
    ------
    MissingWeightsError
        When the pristine-model file (``niqe_pristine.npz`` with arrays ``mu`` and
        ``cov``) is absent.
    """
    path = Path(model_path) if model_path is not None else _weights_file(NIQE_FILE)
    if not path.is_file():
        raise MissingWeightsError(f"weights not found at {path}, see README")
    model = np.load(path)
    feats = niqe_features(image)
    feats = feats[np.isfinite(feats).all(axis=1)]
    diff = model["mu"] - feats.mean(axis=0)
    cov = (model["cov"] + np.cov(feats, rowvar=False)) / 2
    return float(np.sqrt(diff @ np.linalg.pinv(cov) @ diff))


# --- learned metrics (optional weights) -----------------------------------------------


class _AlexFeatures(torch.nn.Module):
    """AlexNet convolutional trunk (torchvision layout) returning the 5 ReLU outputs."""

    def __init__(self):
        super().__init__()
        conv = torch.nn.Conv2d
        self.features = torch.nn.Sequential(
            conv(3, 64, 11, 4, 2), torch.nn.ReLU(), torch.nn.MaxPool2d(3, 2),
            conv(64, 192, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(3, 2),
            conv(192, 384, 3, padding=1), torch.nn.ReLU(),
            conv(384, 256, 3, padding=1), torch.nn.ReLU(),
            conv(256, 256, 3, padding=1), torch.nn.ReLU(),
        )  # fmt: skip
        self.taps = (1, 4, 7, 9, 11)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outs.append(x)
        return outs


class LPIPS(torch.nn.Module):
    """LPIPS distance (AlexNet, v0.1) from locally stored weights.

    Inputs are float tensors (N, 3, H, W) in [0, 1]; output (N,). Needs, in
    :func:`weights_dir`, ``alexnet-owt-7be5be79.pth`` (torchvision's ImageNet
    AlexNet, as in torch's hub cache) and ``lpips_alex_v0.1.pth`` (the linear heads:
    the file ``lpips/weights/v0.1/alex.pth`` of the ``lpips`` package, renamed); or
    pass ``state_dicts=(trunk, heads)`` directly. Torchvision itself is not needed.
    """

    SHIFT = (-0.030, -0.088, -0.188)
    SCALE = (0.458, 0.448, 0.450)

    def __init__(self, state_dicts: tuple[dict, dict] | None = None):
        super().__init__()
        self.trunk = _AlexFeatures()
        widths = (64, 192, 384, 256, 256)
        self.heads = torch.nn.ModuleList(torch.nn.Conv2d(c, 1, 1, bias=False) for c in widths)
        if state_dicts is None:
            state_dicts = tuple(
                torch.load(_weights_file(name), map_location="cpu", weights_only=True)
                for name in (LPIPS_ALEX_FILE, LPIPS_LINEAR_FILE)
            )
        trunk, heads = state_dicts
        self.trunk.load_state_dict({k: v for k, v in trunk.items() if k.startswith("features.")})
        for i, head in enumerate(self.heads):
            head.weight.data.copy_(heads[f"lin{i}.model.1.weight"])
        self.register_buffer("shift", torch.tensor(self.SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(self.SCALE).view(1, 3, 1, 1))
        self.eval()

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx, fy = (self.trunk(((2 * t - 1) - self.shift) / self.scale) for t in (x, y))
        total = 0.0
        for a, b, head in zip(fx, fy, self.heads):
            a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
            b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
            total = total + head((a - b) ** 2).mean(dim=(1, 2, 3))
        return total


def lpips(restored: torch.Tensor, clean: torch.Tensor, model: LPIPS | None = None) -> torch.Tensor:
    """LPIPS (AlexNet) per image, (N,); raises MissingWeightsError without local weights."""
    model = model if model is not None else LPIPS()
    return model(restored.float(), clean.float())


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Fréchet distance between Gaussians (the FID formula): the Bures-Wasserstein W2^2."""
    from baryir.toy import bures_wasserstein_squared

    return float(bures_wasserstein_squared(mu1, cov1, mu2, cov2))


def check_fid_available() -> None:
    """Raise :class:`MissingWeightsError` unless FID can run offline (weights + pytorch-fid)."""
    _weights_file(f"checkpoints/{FID_INCEPTION_FILE}")
    try:
        import pytorch_fid.inception  # noqa: F401  (also needs torchvision)
    except ImportError as err:
        raise MissingWeightsError(
            f"FID needs the optional packages pytorch-fid and torchvision ({err}); "
            "pip install pytorch-fid, see README"
        ) from err


def fid(restored_images, clean_images, batch_size: int = 16) -> float:
    """FID between two image sets with pytorch-fid's Inception-v3 (2048-d pool features).

    Needs the ``pytorch-fid`` package and ``checkpoints/pt_inception-2015-12-05-6726825d.pth``
    under :func:`weights_dir`; raises :class:`MissingWeightsError` otherwise.
    Images: float tensors (3, H, W) in [0, 1], any sizes (resized to 299 x 299, as
    pytorch-fid does internally).
    """
    check_fid_available()
    from pytorch_fid.inception import InceptionV3

    previous_hub = torch.hub.get_dir()
    torch.hub.set_dir(str(weights_dir()))  # pytorch-fid then finds checkpoints/<file> offline
    try:
        net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    finally:
        torch.hub.set_dir(previous_hub)

    def stats(images) -> tuple[np.ndarray, np.ndarray]:
        feats = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                batch = torch.stack([fid_resize(image) for image in images[start : start + batch_size]])
                feats.append(net(batch)[0].flatten(1).numpy())
        feats = np.concatenate(feats)
        return feats.mean(axis=0), np.cov(feats, rowvar=False)

    return frechet_distance(*stats(restored_images), *stats(clean_images))


def fid_resize(image: torch.Tensor) -> torch.Tensor:
    """(3, H, W) -> (3, 299, 299), bilinear; an image already that size is returned as is
    (:func:`baryir.evaluate.evaluate_set` resizes while it scores, then :func:`fid` again)."""
    if image.shape[-2:] == (299, 299):
        return image.float()
    return torch.nn.functional.interpolate(image[None].float(), size=(299, 299), mode="bilinear")[0]
