"""Which cameras and watchlist entries have an alert open right now, derived from the alerts the broker acknowledged.

Alert messages are events (open, update, close); Home Assistant's ``binary_sensor`` wants a state. This turns the
delivered events into ``ON``/``OFF`` states, published retained on ``<prefix>/cameras/<camera>/alert`` and
``<prefix>/entries/<entry_id>/alert`` (only when Home Assistant discovery is on), so a sensor restarted late still
knows. A camera is ON while at least one of its alerts is open, whatever the entry or kind; an entry likewise.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ON, OFF = "ON", "OFF"


def camera_alert_topic(prefix: str, camera: str) -> str:
    """``<prefix>/cameras/<camera>/alert``: ``ON`` while an alert of the camera is open."""
    return f"{prefix}/cameras/{camera}/alert"


def entry_alert_topic(prefix: str, entry_id: str) -> str:
    """``<prefix>/entries/<entry_id>/alert``: ``ON`` while an alert of the entry is open, on any camera of the node."""
    return f"{prefix}/entries/{entry_id}/alert"


@dataclass(frozen=True)
class ActivityChange:
    """A state to publish (retained) because it changed."""

    topic: str
    state: str


@dataclass
class AlertActivity:
    """Open alert ids per camera and per entry; bounded by the alerts open at once (a close removes its id).

    Args:
        prefix: the MQTT topic prefix.
    """

    prefix: str
    _open_by_camera: dict[str, set[str]] = field(default_factory=dict)
    _open_by_entry: dict[str, set[str]] = field(default_factory=dict)
    _labels: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, alert: dict[str, Any]) -> list[ActivityChange]:
        """Account for one delivered alert (its JSON); the states that changed."""
        alert_id, camera, entry = alert["alert_id"], alert["camera"], alert["entry"]
        closing = alert["event"] == "close"
        with self._lock:
            self._labels[entry["id"]] = entry["label"]
            changes = [
                self._update(self._open_by_camera, camera, alert_id, closing, camera_alert_topic(self.prefix, camera)),
                self._update(
                    self._open_by_entry, entry["id"], alert_id, closing, entry_alert_topic(self.prefix, entry["id"])
                ),
            ]
        return [change for change in changes if change is not None]

    def states(self, cameras: Iterable[str]) -> list[ActivityChange]:
        """The current state of ``cameras`` and of every entry seen: what to (re)publish after a connect."""
        with self._lock:
            found = [
                ActivityChange(camera_alert_topic(self.prefix, c), ON if self._open_by_camera.get(c) else OFF)
                for c in cameras
            ]
            found += [
                ActivityChange(entry_alert_topic(self.prefix, e), ON if self._open_by_entry.get(e) else OFF)
                for e in self._labels
            ]
        return found

    def entries(self) -> dict[str, str]:
        """Entry id -> label of every entry that has alerted since the start."""
        with self._lock:
            return dict(self._labels)

    @staticmethod
    def _update(
        open_ids: dict[str, set[str]], key: str, alert_id: str, closing: bool, topic: str
    ) -> ActivityChange | None:
        ids = open_ids.setdefault(key, set())
        was_on = bool(ids)
        if closing:
            ids.discard(alert_id)
        else:
            ids.add(alert_id)
        if not ids:
            del open_ids[key]
        return None if bool(ids) == was_on else ActivityChange(topic, ON if ids else OFF)
