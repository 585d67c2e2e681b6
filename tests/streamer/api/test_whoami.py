"""``GET /api/v1/whoami``: the calling token's name and role for any valid token, 401 otherwise, never a secret."""

from __future__ import annotations

import pytest

from streamer.api.tokens import read_tokens
from tests.streamer.api.conftest import Api


@pytest.mark.parametrize(
    ("role", "status", "body"),
    [
        ("admin", 200, {"name": "admin-1", "role": "admin"}),
        ("viewer", 200, {"name": "viewer-1", "role": "viewer"}),
        (
            None,
            401,
            {"error": {"code": "unauthorized", "message": "this endpoint needs 'Authorization: Bearer <token>'"}},
        ),
        ("bad", 401, {"error": {"code": "unauthorized", "message": "unknown or revoked token"}}),
    ],
)
def test_whoami_names_the_token_and_its_role(api: Api, role: str | None, status: int, body: dict[str, object]) -> None:
    response = api.client.get("/api/v1/whoami", headers=api.headers(role))

    assert (response.status_code, response.json()) == (status, body)


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_whoami_never_returns_the_secret_or_its_digest(api: Api, role: str) -> None:
    (token,) = [t for t in read_tokens(api.context.tokens.path) if t.role == role]

    text = api.client.get("/api/v1/whoami", headers=api.headers(role)).text

    assert api.tokens[role] not in text and token.sha256 not in text


def test_whoami_is_documented(api: Api) -> None:
    operation = api.client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/whoami"]["get"]

    assert set(operation["responses"]) == {"200", "401"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WhoamiResponse"
    }
