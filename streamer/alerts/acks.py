"""Operators' acknowledgements of alerts: who saw an alert and when, kept beside it in the outbox database.

An acknowledgement is an audit record, so it is written once and never changed: the first operator to acknowledge an
alert is the one on record, and acknowledging it again answers that record. Each has its own sequence number, so a
live client (``GET /api/v1/events``) can resume the acknowledgements it missed as it resumes alerts.

Example:
    >>> acks = AlertAcks(outbox.path)
    >>> acks.acknowledge("3f2a...", by="api:desk-1")   # AlertAck(seq=1, alert_id='3f2a...', by='api:desk-1', at=...)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from streamer.alerts.event import iso_utc

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_acks (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL UNIQUE,
    acked_by TEXT NOT NULL,
    acked_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class AlertAck:
    """One acknowledgement: ``by`` names the caller as the audit log does (``api:<token name>``)."""

    seq: int
    alert_id: str
    by: str
    at: str

    def to_json(self) -> dict[str, str]:
        """As the API shows it (in an alert row's ``ack`` and in an ``ack`` event)."""
        return {"alert_id": self.alert_id, "by": self.by, "at": self.at}


class AlertAcks:
    """Acknowledgements in the table ``alert_acks`` of the outbox database; one short connection per call (they are
    rare, and the outbox's own connection stays the pipeline's).

    Args:
        path: the outbox database (``AlertOutbox.path``).
    """

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        with closing(self._connect()) as db:
            db.executescript(SCHEMA)

    def acknowledge(self, alert_id: str, by: str) -> AlertAck:
        """Record that ``by`` acknowledged ``alert_id`` now, unless someone did before; returns the record."""
        with closing(self._connect()) as db:
            db.execute(
                "INSERT OR IGNORE INTO alert_acks (alert_id, acked_by, acked_at) VALUES (?, ?, ?)",
                (alert_id, by, iso_utc(datetime.now(UTC))),
            )
            row = db.execute(
                "SELECT seq, alert_id, acked_by, acked_at FROM alert_acks WHERE alert_id = ?", (alert_id,)
            ).fetchone()
        return AlertAck(*row)

    def of(self, alert_ids: Iterable[str]) -> dict[str, AlertAck]:
        """The acknowledgements of these alerts, by alert id (absent: not acknowledged)."""
        ids = sorted(set(alert_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with closing(self._connect()) as db:
            rows = db.execute(
                f"SELECT seq, alert_id, acked_by, acked_at FROM alert_acks WHERE alert_id IN ({marks})", ids
            ).fetchall()
        return {row[1]: AlertAck(*row) for row in rows}

    def after(self, seq: int, limit: int = 200) -> list[AlertAck]:
        """Acknowledgements recorded after ``seq``, oldest first."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT seq, alert_id, acked_by, acked_at FROM alert_acks WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [AlertAck(*row) for row in rows]

    def last_seq(self) -> int:
        """The sequence number of the newest acknowledgement (0 when none)."""
        with closing(self._connect()) as db:
            return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM alert_acks").fetchone()[0])

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=5.0, isolation_level=None)
