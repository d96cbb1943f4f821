"""Image reading/writing rules and tensor conversion (baryir.data.io)."""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from baryir.data.io import image_size, read_image, to_tensor, to_uint8, write_image
from baryir.errors import BaryIRError, ImageReadError


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)


def _png_rgb16(path, array):
    """Write a 16-bit RGB PNG by hand (Pillow cannot write this mode)."""
    height, width, _ = array.shape
    rows = b"".join(b"\x00" + array[r].astype(">u2").tobytes() for r in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


def test_png_round_trip_is_exact(tmp_path, rgb):
    path = write_image(tmp_path / "sub" / "a.png", rgb)
    out = read_image(path)
    assert out.dtype == np.uint8 and out.shape == (20, 30, 3)
    assert np.array_equal(out, rgb)
    assert image_size(path) == (20, 30)


def test_jpeg_round_trip_is_close(tmp_path):
    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3))
    out = read_image(write_image(tmp_path / "a.jpg", smooth, quality=95))
    assert out.shape == smooth.shape
    assert np.abs(out.astype(int) - smooth).mean() < 2.0


def test_grayscale_is_repeated_into_three_channels(tmp_path, rgb):
    gray = rgb[:, :, 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (20, 30, 3)
    for c in range(3):
        assert np.array_equal(out[:, :, c], gray)


def test_rgba_alpha_is_dropped_without_compositing(tmp_path, rgb):
    alpha = np.zeros((20, 30, 1), dtype=np.uint8)  # fully transparent: compositing would change colours
    Image.fromarray(np.concatenate([rgb, alpha], axis=2), mode="RGBA").save(tmp_path / "a.png")
    assert np.array_equal(read_image(tmp_path / "a.png"), rgb)


def test_gray_alpha_is_dropped(tmp_path, rgb):
    la = np.stack([rgb[:, :, 1], np.full((20, 30), 7, np.uint8)], axis=2)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    out = read_image(tmp_path / "la.png")
    assert np.array_equal(out, np.repeat(rgb[:, :, 1:2], 3, axis=2))


def test_palette_image_is_converted(tmp_path, rgb):
    image = Image.fromarray(rgb).quantize(colors=16)
    image.save(tmp_path / "p.png")
    assert np.array_equal(read_image(tmp_path / "p.png"), np.asarray(image.convert("RGB")))


def test_sixteen_bit_grayscale_keeps_high_byte(tmp_path):
    values = np.array([[0, 255, 256, 32768], [40000, 65280, 65535, 1000]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    out = read_image(tmp_path / "g16.png")
    assert np.array_equal(out[:, :, 0], (values >> 8).astype(np.uint8))
    assert np.array_equal(out[:, :, 0], out[:, :, 2])


def test_sixteen_bit_rgb_keeps_high_byte(tmp_path):
    values = np.random.default_rng(1).integers(0, 65536, size=(5, 6, 3)).astype(np.uint16)
    _png_rgb16(tmp_path / "c16.png", values)
    assert np.array_equal(read_image(tmp_path / "c16.png"), (values >> 8).astype(np.uint8))


@pytest.mark.parametrize("case", ["truncated", "zero_byte", "text_as_png", "missing"])
def test_unreadable_files_raise_image_read_error_naming_the_path(tmp_path, rgb, case):
    path = tmp_path / "bad.png"
    if case == "truncated":
        write_image(tmp_path / "good.png", rgb)
        data = (tmp_path / "good.png").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "zero_byte":
        path.write_bytes(b"")
    elif case == "text_as_png":
        path.write_text("not an image")
    with pytest.raises(ImageReadError, match="bad.png") as info:
        read_image(path)
    assert isinstance(info.value, BaryIRError)
    if case == "zero_byte":
        assert "empty" in str(info.value)


def test_wrong_extension_is_rejected(tmp_path, rgb):
    write_image(tmp_path / "good.png", rgb)
    renamed = tmp_path / "image.gif.txt"
    renamed.write_bytes((tmp_path / "good.png").read_bytes())
    with pytest.raises(ImageReadError, match="unsupported extension"):
        read_image(renamed)


def test_png_content_with_jpg_extension_is_read_by_content(tmp_path, rgb):
    write_image(tmp_path / "good.png", rgb)
    (tmp_path / "x.jpg").write_bytes((tmp_path / "good.png").read_bytes())
    assert np.array_equal(read_image(tmp_path / "x.jpg"), rgb)


def test_write_image_rejects_non_uint8(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_image(tmp_path / "f.png", np.zeros((4, 4, 3), dtype=np.float32))


def test_tensor_round_trip_and_range(rgb):
    tensor = to_tensor(rgb)
    assert tensor.dtype == torch.float32 and tensor.shape == (3, 20, 30)
    assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0
    assert float(tensor[1, 2, 3]) == pytest.approx(rgb[2, 3, 1] / 255.0)
    assert np.array_equal(to_uint8(tensor), rgb)
    assert np.array_equal(to_uint8(tensor[None]), rgb)


def test_to_uint8_clamps_and_rounds():
    tensor = torch.tensor([-0.5, 0.4 / 255, 0.6 / 255, 1.7]).reshape(1, 1, 4).expand(3, 1, 4)
    assert to_uint8(tensor)[0, :, 0].tolist() == [0, 0, 1, 255]


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)])
def test_to_tensor_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        to_tensor(bad)
