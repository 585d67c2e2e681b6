"""The routes with the real model and a real store: an entry's life (create, show, add images and negatives, match,
remove), duplicates reported not stored, the alert history, camera states, and one pass over a real socket."""

from __future__ import annotations

import httpx
import pytest

from streamer.api.server import ApiServer
from tests.streamer.api.conftest import Api


def _create(api: Api, label: str, *photos: tuple[str, bytes], **fields: object) -> httpx.Response:
    return api.client.post(
        "/api/v1/watchlist",
        headers=api.headers("admin"),
        data={"kind": "anomaly", "label": label, **fields},
        files=[("images", photo) for photo in photos],
    )


def _match(api: Api, photo: tuple[str, bytes], **fields: str) -> list[str]:
    response = api.client.post("/api/v1/match", headers=api.headers("viewer"), data=fields, files={"image": photo})
    assert response.status_code == 200, response.text
    return [m["label"] for m in response.json()["matches"]]


def test_an_entry_is_created_shown_extended_and_removed(api: Api, photo_bytes: dict[str, bytes]) -> None:
    created = _create(
        api, "astronaut", ("a.jpg", photo_bytes["astronaut.jpg"]), threshold="0.8", cameras=["lobby", "gate"], notes="n"
    )
    entry = created.json()["entry"]
    added = api.client.post(
        f"/api/v1/watchlist/{entry['id']}/images",
        headers=api.headers("admin"),
        files=[
            ("images", ("rocket.bmp", photo_bytes["rocket.bmp"])),
            ("images", ("again.jpg", photo_bytes["astronaut.jpg"])),
        ],
    ).json()
    shown = api.client.get(f"/api/v1/watchlist/{entry['id']}", headers=api.headers("viewer")).json()
    listed = api.client.get("/api/v1/watchlist?kind=anomaly", headers=api.headers("viewer")).json()
    removed = api.client.delete(f"/api/v1/watchlist/{entry['id']}", headers=api.headers("admin"))

    assert created.status_code == 201
    assert (entry["label"], entry["threshold"], entry["cameras"], entry["notes"]) == (
        "astronaut",
        0.8,
        ["lobby", "gate"],
        "n",
    )
    assert [i["source"] for i in added["added"]] == ["upload:rocket.bmp"]
    assert [(d["source"], d["entry_id"]) for d in added["duplicates"]] == [("upload:again.jpg", entry["id"])]
    assert [i["media_type"] for i in shown["images"]] == ["image/jpeg", "image/bmp"]
    assert [(a["action"], a["actor"]) for a in shown["audit"]] == [
        ("images.added", "api:admin-1"),
        ("entry.created", "api:admin-1"),
    ]
    assert [e["id"] for e in listed] == [entry["id"]] and listed[0]["image_count"] == 2
    assert removed.status_code == 200 and api.store.list_entries() == []
    assert api.client.get(f"/api/v1/watchlist/{entry['id']}", headers=api.headers("viewer")).status_code == 404
    assert api.store.audit(entry["id"])[0].action == "entry.removed"


def test_creating_an_entry_from_images_all_stored_already_is_refused_and_names_their_entry(
    api: Api, photo_bytes: dict[str, bytes]
) -> None:
    first = _create(api, "coffee", ("c.jpg", photo_bytes["coffee.jpg"])).json()
    revision = api.store.revision()

    again = _create(api, "coffee again", ("same.jpg", photo_bytes["coffee.jpg"]))

    assert (again.status_code, again.json()["error"]["code"]) == (422, "no_new_images")
    assert first["entry"]["id"] in again.json()["error"]["message"]
    assert api.store.revision() == revision and len(api.store.list_entries()) == 1


def test_a_negative_added_over_the_api_stops_the_look_alike_matching(api: Api, photo_bytes: dict[str, bytes]) -> None:
    entry = _create(api, "astronaut", ("a.jpg", photo_bytes["astronaut.jpg"]), threshold="0.5").json()["entry"]
    before = _match(api, ("cup.jpg", photo_bytes["coffee.jpg"]))

    negative = api.client.post(
        f"/api/v1/watchlist/{entry['id']}/negatives",
        headers=api.headers("admin"),
        files={"images": ("cup.jpg", photo_bytes["coffee.jpg"])},
    )
    after = _match(api, ("cup.jpg", photo_bytes["coffee.jpg"]))

    assert before == ["astronaut"] and after == []
    assert negative.status_code == 200 and negative.json()["added"][0]["negative"] is True
    assert _match(api, ("a.jpg", photo_bytes["astronaut.jpg"])) == ["astronaut"]
    assert api.store.audit(entry["id"])[0].action == "negatives.added"


