"""Uploads: bodies bounded before they are read (a 2 GB claim, a stream that never ends, both over a real socket),
types sniffed from the bytes, corrupt images and decompression bombs refused, and nothing written on any failure."""

from __future__ import annotations

import json
import socket
from typing import Any

import numpy as np
import pytest

from streamer.api.server import ApiServer
from tests.streamer.api.conftest import LIMITS, Api
from tests.watchlists.samples import encode, png_claiming

BOUNDARY = "vigil-test-boundary"


def _raw_request(server: ApiServer, head: str, body_chunks: list[bytes], timeout: float = 10.0) -> tuple[int, Any]:
    """Send a request by hand over a socket (so nothing buffers or fixes it up), return the status and JSON body.

    The body chunks are sent as given and the request is *not* finished: a server that waited for the whole body
    would never answer, and the read would time out.
    """
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as conn:
        conn.sendall(head.encode())
        for chunk in body_chunks:
            conn.sendall(chunk)
        received = b""
        while b"\r\n\r\n" not in received or not _complete(received):
            data = conn.recv(65536)
            if not data:
                break
            received += data
    status_line, _, rest = received.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(body)


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _head(api: Api, extra: str) -> str:
    return (
        "POST /api/v1/watchlist HTTP/1.1\r\nHost: vigil\r\n"
        f"Authorization: Bearer {api.tokens['admin']}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{extra}\r\n"
    )


def test_a_declared_2_gb_body_is_refused_before_a_byte_of_it_is_sent(api: Api, live_api: ApiServer) -> None:
    status, body = _raw_request(live_api, _head(api, "Content-Length: 2147483648\r\n"), [])

    assert status == 413 and body["error"]["code"] == "request_too_large"
    assert "2147483648 bytes" in body["error"]["message"]
    assert api.nothing_written()


