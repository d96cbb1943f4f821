"""Reading and writing 8-bit RGB images, and converting them to and from tensors.

Every image in the package is handled as a ``uint8`` array of shape ``(H, W, 3)``
(the convention of the benchmarks and of the PSNR/SSIM protocol of PromptIR and
the released BaryIR code). :func:`read_image` normalises what is on disk to that form:

- grayscale (``L``, ``1``, 16-bit ``I;16``/``I``) is repeated into three channels;
- 16-bit data keep their high byte, ``v >> 8`` (this is what Pillow does for 16-bit RGB
  PNGs, and the same rule is applied to 16-bit grayscale so both agree);
- an alpha channel (``RGBA``, ``LA``, palette transparency) is **dropped**: the colour
  channels are kept exactly as stored, nothing is composited onto a background
  (restoration pairs are compared pixel by pixel, so no colour may change);
- palette and CMYK images are converted to RGB.

A missing, empty, truncated or undecodable file, or one whose extension is not an image
format listed in :data:`IMAGE_EXTENSIONS`, raises :class:`~baryir.errors.ImageReadError`
naming the path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from baryir.errors import ImageReadError

#: File extensions (lower case) treated as images by the readers and the dataset scans.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


def is_image_file(path: str | Path) -> bool:
    """Return True when ``path`` has an image extension and is not a hidden file."""
    path = Path(path)
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def _sixteen_bit_to_uint8(image: Image.Image) -> np.ndarray:
    """Keep the high byte of a 16-bit single-channel PIL image: uint8 (H, W) = v >> 8."""
    values = np.asarray(image).astype(np.int64)
    return np.clip(values >> 8, 0, 255).astype(np.uint8)


def _pil_to_rgb_array(image: Image.Image, path: Path) -> np.ndarray:
    """Convert an opened PIL image to uint8 (H, W, 3) with the rules of the module docstring."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        gray = _sixteen_bit_to_uint8(image)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        raise ImageReadError(
            f"{path}: floating-point images (PIL mode 'F') are not supported; "
            "save the image as 8- or 16-bit PNG"
        )
    if mode == "P":
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        image = image.convert("RGBA" if mode.startswith("RGB") else "LA")
        bands = image.split()[:-1]  # drop alpha, keep the colour channels as stored
        image = Image.merge("RGB", bands * 3 if len(bands) == 1 else bands)
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(array)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as 8-bit RGB.

    Parameters
    ----------
    path : str or Path
        Image file (PNG, JPEG, BMP or TIFF; see :data:`IMAGE_EXTENSIONS`).

    Returns
    -------
    ndarray, uint8, shape (H, W, 3)

    Raises
    ------
    ImageReadError
        If the file is missing, empty (zero bytes), has an unsupported extension, is
        truncated or cannot be decoded. The message names the path.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such image file")
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise ImageReadError(
            f"{path}: unsupported extension {path.suffix!r}; "
            f"images must be one of {', '.join(IMAGE_EXTENSIONS)}"
        )
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: the file is empty (0 bytes); re-copy or re-download it")
    try:
        with Image.open(path) as image:
            image.load()
            return _pil_to_rgb_array(image, path)
    except ImageReadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(
            f"{path}: cannot decode the image ({err}); the file is truncated or corrupt, "
            "re-copy or re-download it"
        ) from err


def image_size(path: str | Path) -> tuple[int, int]:
    """Return ``(height, width)`` of an image file from its header (no full decode).

    Raises
    ------
    ImageReadError
        If the header cannot be read.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"{path}: cannot read the image header ({err})") from err
    return height, width


def write_image(path: str | Path, array: np.ndarray, quality: int = 95) -> Path:
    """Write a uint8 image; the format follows the extension. Parent folders are created.

    Parameters
    ----------
    path : str or Path
        Destination; ``.jpg``/``.jpeg`` files are written with JPEG ``quality``.
    array : ndarray, uint8, shape (H, W, 3) or (H, W)
    quality : int
        JPEG quality (1-95), ignored for lossless formats.

    Returns
    -------
    Path
        The written path.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(
            f"write_image expects uint8 (H, W, 3) or (H, W), got {array.dtype} {array.shape}"
        )
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise ValueError(f"{path}: unsupported extension; use one of {', '.join(IMAGE_EXTENSIONS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": quality} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    Image.fromarray(array).save(path, **options)
    return path


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """Convert uint8 (H, W, 3) to a float32 tensor (3, H, W) with values in [0, 1]."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"to_tensor expects uint8 (H, W, 3), got {image.dtype} {image.shape}")
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)


def round_to_uint8(values: np.ndarray) -> np.ndarray:
    """Round a float array on the 0-255 scale to uint8, clipping to [0, 255].

    The numpy counterpart of :func:`to_uint8`, for arrays of any shape.
    """
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """Convert a float tensor (3, H, W) or (1, 3, H, W) in [0, 1] to uint8 (H, W, 3).

    Values are clamped to [0, 1], scaled by 255 and rounded to the nearest integer.
    """
    tensor = tensor.detach()
    if tensor.dim() == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"to_uint8 expects (3, H, W) or (1, 3, H, W), got {tuple(tensor.shape)}")
    scaled = tensor.float().clamp(0.0, 1.0).mul(255.0).round()
    return scaled.to(torch.uint8).permute(1, 2, 0).cpu().numpy()
