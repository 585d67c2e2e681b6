"""The alert as operators receive it (DESIGN.md, "MQTT"; schema in ``alert.schema.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from importlib import resources
from typing import Any

SCHEMA_VERSION = 2
"""1: the first payload; 2 adds ``snapshot_url`` and ``crop_url`` (API paths of the alert's pictures) and, on a
close Vigil sends for an alert a dead process left open, ``reason``."""
ALERTS_API_PATH = "/api/v1/alerts"
NODE_RESTARTED = "node_restarted"  # the reason of a close for an alert left open by a process that died


class AlertKind(StrEnum):
    FACE = "face"
    ANOMALY = "anomaly"
    UNKNOWN_FACE = "unknown_face"


class AlertPhase(StrEnum):
    """``open`` starts an event, ``update`` reports a better score or a new sighting after a lull, ``close`` ends it;
    all share one alert_id."""

    OPEN = "open"
    UPDATE = "update"
    CLOSE = "close"


@dataclass(frozen=True)
class AlertEvent:
    """One open/update/close message of an alert; ``snapshot`` and ``crop`` are filled in by the snapshot stage."""

    alert_id: str
    event: AlertPhase
    camera: str
    kind: AlertKind
    entry_id: str
    label: str
    score: float
    threshold: float
    frame_time: datetime
    bbox: tuple[int, int, int, int]
    frame_size: tuple[int, int]
    node_id: str
    model: str
    snapshot: str | None = None
    crop: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.frame_time.tzinfo is None:
            raise ValueError("AlertEvent.frame_time must be timezone-aware")
        if len(self.bbox) != 4 or self.bbox[2] < 0 or self.bbox[3] < 0:
            raise ValueError(f"AlertEvent.bbox must be [x, y, w, h] with w, h >= 0, got {self.bbox}")

    def topic(self, prefix: str) -> str:
        return f"{prefix}/alerts/{self.camera}/{self.kind.value}"

    def to_payload(self, published_at: datetime) -> dict[str, Any]:
        """The alert JSON; ``published_at`` is stamped when the publisher hands it to the broker."""
        payload: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "alert_id": self.alert_id,
            "event": self.event.value,
            "camera": self.camera,
            "kind": self.kind.value,
            "entry": {"id": self.entry_id, "label": self.label},
            "score": round(float(self.score), 4),
            "threshold": round(float(self.threshold), 4),
            "frame_time": iso_utc(self.frame_time),
            "published_at": iso_utc(published_at),
            "bbox": [int(v) for v in self.bbox],
            "frame_size": [int(v) for v in self.frame_size],
            "snapshot": self.snapshot,
            "snapshot_url": picture_url(self.alert_id, "snapshot") if self.snapshot else None,
            "crop_url": picture_url(self.alert_id, "crop") if self.crop else None,
            "node_id": self.node_id,
            "model": self.model,
        }
        if self.reason:
            payload["reason"] = self.reason
        return payload


def picture_url(alert_id: str, picture: str) -> str:
    """Where the API serves an alert's newest ``snapshot`` or ``crop``, relative to the API's base URL (so it holds
    behind a reverse proxy's path prefix too)."""
    return f"{ALERTS_API_PATH}/{alert_id}/{picture}"


def iso_utc(value: datetime) -> str:
    """RFC 3339 with milliseconds and a ``Z``: the timestamp format of every Vigil payload."""
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_schema() -> dict[str, Any]:
    """The JSON Schema every published alert validates against (shipped for consumers too)."""
    return json.loads(resources.files("streamer.alerts").joinpath("alert.schema.json").read_text())
