"""The frame every later stage understands."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np


@dataclass(frozen=True, eq=False)
class Keyframe:
    """One decoded frame from a camera, as it leaves the source.

    Attributes:
        camera: the camera's configured name.
        image: HxWx3 uint8 RGB, C-contiguous.
        frame_time: UTC wall-clock time the frame was received (cameras' own clocks are not trusted).
        received_at: ``time.monotonic()`` at receipt; latency is measured from here.
        pts: presentation time in seconds from the stream, when the stream gives one.
        is_keyframe: the codec marked it as a keyframe (I-frame).
    """

    camera: str
    image: np.ndarray = field(repr=False)
    frame_time: datetime
    received_at: float
    pts: float | None = None
    is_keyframe: bool = True

    def __post_init__(self) -> None:
        img = self.image
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"Keyframe.image must be HxWx3 uint8 RGB, got shape {img.shape} dtype {img.dtype}")
        if self.frame_time.tzinfo is None:
            raise ValueError("Keyframe.frame_time must be timezone-aware (UTC)")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order alerts use."""
        return int(self.image.shape[1]), int(self.image.shape[0])
