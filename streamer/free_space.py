"""Keeps room on the data volume for what must not be lost: alerts.

Snapshots and the keyframe archive are the bulk of what a node writes, and both are optional to an alert. When the
data volume has less than ``storage.min_free_mb`` free, they are skipped (counted in
``vigil_storage_skipped_writes_total{kind}``, logged at most once a minute), so the outbox keeps the space it
needs; they resume by themselves once space returns.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from streamer.metrics import VigilMetrics

log = logging.getLogger(__name__)
CHECK_EVERY_S = 1.0  # statvfs is cheap, but not per frame
LOG_EVERY_S = 60.0


class FreeSpaceGuard:
    """Answers "may this optional write go ahead?" from the free space of the data volume; thread-safe.

    Args:
        folder: a folder on the data volume (the nearest existing parent is measured).
        min_free_mb: below this many MiB free, optional writes are skipped; 0 turns the guard off.
        metrics: ``storage_skipped_writes`` and ``storage_free_bytes``.
    """

    def __init__(self, folder: Path, min_free_mb: int, metrics: VigilMetrics) -> None:
        self._folder = Path(folder)
        self._min_free = min_free_mb * 1024 * 1024
        self._metrics = metrics
        self._lock = threading.Lock()
        self._checked_at = -CHECK_EVERY_S
        self._low = False
        self._logged_at = -LOG_EVERY_S
        self._skipped_since_log = 0

    @property
    def low(self) -> bool:
        """True while the data volume has less than ``min_free_mb`` free."""
        with self._lock:
            return self._check(time.monotonic())

    def allows(self, kind: str) -> bool:
        """Whether an optional write of ``kind`` (``snapshot`` or ``archive``) may go ahead; a refusal is counted."""
        now = time.monotonic()
        with self._lock:
            if not self._check(now):
                return True
            self._skipped_since_log += 1
            if now - self._logged_at >= LOG_EVERY_S:
                log.warning(
                    "data volume %s has less than %d MB free: %d snapshot/archive write(s) skipped to keep room "
                    "for alerts",
                    self._folder,
                    self._min_free // (1024 * 1024),
                    self._skipped_since_log,
                )
                self._logged_at, self._skipped_since_log = now, 0
        self._metrics.storage_skipped_writes.labels(kind=kind).inc()
        return False

    def _check(self, now: float) -> bool:
        if now - self._checked_at < CHECK_EVERY_S:
            return self._low
        self._checked_at = now
        free = shutil.disk_usage(_existing(self._folder)).free
        self._metrics.storage_free_bytes.set(free)
        low = self._min_free > 0 and free < self._min_free
        if self._low and not low:
            log.info("data volume %s has room again: snapshots and archive resume", self._folder)
        self._low = low
        return low


def _existing(folder: Path) -> Path:
    """The folder itself, or its nearest parent that exists (the data folder may not be created yet)."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate
    return Path(".")
