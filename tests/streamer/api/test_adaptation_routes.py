"""``GET/POST /api/v1/adapt``: admins start a training on the node's background trainer and everyone with a token sees
what serves; a node with adaptation off says so (409), viewers may not train (403)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from streamer.adaptation_worker import AdaptationWorker
from streamer.api.app import create_api
from streamer.config import AdaptationConfig, PostureConfig
from streamer.demo.scenes import photo
from streamer.metrics import VigilMetrics
from tests.fixtures.rtsp import wait_until
from tests.streamer.api.conftest import Api
from tests.watchlists.samples import encode
from watchlists.adaptation_slot import AdaptationSlot


@pytest.fixture
def adapting(api: Api, scene_embedder) -> Iterator[tuple[TestClient, AdaptationWorker]]:
    """The API app of a node whose trainer runs (few views per photo, so a training takes seconds)."""
    slot = AdaptationSlot(api.store, "anomaly", scene_embedder.version)
    settings = AdaptationConfig(views_per_reference=6, retrain_after_s=3600)  # trains only when asked
    worker = AdaptationWorker(api.store, scene_embedder, slot, settings, VigilMetrics())
    worker.start()
    with TestClient(create_api(dataclasses.replace(api.context, adaptation=worker))) as client:
        yield client, worker
    worker.stop()


def test_a_node_without_adaptation_answers_409_by_name(api: Api):
    for method in ("get", "post"):
        response = getattr(api.client, method)("/api/v1/adapt", headers=api.headers("admin"))
        assert response.status_code == 409 and response.json()["error"]["code"] == "adaptation_disabled"


def test_viewers_see_the_state_but_may_not_train(api: Api, adapting):
    client, _ = adapting
    assert client.get("/api/v1/adapt", headers=api.headers("viewer")).json()["adaptation"] is None
    refused = client.post("/api/v1/adapt", headers=api.headers("viewer"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert client.post("/api/v1/adapt").status_code == 401


def test_an_admin_trains_now_and_the_new_heads_are_shown(api: Api, adapting):
    client, worker = adapting
    rocket = photo("rocket")
    files = [("images", (f"r{i}.png", encode(crop, "PNG"), "image/png")) for i, crop in
             enumerate([rocket[0:330, 100:420], rocket[40:400, 150:450]])]  # fmt: skip
    created = client.post(
        "/api/v1/watchlist", headers=api.headers("admin"), data={"kind": "anomaly", "label": "Rocket"}, files=files
    )
    assert created.status_code == 201, created.text
    started = client.post("/api/v1/adapt", headers=api.headers("admin"))
    assert started.status_code == 202 and started.json()["state"] in ("idle", "training")
    assert wait_until(lambda: worker.last_outcome is not None and worker.last_outcome.outcome != "nothing", timeout=120)
    state = client.get("/api/v1/adapt", headers=api.headers("viewer")).json()
    assert state["state"] == "idle" and state["last_outcome"] == "trained" and state["last_error"] is None
    (head,) = state["adaptation"]["entries"]
    assert head["id"] == created.json()["entry"]["id"] and head["label"] == "Rocket" and head["threshold"] >= 0.8
    (audit, *_) = api.store.audit()
    assert audit.action == "adaptation.trained" and audit.actor == "api:admin-1"
    detail = client.get(f"/api/v1/watchlist/{head['id']}", headers=api.headers("viewer")).json()
    assert detail["adaptation"]["version"] == state["adaptation"]["version"]  # the entry says how it is matched
    assert detail["adaptation"]["threshold"] == head["threshold"]
    assert detail["adaptation"]["advice"] == head["advice"] and head["advice"].startswith("only 2 photos")


def test_an_entry_matched_by_posture_is_shown_so(api: Api):
    client = TestClient(create_api(dataclasses.replace(api.context, posture=PostureConfig())))
    details = {}
    for label, name in (("Fall", "camera"), ("Rocket", "rocket")):
        files = [("images", ("f.png", encode(photo(name), "PNG"), "image/png"))]
        created = client.post(
            "/api/v1/watchlist", headers=api.headers("admin"), data={"kind": "anomaly", "label": label}, files=files
        )
        assert created.status_code == 201, created.text
        entry_id = created.json()["entry"]["id"]
        details[label] = client.get(f"/api/v1/watchlist/{entry_id}", headers=api.headers("viewer")).json()
    assert details["Fall"]["posture"] == {"threshold": 0.7, "lying_within_deg": 30.0, "after_standing_threshold": 0.55}
    assert details["Fall"]["adaptation"] is None
    assert details["Rocket"]["posture"] is None


def test_the_routes_are_documented(api: Api):
    paths = api.client.get("/api/v1/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/adapt"])
