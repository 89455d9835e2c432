"""Image files as users have them: 16-bit and other modes read faithfully or refused by name, and files Pillow
refuses (too large, truncated, not an image) reported in one line naming the file and what to do."""

import logging
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from infbench.errors import BenchError
from infbench.model.data import load_images, prepare, read_image

LEVELS = 208


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(path, width: int, height: int, bit_depth: int, color_type: int, rows: bytes = b"") -> None:
    """A PNG file written byte by byte (Pillow writes no 16-bit colour PNG): header, the rows as given, end."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b""))


def _grey_levels(path) -> int:
    return len(np.unique(np.asarray(read_image(path))))


def _ramp(levels: int, top: int) -> np.ndarray:
    """`levels` distinct values from 0 to `top`, as a 16 x 13 image."""
    return np.rint(np.linspace(0, top, levels)).reshape(16, levels // 16)


def test_a_16_bit_greyscale_png_keeps_its_grey_levels(tmp_path):
    Image.fromarray(_ramp(LEVELS, 65535).astype(np.uint16)).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode == "I;16"  # as Pillow reads it
    pixels = np.asarray(read_image(tmp_path / "grey16.png"))
    assert len(np.unique(pixels)) == LEVELS and pixels.min() == 0 and pixels.max() == 255
    assert (pixels[..., 0] == pixels[..., 2]).all()  # grey stays grey


def test_a_16_bit_colour_png_keeps_its_levels(tmp_path):
    values = _ramp(LEVELS * 3 // 16 * 16, 65535).reshape(16, -1, 3).astype(">u2")
    rows = b"".join(b"\x00" + row.tobytes() for row in values)
    _png(tmp_path / "rgb16.png", values.shape[1], 16, 16, 2, rows)
    assert len(np.unique(np.asarray(read_image(tmp_path / "rgb16.png")))) >= LEVELS


def test_a_32_bit_integer_image_with_16_bit_values_is_scaled_and_one_beyond_16_bits_is_refused(tmp_path):
    Image.fromarray(_ramp(LEVELS, 65535).astype(np.int32)).save(tmp_path / "i32.tif")
    assert Image.open(tmp_path / "i32.tif").mode == "I" and _grey_levels(tmp_path / "i32.tif") == LEVELS
    Image.fromarray(_ramp(LEVELS, 1_000_000).astype(np.int32)).save(tmp_path / "wide.tif")
    with pytest.raises(BenchError, match=r"wide.tif: not a readable image \(its 32-bit integer pixels run from 0 to 1000000, "
                                         r"beyond 16 bits \(0 to 65535\); save it with 8 or 16 bits per channel\)"):
        read_image(tmp_path / "wide.tif")


def test_a_floating_point_image_is_refused_by_name(tmp_path):
    Image.fromarray((_ramp(LEVELS, 1) / 1).astype(np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(BenchError, match=r"float.tif: not a readable image \(its pixels are 32-bit floating-point numbers "
                                         r"\(mode F\)"):
        read_image(tmp_path / "float.tif")


def test_palette_transparency_and_cmyk_convert_as_torchvision_loader_does_without_notes(tmp_path, caplog):
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    palette.save(tmp_path / "palette.png", transparency=b"\x00\x80")  # one entry half transparent: kept as bytes
    caplog.set_level(logging.INFO, logger="infbench")
    logging.getLogger("infbench").addHandler(caplog.handler)
    try:
        assert np.asarray(read_image(tmp_path / "palette.png"))[0, 0].tolist() == [200, 100, 50]
        Image.new("LA", (4, 4), (90, 0)).save(tmp_path / "la.png")
        assert np.asarray(read_image(tmp_path / "la.png"))[0, 0].tolist() == [90, 90, 90]
        Image.new("CMYK", (4, 4), (255, 0, 0, 0)).save(tmp_path / "cyan.jpg")
        r, g, b = np.asarray(read_image(tmp_path / "cyan.jpg"))[0, 0].tolist()
    finally:
        logging.getLogger("infbench").removeHandler(caplog.handler)
    assert r < 20 and g > 235 and b > 235
    assert "note:" not in caplog.text  # Pillow's warning of a palette's bytes transparency is not provoked


def test_an_image_too_large_for_pillow_is_one_line_naming_it_and_what_to_do(tmp_path):
    _png(tmp_path / "huge.png", 20000, 10000, 8, 0)  # the header of a 20000x10000 greyscale image
    with pytest.raises(BenchError) as caught:
        read_image(tmp_path / "huge.png")
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{tmp_path}/huge.png: Pillow refuses to decode it (Image size ")
    assert "decompression bomb" in message and message.endswith("resize it (every image is scaled to the model's image_size anyway)")


def test_an_image_above_pillows_warning_threshold_is_read_with_a_note(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's own threshold, lowered so a small image passes it
    Image.new("L", (40, 40), 7).save(tmp_path / "large.png")
    caplog.set_level(logging.INFO, logger="infbench")
    logging.getLogger("infbench").addHandler(caplog.handler)
    try:
        assert np.asarray(read_image(tmp_path / "large.png")).shape == (40, 40, 3)
    finally:
        logging.getLogger("infbench").removeHandler(caplog.handler)
    assert f"note: {tmp_path}/large.png: Image size (1600 pixels) exceeds limit of 1000 pixels" in caplog.text


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[: len(data) // 2], r"not a readable image \(image file is truncated"),
    (lambda data: b"plain text, no image", r"not an image Pillow reads as PNG, JPEG, BMP, PPM, TIFF, WEBP \(replace or remove it\)"),
    (lambda data: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", r"not an image Pillow reads as PNG"),  # never Ghostscript
])
def test_a_file_pillow_cannot_read_is_one_line_naming_it(tmp_path, damage, message):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "a.png").write_bytes(damage((tmp_path / "a.png").read_bytes()))
    with pytest.raises(BenchError, match=f"^{tmp_path}/a.png: {message}") as caught:
        load_images([str(tmp_path / "a.png")], 16)
    assert "\n" not in str(caught.value)


def test_a_user_imagefolder_with_a_bad_image_names_data_path_and_the_file(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / "src" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (20, 20)).save(tmp_path / "src" / cls / f"{i}.png")
    _png(tmp_path / "src" / "b" / "9.png", 20000, 10000, 8, 0)
    with pytest.raises(BenchError, match=f"^data.path: {tmp_path}/src/b/9.png: Pillow refuses to decode it"):
        prepare(tmp_path / "out", str(tmp_path / "src"), 16, 0.4, 0)
