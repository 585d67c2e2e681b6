"""The API against abuse, over real sockets on a real uvicorn: half-sent heads and bodies are cut, connections are
capped, decoding is budgeted (503 + Retry-After, not memory), ids outside 64 bits are 404, control characters in
labels are refused, the schema tells the truth (400, required fields, Allow), and /docs is off by default."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from streamer.api.decode_budget import DecodeBudget
from streamer.api.errors import ApiError
from streamer.api.server import ApiServer, listen
from streamer.archive.keyframes import KeyframeArchive
from streamer.config import ApiConfig, MetricsConfig, VigilConfig
from streamer.logs import JsonFormatter, TextFormatter
from streamer.service import run_service
from tests.streamer.api.conftest import Api


@pytest.fixture
def http(api: Api, live_api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_api.url, timeout=30) as client:
        yield client


def _guarded(api: Api, **guard: float) -> ApiServer:
    server = ApiServer(api.client.app, "127.0.0.1", 0, guard=ApiConfig(**guard))  # type: ignore[arg-type]
    server.start()
    return server


def _closed_within(conn: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing, or None if it still holds the connection after ``seconds``."""
    conn.settimeout(seconds)
    received = b""
    try:
        while data := conn.recv(4096):
            received += data
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def test_unfinished_request_heads_are_closed_after_the_head_timeout(api: Api) -> None:
    server = _guarded(api, head_timeout_s=1.0)
    try:
        conns = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(100)]
        for conn in conns:
            conn.sendall(b"GET /api/v1/healthz HTTP/1.1\r\nHost: vigil\r\nX-Slow: ")
        started = time.monotonic()
        answers = [_closed_within(conn, 5.0) for conn in conns]
        assert all(answer is not None for answer in answers), "some connections were still held after 5 s"
        assert time.monotonic() - started < 5.0
        assert answers[0].startswith(b"HTTP/1.1 408")
        for conn in conns:
            conn.close()
    finally:
        server.stop()


def test_a_body_that_never_completes_is_cut_after_the_body_timeout(api: Api) -> None:
    server = _guarded(api, body_timeout_s=1.0)
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as conn:
            head = "POST /api/v1/watchlist HTTP/1.1\r\nHost: v\r\nAuthorization: Bearer {}\r\nContent-Length: 1000\r\n"
            conn.sendall(
                head.format(api.tokens["admin"]).encode() + b"Content-Type: multipart/form-data; boundary=x\r\n\r\n--x"
            )
            answer = _closed_within(conn, 5.0)
        assert answer is not None, "the half-sent body held its connection for 5 s"
    finally:
        server.stop()


def test_connections_over_the_cap_are_refused_and_the_rest_still_served(api: Api) -> None:
    server = _guarded(api, max_connections=5)
    try:
        held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(5)]
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", server.port)) as extra:
            assert (_closed_within(extra, 5.0) or b"").startswith(b"HTTP/1.1 503")
        for conn in held:
            conn.close()
        time.sleep(0.2)
        assert httpx.get(f"{server.url}/api/v1/healthz").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize("keyframe_id", [2**63, 2**64 + 5, -(2**63) - 1, 0])
def test_ids_outside_the_store_range_are_404(api: Api, http: httpx.Client, tmp_path: Path, keyframe_id: int) -> None:
    api.context.archive = KeyframeArchive(tmp_path / "archive")
    headers = api.headers("viewer")
    try:
        for path in (f"/api/v1/archive/{keyframe_id}/thumbnail", f"/api/v1/watchlist/{'e' * 32}/images/{keyframe_id}"):
            response = http.get(path, headers=headers)
            assert response.status_code == 404, (path, response.text)
    finally:
        api.context.archive.close()


