"""Restoration of images of any size: whole-image or overlapping tiles.

The network needs sides divisible by 8 (three down-samplings). Both paths first
pad the image at the bottom/right with the network's own rule
(:func:`baryir.models.network.pad_to_multiple`: reflect, or replicate for tiny
images) and crop the result back, so an image that fits in one tile gets
*exactly* whole-image inference.

Tiled inference splits the padded image into ``tile x tile`` windows on a grid
of starts that are multiples of ``multiple``, with at least ``overlap`` pixels
shared by neighbours. Each tile's output is weighted by a separable window that
is 0 on the ``overlap // 4`` pixels next to an *interior* tile edge (where the
tile lacks context), ramps linearly to 1 across the rest of the overlap, and is 1
at the image border; outputs are blended by the normalised weights. Only one
batch of tiles is on the model's device at a time, so the network's memory is
bounded by the tile size; what grows with the image is the padded input and one
output accumulator (in the image's float type, at least float32; the weights'
sum is separable, two vectors).

For a translation-equivariant network whose receptive-field radius is at most
``overlap // 4`` (convolutions whose strides divide ``multiple``) tiling is exact.
Restormer-style attention (MDTA) mixes global channel statistics, so a tiled
BaryIR result differs slightly from whole-image inference; use the largest tile
that fits in memory.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from baryir.models.network import pad_to_multiple


def tile_starts(length: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Tile start offsets along one axis of a padded length (multiples of ``multiple``).

    The first tile starts at 0, the last ends at ``length``; neighbours share at
    least ``overlap`` pixels.
    """
    if tile >= length:
        return [0]
    stride = max(multiple, (tile - overlap) // multiple * multiple)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(length: int, at_start: bool, at_end: bool, overlap: int, device) -> torch.Tensor:
    """1-D blending weights of one tile (see the module docstring)."""
    weights = torch.ones(length, device=device, dtype=torch.float64)
    margin = overlap // 4
    ramp_len = max(overlap - 2 * margin, 1)
    ramp = torch.arange(1, ramp_len + 1, device=device, dtype=torch.float64) / (ramp_len + 1)
    if not at_start:
        weights[:margin] = 0
        weights[margin : margin + ramp_len] = ramp
    if not at_end:
        weights[length - margin :] = 0
        weights[length - margin - ramp_len : length - margin] = weights[
            length - margin - ramp_len : length - margin
        ] * ramp.flip(0)
    return weights


def restore_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    tile: int | None = None,
    overlap: int = 32,
    multiple: int = 8,
    batch_size: int = 1,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Apply an image-to-image function to an image of any size.

    Parameters
    ----------
    fn : callable
        Maps (B, 3, h, w) to (B, 3, h, w) for h, w multiples of ``multiple``
        (e.g. ``lambda x: model(x).restored``).
    image : torch.Tensor, shape (1, 3, H, W)
        Any H, W; it stays on its own device (the output is accumulated there).
    tile : int, optional
        Tile side (rounded down to a multiple of ``multiple``). None, or a tile
        at least as large as the padded image, means whole-image inference.
    overlap : int
        Pixels shared by neighbouring tiles (rounded up to a multiple of
        ``multiple``); the ``overlap // 4`` pixels at a tile's interior edge are
        discarded.
    multiple : int
        Side divisibility the network needs (8 for BaryIR).
    batch_size : int
        Tiles per forward pass.
    device : torch.device or str, optional
        Where ``fn`` runs; defaults to the image's device.
    progress : bool
        Show a tqdm bar over tile batches.

    Returns
    -------
    torch.Tensor, shape (1, 3, H, W), on the image's device, of the image's dtype
        On both paths. ``fn`` sees the image in its own dtype and must return values
        on its scale (e.g. 0-255 for uint8), of any dtype; an integer image gets the
        result rounded and clamped to its dtype's range.
    """
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"expected an image tensor of shape (1, C, H, W), got {tuple(image.shape)}")
    device = torch.device(device) if device is not None else image.device
    h, w = image.shape[-2:]
    padded = pad_to_multiple(image, multiple)  # the network's own padding rule
    hp, wp = padded.shape[-2:]
    if tile is None or (tile >= hp and tile >= wp):
        return _as_dtype(fn(padded.to(device)).to(image.device)[..., :h, :w], image.dtype)
    tile = max(multiple, tile // multiple * multiple)
    overlap = -(-overlap // multiple) * multiple
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile ({tile})")
    tile_h, tile_w = min(tile, hp), min(tile, wp)
    dtype = torch.promote_types(image.dtype, torch.float32)  # accumulate in at least float32
    ramps_y, norm_y = _axis_weights(hp, tile_h, overlap, multiple, image.device, dtype)
    ramps_x, norm_x = _axis_weights(wp, tile_w, overlap, multiple, image.device, dtype)
    boxes = [(y, x) for y in ramps_y for x in ramps_x]
    out = None
    batches = range(0, len(boxes), batch_size)
    for start in tqdm(batches, desc="tiles", disable=not progress, leave=False):
        chunk = boxes[start : start + batch_size]
        crops = torch.cat([padded[..., y : y + tile_h, x : x + tile_w] for y, x in chunk])
        restored = fn(crops.to(device)).to(image.device, dtype)
        if out is None:
            out = torch.zeros(1, restored.shape[1], hp, wp, dtype=dtype, device=image.device)
        for (y, x), piece in zip(chunk, restored):
            out[..., y : y + tile_h, x : x + tile_w] += piece * ramps_y[y][:, None] * ramps_x[x][None, :]
    # The grid is a product of the two axes' starts and the weights are separable, so
    # the sum of the weights at (i, j) is norm_y[i] * norm_x[j]: no image-sized map.
    out /= norm_y[:, None]
    out /= norm_x[None, :]
    return _as_dtype(out[..., :h, :w], image.dtype)


def _as_dtype(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` in ``dtype``; for integer types rounded and clamped to the type's range first."""
    if dtype.is_floating_point or dtype.is_complex or dtype == torch.bool or x.dtype == dtype:
        return x.to(dtype)
    info = torch.iinfo(dtype)
    return x.round().clamp(info.min, info.max).to(dtype)


def _axis_weights(length: int, tile: int, overlap: int, multiple: int, device, dtype: torch.dtype):
    """Blending ramps of the tiles along one axis, keyed by start, and their sum (length,),
    summed in float64 and returned in ``dtype``."""
    ramps = {
        start: _ramp(tile, start == 0, start + tile == length, overlap, device)
        for start in tile_starts(length, tile, overlap, multiple)
    }
    total = torch.zeros(length, dtype=torch.float64, device=device)
    for start, ramp in ramps.items():
        total[start : start + tile] += ramp
    return {start: ramp.to(dtype) for start, ramp in ramps.items()}, total.to(dtype)
