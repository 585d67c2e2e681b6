"""``api.bootstrap_token_file``: a mounted secret accepted as the admin token ``bootstrap``, so a container's API has
a first admin without anyone running ``vigil tokens create`` inside it; a short or missing secret stops the start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from streamer.api.app import create_api
from streamer.api.context import ApiContext
from streamer.api.tokens import ApiTokens, create_token
from streamer.config import load_config
from streamer.errors import ConfigError
from watchlists.embedders import KindEmbedders
from watchlists.store import WatchlistStore

SECRET = "3f1c2a9b8e7d6c5b4a39281706f5e4d3"


def serve(tmp_path: Path, bootstrap: str | None) -> Iterator[TestClient]:
    """The API with the tokens of a config whose ``api.bootstrap_token_file`` holds ``bootstrap`` (None: unset)."""
    environ = {"VIGIL_API__TOKENS_FILE": str(tmp_path / "tokens.yaml")}
    if bootstrap is not None:
        (tmp_path / "api_token").write_text(bootstrap + "\n")
        environ["VIGIL_API__BOOTSTRAP_TOKEN_FILE"] = str(tmp_path / "api_token")
    api = load_config(None, environ=environ).api
    with WatchlistStore(tmp_path / "watchlist.db") as store:
        tokens = ApiTokens(api.tokens_file, api.bootstrap_token_file)
        context = ApiContext(store=store, embedders=KindEmbedders({}), tokens=tokens, default_thresholds={})
        with TestClient(create_api(context)) as client:
            yield client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from serve(tmp_path, SECRET)


def test_the_bootstrap_secret_is_an_admin_token(client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {SECRET}"}

    whoami = client.get("/api/v1/whoami", headers=headers)
    removal = client.delete("/api/v1/watchlist/" + "0" * 32, headers=headers)

    assert (whoami.status_code, whoami.json()) == (200, {"name": "bootstrap", "role": "admin"})
    assert removal.status_code == 404  # an admin reaches the lookup; a viewer would get 403


def test_tokens_created_later_work_beside_the_bootstrap_token(client: TestClient, tmp_path: Path) -> None:
    _, viewer = create_token(tmp_path / "tokens.yaml", "viewer-1", "viewer")

    answers = [
        client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"}).json()["name"]
        for secret in (viewer, SECRET)
    ]

    assert answers == ["viewer-1", "bootstrap"]


def test_without_the_setting_the_secret_is_refused(tmp_path: Path) -> None:
    for client in serve(tmp_path, None):
        assert client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {SECRET}"}).status_code == 401


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("short", "at least 24 characters"),
        ("", "at least 24 characters"),
        ("two words that are long enough together", "without spaces"),
    ],
)
def test_a_weak_bootstrap_secret_stops_the_start_with_the_reason(tmp_path: Path, content: str, error: str) -> None:
    (tmp_path / "api_token").write_text(content)

    with pytest.raises(ConfigError, match=error):
        ApiTokens(tmp_path / "tokens.yaml", tmp_path / "api_token")


def test_a_missing_bootstrap_file_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    environ = {"VIGIL_API__BOOTSTRAP_TOKEN_FILE": str(tmp_path / "absent")}

    with pytest.raises(ConfigError, match=r"api\.bootstrap_token_file"):
        load_config(None, environ=environ)
