"""The node's health as operators see it on ``<prefix>/status/<node_id>/health`` (retained JSON).

``<prefix>/status/<node_id>`` stays ``online``/``offline`` (its Last Will, and Home Assistant's availability), so no
existing consumer changes meaning; the health topic beside it adds ``degraded`` and why. It is meaningful only while
the status topic says ``online``: when the Last Will fires, the node is ``offline`` whatever its health said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from streamer.alerts.event import iso_utc

OUTBOX_WRITE_FAILING = "outbox_write_failing"
LOW_DISK_SPACE = "low_disk_space"


@dataclass(frozen=True)
class NodeHealth:
    """``online`` when no reason is given, else ``degraded`` with machine-readable reasons and human details."""

    reasons: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    since: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def of(cls, outbox_error: str | None, low_disk: bool) -> NodeHealth:
        """The health from what the node knows: the outbox's last write error, the free-space guard."""
        pairs = []
        if outbox_error:
            pairs.append((OUTBOX_WRITE_FAILING, f"alert outbox cannot write to disk ({outbox_error}); alerts are held "
                          "in memory and still sent"))  # fmt: skip
        if low_disk:
            pairs.append((LOW_DISK_SPACE, "data volume below storage.min_free_mb: snapshots and archive paused"))
        return cls(tuple(r for r, _ in pairs), tuple(d for _, d in pairs))

    @property
    def state(self) -> str:
        return "degraded" if self.reasons else "online"

    def to_payload(self, node_id: str) -> dict[str, object]:
        """The JSON body of the retained health message."""
        payload: dict[str, object] = {"state": self.state, "node_id": node_id, "since": iso_utc(self.since)}
        if self.reasons:
            payload["reasons"] = list(self.reasons)
            payload["reason"] = "; ".join(self.details)
        return payload
