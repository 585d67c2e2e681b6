"""``GET /alerts``: the alert history (the persistent outbox), newest first, filtered by time and camera."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from streamer.api.auth import Context, Viewer
from streamer.api.schemas import AlertsResponse

router = APIRouter(tags=["alerts"])


@router.get("/alerts", response_model=AlertsResponse)
def list_alerts(
    context: Context,
    _: Viewer,
    since: Annotated[datetime | None, Query(description="Only alerts whose frame is this recent (ISO 8601).")] = None,
    camera: Annotated[str | None, Query(description="Only this camera's alerts.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertsResponse:
    """Alert events (open, update, close) as published on MQTT, delivered or still waiting for the broker."""
    if context.outbox is None:
        return AlertsResponse(alerts=[])
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a time without a zone is read as UTC, like every Vigil timestamp
    items = context.outbox.history(since=since, camera=camera, limit=limit)
    return AlertsResponse(alerts=[item.payload for item in items])
