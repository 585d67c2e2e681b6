"""A camera's health as operators see it: the state machine behind ``CameraStatus`` and the ``camera_up`` gauge.

States (DESIGN.md, "MQTT"):

* ``up``: frames arrive. Entered at the first frame of each connection, not when a socket opens: a camera that
  accepts connections and sends nothing is not up.
* ``reconnecting``: it was up, it failed, and the worker is trying to get it back.
* ``down``: it never came up since the worker started, it has been failing long enough for the retry delay to reach
  its cap, its file ended, or the worker stopped.

A status is published on every change of state and on every failure (new reason, new ``next_retry_s``); never per
frame. ``last_frame_at`` is kept per frame and read through ``status``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import Gauge

from streamer.sources.status import CameraState, CameraStatus


class CameraHealth:
    """Tracks one camera's state; publishes each change through ``on_status`` and the ``camera_up`` gauge.

    Thread-safe: the worker's thread reports, any thread may read ``status`` or ``close`` it.

    Args:
        camera: the camera's name.
        on_status: receives every new status; runs on the camera's thread, so it must be quick.
        camera_up: the ``vigil_camera_up{camera=...}`` child gauge.
    """

    def __init__(self, camera: str, on_status: Callable[[CameraStatus], None], camera_up: Gauge) -> None:
        self.camera = camera
        self._on_status = on_status
        self._camera_up = camera_up
        self._lock = threading.RLock()  # re-entrant: on_status may read ``status``
        self._closed = False
        self._last_frame_at: datetime | None = None
        self._status = CameraStatus(camera, CameraState.DOWN, _now(), reason="starting")
        camera_up.set(0)

    @property
    def status(self) -> CameraStatus:
        """The current status, with the time of the latest frame."""
        with self._lock:
            return dataclasses.replace(self._status, last_frame_at=self._last_frame_at)

    def starting(self) -> None:
        """The worker started: publish ``down`` (reason ``connecting``) until the first frame says otherwise."""
        self._publish(CameraState.DOWN, reason="connecting")

    def frame_arrived(self, at: datetime) -> None:
        """A frame was delivered at ``at``; the first one after a failure makes the camera ``up``."""
        with self._lock:
            self._last_frame_at = at
            if self._status.state is CameraState.UP or self._closed:
                return
        self._publish(CameraState.UP, since=at)

    def failed(self, reason: str, next_retry_s: float, persistent: bool) -> None:
        """The connection failed or could not be made; another attempt follows in ``next_retry_s``.

        Args:
            reason: why, already free of credentials.
            next_retry_s: the backoff delay before the next attempt.
            persistent: the retry delay has reached its cap (a long outage, not a blink).
        """
        with self._lock:
            state = self._status.state
        if state is CameraState.UP:
            state = CameraState.RECONNECTING
        elif state is CameraState.RECONNECTING and persistent:
            state = CameraState.DOWN
        self._publish(state, reason=reason, next_retry_s=next_retry_s)

    def ended(self, reason: str) -> None:
        """No more attempts will follow (a file ended): ``down`` with the reason."""
        self._publish(CameraState.DOWN, reason=reason)

    def close(self, reason: str = "stopped") -> None:
        """Publish a last ``down`` status and ignore any report that comes after (a thread slow to stop)."""
        try:
            self._publish(CameraState.DOWN, reason=reason)
        finally:
            with self._lock:
                self._closed = True

    def _publish(
        self, state: CameraState, *, reason: str | None = None, next_retry_s: float | None = None,
        since: datetime | None = None,
    ) -> None:  # fmt: skip
        with self._lock:
            if self._closed:
                return
            previous = self._status
            changed = state is not previous.state
            self._status = CameraStatus(
                camera=self.camera,
                state=state,
                since=(since or _now()) if changed else previous.since,
                last_frame_at=self._last_frame_at,
                reason=reason,
                next_retry_s=next_retry_s,
            )
            self._camera_up.set(1 if state is CameraState.UP else 0)
            self._on_status(self._status)


def _now() -> datetime:
    return datetime.now(UTC)
