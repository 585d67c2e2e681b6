"""A persistent outbox: an alert is on disk before anyone tries to send it, and leaves only when the broker acks.

A broker outage or a restart of Vigil therefore delays alerts but never loses them; they are sent again in the order
they were produced. Acknowledged rows are kept (``acked_at`` set) as the alert history the API serves, and pruned
after ``keep_days``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streamer.alerts.event import AlertEvent, iso_utc

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

    Args:
        path: database file (created with its folder); WAL mode so readers never block the pipeline.
    """

    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def put(self, event: AlertEvent, topic: str) -> int:
        """Store an alert durably; returns its sequence number."""
        payload = event.to_payload(published_at=event.frame_time)
        payload["published_at"] = None  # stamped by the publisher at send time
        now = iso_utc(datetime.now(UTC))
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO outbox (alert_id, event, kind, camera, topic, payload, frame_time, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.alert_id,
                    event.event.value,
                    event.kind.value,
                    event.camera,
                    topic,
                    json.dumps(payload),
                    iso_utc(event.frame_time),
                    now,
                ),
            )
            return int(cursor.lastrowid or 0)

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[OutboxItem]:
        """Unacknowledged alerts with ``seq > after_seq``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, kind, event, payload, frame_time FROM outbox"
                " WHERE acked_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [_item(row) for row in rows]

    def ack(self, seq: int, published_at: str | None = None) -> None:
        """Mark an alert delivered; ``published_at`` (what the broker got) is kept in the stored payload, so the
        history the API serves says when each alert went out."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET acked_at = ?, payload = json_set(payload, '$.published_at', ?)"
                " WHERE seq = ? AND acked_at IS NULL",
                (iso_utc(datetime.now(UTC)), published_at, seq),
            )

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0])

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
            cursor = self._db.execute("DELETE FROM outbox WHERE acked_at IS NOT NULL AND frame_time < ?", (cutoff,))
            return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


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
