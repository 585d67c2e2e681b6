"""Sample images, image files and vectors for the watchlist tests (shared with the CLI tests)."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from watchlists.records import NewImage

TEST_MODEL = "test-model@000000000001"
DIM = 8


def encode(image: np.ndarray | Image.Image, fmt: str, **options: object) -> bytes:
    """Encode uint8 pixels (HxWx3, HxWx4, HxW) or a Pillow image as ``JPEG``, ``PNG``, ``WEBP`` or ``BMP``."""
    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, fmt, **options)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels: the shape of a decompression bomb."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def unit(*weights: float, dim: int = DIM) -> np.ndarray:
    """A unit float32 vector from its first components: ``unit(1, 1)`` is 45 degrees between axes 0 and 1."""
    vector = np.zeros(dim, dtype=np.float32)
    vector[: len(weights)] = weights
    return vector / np.linalg.norm(vector)


def new_image(vector: np.ndarray, tag: str, *, model_version: str = TEST_MODEL) -> NewImage:
    """A ``NewImage`` with real PNG bytes unique to ``tag`` and a hand-made embedding."""
    seed = int.from_bytes(hashlib.sha256(tag.encode()).digest()[:4], "big")
    pixels = np.random.default_rng(seed).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    data = encode(pixels, "PNG")
    return NewImage(data, hashlib.sha256(data).hexdigest(), "image/png", 5, 6, f"{tag}.png", vector, model_version)


def write_reference_files(folder: Path, photos: dict[str, np.ndarray]) -> dict[str, Path]:
    """Write scikit-image photos as files in several formats; returns name -> path (folders for astronaut).

    ``astronaut/`` holds three different crops (JPEG, PNG, WebP) of the same face photo: one entry's references.
    """
    astronaut = photos["astronaut"]
    crops = {"head.jpg": astronaut[0:380, 100:480], "left.png": astronaut[40:480, 0:400], "wide.webp": astronaut}
    (folder / "astronaut").mkdir(parents=True, exist_ok=True)
    for name, crop in crops.items():
        fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[name.rsplit(".", 1)[1]]
        (folder / "astronaut" / name).write_bytes(encode(np.ascontiguousarray(crop), fmt))
    paths = {"astronaut": folder / "astronaut"}
    for name, fmt, suffix in (("coffee", "JPEG", "jpg"), ("chelsea", "PNG", "png"), ("rocket", "BMP", "bmp")):
        paths[name] = folder / f"{name}.{suffix}"
        paths[name].write_bytes(encode(photos[name], fmt))
    return paths