def test_an_entrys_own_reference_is_refused_as_its_negative(api: Api, photo_bytes: dict[str, bytes]) -> None:
    entry = _create(api, "coffee", ("c.jpg", photo_bytes["coffee.jpg"])).json()["entry"]

    response = api.client.post(
        f"/api/v1/watchlist/{entry['id']}/negatives",
        headers=api.headers("admin"),
        files={"images": ("c.jpg", photo_bytes["coffee.jpg"])},
    )

    assert (response.status_code, response.json()["error"]["code"]) == (422, "negative_is_reference")
    assert api.store.entry_negatives(entry["id"]) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, ["coffee", "lobby cat"]),
        ({"camera": "gate"}, ["coffee"]),  # the cat entry is scoped to the lobby
        ({"top_k": "1"}, ["coffee"]),
    ],
)
def test_match_applies_thresholds_camera_scope_and_top_k(
    api: Api, photo_bytes: dict[str, bytes], fields: dict[str, str], expected: list[str]
) -> None:
    _create(api, "coffee", ("c.jpg", photo_bytes["coffee.jpg"]))
    _create(api, "lobby cat", ("cat.png", photo_bytes["chelsea.png"]), threshold="0.3", cameras=["lobby"])

    assert _match(api, ("query.jpg", photo_bytes["coffee.jpg"]), **fields) == expected


@pytest.mark.parametrize("fields", [{"top_k": "0"}, {"top_k": "2.5"}, {"kind": "car"}])
def test_match_refuses_bad_fields_naming_them(api: Api, photo_bytes: dict[str, bytes], fields: dict[str, str]) -> None:
    photo = ("c.jpg", photo_bytes["coffee.jpg"])

    response = api.client.post("/api/v1/match", headers=api.headers("viewer"), data=fields, files={"image": photo})

    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (400, "invalid_request")
    assert error["message"].startswith(next(iter(fields)))


@pytest.mark.parametrize(
    ("query", "labels"),
    [
        ("", ["third", "second", "first"]),
        ("?camera=lobby", ["third", "first"]),
        ("?since=2026-11-23T10:05:00Z", ["third", "second"]),
        ("?since=2026-11-23T10:05:00", ["third", "second"]),  # no zone: UTC
        ("?since=2026-11-23T10:05:00Z&camera=gate&limit=1", ["second"]),
    ],
)
def test_alerts_come_newest_first_filtered_by_time_and_camera(api: Api, query: str, labels: list[str]) -> None:
    response = api.client.get(f"/api/v1/alerts{query}", headers=api.headers("viewer"))

    assert [a["entry"]["label"] for a in response.json()["alerts"]] == labels
    assert all(a["schema_version"] == 2 and a["node_id"] == "node-t" for a in response.json()["alerts"])


def test_a_malformed_since_is_400_naming_the_field(api: Api) -> None:
    response = api.client.get("/api/v1/alerts?since=yesterday", headers=api.headers("viewer"))

    assert response.status_code == 400 and "since" in response.json()["error"]["message"]


def test_cameras_report_their_state(api: Api) -> None:
    cameras = api.client.get("/api/v1/cameras", headers=api.headers("viewer")).json()["cameras"]

    assert [(c["camera"], c["state"], c["reason"]) for c in cameras] == [
        ("gate", "reconnecting", "connection refused"),
        ("lobby", "up", None),
    ]
    assert cameras[1]["last_frame_at"] == "2026-11-23T10:00:05Z"


def test_the_api_answers_over_a_real_socket(api: Api, live_api: ApiServer, photo_bytes: dict[str, bytes]) -> None:
    with httpx.Client(base_url=live_api.url, timeout=30) as client:
        health = client.get("/api/v1/healthz")
        created = client.post(
            "/api/v1/watchlist",
            headers=api.headers("admin"),
            data={"kind": "anomaly", "label": "coffee"},
            files={"images": ("c.jpg", photo_bytes["coffee.jpg"], "image/jpeg")},
        )
        denied = client.get("/api/v1/watchlist")
        docs = client.get("/api/v1/openapi.json")

    assert health.json()["status"] == "ok" and created.status_code == 201
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "unauthorized"
    assert "/api/v1/watchlist/{entry_id}/negatives" in docs.json()["paths"]
    assert [e.label for e in api.store.list_entries()] == ["coffee"]
