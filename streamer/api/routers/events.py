"""``GET /events``: the live console's stream of alert events, acknowledgements and camera states (server-sent
events; see ``streamer.api.live_events`` for ids, resuming and limits).

Browsers' ``EventSource`` cannot send a bearer token, so the page reads this stream with ``fetch()``: the token stays
in a header and never lands in a URL or a log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from streamer.api.auth import Viewer
from streamer.api.live_events import LiveEvents

router = APIRouter(tags=["events"])

_STREAM = {200: {"content": {"text/event-stream": {}}, "description": "Server-sent events, until the server stops."}}


@router.get("/events", response_class=StreamingResponse, responses=_STREAM)
async def events(
    request: Request,
    _: Viewer,
    last_event_id: Annotated[
        str | None, Header(description="The last `id:` received: what was missed since is replayed first.")
    ] = None,
) -> StreamingResponse:
    """Events ``alert`` (the alert JSON as published), ``ack`` (``{"alert_id", "by", "at"}``) and ``camera`` (as in
    ``GET /cameras``; every camera once on connect, then each change), with a heartbeat comment every 15 s."""
    hub: LiveEvents = request.app.state.live_events
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(hub.stream(last_event_id), media_type="text/event-stream", headers=headers)
