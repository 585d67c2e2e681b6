"""JPEG snapshots of alerting frames, kept for ``keep_days``: the full frame with the match's box drawn, and a crop.

Operators judge an alert by its picture; a path to it travels in the alert JSON (``snapshot``). When the match is a
region of the frame (a face, an object) rather than the whole frame, the region is also saved on its own beside it,
at ``crop_path(snapshot)``, so a phone notification can show the face instead of a tiny box in a 4K frame. Files
live under ``<root>/<camera>/<YYYY-MM-DD>/`` so expiry is a directory removal, not a scan of every file.
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
from streamer.free_space import FreeSpaceGuard

log = logging.getLogger(__name__)
BOX_COLOUR = (0, 0, 255)  # BGR red
JPEG_QUALITY = 85
MAX_REMEMBERED = 10_000  # open alerts whose snapshot a later close reuses
CROP_SUFFIX = "-crop"


def crop_path(snapshot: str) -> str:
    """Where the crop of a snapshot lives (beside it); the file exists only when the bbox was not the whole frame.

    Example::

        crop_path("snapshots/lobby/2026-11-25/5b0c-open-131445622.jpg")
        # -> "snapshots/lobby/2026-11-25/5b0c-open-131445622-crop.jpg"
    """
    path = Path(snapshot)
    return str(path.with_name(f"{path.stem}{CROP_SUFFIX}{path.suffix}"))


def crop_box(bbox: tuple[int, int, int, int], frame_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The bbox clipped to the frame as (x0, y0, x1, y1), or None when it is empty or covers the whole frame."""
    width, height = frame_size
    x, y, w, h = bbox
    x0, y0 = max(0, min(x, width)), max(0, min(y, height))
    x1, y1 = max(x0, min(x + w, width)), max(y0, min(y + h, height))
    if x1 <= x0 or y1 <= y0 or (x0, y0, x1, y1) == (0, 0, width, height):
        return None
    return x0, y0, x1, y1


class SnapshotWriter:
    """Writes the JPEGs of each open/update event; a close event reuses its alert's last snapshot.

    Args:
        root: directory for snapshots (``storage.snapshots``).
        keep_days: snapshots older than this are removed by ``prune``; 0 keeps them forever.
        guard: when the data volume runs low, snapshots are skipped (the alert goes out without a new picture).
    """

    def __init__(self, root: Path, keep_days: int, guard: FreeSpaceGuard | None = None) -> None:
        self._root = Path(root)
        self._keep_days = keep_days
        self._guard = guard
        self._latest: dict[str, tuple[str, str | None]] = {}  # alert id -> (snapshot, crop or None)

    def attach(self, event: AlertEvent, image: np.ndarray | None) -> AlertEvent:
        """Return ``event`` with its snapshot and crop paths (written now for open/update when the frame is given)."""
        if event.event is AlertPhase.CLOSE or image is None:
            paths = self._latest.pop(event.alert_id, None) if event.event is AlertPhase.CLOSE else None
            snapshot, crop = paths or self._latest.get(event.alert_id) or (None, None)
            return replace(event, snapshot=snapshot, crop=crop)
        if self._guard is not None and not self._guard.allows("snapshot"):
            snapshot, crop = self._latest.get(event.alert_id) or (None, None)
            return replace(event, snapshot=snapshot, crop=crop)
        day = event.frame_time.astimezone(UTC).strftime("%Y-%m-%d")
        stamp = event.frame_time.astimezone(UTC).strftime("%H%M%S%f")[:-3]
        relative = Path(self._root.name) / event.camera / day / f"{event.alert_id}-{event.event.value}-{stamp}.jpg"
        target = self._root / event.camera / day / relative.name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._write_frame(target, image, event.bbox)
            crop = None
            box = crop_box(event.bbox, (image.shape[1], image.shape[0]))
            if box is not None:
                x0, y0, x1, y1 = box
                self._write_jpeg(Path(crop_path(str(target))), image[y0:y1, x0:x1])
                crop = crop_path(str(relative))
        except OSError as exc:  # a full disk must not cost the alert itself
            log.warning("snapshot for alert %s not written: %s", event.alert_id, exc)
            return event
        if len(self._latest) >= MAX_REMEMBERED:
            self._latest.pop(next(iter(self._latest)))
        self._latest[event.alert_id] = (str(relative), crop)
        return replace(event, snapshot=str(relative), crop=crop)

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

    def _write_frame(self, target: Path, image: np.ndarray, bbox: tuple[int, int, int, int]) -> None:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        x, y, w, h = bbox
        thickness = max(2, image.shape[1] // 320)
        cv2.rectangle(bgr, (x, y), (x + w - 1, y + h - 1), BOX_COLOUR, thickness)
        self._write_bgr(target, bgr)

    def _write_jpeg(self, target: Path, rgb: np.ndarray) -> None:
        self._write_bgr(target, cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))

    @staticmethod
    def _write_bgr(target: Path, bgr: np.ndarray) -> None:
        if not cv2.imwrite(str(target), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise OSError(f"cv2.imwrite could not write {target}")
