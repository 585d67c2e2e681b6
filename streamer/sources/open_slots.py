"""How many cameras of a node may be opening their streams at once.

Opening an RTSP stream is a burst of work on both ends (handshake, probing the stream, the first GOP), and the open
timeout runs while it happens. When a node starts 32 cameras at once on 2 cores, the opens compete for the CPU and
for the server, and 10 of them missed the 5 s timeout and backed off to 30 s (issue 13). Letting a few open at a
time serves all of them in well under the timeout each: an open takes 0.05-0.5 s, so 32 cameras are up in a few
seconds, while a dead camera holds its slot only for its own timeout.
"""

from __future__ import annotations

import os
import threading

WAIT_STEP_S = 0.2
"""How often a camera waiting for a slot checks whether it was stopped."""


def default_open_slots() -> int:
    """Two opens per core, at least four: enough to hide the network's round trips, few enough not to starve."""
    return max(4, 2 * (os.cpu_count() or 1))


class OpenSlots:
    """A node-wide limit on concurrent stream opens (a semaphore whose wait a stopping camera can leave).

    Args:
        size: how many opens may run at once.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"open slots must be at least 1, got {size}")
        self.size = size
        self._semaphore = threading.BoundedSemaphore(size)

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for a slot; False (and no slot held) when ``stop`` was set first."""
        while not stop.is_set():
            if self._semaphore.acquire(timeout=WAIT_STEP_S):
                return True
        return False

    def release(self) -> None:
        self._semaphore.release()
