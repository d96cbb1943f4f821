"""Tiled restoration equals whole-image inference where both apply."""

import pytest
import torch
from _nets import equivariant_conv_net

from baryir.tiling import restore_tiled, tile_starts


@pytest.mark.parametrize("size", [(67, 95), (64, 64), (33, 130)])
def test_tiled_equals_whole_for_equivariant_net(size):
    net = equivariant_conv_net(width=8)
    image = torch.rand(1, 3, *size, dtype=torch.float64)
    with torch.no_grad():
        whole = restore_tiled(net, image, tile=None)
        tiled = restore_tiled(net, image, tile=32, overlap=32 - 8, batch_size=3)
        tiled_small_overlap = restore_tiled(net, image, tile=40, overlap=32)
    assert whole.shape == image.shape
    assert torch.allclose(tiled, whole, atol=1e-5)
    assert torch.allclose(tiled_small_overlap, whole, atol=1e-5)


def test_too_little_overlap_shows_seams():
    """With no discarded margin the tile borders differ: the test above is not vacuous."""
    net = equivariant_conv_net(width=8)
    image = torch.rand(1, 3, 64, 96, dtype=torch.float64)
    with torch.no_grad():
        whole = restore_tiled(net, image)
        tiled = restore_tiled(net, image, tile=32, overlap=8)
    assert (tiled - whole).abs().max() > 1e-3


def test_image_that_fits_is_whole_image_inference():
    calls = []

    def fn(x):
        calls.append(tuple(x.shape))
        return x * 2

    image = torch.rand(1, 3, 21, 30)
    out = restore_tiled(fn, image, tile=64)
    assert calls == [(1, 3, 24, 32)]
    assert torch.equal(out, image * 2)


def test_tile_grid_covers_with_overlap():
    starts = tile_starts(200, 64, 16, 8)
    assert starts[0] == 0 and starts[-1] + 64 == 200
    assert all(b - a <= 64 - 16 for a, b in zip(starts, starts[1:]))
    assert all(s % 8 == 0 for s in starts)


def test_overlap_not_smaller_than_tile_is_refused():
    with pytest.raises(ValueError, match="overlap"):
        restore_tiled(lambda x: x, torch.rand(1, 3, 100, 100), tile=32, overlap=32)


def test_tiny_baryir_whole_image_path_is_exact_and_tiles_are_close():
    from baryir.models import build_model

    torch.manual_seed(0)
    model = build_model("tiny").eval()
    image = torch.rand(1, 3, 45, 70)
    with torch.no_grad():
        direct = model(image).restored
        whole = restore_tiled(lambda x: model(x).restored, image, tile=128)
        tiled = restore_tiled(lambda x: model(x).restored, image, tile=48, overlap=24)
    assert torch.allclose(whole, direct, atol=1e-5)
    assert tiled.shape == direct.shape
    # channel attention (MDTA) pools over the whole input, so tiles differ, but by
    # far less than the network changes the image
    assert (tiled - direct).abs().mean() < 0.1 * (direct - image).abs().mean()


@pytest.mark.parametrize("tile", [None, 32])
def test_uint8_image_through_a_float_restorer_comes_back_as_uint8(tile):
    """One dtype contract on both paths: the image's dtype, integer results rounded and
    clamped (here below 0 and above 255) instead of truncated."""
    image = torch.randint(0, 256, (1, 3, 50, 70), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))

    def brighten(x):  # a float restorer on the 0-255 scale; fractional parts avoid .5
        return 1.2 * x.float() - 20.05

    out = restore_tiled(brighten, image, tile=tile, overlap=16)
    expected = brighten(image).round().clamp(0, 255).to(torch.uint8)
    assert out.dtype == torch.uint8 and torch.equal(out, expected)
    assert (out == 0).any() and (out == 255).any()


@pytest.mark.parametrize("tile", [None, 32])
@pytest.mark.parametrize(("image_dtype", "fn_dtype"), [(torch.float64, torch.float32), (torch.float32, torch.float64)])
def test_float_images_keep_their_dtype_whatever_the_restorer_returns(tile, image_dtype, fn_dtype):
    image = torch.rand(1, 3, 40, 44, dtype=image_dtype)
    out = restore_tiled(lambda x: x.to(fn_dtype) * 0.5, image, tile=tile, overlap=16)
    assert out.dtype == image_dtype and torch.allclose(out, image * 0.5, atol=1e-6)
