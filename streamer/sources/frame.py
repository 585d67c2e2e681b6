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
        frame_time: UTC wall-clock time the frame was received (cameras' own clocks are not trusted): from a live
            stream, when the demuxer handed over its packet, before decoding; from a paced file, when it was let go.
        received_at: ``time.monotonic()`` at receipt (same moment); latency is measured from here.
        pts: presentation time in seconds from the stream, when the stream gives one.
        is_keyframe: the codec marked it as a keyframe (I-frame).
        burst: decoded for a confirmation burst (``streamer.sources.burst``): a frame between keyframes, decoded
            because a matcher saw something on the camera. Its ``frame_time``/``received_at`` are the frame's own
            presentation time on the camera's timeline, not when the burst decoded it. The sampler passes it on
            outside the camera's rate limit and never counts it as a keyframe; the batcher sheds it first.
    """

    camera: str
    image: np.ndarray = field(repr=False)
    frame_time: datetime
    received_at: float
    pts: float | None = None
    is_keyframe: bool = True
    burst: bool = False

    def __post_init__(self) -> None:
        img = self.image
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"Keyframe.image must be HxWx3 uint8 RGB, got shape {img.shape} dtype {img.dtype}")
        if self.frame_time.tzinfo is None:
            raise ValueError("Keyframe.frame_time must be timezone-aware (UTC)")
        if self.burst and self.is_keyframe:
            raise ValueError("a burst frame is a frame between keyframes: is_keyframe must be False")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order alerts use."""
        return int(self.image.shape[1]), int(self.image.shape[0])
