"""``PATCH /watchlist/{id}`` against a real store: each field changes alone or together in one audited write, a
field left out stays, ``threshold: null`` returns to the kind's default, a no-op writes nothing, and every refusal
(role, unknown field, bad type, a value the store refuses, body form and size) names its problem and changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.streamer.api.conftest import Api

BEFORE = {"label": "cup", "notes": "", "threshold": 0.9, "cameras": ["lobby"], "enabled": True}
"""The entry every test starts from (the anomaly kind's default threshold is 0.75)."""


def _create(api: Api, photo_bytes: dict[str, bytes]) -> str:
    response = api.client.post(
        "/api/v1/watchlist",
        headers=api.headers("admin"),
        data={"kind": "anomaly", "label": "cup", "threshold": "0.9", "cameras": ["lobby"]},
        files=[("images", ("c.jpg", photo_bytes["coffee.jpg"]))],
    )
    assert response.status_code == 201, response.text
    return str(response.json()["entry"]["id"])


def _stored(api: Api, entry_id: str) -> dict[str, Any]:
    entry = api.store.get_entry(entry_id)
    return {name: getattr(entry, name) for name in BEFORE} | {"cameras": list(entry.cameras)}


@pytest.mark.parametrize(
    ("body", "after"),
    [
        ({"label": "mug"}, {"label": "mug"}),
        ({"notes": "kitchen, 2nd floor"}, {"notes": "kitchen, 2nd floor"}),
        ({"threshold": 0.8}, {"threshold": 0.8}),
        ({"threshold": 1}, {"threshold": 1.0}),
        ({"threshold": None}, {"threshold": None}),
        ({"cameras": ["gate", "bay"]}, {"cameras": ["gate", "bay"]}),
        ({"cameras": []}, {"cameras": []}),
        ({"enabled": False}, {"enabled": False}),
        (
            {"label": "mug", "notes": "n", "threshold": None, "cameras": [], "enabled": False},
            {"label": "mug", "notes": "n", "threshold": None, "cameras": [], "enabled": False},
        ),
        ({"label": "mug", "threshold": 0.9, "enabled": True}, {"label": "mug"}),  # only what differs is recorded
    ],
)
def test_an_admin_changes_the_fields_sent_in_one_audited_write_and_keeps_the_rest(
    api: Api, photo_bytes: dict[str, bytes], body: dict[str, Any], after: dict[str, Any]
) -> None:
    entry_id = _create(api, photo_bytes)
    revision = api.store.revision()

    response = api.client.patch(f"/api/v1/watchlist/{entry_id}", headers=api.headers("admin"), json=body)

    expected = BEFORE | after
    assert response.status_code == 200, response.text
    assert {name: response.json()[name] for name in BEFORE} == expected == _stored(api, entry_id)
    effective = 0.75 if expected["threshold"] is None else expected["threshold"]
    assert response.json()["effective_threshold"] == effective
    last, created = api.store.audit(entry_id)
    assert (last.action, last.actor, created.action) == ("entry.updated", "api:admin-1", "entry.created")
    assert last.detail == {"changes": {name: [BEFORE[name], value] for name, value in after.items()}}
    assert api.store.revision() > revision


def test_an_update_that_changes_nothing_writes_nothing(api: Api, photo_bytes: dict[str, bytes]) -> None:
    entry_id = _create(api, photo_bytes)
    before, revision = api.store.get_entry(entry_id), api.store.revision()

    response = api.client.patch(f"/api/v1/watchlist/{entry_id}", headers=api.headers("admin"), json=BEFORE)

    assert (response.status_code, response.json()["label"]) == (200, "cup")
    assert api.store.get_entry(entry_id) == before and api.store.revision() == revision
    assert [a.action for a in api.store.audit(entry_id)] == ["entry.created"]


def test_a_disabled_entry_stops_matching_and_matches_again_once_enabled(
    api: Api, photo_bytes: dict[str, bytes]
) -> None:
    entry_id = _create(api, photo_bytes)
    url, admin = f"/api/v1/watchlist/{entry_id}", api.headers("admin")

    def matches() -> list[str]:
        photo = {"image": ("q.jpg", photo_bytes["coffee.jpg"])}
        found = api.client.post("/api/v1/match", headers=admin, data={"camera": "lobby"}, files=photo).json()
        return [m["entry_id"] for m in found["matches"]]

    matched_on = matches()
    api.client.patch(url, headers=admin, json={"enabled": False})
    matched_off = matches()
    api.client.patch(url, headers=admin, json={"enabled": True})

    assert (matched_on, matched_off, matches()) == ([entry_id], [], [entry_id])
    assert [a.detail["changes"] for a in api.store.audit(entry_id)[:2]] == [
        {"enabled": [False, True]},
        {"enabled": [True, False]},
    ]


@pytest.mark.parametrize(
    ("role", "body", "content_type", "status", "code", "message"),
    [
        ("viewer", b'{"label": "mug"}', "application/json", 403, "forbidden", "needs admin"),
        (None, b'{"label": "mug"}', "application/json", 401, "unauthorized", "Bearer"),
        ("admin", b'{"label": "mug", "kind": "face"}', "application/json", 400, "invalid_request", "kind: cannot"),
        ("admin", b'{"enabled": "no"}', "application/json", 400, "invalid_request", "enabled: Input should be"),
        ("admin", b'{"threshold": "0.8"}', "application/json", 400, "invalid_request", "threshold: Input should"),
        ("admin", b'{"cameras": "gate"}', "application/json", 400, "invalid_request", "cameras: Input should be"),
        ("admin", b'{"label": null}', "application/json", 400, "invalid_request", "label: null is not a value"),
        ("admin", b"{}", "application/json", 400, "invalid_request", "nothing to change: give at least one of"),
        ("admin", b'{"enabled": fal', "application/json", 400, "invalid_request", "Invalid JSON"),
        ("admin", b'{"threshold": 1.5}', "application/json", 400, "invalid_entry", "in [-1, 1], got 1.5"),
        ("admin", b'{"label": "mug", "threshold": -2}', "application/json", 400, "invalid_entry", "got -2.0"),
        ("admin", b'{"label": "  "}', "application/json", 400, "invalid_entry", "label must not be empty"),
        ("admin", b'{"cameras": ["front door"]}', "application/json", 400, "invalid_entry", "camera 'front door'"),
        ("admin", b"threshold=0.8", "text/plain", 415, "unsupported_media_type", "send application/json"),
        ("admin", b'{"notes": "' + b"x" * 5000 + b'"}', "application/json", 413, "request_too_large", "4096"),
    ],
)
def test_a_refused_update_names_its_problem_and_changes_nothing(
    api: Api,
    photo_bytes: dict[str, bytes],
    role: str | None,
    body: bytes,
    content_type: str,
    status: int,
    code: str,
    message: str,
) -> None:
    entry_id = _create(api, photo_bytes)
    before, revision = api.store.get_entry(entry_id), api.store.revision()

    response = api.client.patch(
        f"/api/v1/watchlist/{entry_id}", headers={**api.headers(role), "Content-Type": content_type}, content=body
    )

    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (status, code)
    assert message in error["message"]
    assert api.store.get_entry(entry_id) == before and api.store.revision() == revision
    assert len(api.store.audit(entry_id)) == 1


def test_updating_an_unknown_entry_is_a_404_and_writes_nothing(api: Api) -> None:
    response = api.client.patch(f"/api/v1/watchlist/{'0' * 32}", headers=api.headers("admin"), json={"label": "x"})

    assert (response.status_code, response.json()["error"]["code"]) == (404, "entry_not_found")
    assert api.nothing_written()


def test_the_update_is_documented_with_every_field_it_takes(api: Api) -> None:
    patch = api.client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/watchlist/{entry_id}"]["patch"]

    schema = patch["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"label", "notes", "threshold", "cameras", "enabled"}
    assert schema["additionalProperties"] is False and "label" in patch["summary"]
    assert "kind's default" in schema["properties"]["threshold"]["description"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"cameras": ["lobbby"]}, 400, "unknown camera 'lobbby'; configured: gate, lobby"),
        ({"cameras": ["gate", "bay"]}, 400, "unknown camera 'bay'"),
        ({"cameras": ["gate"]}, 200, None),
        ({"cameras": []}, 200, None),
        ({"label": "mug"}, 200, None),
    ],
)
def test_an_entry_is_scoped_only_to_cameras_the_config_has(
    api: Api, photo_bytes: dict[str, bytes], body: dict[str, Any], status: int, message: str | None
) -> None:
    entry_id = _create(api, photo_bytes)
    api.context.cameras = frozenset({"lobby", "gate"})  # as start_api sets it from the service's config
    revision = api.store.revision()

    response = api.client.patch(f"/api/v1/watchlist/{entry_id}", headers=api.headers("admin"), json=body)

    assert response.status_code == status, response.text
    if message is not None:
        assert response.json()["error"]["code"] == "invalid_entry" and message in response.json()["error"]["message"]
        assert api.store.revision() == revision and _stored(api, entry_id) == BEFORE


def test_an_entry_created_with_an_unknown_camera_is_refused_and_nothing_is_stored(
    api: Api, photo_bytes: dict[str, bytes]
) -> None:
    api.context.cameras = frozenset({"lobby"})

    response = api.client.post(
        "/api/v1/watchlist",
        headers=api.headers("admin"),
        data={"kind": "anomaly", "label": "cup", "cameras": ["lobbby"]},
        files=[("images", ("c.jpg", photo_bytes["coffee.jpg"]))],
    )

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_entry")
    assert "'lobbby'" in response.json()["error"]["message"] and api.nothing_written()
