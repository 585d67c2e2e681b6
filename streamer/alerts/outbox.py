"""A persistent outbox: an alert is on disk before anyone tries to send it, and leaves only when the broker acks.

A broker outage or a restart of Vigil therefore delays alerts but never loses them; they are sent again in the order
they were produced. Acknowledged rows are kept (``acked_at`` set) as the alert history the API serves, and pruned
after ``keep_days``. A disk that refuses writes delays the write, not the alert (see ``AlertOutbox``), and alerts
that a killed process left open are closed at the next start (``close_orphans``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from streamer.alerts.backlog import UnwrittenAlerts
from streamer.alerts.event import SCHEMA_VERSION, AlertEvent, iso_utc

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id   TEXT NOT NULL,
    event      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    camera     TEXT NOT NULL,
    topic      TEXT NOT NULL,
    payload    TEXT NOT NULL,
    frame_time TEXT NOT NULL,
    created_at TEXT NOT NULL,
    acked_at   TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE acked_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_camera_time ON outbox (camera, frame_time);
CREATE INDEX IF NOT EXISTS outbox_alert ON outbox (alert_id, seq);
"""


@dataclass(frozen=True)
class OutboxItem:
    """An alert waiting for (or past) its broker acknowledgement."""

    seq: int
    topic: str
    kind: str
    event: str
    payload: dict[str, Any]
    frame_time: datetime


