"""The newest keyframe of each camera, for ``GET /api/v1/cameras/{name}/latest.jpg``.

Camera threads hand every keyframe over (a reference, no copy, no encoding: they must never slow down); the JPEG is
encoded only when someone asks for it, scaled down to a thumbnail, and kept until a newer keyframe arrives, so a wall
of consoles refreshing the same camera costs one encoding per keyframe.

Example:
    >>> latest = LatestKeyframes()
    >>> latest.keep(frame)            # from a camera thread
    >>> latest.jpeg("lobby")          # JPEG bytes, or None before the camera's first keyframe
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from streamer.sources.frame import Keyframe

THUMBNAIL_MAX_PX = 480
JPEG_QUALITY = 80


class LatestKeyframes:
    """Thread-safe: one slot per camera, holding its newest keyframe and, once asked for, its JPEG.

    Args:
        max_px: the longer side of the thumbnail; smaller frames are kept as they are.
    """

    def __init__(self, max_px: int = THUMBNAIL_MAX_PX) -> None:
        if max_px < 16:
            raise ValueError(f"max_px must be at least 16, got {max_px}")
        self._max_px = max_px
        self._frames: dict[str, Keyframe] = {}
        self._jpegs: dict[str, tuple[Keyframe, bytes]] = {}
        self._lock = threading.Lock()

    def keep(self, frame: Keyframe) -> None:
        """Make ``frame`` its camera's newest keyframe (frames of a confirmation burst are not keyframes: ignored)."""
        if frame.burst:
            return
        with self._lock:
            self._frames[frame.camera] = frame

    def jpeg(self, camera: str) -> bytes | None:
        """The camera's newest keyframe as a JPEG thumbnail; None when it has sent none yet."""
        with self._lock:
            frame = self._frames.get(camera)
            cached = self._jpegs.get(camera)
        if frame is None:
            return None
        if cached is not None and cached[0] is frame:
            return cached[1]
        data = self._encode(frame.image)
        with self._lock:
            self._jpegs[camera] = (frame, data)
        return data

    def _encode(self, image: np.ndarray) -> bytes:
        height, width = image.shape[:2]
        scale = self._max_px / max(height, width)
        if scale < 1:
            image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(
            ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        )
        if not ok:
            raise ValueError(f"cannot encode a {width}x{height} keyframe as JPEG")
        return data.tobytes()