@pytest.mark.parametrize(
    ("field", "value"),
    [("label", "Jane\nINFO forged line"), ("label", "nul\x00"), ("label", "cr\r"), ("notes", "a\x1bb"),
     ("cameras", "lo\tbby")],
)  # fmt: skip
def test_control_characters_in_entry_fields_are_400(
    api: Api, http: httpx.Client, photo_bytes: dict[str, bytes], field: str, value: str
) -> None:
    data = {"kind": "anomaly", "label": "ok", field: value}
    files = {"images": ("coffee.jpg", photo_bytes["coffee.jpg"], "image/jpeg")}
    response = http.post("/api/v1/watchlist", data=data, files=files, headers=api.headers("admin"))

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_entry" and "control characters" in response.text
    assert api.nothing_written()


def _huge_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((side, side, 3), np.uint8)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def test_a_burst_of_big_decodes_waits_or_gets_503_with_retry_after(api: Api, http: httpx.Client) -> None:
    api.context.decode_budget = DecodeBudget(3000 * 3000, wait_s=0.2)  # room for one 3000x3000 image at a time
    png = _huge_png(3000)
    answers: list[httpx.Response] = []

    def post() -> None:
        files = {"image": ("big.png", png, "image/png")}
        answers.append(http.post("/api/v1/match", files=files, headers=api.headers("viewer")))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(answer.status_code for answer in answers)
    assert len(answers) == 6 and set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
    busy = next(answer for answer in answers if answer.status_code == 503)
    assert busy.headers["Retry-After"] == "1" and busy.json()["error"]["code"] == "busy"
    assert api.context.decode_budget.in_use == 0


def test_docs_are_off_and_the_schema_is_served_and_truthful(api: Api, http: httpx.Client) -> None:
    assert http.get("/docs").status_code == 404
    schema = http.get("/api/v1/openapi.json").json()
    alerts = schema["paths"]["/api/v1/alerts"]["get"]["responses"]
    assert "422" not in alerts and "400" in alerts
    bad_since = http.get("/api/v1/alerts?since=AAA", headers=api.headers("viewer"))
    assert bad_since.status_code == 400
    create = schema["paths"]["/api/v1/watchlist"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"images", "kind", "label"} <= set(create["required"])


def test_a_405_names_every_method_of_the_path(api: Api, http: httpx.Client) -> None:
    response = http.delete("/api/v1/watchlist", headers=api.headers("admin"))

    assert response.status_code == 405 and response.headers["Allow"] == "GET, POST"


def test_upload_errors_show_no_object_reprs_nor_byte_strings(api: Api, http: httpx.Client) -> None:
    for name, data in (("x.txt", b"\x00\x01not an image at all"), ("x.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)):
        files = {"image": (name, data, "image/png")}
        message = http.post("/api/v1/match", files=files, headers=api.headers("viewer")).json()["error"]["message"]
        assert " at 0x" not in message and "b'" not in message and 'b"' not in message, message


def test_text_logs_escape_control_characters_and_json_logs_stay_json() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "entry %s created", ("Jane\nERROR forged\x00",), None)
    text = TextFormatter().format(record)
    assert "\n" not in text and "\x00" not in text and "Jane\\nERROR forged\\x00" in text
    assert json.loads(JsonFormatter().format(record))["msg"] == "entry Jane\nERROR forged\x00 created"


def test_metrics_listen_where_the_api_does_unless_configured() -> None:
    assert MetricsConfig().address(ApiConfig()) == "127.0.0.1"
    assert MetricsConfig().address(ApiConfig(bind="10.0.0.7")) == "10.0.0.7"
    assert MetricsConfig(bind="0.0.0.0").address(ApiConfig()) == "0.0.0.0"


def test_a_taken_api_port_fails_before_cameras_and_databases_start(tmp_path: Path) -> None:
    taken = listen("127.0.0.1", 0)
    taken.listen()
    port = taken.getsockname()[1]
    database = tmp_path / "watchlist.db"
    config = VigilConfig.model_validate(
        {"api": {"port": port}, "metrics": {"enabled": False}, "watchlist": {"database": str(database)}}
    )
    try:
        with pytest.raises(ApiError, match=f"cannot listen on 127.0.0.1:{port}"):
            run_service(config, threading.Event())
    finally:
        taken.close()
    assert not database.exists()
