"""Thumbnails of archived keyframes: small JPEGs written atomically, so a reader never sees half a file.

A search result is judged by eye; a 320-pixel-wide JPEG (~15 KB) is enough for that, where the full frame would cost
10-50x the disk for every archived keyframe.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engines.atomic_write import replaced_on_success

JPEG_QUALITY = 80


def write_thumbnail(target: Path, rgb: np.ndarray, width: int) -> None:
    """Shrink ``rgb`` (HxWx3 uint8) to ``width`` pixels wide (never enlarge) and write it as JPEG at ``target``.

    Raises:
        OSError: the folder cannot be made or the file cannot be written (nothing is left behind).
    """
    height, original = rgb.shape[:2]
    if original > width:
        rgb = cv2.resize(rgb, (width, max(1, round(height * width / original))), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"cannot encode a thumbnail for {target}")
    with replaced_on_success(target) as partial:
        partial.write_bytes(encoded.tobytes())
