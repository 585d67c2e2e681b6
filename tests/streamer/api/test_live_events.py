"""``GET /events`` over real HTTP (uvicorn on a free port): camera states on connect, alerts live as the outbox gets
them, a resume with ``Last-Event-ID`` replaying what was missed (alerts and acknowledgements), a server that stops
with streams open; ``POST /alerts/{id}/ack`` recorded once, shown in ``GET /alerts``;
``GET /cameras/{name}/latest.jpg``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import cv2
import httpx
import numpy as np
import pytest

from streamer.alerts.acks import AlertAcks
from streamer.alerts.outbox import AlertOutbox
from streamer.api.live_events import LiveEvents
from streamer.api.server import ApiServer
from streamer.latest_keyframes import LatestKeyframes
from streamer.sources.frame import Keyframe
from streamer.sources.status import CameraState, CameraStatus
from tests.streamer.api.conftest import T0, Api, _alert

LOBBY = [CameraStatus("lobby", CameraState.UP, T0)]


@dataclass(frozen=True)
class Event:
    id: str | None
    event: str
    data: dict


def read_events(lines: Iterator[str], count: int) -> list[Event]:
    """The next ``count`` events of a stream (comments and ``retry:`` skipped)."""
    events: list[Event] = []
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                events.append(Event(fields.get("id"), fields.get("event", "message"), json.loads(fields["data"])))
                if len(events) == count:
                    return events
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
    raise AssertionError(f"the stream ended after {len(events)} of {count} events: {events}")


def stream(api: Api, server: ApiServer, last_event_id: str | None = None) -> httpx.Response:
    headers = api.headers("viewer") | ({"Last-Event-ID": last_event_id} if last_event_id else {})
    request = httpx.Request("GET", f"{server.url}/api/v1/events", headers=headers)
    return httpx.Client(timeout=httpx.Timeout(5.0)).send(request, stream=True)


def test_a_client_gets_camera_states_then_new_alerts_live(api: Api, live_api: ApiServer) -> None:
    response = stream(api, live_api)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    lines = response.iter_lines()
    cameras = read_events(lines, 2)
    assert {(e.event, e.data["camera"], e.data["state"]) for e in cameras} == {
        ("camera", "lobby", "up"),
        ("camera", "gate", "reconnecting"),
    }
    assert {e.id for e in cameras} == {"3.0"}  # the outbox holds 3 alerts, no acknowledgement
    assert api.context.outbox is not None
    fresh = _alert("gate", 30, "fourth")
    started = time.monotonic()
    api.context.outbox.put(fresh, "vigil/alerts/gate/anomaly")
    (live,) = read_events(lines, 1)
    assert time.monotonic() - started < 2.0
    assert (live.id, live.event, live.data["alert_id"], live.data["entry"]["label"]) == (
        "4.0",
        "alert",
        fresh.alert_id,
        "fourth",
    )
    response.close()


def test_a_client_resuming_with_last_event_id_is_replayed_what_it_missed(api: Api, live_api: ApiServer) -> None:
    outbox = api.context.outbox
    assert outbox is not None
    first = stream(api, live_api)
    read_events(first.iter_lines(), 2)
    first.close()  # the client drops; meanwhile two alerts come and one is acknowledged
    missed = [_alert("lobby", 40, "fifth"), _alert("gate", 50, "sixth")]
    for alert in missed:
        outbox.put(alert, f"vigil/alerts/{alert.camera}/anomaly")
    acked = api.client.post(f"/api/v1/alerts/{missed[0].alert_id}/ack", headers=api.headers("viewer"))
    assert acked.status_code == 200, acked.text
    resumed = stream(api, live_api, last_event_id="3.0")
    events = read_events(resumed.iter_lines(), 5)
    resumed.close()
    replayed = [(e.id, e.event, e.data["alert_id"]) for e in events[:3]]
    assert replayed == [
        ("4.0", "alert", missed[0].alert_id),
        ("5.0", "alert", missed[1].alert_id),
        ("5.1", "ack", missed[0].alert_id),
    ]
    assert events[2].data["by"] == "api:viewer-1"
    assert [e.event for e in events[3:]] == ["camera", "camera"]


@pytest.mark.parametrize("last_event_id", ["not-an-id", "1.2.3", "-1", ""])
def test_an_unreadable_last_event_id_starts_live_without_replay(api: Api, live_api: ApiServer, last_event_id) -> None:
    response = stream(api, live_api, last_event_id=last_event_id)
    events = read_events(response.iter_lines(), 2)
    response.close()
    assert [e.event for e in events] == ["camera", "camera"]


def test_the_event_stream_needs_a_token(api: Api, live_api: ApiServer) -> None:
    response = httpx.get(f"{live_api.url}/api/v1/events", timeout=5.0)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_the_server_stops_in_time_with_streams_open(api: Api, live_api: ApiServer) -> None:
    responses = [stream(api, live_api) for _ in range(3)]
    streams = [response.iter_lines() for response in responses]
    for lines in streams:
        read_events(lines, 2)
    started = time.monotonic()
    live_api.stop(timeout=5.0)
    assert time.monotonic() - started < 2.0
    for lines, response in zip(streams, responses, strict=True):
        assert list(lines) == []  # each stream ended cleanly: nothing more, no error
        response.close()


def test_an_acknowledgement_is_recorded_once_and_shown_on_every_row_of_the_alert(api: Api) -> None:
    rows = api.client.get("/api/v1/alerts", headers=api.headers("viewer")).json()["alerts"]
    assert all(row["ack"] is None for row in rows)
    target = rows[1]["alert_id"]
    first = api.client.post(f"/api/v1/alerts/{target}/ack", headers=api.headers("viewer")).json()
    again = api.client.post(f"/api/v1/alerts/{target}/ack", headers=api.headers("admin")).json()
    assert first == again and first["by"] == "api:viewer-1" and first["alert_id"] == target
    assert abs(datetime.fromisoformat(first["at"]) - datetime.now(UTC)).total_seconds() < 10
    rows = api.client.get("/api/v1/alerts", headers=api.headers("viewer")).json()["alerts"]
    assert [row["ack"] for row in rows] == [None, first, None]


@pytest.mark.parametrize(
    ("alert_id", "role", "status", "code"),
    [
        ("00000000-0000-4000-8000-00000000dead", "viewer", 404, "alert_not_found"),
        (None, None, 401, "unauthorized"),
        (None, "bad", 401, "unauthorized"),
    ],
)
def test_acknowledging_is_refused_for_unknown_alerts_and_without_a_token(api: Api, alert_id, role, status, code):
    known = api.client.get("/api/v1/alerts", headers=api.headers("viewer")).json()["alerts"][0]["alert_id"]
    response = api.client.post(f"/api/v1/alerts/{alert_id or known}/ack", headers=api.headers(role))
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    rows = api.client.get("/api/v1/alerts", headers=api.headers("viewer")).json()["alerts"]
    assert all(row["ack"] is None for row in rows)  # nothing recorded


def test_a_cameras_latest_keyframe_is_served_as_a_thumbnail(api: Api, reference_images: dict[str, np.ndarray]):
    latest = LatestKeyframes(max_px=320)
    api.context.latest_jpeg = latest.jpeg
    viewer = api.headers("viewer")
    before = api.client.get("/api/v1/cameras/lobby/latest.jpg", headers=viewer)
    assert (before.status_code, before.json()["error"]["code"]) == (404, "keyframe_not_found")
    image = np.ascontiguousarray(reference_images["astronaut"][:, :, :3])
    latest.keep(Keyframe("lobby", image, datetime.now(UTC), time.monotonic()))
    response = api.client.get("/api/v1/cameras/lobby/latest.jpg", headers=viewer)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    decoded = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and max(decoded.shape[:2]) == 320
    unknown = api.client.get("/api/v1/cameras/attic/latest.jpg", headers=viewer)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "camera_not_found")
    assert api.client.get("/api/v1/cameras/lobby/latest.jpg").status_code == 401


def _chunks(hub: LiveEvents, last_event_id: str | None, then: Callable[[], None], wait_s: float) -> list[str]:
    """Read a hub's stream directly: up to the camera states, then run ``then``, sit idle ``wait_s``, read the rest
    (until the stream ends or is quiet for a second)."""

    async def read() -> list[str]:
        stream = hub.stream(last_event_id)
        chunks = [(await anext(stream)).decode()]  # retry
        while not chunks[-1].startswith("id: 3.0\nevent: camera"):
            chunks.append((await anext(stream)).decode())
        then()
        await asyncio.sleep(wait_s)
        try:
            while True:
                chunks.append((await asyncio.wait_for(anext(stream), 1.0)).decode())
        except (StopAsyncIteration, TimeoutError):
            pass
        await stream.aclose()
        return chunks

    return asyncio.run(read())


def test_a_client_that_falls_behind_is_cut_off_rather_than_buffered(outbox: AlertOutbox) -> None:
    hub = LiveEvents(outbox, AlertAcks(outbox.path), lambda: LOBBY, poll_s=0.05, queue_size=3)

    def flood() -> None:
        for n in range(5):
            outbox.put(_alert("lobby", 60 + n, f"n{n}"), "vigil/alerts/lobby/anomaly")

    chunks = _chunks(hub, "3.0", flood, wait_s=0.5)
    assert [c for c in chunks if "event: alert" in c] == []  # nothing queued for it survives: it resumes instead


def test_a_resume_replays_at_most_the_newest_missed_events(outbox: AlertOutbox) -> None:
    hub = LiveEvents(outbox, AlertAcks(outbox.path), lambda: LOBBY, poll_s=0.05, replay_limit=2)
    chunks = _chunks(hub, "0.0", lambda: None, wait_s=0)
    assert [c.split("\n")[0] for c in chunks if "event: alert" in c] == ["id: 2.0", "id: 3.0"]
