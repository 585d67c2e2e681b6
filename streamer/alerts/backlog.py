"""Alerts the outbox could not write to disk yet (a full disk, an I/O error), held in memory in production order.

The outbox must never lose an alert because its disk refused a write, and must never stop the pipeline for it: the
row waits here, bounded, is handed to the publisher like a disk row (the broker may well be up), and is written to
disk as soon as the disk takes writes again, acknowledged or not. Keys are negative, so they never collide with the
outbox's sequence numbers. What is here is lost if the process dies before the disk recovers: the documented limit.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

log = logging.getLogger(__name__)
MAX_UNWRITTEN = 10_000  # ~1 KB each: at most ~10 MB of memory while the disk is full
MAX_REMEMBERED_FLUSHES = 10_000


@dataclass
class UnwrittenAlert:
    """One outbox row that is not on disk yet; ``values`` are the INSERT's values (without ``acked_at``)."""

    key: int
    values: tuple[str, ...]
    acked_at: str | None = None
    handed_out: bool = False


class UnwrittenAlerts:
    """A bounded FIFO of rows waiting for the disk (not thread-safe: the outbox holds its lock around it)."""

    def __init__(self, limit: int = MAX_UNWRITTEN) -> None:
        self._limit = limit
        self._rows: OrderedDict[int, UnwrittenAlert] = OrderedDict()
        self._flushed: OrderedDict[int, int] = OrderedDict()  # key -> disk seq, for acks that arrive after a flush
        self._next_key = -1

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, values: tuple[str, ...]) -> int:
        """Keep a row; when full, the oldest is dropped with an error (the bound that keeps memory finite)."""
        if len(self._rows) >= self._limit:
            _, dropped = self._rows.popitem(last=False)
            log.error("outbox backlog full (%d alerts in memory): alert row %s dropped", self._limit, dropped.values[0])
        key = self._next_key
        self._next_key -= 1
        self._rows[key] = UnwrittenAlert(key, values)
        return key

    def first(self) -> UnwrittenAlert | None:
        return next(iter(self._rows.values()), None)

    def written(self, key: int, seq: int) -> None:
        """The row ``key`` is now on disk as ``seq``."""
        self._rows.pop(key, None)
        self._flushed[key] = seq
        if len(self._flushed) > MAX_REMEMBERED_FLUSHES:
            self._flushed.popitem(last=False)

    def hand_out(self, limit: int) -> list[UnwrittenAlert]:
        """Rows not yet given to the publisher (each is handed out once: paho re-sends it across reconnects)."""
        rows = [row for row in self._rows.values() if not row.handed_out and row.acked_at is None][:limit]
        for row in rows:
            row.handed_out = True
        return rows

    def ack(self, key: int, acked_at: str) -> int | None:
        """Mark ``key`` acknowledged; returns its disk seq when it was flushed meanwhile (the caller acks that)."""
        row = self._rows.get(key)
        if row is not None:
            row.acked_at = acked_at
            return None
        return self._flushed.get(key)

    def waiting(self) -> int:
        """Rows not yet acknowledged by the broker."""
        return sum(1 for row in self._rows.values() if row.acked_at is None)
