"""Decode an uploaded or file image safely, before any model sees it.

Watchlist images come from admins' folders and, later, from HTTP uploads: the bytes are untrusted. The checks run
cheapest first so hostile input costs little: a byte limit, the type sniffed from the magic bytes (never from the
file name, so a PNG saved as ``.jpg`` is fine and a text file named ``.jpg`` is not), the pixel count read from
the header *before* decoding (decompression bombs), then a full decode that refuses truncated or corrupt data.
EXIF orientation is applied so a phone photo is embedded upright.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from watchlists.errors import (
    CorruptImageError,
    ImageTooLargeError,
    TooManyPixelsError,
    UnreadableFileError,
    UnsupportedImageTypeError,
)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000  # 8000 x 5000: above any reference photo, far below a bomb

# Exceptions Pillow's decoders raise on malformed input (they do not share one base class).
_DECODE_FAILURES = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error)


@dataclass(frozen=True)
class ImageType:
    """An accepted image format: its MIME type and the one Pillow decoder allowed to read it."""

    media_type: str
    pil_format: str


JPEG = ImageType("image/jpeg", "JPEG")
PNG = ImageType("image/png", "PNG")
WEBP = ImageType("image/webp", "WEBP")
BMP = ImageType("image/bmp", "BMP")


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """An image that passed every check.

    Attributes:
        pixels: HxWx3 uint8 RGB, upright (EXIF orientation applied).
        data: the bytes as received; they are what the store keeps, so a model change can re-embed from them.
        sha256: hex SHA-256 of ``data``; the same bytes twice are the same image.
        media_type: sniffed MIME type (``image/jpeg`` ...).
    """

    pixels: np.ndarray = field(repr=False)
    data: bytes = field(repr=False)
    sha256: str
    media_type: str

    def __post_init__(self) -> None:
        px = self.pixels
        if px.dtype != np.uint8 or px.ndim != 3 or px.shape[2] != 3:
            raise ValueError(f"DecodedImage.pixels must be HxWx3 uint8 RGB, got shape {px.shape} dtype {px.dtype}")
        if len(self.sha256) != 64:
            raise ValueError(f"DecodedImage.sha256 must be 64 hex digits, got {self.sha256!r}")

    @property
    def width(self) -> int:
        """Width of the upright image, in pixels."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Height of the upright image, in pixels."""
        return int(self.pixels.shape[0])


def sniff_image_type(data: bytes) -> ImageType | None:
    """The accepted type the magic bytes announce, or ``None``; the file name is deliberately not consulted."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"BM"):
        return BMP
    return None


def decode_image(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS
) -> DecodedImage:
    """Check and decode untrusted image bytes.

    Args:
        data: the encoded image (JPEG, PNG, WebP or BMP).
        max_bytes: refuse larger inputs without looking inside.
        max_pixels: refuse images whose header claims more pixels, before decoding. Pillow refuses on its own
            above twice ``PIL.Image.MAX_IMAGE_PIXELS``, so larger values are capped there.

    Returns:
        The upright RGB pixels with the bytes, their SHA-256 and the sniffed type.

    Raises:
        ImageTooLargeError, UnsupportedImageTypeError, TooManyPixelsError, CorruptImageError.
    """
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"image is {len(data)} bytes, the limit is {max_bytes}")
    kind = sniff_image_type(data)
    if kind is None:
        raise UnsupportedImageTypeError(f"not a JPEG, PNG, WebP or BMP image (starts with bytes {data[:8].hex(' ')})")
    try:
        with Image.open(io.BytesIO(data), formats=[kind.pil_format]) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise TooManyPixelsError(f"image claims {width}x{height} pixels, the limit is {max_pixels} pixels")
            image.load()
            upright = ImageOps.exif_transpose(image)
            pixels = np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise TooManyPixelsError(f"image claims too many pixels: {exc}") from None
    except _DECODE_FAILURES as exc:
        raise CorruptImageError(f"{kind.media_type} data cannot be decoded: {_plain(exc)}") from None
    return DecodedImage(
        pixels=np.ascontiguousarray(pixels),
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        media_type=kind.media_type,
    )


def _plain(exc: BaseException) -> str:
    """A library's message without object reprs (``<_io.BytesIO object at 0x...>``) or byte strings (``b'...'``)."""
    text = re.sub(r"<[^<>]*? at 0x[0-9a-fA-F]+>", "the image", str(exc))
    return re.sub(r"\bb(['\"]).*?\1", "(bytes)", text) or type(exc).__name__


def read_image_file(
    path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS
) -> DecodedImage:
    """Read and decode an image file; its size is checked before it is read.

    Raises:
        UnreadableFileError: the path is missing, a folder, or cannot be read.
        ImageRejectedError: any of ``decode_image``'s refusals.
    """
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise UnreadableFileError("not a regular file")
        if size > max_bytes:
            raise ImageTooLargeError(f"file is {size} bytes, the limit is {max_bytes}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFileError("file not found") from None
    except OSError as exc:
        raise UnreadableFileError(f"cannot be read: {exc.strerror or exc}") from None
    return decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
