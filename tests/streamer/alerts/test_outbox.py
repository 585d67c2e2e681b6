"""The outbox keeps alerts on disk, in order, until acknowledged; it survives a reopen."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from streamer.alerts.event import AlertEvent, AlertKind, AlertPhase, alert_schema
from streamer.alerts.outbox import AlertOutbox


def event(n: int) -> AlertEvent:
    return AlertEvent(
        alert_id=f"00000000-0000-4000-8000-{n:012d}",
        event=AlertPhase.OPEN,
        camera="lobby",
        kind=AlertKind.ANOMALY,
        entry_id="e1",
        label="Fire",
        score=0.91,
        threshold=0.75,
        frame_time=datetime.now(UTC),
        bbox=(0, 0, 640, 360),
        frame_size=(640, 360),
        node_id="node-1",
        model="mobilenet_v2@0123456789ab",
        snapshot="snapshots/x.jpg",
    )


def test_alerts_come_back_in_order_until_acked(tmp_path: Path):
    outbox = AlertOutbox(tmp_path / "outbox.db")
    seqs = [outbox.put(event(n), "vigil/alerts/lobby/anomaly") for n in range(3)]
    assert [item.seq for item in outbox.pending()] == seqs
    outbox.ack(seqs[0])
    assert [item.seq for item in outbox.pending()] == seqs[1:]
    assert outbox.depth() == 2


def test_pending_alerts_survive_a_restart(tmp_path: Path):
    outbox = AlertOutbox(tmp_path / "outbox.db")
    outbox.put(event(1), "t")
    outbox.close()
    reopened = AlertOutbox(tmp_path / "outbox.db")
    assert reopened.depth() == 1
    assert reopened.pending()[0].payload["alert_id"].endswith("000000000001")


def test_history_keeps_acknowledged_alerts(tmp_path: Path):
    outbox = AlertOutbox(tmp_path / "outbox.db")
    outbox.ack(outbox.put(event(1), "t"))
    assert outbox.depth() == 0
    assert len(outbox.history(camera="lobby")) == 1
    assert outbox.history(camera="elsewhere") == []


def test_the_stored_payload_validates_once_stamped(tmp_path: Path):
    outbox = AlertOutbox(tmp_path / "outbox.db")
    outbox.put(event(1), "t")
    payload = dict(outbox.pending()[0].payload, published_at="2026-11-25T12:00:00.000Z")
    jsonschema.validate(payload, alert_schema())


def test_an_acknowledged_alert_keeps_the_time_it_was_published(tmp_path: Path):
    outbox = AlertOutbox(tmp_path / "outbox.db")
    sent, waiting = outbox.put(event(1), "t"), outbox.put(event(2), "t")
    outbox.ack(sent, "2026-11-25T12:00:00.123Z")
    published = {item.seq: item.payload["published_at"] for item in outbox.history()}
    assert published == {sent: "2026-11-25T12:00:00.123Z", waiting: None}  # null only until the broker acks


def test_latest_snapshot_is_the_newest_event_that_has_one(tmp_path: Path):
    outbox = AlertOutbox(tmp_path / "outbox.db")
    first = event(1)
    outbox.put(first, "t")
    outbox.put(replace(first, event=AlertPhase.UPDATE, snapshot="snapshots/newer.jpg"), "t")
    outbox.put(replace(first, event=AlertPhase.CLOSE, snapshot=None), "t")
    assert outbox.latest_snapshot(first.alert_id) == "snapshots/newer.jpg"
    outbox.put(replace(event(2), snapshot=None), "t")
    assert outbox.latest_snapshot(event(2).alert_id) is None
    with pytest.raises(KeyError):
        outbox.latest_snapshot(event(3).alert_id)
