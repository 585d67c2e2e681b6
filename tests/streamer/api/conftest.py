"""API fixtures: a real store, the real scene model, a tokens file with an admin and a viewer, an alert outbox with
a few alerts, and the app served by TestClient or by a real uvicorn on a free port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engines.scene import SceneEmbedder
from streamer.alerts.event import AlertEvent, AlertKind, AlertPhase
from streamer.alerts.outbox import AlertOutbox
from streamer.api.app import create_api
from streamer.api.context import ApiContext, UploadLimits
from streamer.api.server import ApiServer
from streamer.api.tokens import ApiTokens, create_token
from streamer.sources.status import CameraState, CameraStatus
from tests.fixtures.faces import (  # noqa: F401  (fixtures are found by name; the models load only where used)
    face_embedder,
    face_photos,
    face_pipeline,
    mtcnn_detector,
)
from tests.watchlists.samples import encode
from watchlists.embedders import KindEmbedders
from watchlists.store import WatchlistStore

LIMITS = UploadLimits(max_request_bytes=4 * 1024 * 1024, max_files=5, max_image_bytes=2 * 1024 * 1024)
"""Small enough that tests can go over them cheaply, large enough for the reference photos (under 1 MB)."""

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Api:
    """An app under test and what it serves from."""

    client: TestClient
    context: ApiContext
    store: WatchlistStore
    tokens: dict[str, str]  # role -> secret

    def headers(self, role: str | None) -> dict[str, str]:
        """The Authorization header of a role (``None``: no header; ``bad``: a token nobody issued)."""
        if role is None:
            return {}
        secret = "vgl_not-a-real-token" if role == "bad" else self.tokens[role]
        return {"Authorization": f"Bearer {secret}"}

    def nothing_written(self) -> bool:
        """Whether the store is as empty as it started: no entry, no image, no audit row, revision 0."""
        return self.store.list_entries() == [] and self.store.audit() == [] and self.store.revision() == 0


@pytest.fixture(scope="session")
def photo_bytes(reference_images: dict[str, np.ndarray]) -> dict[str, bytes]:
    """The reference photos encoded as uploads: ``astronaut.jpg``, ``coffee.jpg``, ``chelsea.png``, ``rocket.bmp``."""
    return {
        "astronaut.jpg": encode(reference_images["astronaut"], "JPEG"),
        "coffee.jpg": encode(reference_images["coffee"], "JPEG"),
        "chelsea.png": encode(reference_images["chelsea"], "PNG"),
        "rocket.bmp": encode(reference_images["rocket"], "BMP"),
    }


def _alert(camera: str, minutes: int, label: str) -> AlertEvent:
    return AlertEvent(
        alert_id=uuid.uuid4().hex,
        event=AlertPhase.OPEN,
        camera=camera,
        kind=AlertKind.ANOMALY,
        entry_id="e" * 32,
        label=label,
        score=0.9,
        threshold=0.75,
        frame_time=T0 + timedelta(minutes=minutes),
        bbox=(0, 0, 640, 480),
        frame_size=(640, 480),
        node_id="node-t",
        model="mobilenet_v2@000000000000",
    )


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[AlertOutbox]:
    """Three alerts: lobby at T0, gate at T0+10 min, lobby at T0+20 min."""
    opened = AlertOutbox(tmp_path / "outbox.db")
    for camera, minutes, label in (("lobby", 0, "first"), ("gate", 10, "second"), ("lobby", 20, "third")):
        opened.put(_alert(camera, minutes, label), f"vigil/alerts/{camera}/anomaly")
    yield opened
    opened.close()


@pytest.fixture
def api(tmp_path: Path, scene_embedder: SceneEmbedder, outbox: AlertOutbox) -> Iterator[Api]:
    """The API over an empty store, the real scene model (no face pipeline), two cameras."""
    tokens_file = tmp_path / "tokens.yaml"
    secrets = {role: create_token(tokens_file, f"{role}-1", role)[1] for role in ("admin", "viewer")}
    statuses = [
        CameraStatus("lobby", CameraState.UP, T0, last_frame_at=T0 + timedelta(seconds=5)),
        CameraStatus("gate", CameraState.RECONNECTING, T0, reason="connection refused", next_retry_s=2.0),
    ]
    with WatchlistStore(tmp_path / "watchlist.db") as store:
        context = ApiContext(
            store=store,
            embedders=KindEmbedders({"anomaly": lambda: scene_embedder}),
            tokens=ApiTokens(tokens_file),
            default_thresholds={"face": 0.6, "anomaly": 0.75},
            top_k=5,
            outbox=outbox,
            camera_statuses=lambda: statuses,
            limits=LIMITS,
            node_id="node-t",
        )
        with TestClient(create_api(context)) as client:
            yield Api(client, context, store, secrets)


@pytest.fixture
def live_api(api: Api) -> Iterator[ApiServer]:
    """The same app served by uvicorn on a free port of 127.0.0.1 (real HTTP over a real socket)."""
    server = ApiServer(api.client.app, "127.0.0.1", 0)  # type: ignore[arg-type]
    server.start()
    yield server
    server.stop()
