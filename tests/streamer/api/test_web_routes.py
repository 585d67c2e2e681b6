"""What the web page needs from the API: the page's files under a strict policy without a token, and an entry's
stored images served back (only under their entry). Tuning an entry (``PATCH``) is tested in test_entry_update.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.streamer.api.conftest import Api


def _create(api: Api, photo_bytes: dict[str, bytes]) -> dict[str, Any]:
    response = api.client.post(
        "/api/v1/watchlist",
        headers=api.headers("admin"),
        data={"kind": "anomaly", "label": "cup"},
        files=[("images", ("c.jpg", photo_bytes["coffee.jpg"])), ("images", ("r.bmp", photo_bytes["rocket.bmp"]))],
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    ("path", "status", "content_type", "marker"),
    [
        ("/ui/", 200, "text/html; charset=utf-8", b'<script src="app.js" defer></script>'),
        ("/ui/app.js", 200, "text/javascript; charset=utf-8", b'const API = "../api/v1";'),
        ("/ui/entry.js", 200, "text/javascript; charset=utf-8", b"async function renderEntry()"),
        ("/ui/search.js", 200, "text/javascript; charset=utf-8", b"async function searchFootage(event)"),
        ("/ui/app.css", 200, "text/css; charset=utf-8", b".visually-hidden"),
        ("/ui/index.html", 404, "application/json", b'"code":"not_found"'),
        ("/ui/..%2Fapp.py", 404, "application/json", b'"code":"not_found"'),
    ],
)
def test_the_page_and_its_files_are_served_without_a_token_and_nothing_else_is(
    api: Api, path: str, status: int, content_type: str, marker: bytes
) -> None:
    response = api.client.get(path)

    assert (response.status_code, response.headers["content-type"]) == (status, content_type)
    assert marker in response.content
    if status == 200:
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "form-action 'none'" in policy


@pytest.mark.parametrize("path", ["/", "/ui"])
def test_the_root_redirects_to_the_page_relatively(api: Api, path: str) -> None:
    response = api.client.get(path, follow_redirects=False)

    assert (response.status_code, response.headers["location"]) == (307, "ui/")
    assert api.client.get(path).url.path == "/ui/"


def test_no_page_file_reaches_out_of_the_node(api: Api) -> None:
    page = b"".join(
        api.client.get(f"/ui/{name}").content for name in ("", "app.js", "entry.js", "search.js", "app.css")
    )

    assert b"http://" not in page and b"https://" not in page and b"//cdn" not in page
    assert b"innerHTML" not in page and b"outerHTML" not in page and b"insertAdjacentHTML" not in page


def test_an_entrys_images_come_back_byte_for_byte_with_their_sniffed_type(
    api: Api, photo_bytes: dict[str, bytes]
) -> None:
    created = _create(api, photo_bytes)
    entry_id = created["entry"]["id"]
    cup, rocket = created["added"]

    served = [
        api.client.get(f"/api/v1/watchlist/{entry_id}/images/{image['id']}", headers=api.headers("viewer"))
        for image in (cup, rocket)
    ]

    assert [r.content for r in served] == [photo_bytes["coffee.jpg"], photo_bytes["rocket.bmp"]]
    assert [r.headers["content-type"] for r in served] == ["image/jpeg", "image/bmp"]
    assert all(r.headers["cache-control"] == "no-store" for r in served)
    assert all(r.headers["x-content-type-options"] == "nosniff" for r in served)


def test_a_negative_example_is_served_under_negatives_only(api: Api, photo_bytes: dict[str, bytes]) -> None:
    entry_id = _create(api, photo_bytes)["entry"]["id"]
    added = api.client.post(
        f"/api/v1/watchlist/{entry_id}/negatives",
        headers=api.headers("admin"),
        files=[("images", ("cat.png", photo_bytes["chelsea.png"]))],
    ).json()["added"][0]

    served = api.client.get(f"/api/v1/watchlist/{entry_id}/negatives/{added['id']}", headers=api.headers("viewer"))

    assert (served.status_code, served.content) == (200, photo_bytes["chelsea.png"])
    assert served.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("role", "target", "status", "code"),
    [
        ("viewer", "other entry", 404, "image_not_found"),
        ("viewer", "unknown image", 404, "image_not_found"),
        ("viewer", "unknown entry", 404, "entry_not_found"),
        (None, "own entry", 401, "unauthorized"),
        ("bad", "own entry", 401, "unauthorized"),
    ],
)
def test_an_image_is_served_only_to_a_token_and_only_under_its_own_entry(
    api: Api, photo_bytes: dict[str, bytes], role: str | None, target: str, status: int, code: str
) -> None:
    created = _create(api, photo_bytes)
    other = api.client.post(
        "/api/v1/watchlist",
        headers=api.headers("admin"),
        data={"kind": "anomaly", "label": "cat"},
        files=[("images", ("cat.png", photo_bytes["chelsea.png"]))],
    ).json()
    image_id = created["added"][0]["id"]
    path = {
        "own entry": f"{created['entry']['id']}/images/{image_id}",
        "other entry": f"{other['entry']['id']}/images/{image_id}",
        "unknown image": f"{created['entry']['id']}/images/999",
        "unknown entry": f"{'0' * 32}/images/{image_id}",
    }[target]

    response = api.client.get(f"/api/v1/watchlist/{path}", headers=api.headers(role))

    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_the_new_routes_are_documented_and_the_page_is_not(api: Api) -> None:
    paths = api.client.get("/api/v1/openapi.json").json()["paths"]

    assert "patch" in paths["/api/v1/watchlist/{entry_id}"]
    assert {
        "/api/v1/watchlist/{entry_id}/images/{image_id}",
        "/api/v1/watchlist/{entry_id}/negatives/{negative_id}",
        "/api/v1/whoami",
    } <= set(paths)
    assert not any(path == "/" or path.startswith("/ui") for path in paths)
