"""``GET /alerts/{id}/snapshot`` and ``/crop``: the newest picture of an alert, served to viewers as JPEG; unknown
alerts and missing pictures are 404 in the error format; nothing outside ``storage.snapshots`` is ever served."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer.alerts.event import AlertPhase
from streamer.alerts.snapshots import SnapshotWriter
from tests.streamer.alerts.test_snapshots import FRAME, alert
from tests.streamer.api.conftest import Api

FACE = (170, 50, 110, 130)


@pytest.fixture
def pictured(api: Api, tmp_path: Path) -> Api:
    """The API's outbox holds one alert opened on the whole frame, then updated on a face region, then closed."""
    writer = SnapshotWriter(tmp_path / "snapshots", keep_days=0)
    api.context.snapshots_dir = tmp_path / "snapshots"
    outbox = api.context.outbox
    assert outbox is not None
    for phase, bbox in ((AlertPhase.OPEN, (0, 0, 480, 360)), (AlertPhase.UPDATE, FACE), (AlertPhase.CLOSE, FACE)):
        event = writer.attach(replace(alert(bbox), event=phase), None if phase is AlertPhase.CLOSE else FRAME)
        outbox.put(event, "vigil/alerts/lobby/face")
    return api


def _jpeg_size(body: bytes) -> tuple[int, int]:
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image.shape[1], image.shape[0]


@pytest.mark.parametrize(("picture", "size"), [("snapshot", (480, 360)), ("crop", (110, 130))])
def test_a_viewer_gets_the_newest_picture_of_an_alert(pictured: Api, picture: str, size: tuple[int, int]) -> None:
    alerts = pictured.client.get("/api/v1/alerts", headers=pictured.headers("viewer")).json()["alerts"]
    newest = alerts[0]  # the close: it carries the update's pictures
    assert newest["event"] == "close" and newest["alert_id"] == alert(FACE).alert_id
    response = pictured.client.get(newest[f"{picture}_url"], headers=pictured.headers("viewer"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert _jpeg_size(response.content) == size  # the update's picture (a face crop exists only for it)


@pytest.mark.parametrize(
    ("path", "role", "status", "code"),
    [
        ("/api/v1/alerts/00000000-0000-4000-8000-00000000dead/snapshot", "viewer", 404, "alert_not_found"),
        ("/api/v1/alerts/00000000-0000-4000-8000-00000000dead/crop", "viewer", 404, "alert_not_found"),
        ("/api/v1/alerts/00000000-0000-4000-8000-000000000001/thumbnail", "viewer", 400, "invalid_request"),
        ("/api/v1/alerts/00000000-0000-4000-8000-000000000001/snapshot", None, 401, "unauthorized"),
    ],
)
def test_unknown_alerts_and_pictures_are_refused_in_the_error_format(pictured: Api, path, role, status, code) -> None:
    response = pictured.client.get(path, headers=pictured.headers(role))
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_a_whole_frame_alert_has_no_crop(api: Api, tmp_path: Path) -> None:
    api.context.snapshots_dir = tmp_path / "snapshots"
    event = SnapshotWriter(tmp_path / "snapshots", keep_days=0).attach(alert((0, 0, 480, 360)), FRAME)
    api.context.outbox.put(event, "t")  # type: ignore[union-attr]
    response = api.client.get(f"/api/v1/alerts/{event.alert_id}/crop", headers=api.headers("viewer"))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "snapshot_not_found")


def test_a_snapshot_path_outside_the_snapshots_folder_is_never_served(api: Api, tmp_path: Path) -> None:
    (tmp_path / "secret.jpg").write_bytes(b"\xff\xd8not for you")
    api.context.snapshots_dir = tmp_path / "snapshots"
    event = replace(alert(FACE), snapshot="snapshots/../secret.jpg")
    api.context.outbox.put(event, "t")  # type: ignore[union-attr]
    response = api.client.get(f"/api/v1/alerts/{event.alert_id}/snapshot", headers=api.headers("viewer"))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "snapshot_not_found")
