"""JPEG snapshots of alerting frames, with the match's box drawn, kept for ``keep_days``.

Operators judge an alert by its picture; a path to it travels in the alert JSON. Files live under
``<root>/<camera>/<YYYY-MM-DD>/`` so expiry is a directory removal, not a scan of every file.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from streamer.alerts.event import AlertEvent, AlertPhase

log = logging.getLogger(__name__)
BOX_COLOUR = (0, 0, 255)  # BGR red
MAX_REMEMBERED = 10_000  # open alerts whose snapshot a later close reuses


class SnapshotWriter:
    """Writes one JPEG per open/update event; a close event reuses its alert's last snapshot.

    Args:
        root: directory for snapshots (``storage.snapshots``).
        keep_days: snapshots older than this are removed by ``prune``; 0 keeps them forever.
    """

    def __init__(self, root: Path, keep_days: int) -> None:
        self._root = Path(root)
        self._keep_days = keep_days
        self._latest: dict[str, str] = {}

    def attach(self, event: AlertEvent, image: np.ndarray | None) -> AlertEvent:
        """Return ``event`` with its snapshot path (written now for open/update when the frame is given)."""
        if event.event is AlertPhase.CLOSE or image is None:
            path = self._latest.pop(event.alert_id, None) if event.event is AlertPhase.CLOSE else None
            return replace(event, snapshot=path or self._latest.get(event.alert_id))
        day = event.frame_time.astimezone(UTC).strftime("%Y-%m-%d")
        stamp = event.frame_time.astimezone(UTC).strftime("%H%M%S%f")[:-3]
        relative = Path(self._root.name) / event.camera / day / f"{event.alert_id}-{event.event.value}-{stamp}.jpg"
        target = self._root / event.camera / day / relative.name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            x, y, w, h = event.bbox
            thickness = max(2, image.shape[1] // 320)
            cv2.rectangle(bgr, (x, y), (x + w - 1, y + h - 1), BOX_COLOUR, thickness)
            if not cv2.imwrite(str(target), bgr, [cv2.IMWRITE_JPEG_QUALITY, 85]):
                raise OSError("cv2.imwrite returned False")
        except OSError as exc:  # a full disk must not cost the alert itself
            log.warning("snapshot for alert %s not written: %s", event.alert_id, exc)
            return event
        if len(self._latest) >= MAX_REMEMBERED:
            self._latest.pop(next(iter(self._latest)))
        self._latest[event.alert_id] = str(relative)
        return replace(event, snapshot=str(relative))

    def prune(self, now: datetime | None = None) -> int:
        """Remove day folders older than ``keep_days``; returns how many were removed."""
        if self._keep_days <= 0 or not self._root.is_dir():
            return 0
        cutoff = ((now or datetime.now(UTC)) - timedelta(days=self._keep_days)).strftime("%Y-%m-%d")
        removed = 0
        for day_dir in self._root.glob("*/*"):
            if day_dir.is_dir() and len(day_dir.name) == 10 and day_dir.name < cutoff:
                shutil.rmtree(day_dir, ignore_errors=True)
                removed += 1
        return removed
