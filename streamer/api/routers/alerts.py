"""``GET /alerts``: the alert history (the persistent outbox), newest first, filtered by time and camera;
``GET /alerts/{alert_id}/snapshot`` / ``/crop``: the pictures of an alert's newest event that has them; and
``POST /alerts/{alert_id}/ack``: an operator says they have seen the alert.

Acknowledging takes a viewer token: it is what an operator at a console does, and it changes no watchlist or alert,
it only adds an audit record (who, when) that every row of the alert then shows (``ack``) and that the event stream
pushes to every console.

The alert JSON names the pictures by these paths (``snapshot_url``, ``crop_url``), so any client holding a viewer
token can show what triggered an alert without access to the node's disk. Pictures are read only from under
``storage.snapshots``: a path in the outbox never reaches outside it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from streamer.alerts.snapshots import crop_path
from streamer.api.auth import Context, Viewer, actor
from streamer.api.context import ApiContext
from streamer.api.errors import ApiError
from streamer.api.schemas import AlertAckResponse, AlertsResponse, ErrorResponse

router = APIRouter(tags=["alerts"])

_NOT_FOUND = {"description": "Unknown alert, or no such picture of it.", "model": ErrorResponse}
_PICTURE = {200: {"content": {"image/jpeg": {}}, "description": "The JPEG."}, 404: _NOT_FOUND}
_HEADERS = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}


@router.get("/alerts", response_model=AlertsResponse)
def list_alerts(
    context: Context,
    _: Viewer,
    since: Annotated[datetime | None, Query(description="Only alerts whose frame is this recent (ISO 8601).")] = None,
    camera: Annotated[str | None, Query(description="Only this camera's alerts.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertsResponse:
    """Alert events (open, update, close) as published on MQTT, delivered or still waiting for the broker
    (``published_at`` is null until the broker has acknowledged the event), each with the alert's acknowledgement
    (``ack``: ``{"alert_id", "by", "at"}``, or null)."""
    if context.outbox is None or context.acks is None:
        return AlertsResponse(alerts=[])
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a time without a zone is read as UTC, like every Vigil timestamp
    items = context.outbox.history(since=since, camera=camera, limit=limit)
    acks = context.acks.of(item.payload["alert_id"] for item in items)
    rows = [
        {**item.payload, "ack": ack.to_json() if (ack := acks.get(item.payload["alert_id"])) else None}
        for item in items
    ]
    return AlertsResponse(alerts=rows)


@router.post("/alerts/{alert_id}/ack", response_model=AlertAckResponse, responses={404: _NOT_FOUND})
def acknowledge_alert(alert_id: str, context: Context, token: Viewer) -> AlertAckResponse:
    """Record that the caller has seen the alert (any role). The first acknowledgement stays on record: acknowledging
    again answers it unchanged."""
    if context.outbox is None or context.acks is None or not context.outbox.knows(alert_id):
        raise ApiError(f"alert {alert_id!r} not found", code="alert_not_found")
    return AlertAckResponse(**context.acks.acknowledge(alert_id, actor(token)).to_json())


@router.get("/alerts/{alert_id}/{picture}", response_class=FileResponse, responses=_PICTURE)
def alert_picture(alert_id: str, picture: Literal["snapshot", "crop"], context: Context, _: Viewer) -> FileResponse:
    """The alert's newest snapshot (the whole frame, the match boxed) or its crop (the matched region alone)."""
    path = _picture_path(context, alert_id, picture)
    return FileResponse(path, media_type="image/jpeg", headers=_HEADERS)


def _picture_path(context: ApiContext, alert_id: str, picture: str) -> Path:
    """The file of ``picture``, or ``alert_not_found`` / ``snapshot_not_found`` (404)."""
    if context.outbox is None:
        raise ApiError(f"alert {alert_id!r} not found", code="alert_not_found")
    try:
        snapshot = context.outbox.latest_snapshot(alert_id)
    except KeyError:
        raise ApiError(f"alert {alert_id!r} not found", code="alert_not_found") from None
    if snapshot is None or context.snapshots_dir is None:
        raise ApiError(f"alert {alert_id!r} has no snapshot", code="snapshot_not_found")
    root = context.snapshots_dir.resolve()
    path = (root.parent / (crop_path(snapshot) if picture == "crop" else snapshot)).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        what = "crop (its match was the whole frame)" if picture == "crop" else "snapshot on disk (expired?)"
        raise ApiError(f"alert {alert_id!r} has no {what}", code="snapshot_not_found")
    return path