class AlertOutbox:
    """SQLite-backed FIFO of alerts; thread-safe.

    A write the disk refuses (full, I/O error) never raises into the pipeline: the row waits in memory
    (``streamer.alerts.backlog``), is still handed to the publisher, and is written when the disk recovers.

    Args:
        path: database file (created with its folder); WAL mode so readers never block the pipeline.
        write_failures: counts failed write attempts (``vigil_outbox_write_failures_total``).
    """

    def __init__(self, path: Path, write_failures: Counter | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._write_failures = write_failures
        self._write_error: str | None = None
        self._unwritten = UnwrittenAlerts()
        self._unsaved_acks: dict[int, tuple[str, str | None]] = {}  # seq -> (acked_at, published_at) not yet on disk

    def put(self, event: AlertEvent, topic: str) -> int:
        """Store an alert durably; returns its sequence number (negative while it waits in memory for the disk)."""
        payload = event.to_payload(published_at=event.frame_time)
        payload["published_at"] = None  # stamped by the publisher at send time
        return self._store(
            (
                event.alert_id,
                event.event.value,
                event.kind.value,
                event.camera,
                topic,
                json.dumps(payload),
                iso_utc(event.frame_time),
                iso_utc(datetime.now(UTC)),
            )
        )

    def close_orphans(self, reason: str) -> int:
        """Close every alert this outbox opened and never closed (its process died): a ``close`` event with
        ``reason``, copied from the alert's last event. Call at start, before the pipeline runs; returns how many."""
        with self._lock:
            rows = self._db.execute(
                "SELECT alert_id, topic, payload FROM outbox"
                " WHERE seq IN (SELECT MAX(seq) FROM outbox GROUP BY alert_id)"
                " AND alert_id NOT IN (SELECT alert_id FROM outbox WHERE event = 'close') ORDER BY seq"
            ).fetchall()
        for alert_id, topic, text in rows:
            payload = dict(json.loads(text), event="close", reason=reason, schema_version=SCHEMA_VERSION)
            payload.setdefault("snapshot_url", None)  # a version 1 event of an older build
            payload.setdefault("crop_url", None)
            now = iso_utc(datetime.now(UTC))
            self._store((alert_id, "close", payload["kind"], payload["camera"], topic, json.dumps(payload),
                         payload["frame_time"], now))  # fmt: skip
        return len(rows)

    def flush(self) -> bool:
        """Retry the writes that failed (alerts held in memory, acknowledgements); True when none is left."""
        with self._lock:
            return self._flush_locked()

    @property
    def write_error(self) -> str | None:
        """Why the disk refuses writes, while some alert or acknowledgement waits in memory; else None."""
        with self._lock:
            return self._write_error if (self._unwritten or self._unsaved_acks) else None

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[OutboxItem]:
        """Unacknowledged alerts with ``seq > after_seq``, oldest first; then those held in memory that were never
        handed out (their seq is negative)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, kind, event, payload, frame_time FROM outbox"
                " WHERE acked_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
            items = [_item(row) for row in rows]
            for row in self._unwritten.hand_out(limit - len(items)):
                _alert_id, event, kind, _camera, topic, payload, frame_time, _created = row.values
                items.append(_item((row.key, topic, kind, event, payload, frame_time)))
        return items

    def ack(self, seq: int, published_at: str | None = None) -> None:
        """The broker has the alert ``seq``; ``published_at`` (what the broker got) is kept in the stored payload, so
        the history the API serves says when each alert went out. A failed write of that is kept and retried."""
        now = iso_utc(datetime.now(UTC))
        with self._lock:
            if seq < 0:
                flushed = self._unwritten.ack(seq, now)
                if flushed is None:
                    return
                seq = flushed
            self._unsaved_acks[seq] = (now, published_at)
            self._flush_locked()

    def depth(self) -> int:
        """Alerts not yet acknowledged by the broker, on disk or in memory."""
        with self._lock:
            on_disk = int(self._db.execute("SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0])
            return on_disk - len(self._unsaved_acks) + self._unwritten.waiting()

    def history(self, since: datetime | None = None, camera: str | None = None, limit: int = 100) -> list[OutboxItem]:
        """Alerts produced since ``since`` (newest first), for the API."""
        query = "SELECT seq, topic, kind, event, payload, frame_time FROM outbox WHERE frame_time >= ?"
        args: list[Any] = [iso_utc(since) if since else ""]
        if camera:
            query += " AND camera = ?"
            args.append(camera)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq DESC LIMIT ?", (*args, limit)).fetchall()
        return [_item(row) for row in rows]

    def after(self, seq: int, limit: int = 200) -> list[OutboxItem]:
        """Alerts stored after ``seq`` (sent or not), oldest first: what a live client missed since ``seq``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, kind, event, payload, frame_time FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [_item(row) for row in rows]

    def last_seq(self) -> int:
        """The sequence number of the newest alert on disk (0 when none)."""
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0])

    def knows(self, alert_id: str) -> bool:
        """Whether some event of ``alert_id`` is on disk."""
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM outbox WHERE alert_id = ? LIMIT 1", (alert_id,)).fetchone() is not None
            )

    def latest_snapshot(self, alert_id: str) -> str | None:
        """The snapshot path of the alert's newest event that has one; None for an unknown alert or none written.

        Raises:
            KeyError: no event of ``alert_id`` is in the outbox.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT json_extract(payload, '$.snapshot') FROM outbox WHERE alert_id = ? ORDER BY seq DESC",
                (alert_id,),
            ).fetchall()
        if not rows:
            raise KeyError(alert_id)
        return next((row[0] for row in rows if row[0]), None)

    def prune(self, keep_days: int) -> int:
        """Drop acknowledged alerts older than ``keep_days``; pending ones are never dropped."""
        if keep_days <= 0:
            return 0
        cutoff = iso_utc(datetime.now(UTC) - timedelta(days=keep_days))
        with self._lock:
            try:
                cursor = self._db.execute("DELETE FROM outbox WHERE acked_at IS NOT NULL AND frame_time < ?", (cutoff,))
            except sqlite3.Error as exc:  # a full disk may refuse even a delete (WAL); the next prune retries
                log.warning("outbox history not pruned: %s", exc)
                return 0
            return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._flush_locked()
            if self._unwritten or self._unsaved_acks:
                log.error(
                    "outbox closes with %d alert(s) and %d acknowledgement(s) never written to disk: %s",
                    len(self._unwritten),
                    len(self._unsaved_acks),
                    self._write_error,
                )
            self._db.close()

    def _store(self, values: tuple[str, ...]) -> int:
        """Insert a row, after the older ones held in memory (order is kept); on failure keep it in memory."""
        with self._lock:
            if self._flush_locked():
                try:
                    return self._insert(values, None)
                except sqlite3.Error as exc:
                    self._failed(exc)
            return self._unwritten.add(values)

    def _flush_locked(self) -> bool:
        while (row := self._unwritten.first()) is not None:
            try:
                self._unwritten.written(row.key, self._insert(row.values, row.acked_at))
            except sqlite3.Error as exc:
                self._failed(exc)
                return False
        for seq, (acked_at, published_at) in list(self._unsaved_acks.items()):
            try:
                self._db.execute(
                    "UPDATE outbox SET acked_at = ?, payload = json_set(payload, '$.published_at', ?)"
                    " WHERE seq = ? AND acked_at IS NULL",
                    (acked_at, published_at, seq),
                )
            except sqlite3.Error as exc:
                self._failed(exc)
                return False
            del self._unsaved_acks[seq]
        if self._write_error is not None:
            log.warning("outbox writes work again: alerts held in memory are on disk")
            self._write_error = None
        return True

    def _insert(self, values: tuple[str, ...], acked_at: str | None) -> int:
        cursor = self._db.execute(
            "INSERT INTO outbox (alert_id, event, kind, camera, topic, payload, frame_time, created_at, acked_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*values, acked_at),
        )
        return int(cursor.lastrowid or 0)

    def _failed(self, exc: sqlite3.Error) -> None:
        if self._write_failures is not None:
            self._write_failures.inc()
        if self._write_error is None:
            log.error("outbox write failed (%s): alerts wait in memory and are retried; they are still sent", exc)
        self._write_error = str(exc)


def _item(row: tuple[Any, ...]) -> OutboxItem:
    seq, topic, kind, event, payload, frame_time = row
    return OutboxItem(
        seq=seq,
        topic=topic,
        kind=kind,
        event=event,
        payload=json.loads(payload),
        frame_time=datetime.fromisoformat(frame_time.replace("Z", "+00:00")),
    )
