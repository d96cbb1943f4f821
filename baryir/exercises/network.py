"""Checks for the exercises of notebook 04 (the BaryIR network)."""

from __future__ import annotations

import math

from baryir import budget
from baryir.exercises.verdict import verdict
from baryir.models import DECODE_FROM, TransformerBlock, count_parameters


def check_latent_shape(shape, height: int, width: int, dim: int = 48) -> bool:
    """Exercise 1: the shape ``(C, h, w)`` of ``z`` (and ``z_B``, ``s``) for one image.

    The network pads the image to a multiple of 8, and the bottleneck has ``8 * dim``
    channels at 1/8 of the padded resolution.
    """
    expected = (8 * dim, math.ceil(height / 8), math.ceil(width / 8))
    shape = tuple(int(v) for v in shape)
    hint = "" if len(shape) == 3 else " (give (C, h, w), without the batch)"
    return verdict(shape == expected, f"you gave {shape} for a {height} x {width} image with dim {dim}{hint}")


def check_block_parameters(fn) -> bool:
    """Exercise 2: the parameters of one Restormer transformer block, counted by hand.

    ``fn(channels, heads, expansion)`` must return the number of parameters of a block
    without convolution biases and with the LayerNorms' weight and bias; it is compared
    with :class:`baryir.models.TransformerBlock` for several widths.
    """
    for channels, heads, expansion in ((48, 1, 2.66), (96, 2, 2.66), (384, 8, 2.66), (16, 2, 2.0)):
        expected = count_parameters(TransformerBlock(channels, heads, expansion))
        got = int(fn(channels, heads, expansion))
        if got != expected:
            return verdict(False, f"for {channels} channels, {heads} heads, expansion {expansion}: "
                                  f"you count {got:,}, the block has {expected:,}")
    return verdict(True, "matches TransformerBlock for 4 settings (e.g. 384 channels, 8 heads: "
                         f"{count_parameters(TransformerBlock(384, 8, 2.66)):,})")


def check_variants_using_map(names) -> bool:
    """Exercise 3: the ``decode_from`` variants whose restored image depends on the map T."""
    names = set(names)
    unknown = names - set(DECODE_FROM)
    if unknown:
        return verdict(False, f"unknown variant(s) {sorted(unknown)}; choose among {list(DECODE_FROM)}")
    expected = set(DECODE_FROM) - {"original"}
    missing, extra = sorted(expected - names), sorted(names - expected)
    return verdict(names == expected, "right set" if names == expected
                   else f"missing {missing}, should not be there {extra} (s = z - T(z) depends on T too)")


def check_forward_flops(flops: int, preset: str = "tiny", side: int = 64, rtol: float = 0.01) -> bool:
    """Exercise 4: FLOPs of one forward pass of a 1 x 3 x side x side image (2 per multiply-add)."""
    expected = budget.forward_flops(preset, side, side)["total"]
    error = abs(float(flops) - expected) / expected
    return verdict(error <= rtol, f"you count {float(flops) / 1e9:.3f} GFLOPs for {preset} at {side} x {side} "
                                  f"({error:.1%} from the count of matrix products and convolutions)")
