"""Camera health as operators see it on ``<prefix>/cameras/<camera>/status`` (retained)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from streamer.redaction import redact_text


class CameraState(StrEnum):
    UP = "up"
    DOWN = "down"
    RECONNECTING = "reconnecting"


@dataclass(frozen=True)
class CameraStatus:
    """A camera's state and since when; ``reason`` says why it is not up (redacted: no credentials)."""

    camera: str
    state: CameraState
    since: datetime
    last_frame_at: datetime | None = None
    reason: str | None = None
    next_retry_s: float | None = None

    def __post_init__(self) -> None:
        if self.reason:  # the last line of defence: a reason is published and served, so no URL keeps its userinfo
            object.__setattr__(self, "reason", redact_text(self.reason))

    def to_payload(self) -> dict[str, object]:
        """The JSON body of the retained status message (DESIGN.md, "MQTT")."""
        payload: dict[str, object] = {
            "state": self.state.value,
            "since": _iso(self.since),
            "last_frame_at": _iso(self.last_frame_at) if self.last_frame_at else None,
        }
        if self.reason:
            payload["reason"] = self.reason
        if self.next_retry_s is not None:
            payload["next_retry_s"] = round(self.next_retry_s, 3)
        return payload


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
