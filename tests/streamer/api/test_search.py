"""``POST /api/v1/search`` and ``GET /api/v1/archive/{id}/thumbnail`` over a real archive of real photos, embedded
by the real scene model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.archive.keyframes import KeyframeArchive
from tests.fixtures.archive import T0, fill_archive
from tests.streamer.api.conftest import Api
from tests.watchlists.samples import encode, png_claiming


@pytest.fixture
def archived(api: Api, tmp_path: Path, scene_embedder, reference_images) -> Iterator[dict[int, tuple[str, str]]]:
    """The API's context with an archive of four keyframes (lobby: coffee, astronaut; gate: cat, astronaut)."""
    archive = KeyframeArchive(tmp_path / "archive")
    api.context.archive = archive
    yield fill_archive(archive, scene_embedder, reference_images)
    archive.close()


def _search(api: Api, image: tuple[str, bytes], role: str | None = "viewer", **fields: str):
    return api.client.post("/api/v1/search", headers=api.headers(role), data=fields, files={"image": image})


def test_a_viewer_finds_the_astronaut_keyframes_first(api: Api, archived, reference_images) -> None:
    crop = encode(reference_images["astronaut"][20:380, 80:440], "JPEG")
    response = _search(api, ("crop.jpg", crop))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == api.context.embedders.for_kind("anomaly").version
    assert [archived[r["id"]][1] for r in body["results"][:2]] == ["astronaut", "astronaut"]
    assert len(body["results"]) == 4
    first = body["results"][0]
    assert first["thumbnail"] == f"/api/v1/archive/{first['id']}/thumbnail"
    thumbnail = api.client.get(first["thumbnail"], headers=api.headers("viewer"))
    assert (thumbnail.status_code, thumbnail.headers["content-type"]) == (200, "image/jpeg")
    assert thumbnail.content[:3] == b"\xff\xd8\xff"


@pytest.mark.parametrize(
    ("fields", "query", "expected"),
    [
        ({"camera": "gate"}, "", {("gate", "chelsea"), ("gate", "astronaut")}),
        ({"since": "2026-11-24T08:15:00Z"}, "", {("gate", "chelsea"), ("gate", "astronaut")}),
        ({}, "?camera=lobby&until=2026-11-24T08:05:00Z", {("lobby", "coffee")}),
        ({"since": "2026-11-24T09:15:00+01:00", "top_k": "1"}, "", {("gate", "astronaut")}),
    ],
    ids=["camera", "since", "query string", "offset and top_k"],
)
def test_search_filters_by_form_or_query_fields(api: Api, archived, photo_bytes, fields, query, expected) -> None:
    response = api.client.post(
        "/api/v1/search" + query,
        headers=api.headers("viewer"),
        data=fields,
        files={"image": ("a.jpg", photo_bytes["astronaut.jpg"])},
    )
    assert response.status_code == 200, response.text
    assert {archived[r["id"]] for r in response.json()["results"]} == expected


@pytest.mark.parametrize(
    ("role", "upload", "fields", "status", "code"),
    [
        (None, "jpeg", {}, 401, "unauthorized"),
        ("bad", "jpeg", {}, 401, "unauthorized"),
        ("viewer", "text", {}, 415, "unsupported_image_type"),
        ("viewer", "truncated", {}, 422, "corrupt_image"),
        ("viewer", "bomb", {}, 422, "too_many_pixels"),
        ("viewer", "jpeg", {"since": "yesterday"}, 400, "bad_time"),
        ("viewer", "jpeg", {"top_k": "0"}, 400, "invalid_request"),
        ("viewer", "jpeg", {"top_k": "many"}, 400, "invalid_request"),
    ],
)
def test_search_refuses_bad_requests_like_match(
    api: Api, archived, photo_bytes, role, upload, fields, status, code
) -> None:
    coffee = photo_bytes["coffee.jpg"]
    data = {"jpeg": coffee, "text": b"just notes", "truncated": coffee[:900], "bomb": png_claiming(60000, 60000)}
    response = _search(api, ("query.jpg", data[upload]), role, **fields)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    if code == "bad_time":
        assert "since" in response.json()["error"]["message"]


def test_a_body_that_is_not_a_multipart_form_is_415(api: Api, archived) -> None:
    response = api.client.post("/api/v1/search", headers=api.headers("viewer"), json={"image": "x"})
    assert (response.status_code, response.json()["error"]["code"]) == (415, "unsupported_media_type")


def test_with_the_archive_off_search_and_thumbnails_say_so(api: Api, photo_bytes) -> None:
    assert api.context.archive is None
    response = _search(api, ("a.jpg", photo_bytes["astronaut.jpg"]))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "archive_disabled")
    response = api.client.get("/api/v1/archive/1/thumbnail", headers=api.headers("viewer"))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "archive_disabled")


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("viewer", 404), ("admin", 404)])
def test_an_unknown_thumbnail_is_404_and_needs_a_token(api: Api, archived, role, status) -> None:
    response = api.client.get("/api/v1/archive/999/thumbnail", headers=api.headers(role))
    assert response.status_code == status
    assert response.json()["error"]["code"] == ("unauthorized" if status == 401 else "keyframe_not_found")


def test_the_archive_times_are_the_ones_recorded(api: Api, archived, photo_bytes) -> None:
    response = _search(api, ("a.jpg", photo_bytes["coffee.jpg"]), top_k="1")
    assert response.json()["results"][0]["frame_time"].replace("Z", "+00:00") == T0.isoformat()
