"""The switch between a camera's reader and whoever asks it for a confirmation burst.

A camera at rest decodes keyframes only. When a matcher sees something on it, one keyframe per second and a vote of
2 of 3 cannot alert within a second; decoding the frames that follow (not only keyframes) for a moment can. The
pipeline's ``ConfirmationScheduler`` decides *whether* a burst is worth it (budgets); the camera's reader decides
*how* (``streamer.sources.keyframe_decoder``). Between them, on two threads, sits one ``BurstSwitch`` per camera:
the scheduler ``request``s, the reader ``take``s the request when it reads its next packet and ``finish``es it when
the burst is over, so that "is this camera bursting?" is one question with one answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BurstRequest:
    """How much a burst may decode.

    Attributes:
        frames: most frames it passes on for embedding.
        max_s: it ends this long after it starts, whatever it passed on.
        every_nth: it passes on every nth decoded frame (the others are decoded only as references).
    """

    frames: int
    max_s: float
    every_nth: int

    def __post_init__(self) -> None:
        if self.frames < 1 or self.max_s <= 0 or self.every_nth < 1:
            raise ValueError(f"a burst needs frames >= 1, max_s > 0, every_nth >= 1, got {self}")


class BurstSwitch:
    """One camera's burst mailbox: at most one burst pending or running. Thread-safe.

    Args:
        on_decoded: called by the reader with how many frames it decoded for bursts (the CPU they cost), so the
            camera's owner can count them.
    """

    def __init__(self, on_decoded: Callable[[int], None] = lambda count: None) -> None:
        self._lock = threading.Lock()
        self._pending: BurstRequest | None = None
        self._running = False
        self._cancelled = False
        self._on_decoded = on_decoded

    @property
    def active(self) -> bool:
        """A burst is pending or running on this camera."""
        with self._lock:
            return self._pending is not None or self._running

    def request(self, burst: BurstRequest) -> bool:
        """Ask the camera for a burst; False (and nothing changes) when one is already pending or running."""
        with self._lock:
            if self._pending is not None or self._running:
                return False
            self._pending = burst
            return True

    def cancel(self) -> None:
        """Drop the pending burst and end the running one at the reader's next packet (nothing left to confirm)."""
        with self._lock:
            self._pending = None
            self._cancelled = self._running

    @property
    def cancelled(self) -> bool:
        """The reader's side: the running burst should end now."""
        with self._lock:
            return self._cancelled

    def take(self) -> BurstRequest | None:
        """The reader's side: the pending request, now running, or None."""
        with self._lock:
            burst, self._pending = self._pending, None
            self._running = self._running or burst is not None
            return burst

    def finish(self) -> None:
        """The reader's side: the running burst is over (or could not run, or the connection ended)."""
        with self._lock:
            self._running = self._cancelled = False

    def decoded(self, count: int) -> None:
        """The reader's side: ``count`` more frames were decoded for bursts."""
        if count:
            self._on_decoded(count)
