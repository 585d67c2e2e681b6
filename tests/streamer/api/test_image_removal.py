"""``DELETE /watchlist/{id}/images/{image_id}`` and ``/negatives/{negative_id}``: admin only, audited, the index
follows at once, and an entry's last reference image is refused with nothing changed."""

from __future__ import annotations

import pytest

from tests.streamer.api.conftest import Api


def _entry(api: Api, photo_bytes: dict[str, bytes]) -> dict:
    response = api.client.post(
        "/api/v1/watchlist",
        headers=api.headers("admin"),
        data={"kind": "anomaly", "label": "mixed", "threshold": "0.8"},
        files=[("images", ("a.jpg", photo_bytes["astronaut.jpg"])), ("images", ("r.bmp", photo_bytes["rocket.bmp"]))],
    )
    assert response.status_code == 201, response.text
    return response.json()["entry"]


def _matches(api: Api, name: str, photo: bytes) -> list[str]:
    response = api.client.post("/api/v1/match", headers=api.headers("viewer"), files={"image": (name, photo)})
    return [m["label"] for m in response.json()["matches"]]


def test_removing_a_reference_image_stops_it_matching_and_is_audited(api: Api, photo_bytes: dict[str, bytes]) -> None:
    entry = _entry(api, photo_bytes)
    images = api.client.get(f"/api/v1/watchlist/{entry['id']}", headers=api.headers("viewer")).json()["images"]
    rocket = next(i for i in images if i["source"] == "upload:r.bmp")
    assert _matches(api, "rocket.bmp", photo_bytes["rocket.bmp"]) == ["mixed"]

    removed = api.client.delete(f"/api/v1/watchlist/{entry['id']}/images/{rocket['id']}", headers=api.headers("admin"))

    assert removed.status_code == 200 and removed.json()["id"] == rocket["id"]
    assert _matches(api, "rocket.bmp", photo_bytes["rocket.bmp"]) == []
    assert _matches(api, "astronaut.jpg", photo_bytes["astronaut.jpg"]) == ["mixed"]
    detail = api.client.get(f"/api/v1/watchlist/{entry['id']}", headers=api.headers("viewer")).json()
    assert detail["audit"][0]["action"] == "images.removed" and detail["audit"][0]["actor"].endswith("admin-1")


def test_removing_a_negative_example(api: Api, photo_bytes: dict[str, bytes]) -> None:
    entry = _entry(api, photo_bytes)
    url = f"/api/v1/watchlist/{entry['id']}/negatives"
    added = api.client.post(url, headers=api.headers("admin"), files=[("images", ("c.jpg", photo_bytes["coffee.jpg"]))])
    negative_id = added.json()["added"][0]["id"]

    removed = api.client.delete(f"{url}/{negative_id}", headers=api.headers("admin"))

    assert removed.status_code == 200 and removed.json()["negative"]
    assert api.client.get(f"/api/v1/watchlist/{entry['id']}", headers=api.headers("viewer")).json()["negatives"] == []


@pytest.mark.parametrize(
    ("role", "which", "status", "code"),
    [
        ("viewer", "first", 403, "forbidden"),
        ("admin", "missing", 404, "image_not_found"),
        ("admin", "last", 409, "last_image"),
    ],
)
def test_a_removal_that_cannot_happen_is_refused_and_changes_nothing(
    api: Api, photo_bytes: dict[str, bytes], role: str, which: str, status: int, code: str
) -> None:
    entry = _entry(api, photo_bytes)
    images = api.client.get(f"/api/v1/watchlist/{entry['id']}", headers=api.headers("viewer")).json()["images"]
    if which == "last":
        api.client.delete(f"/api/v1/watchlist/{entry['id']}/images/{images[1]['id']}", headers=api.headers("admin"))
    image_id = {"first": images[0]["id"], "last": images[0]["id"], "missing": 999_999}[which]
    revision = api.store.revision()

    response = api.client.delete(f"/api/v1/watchlist/{entry['id']}/images/{image_id}", headers=api.headers(role))

    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert api.store.revision() == revision
