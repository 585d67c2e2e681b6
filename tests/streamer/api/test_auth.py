"""Bearer tokens: no token 401, a token nobody issued 401, a viewer reads but gets 403 on writes, an admin does
both; tokens created or revoked while the service runs take effect at once; the file keeps digests only."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.api.tokens import create_token, read_tokens, revoke_token
from streamer.errors import ConfigError
from tests.streamer.api.conftest import Api

ENTRY = "0" * 32  # no such entry: a request that passes auth gets the route's own 404
# (method, path, the status once past auth: the route's own answer to a request without a body)
READS = [
    ("get", "/api/v1/watchlist", 200),
    ("get", f"/api/v1/watchlist/{ENTRY}", 404),
    ("get", "/api/v1/alerts", 200),
    ("get", "/api/v1/cameras", 200),
    ("post", "/api/v1/match", 415),
]
WRITES = [
    ("post", "/api/v1/watchlist", 415),
    ("delete", f"/api/v1/watchlist/{ENTRY}", 404),
    ("post", f"/api/v1/watchlist/{ENTRY}/images", 404),
    ("post", f"/api/v1/watchlist/{ENTRY}/negatives", 404),
]


@pytest.mark.parametrize("role", [None, "bad", "viewer", "admin"])
@pytest.mark.parametrize(
    ("method", "path", "admitted", "write"), [(*r, False) for r in READS] + [(*w, True) for w in WRITES]
)
def test_each_endpoint_admits_the_roles_it_should(
    api: Api, role: str | None, method: str, path: str, admitted: int, write: bool
) -> None:
    response = api.client.request(method, path, headers=api.headers(role))

    expected = 401 if role in (None, "bad") else 403 if role == "viewer" and write else admitted
    assert response.status_code == expected, response.text
    if expected == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    code = {401: "unauthorized", 403: "forbidden", 404: "entry_not_found", 415: "unsupported_media_type"}
    assert expected == 200 or response.json()["error"]["code"] == code[expected]
    assert api.nothing_written()


def test_health_needs_no_token(api: Api) -> None:
    response = api.client.get("/api/v1/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok", "node_id": "node-t"})


@pytest.mark.parametrize("header", ["Bearer", "Basic dXNlcjpwYXNz", "Token abc", "bearer"])
def test_a_malformed_authorization_header_is_401(api: Api, header: str) -> None:
    assert api.client.get("/api/v1/watchlist", headers={"Authorization": header}).status_code == 401


def test_a_token_created_while_the_service_runs_works_at_once_and_stops_working_when_revoked(api: Api) -> None:
    path = api.context.tokens.path
    _, secret = create_token(path, "carol", "viewer")
    headers = {"Authorization": f"Bearer {secret}"}

    created = api.client.get("/api/v1/watchlist", headers=headers).status_code
    revoke_token(path, "carol")
    revoked = api.client.get("/api/v1/watchlist", headers=headers).status_code

    assert (created, revoked) == (200, 401)


def test_a_tokens_file_broken_while_running_admits_nobody(api: Api) -> None:
    path = api.context.tokens.path
    path.write_text(path.read_text() + "\n  - this: [is not: valid\n")

    assert api.client.get("/api/v1/watchlist", headers=api.headers("admin")).status_code == 401


def test_the_tokens_file_keeps_digests_only_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"

    token, secret = create_token(path, "alice", "admin")

    assert secret.startswith("vgl_") and secret not in path.read_text()
    assert token.sha256 in path.read_text() and path.stat().st_mode & 0o077 == 0
    assert read_tokens(path) == [token]


@pytest.mark.parametrize(
    ("name", "role", "message"),
    [("alice", "admin", "exists already"), ("bad name!", "admin", "letters, digits"), ("bob", "root", "role")],
)
def test_refused_token_creations_name_the_problem(tmp_path: Path, name: str, role: str, message: str) -> None:
    path = tmp_path / "tokens.yaml"
    create_token(path, "alice", "admin")

    with pytest.raises(ConfigError, match=message):
        create_token(path, name, role)

    assert [t.name for t in read_tokens(path)] == ["alice"]
