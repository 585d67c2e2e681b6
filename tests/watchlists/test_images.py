"""Untrusted image bytes: what is accepted, what is refused and why, and that accepted pixels are upright RGB."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.watchlists.samples import encode, png_claiming
from watchlists.errors import (
    CorruptImageError,
    ImageRejectedError,
    ImageTooLargeError,
    TooManyPixelsError,
    UnreadableFileError,
    UnsupportedImageTypeError,
)
from watchlists.images import DEFAULT_MAX_BYTES, decode_image, read_image_file, sniff_image_type

RNG = np.random.default_rng(7)
PHOTO = RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8)
JPEG_BYTES = encode(PHOTO, "JPEG", quality=90)
PNG_BYTES = encode(PHOTO, "PNG")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(JPEG_BYTES, "image/jpeg", id="jpeg"),
        pytest.param(PNG_BYTES, "image/png", id="png"),
        pytest.param(encode(PHOTO, "WEBP"), "image/webp", id="webp"),
        pytest.param(encode(PHOTO, "BMP"), "image/bmp", id="bmp"),
        pytest.param(JPEG_BYTES[: len(JPEG_BYTES) // 2], CorruptImageError, id="truncated jpeg"),
        pytest.param(JPEG_BYTES[:200], CorruptImageError, id="jpeg cut inside its header"),
        pytest.param(PNG_BYTES[: len(PNG_BYTES) // 2], CorruptImageError, id="truncated png"),
        pytest.param(b"name,label\nalice,vip\n", UnsupportedImageTypeError, id="text"),
        pytest.param(b"", UnsupportedImageTypeError, id="empty"),
        pytest.param(b"GIF89a" + bytes(64), UnsupportedImageTypeError, id="gif"),
        pytest.param(b"BM" + bytes(100), CorruptImageError, id="garbage after a bmp signature"),
        pytest.param(png_claiming(50_000, 50_000), TooManyPixelsError, id="png header claiming 50000x50000"),
        pytest.param(png_claiming(10_000, 5_000), TooManyPixelsError, id="50 MP: over our limit, under Pillow's"),
        pytest.param(b"\xff\xd8\xff" + bytes(DEFAULT_MAX_BYTES), ImageTooLargeError, id="over 20 MB"),
    ],
)
def test_decoding_accepts_real_images_and_refuses_the_rest_with_a_stable_code(
    data: bytes, expected: str | type[ImageRejectedError]
) -> None:
    if isinstance(expected, str):
        image = decode_image(data)
        assert image.media_type == expected
        assert image.pixels.shape == (48, 64, 3) and image.pixels.dtype == np.uint8
        assert image.sha256 == hashlib.sha256(data).hexdigest()
    else:
        with pytest.raises(expected) as refused:
            decode_image(data)
        assert refused.value.code == expected.code


def test_a_lower_byte_limit_refuses_before_looking_inside() -> None:
    with pytest.raises(ImageTooLargeError, match=f"{len(PNG_BYTES)} bytes"):
        decode_image(PNG_BYTES, max_bytes=len(PNG_BYTES) - 1)


def test_a_lower_pixel_limit_refuses_a_real_image_of_that_size() -> None:
    with pytest.raises(TooManyPixelsError, match="64x48"):
        decode_image(PNG_BYTES, max_pixels=64 * 48 - 1)
    assert decode_image(PNG_BYTES, max_pixels=64 * 48).width == 64


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("renamed.jpg", PNG_BYTES, "image/png"),  # a PNG saved as .jpg: the content decides
        ("photo.txt", JPEG_BYTES, "image/jpeg"),
        ("notes.jpg", b"this is not an image\n", UnsupportedImageTypeError),
    ],
)
def test_file_type_is_sniffed_from_the_content_not_the_name(
    tmp_path: Path, name: str, data: bytes, expected: str | type[Exception]
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    if isinstance(expected, str):
        assert read_image_file(path).media_type == expected
    else:
        with pytest.raises(expected):
            read_image_file(path)


@pytest.mark.parametrize(
    ("make_path", "expected", "reason"),
    [
        (lambda d: d / "missing.jpg", UnreadableFileError, "not found"),
        (lambda d: d, UnreadableFileError, "not a regular file"),
    ],
    ids=["missing file", "a folder"],
)
def test_unreadable_paths_are_refused_with_a_reason(
    tmp_path: Path, make_path: Callable[[Path], Path], expected: type[Exception], reason: str
) -> None:
    with pytest.raises(expected, match=reason):
        read_image_file(make_path(tmp_path))


def test_an_oversized_file_is_refused_from_its_size_alone(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(PNG_BYTES)
    with pytest.raises(ImageTooLargeError, match="file is"):
        read_image_file(path, max_bytes=100)


def test_exif_orientation_is_applied_so_phone_photos_come_out_upright() -> None:
    landscape = np.zeros((40, 80, 3), dtype=np.uint8)
    landscape[:, :40] = (255, 0, 0)  # left half red, right half blue
    landscape[:, 40:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; display rotated 90 degrees clockwise
    data = encode(landscape, "JPEG", quality=95, exif=exif.tobytes())

    pixels = decode_image(data).pixels

    assert pixels.shape == (80, 40, 3)
    top, bottom = pixels[:30].mean(axis=(0, 1)), pixels[-30:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 50, "the left (red) half must end up on top"
    assert bottom[2] > 200 and bottom[0] < 50


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16"])
def test_every_pixel_mode_comes_out_as_rgb_uint8(mode: str) -> None:
    source = Image.new("I;16", (64, 48), 1000) if mode == "I;16" else Image.fromarray(PHOTO).convert(mode)

    pixels = decode_image(encode(source, "PNG")).pixels

    assert pixels.shape == (48, 64, 3) and pixels.dtype == np.uint8


@pytest.mark.parametrize(
    ("data", "expected"),
    [(JPEG_BYTES, "image/jpeg"), (PNG_BYTES, "image/png"), (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"), (b"\0\0", None)],
)
def test_sniffing_reads_only_the_magic_bytes(data: bytes, expected: str | None) -> None:
    found = sniff_image_type(data)
    assert (found.media_type if found else None) == expected