def test_a_streamed_body_without_a_length_is_cut_at_the_cap(api: Api, live_api: ApiServer) -> None:
    preamble = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="images"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + b"\xff\xd8\xff\xe0"
    piece = b"\0" * 65536
    chunks = [preamble] + [piece] * (LIMITS.max_request_bytes // len(piece) + 4)  # just past the cap, never ended
    framed = [f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks]

    status, body = _raw_request(live_api, _head(api, "Transfer-Encoding: chunked\r\n"), framed)

    assert status == 413 and body["error"]["code"] == "request_too_large"
    assert api.nothing_written()


def test_a_body_over_the_cap_with_an_honest_length_is_refused(api: Api) -> None:
    oversize = b"\xff\xd8\xff" + b"\0" * LIMITS.max_request_bytes

    response = api.client.post(
        "/api/v1/watchlist", headers=api.headers("admin"), files={"images": ("big.jpg", oversize, "image/jpeg")}
    )

    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    assert api.nothing_written()


def _bad_uploads(photo_bytes: dict[str, bytes]) -> dict[str, tuple[dict[str, Any], list[tuple[str, bytes]]]]:
    """Name -> (form fields, images) of a request that must be refused."""
    anomaly = {"kind": "anomaly", "label": "x"}
    coffee = photo_bytes["coffee.jpg"]
    rng = np.random.default_rng(7)
    return {
        "text named .jpg": (anomaly, [("notes.jpg", b"these are my notes, not a photo")]),
        "truncated jpeg": (anomaly, [("cut.jpg", coffee[: len(coffee) // 2])]),
        "decompression bomb": (anomaly, [("bomb.png", png_claiming(100_000, 100_000))]),
        "image over the byte limit": (anomaly, [("huge.jpg", b"\xff\xd8\xff" + rng.bytes(LIMITS.max_image_bytes))]),
        "one good, two bad": (anomaly, [("ok.jpg", coffee), ("notes.jpg", b"notes"), ("cut.jpg", coffee[:900])]),
        "unknown kind": ({"kind": "person", "label": "x"}, [("c.jpg", coffee)]),
        "face without face pipeline": ({"kind": "face", "label": "x"}, [("c.jpg", coffee)]),
        "empty label": ({"kind": "anomaly", "label": " "}, [("c.jpg", coffee)]),
        "threshold not a number": ({**anomaly, "threshold": "high"}, [("c.jpg", coffee)]),
        "threshold out of range": ({**anomaly, "threshold": "1.5"}, [("c.jpg", coffee)]),
        "camera with a slash": ({**anomaly, "cameras": ["lobby/door"]}, [("c.jpg", coffee)]),
        "no images": (anomaly, [("../photo field/c.jpg", coffee)]),  # a file, but not in the images field
        "too many files": (anomaly, [(f"c{i}.jpg", coffee) for i in range(LIMITS.max_files + 1)]),
    }


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("text named .jpg", 415, "unsupported_image_type"),
        ("truncated jpeg", 422, "corrupt_image"),
        ("decompression bomb", 422, "too_many_pixels"),
        ("image over the byte limit", 413, "image_too_large"),
        ("one good, two bad", 422, "images_rejected"),
        ("unknown kind", 400, "invalid_request"),
        ("face without face pipeline", 422, "faces_not_available"),
        ("empty label", 400, "invalid_entry"),
        ("threshold not a number", 400, "invalid_request"),
        ("threshold out of range", 400, "invalid_entry"),
        ("camera with a slash", 400, "invalid_entry"),
        ("no images", 400, "invalid_request"),
        ("too many files", 400, "bad_request"),
    ],
)
def test_a_refused_upload_gets_its_status_and_code_and_writes_nothing(
    api: Api, photo_bytes: dict[str, bytes], case: str, status: int, code: str
) -> None:
    fields, images = _bad_uploads(photo_bytes)[case]

    response = api.client.post(
        "/api/v1/watchlist",
        headers=api.headers("admin"),
        data=fields,
        files=[("photo" if "photo field" in name else "images", (name, data, "image/jpeg")) for name, data in images],
    )

    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
    assert api.nothing_written()


def test_each_refused_image_of_several_is_named_with_its_own_code(api: Api, photo_bytes: dict[str, bytes]) -> None:
    fields, images = _bad_uploads(photo_bytes)["one good, two bad"]

    response = api.client.post(
        "/api/v1/watchlist", headers=api.headers("admin"), data=fields, files=[("images", i) for i in images]
    )

    assert [(p["source"], p["code"]) for p in response.json()["error"]["problems"]] == [
        ("upload:notes.jpg", "unsupported_image_type"),
        ("upload:cut.jpg", "corrupt_image"),
    ]


def test_the_type_comes_from_the_bytes_not_the_name_or_the_declared_type(
    api: Api, reference_images: dict[str, np.ndarray]
) -> None:
    png = encode(reference_images["rocket"], "PNG")

    response = api.client.post(
        "/api/v1/watchlist",
        headers=api.headers("admin"),
        data={"kind": "anomaly", "label": "rocket"},
        files={"images": ("rocket.jpg", png, "image/gif")},
    )

    assert response.status_code == 201, response.text
    assert response.json()["added"][0]["media_type"] == "image/png"


def test_a_body_that_is_not_a_multipart_form_is_415(api: Api) -> None:
    response = api.client.post("/api/v1/watchlist", headers=api.headers("admin"), json={"kind": "anomaly"})

    assert (response.status_code, response.json()["error"]["code"]) == (415, "unsupported_media_type")


@pytest.mark.parametrize("resource", ["images", "negatives"])
def test_a_refused_image_added_to_an_existing_entry_writes_nothing(
    api: Api, photo_bytes: dict[str, bytes], resource: str
) -> None:
    created = api.client.post(
        "/api/v1/watchlist",
        headers=api.headers("admin"),
        data={"kind": "anomaly", "label": "coffee"},
        files={"images": ("coffee.jpg", photo_bytes["coffee.jpg"])},
    ).json()
    revision, audit = api.store.revision(), api.store.audit()

    response = api.client.post(
        f"/api/v1/watchlist/{created['entry']['id']}/{resource}",
        headers=api.headers("admin"),
        files=[
            ("images", ("rocket.bmp", photo_bytes["rocket.bmp"])),
            ("images", ("bomb.png", png_claiming(90_000, 90_000))),
        ],
    )

    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (422, "too_many_pixels")
    assert [(p["source"], p["code"]) for p in error["problems"]] == [("upload:bomb.png", "too_many_pixels")]
    assert (api.store.revision(), api.store.audit()) == (revision, audit)
