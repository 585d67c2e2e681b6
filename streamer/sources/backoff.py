"""How long a camera waits before it tries to connect again: exponential backoff with jitter and a cap.

Growing delays keep a dead camera from costing CPU and log lines; jitter keeps a hundred cameras behind one switch
that rebooted from reconnecting in lock-step; the cap bounds how stale a camera that comes back can stay.
"""

from __future__ import annotations

import random

from streamer.config import ReconnectConfig


class ReconnectBackoff:
    """The delays between reconnect attempts of one camera.

    The n-th delay after the last success is ``initial_s * multiplier**n``, capped at ``max_s``, then multiplied by a
    random factor in ``[1 - jitter, 1 + jitter]`` and capped again (the cap is a promise: never longer than max_s).

    Args:
        config: the camera's reconnect settings.
        rng: the random source for jitter; pass ``random.Random(seed)`` for repeatable delays in tests.

    Example::

        backoff = ReconnectBackoff(ReconnectConfig(initial_s=0.5, max_s=30, jitter=0.2), random.Random(1))
        backoff.next_delay()  # ~0.5 s
        backoff.next_delay()  # ~1.0 s
        backoff.reset()       # after the camera delivered frames again
    """

    def __init__(self, config: ReconnectConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self._failures = 0

    @property
    def failures(self) -> int:
        """Delays handed out since the last ``reset`` (consecutive failures)."""
        return self._failures

    @property
    def at_cap(self) -> bool:
        """The last delay reached ``max_s``: the camera has been failing for a while, it did not just blink."""
        return self._failures > 0 and self._base_delay(self._failures - 1) >= self.config.max_s

    def next_delay(self) -> float:
        """The delay before the next attempt, in seconds; each call counts one more consecutive failure."""
        base = self._base_delay(self._failures)
        self._failures += 1
        spread = self.config.jitter
        delay = base * self._rng.uniform(1.0 - spread, 1.0 + spread)
        return min(max(delay, 0.0), self.config.max_s)

    def reset(self) -> None:
        """Start again from ``initial_s``: call it when the camera works again."""
        self._failures = 0

    def _base_delay(self, failures: int) -> float:
        config = self.config
        # Stop multiplying once over the cap, so a camera dead for weeks never overflows a float.
        delay = config.initial_s
        for _ in range(failures):
            if delay >= config.max_s:
                break
            delay *= config.multiplier
        return min(delay, config.max_s)
