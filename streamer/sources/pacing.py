"""Replay a video file at its own frame rate, so a file camera behaves like a live one.

Decoding a file runs as fast as the CPU allows; a demo or soak test fed that way would see a burst of frames, then
nothing, and every rate limit, batch and alert vote would be tested against a camera that does not exist. The pacer
holds each frame until its presentation time, measured from the first frame, has come on the wall clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class NativeRatePacer:
    """Waits until each frame's presentation time is due; stops waiting as soon as the stop event is set.

    A timestamp that goes backwards (the file looped) or jumps further ahead than ``max_wait_s`` (a gap in the
    recording) starts a new timeline instead of sleeping through the gap; so does falling more than ``max_wait_s``
    behind (a starved CPU), instead of catching up in a burst.

    Args:
        stop: the camera's stop event; waiting ends early when it is set.
        max_wait_s: the longest single wait; a longer one is treated as a discontinuity.
        clock: monotonic seconds (injectable for tests).

    Example::

        pacer = NativeRatePacer(stop)
        for frame in decoded:
            if not pacer.wait_for(frame_pts_seconds):
                break  # stop requested
            deliver(frame)
    """

    def __init__(
        self, stop: threading.Event, max_wait_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stop = stop
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._origin: tuple[float, float] | None = None  # (wall clock, pts) of the timeline's first frame
        self._last_pts: float | None = None

    def restart(self) -> None:
        """Begin a new timeline at the next frame (after a seek or a loop)."""
        self._origin = None
        self._last_pts = None

    def wait_for(self, pts: float | None) -> bool:
        """Sleep until the frame with this presentation time (seconds) is due.

        Returns:
            False if the stop event was set (the frame should not be delivered), else True.
        """
        if pts is None:  # nothing to pace on; deliver as it comes
            return not self._stop.is_set()
        now = self._clock()
        if self._origin is None or self._last_pts is None or pts < self._last_pts:
            self._origin = (now, pts)
        self._last_pts = pts
        wall, first_pts = self._origin
        delay = wall + (pts - first_pts) - now
        if abs(delay) > self.max_wait_s:  # a gap ahead, or far behind after a stall: do not sleep or burst
            self._origin = (now, pts)
            delay = 0.0
        if delay <= 0:
            return not self._stop.is_set()
        return not self._stop.wait(delay)
