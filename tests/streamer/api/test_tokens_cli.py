"""``vigil tokens``: create prints the secret once (and only there), list never shows secrets, revoke ends a token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from streamer.api.tokens import ApiTokens
from streamer.config import load_config

VIGIL = Path(sys.executable).parent / "vigil"
REPO = Path(__file__).resolve().parents[3]


def _vigil(cwd: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")} | variables
    env["PYTHONPATH"] = str(REPO)  # this checkout's code, wherever the console script was installed from
    return subprocess.run([VIGIL, "tokens", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_a_token_is_created_listed_used_and_revoked(tmp_path: Path) -> None:
    (tmp_path / "vigil.yaml").write_text("api: {tokens_file: secrets/tokens.yaml}\n")

    created = _vigil(tmp_path, "create", "alice", "--role", "admin")
    secret = created.stdout.strip()
    listed = _vigil(tmp_path, "list", "--json")
    tokens = ApiTokens(tmp_path / "secrets" / "tokens.yaml")
    accepted = tokens.authenticate(secret)
    revoked = _vigil(tmp_path, "revoke", "alice")

    assert created.returncode == 0 and secret.startswith("vgl_") and "keep it" in created.stderr
    assert json.loads(listed.stdout)[0]["name"] == "alice" and secret not in listed.stdout
    assert secret not in (tmp_path / "secrets" / "tokens.yaml").read_text()
    assert (tmp_path / "secrets" / "tokens.yaml").stat().st_mode & 0o777 == 0o600  # digests: the owner's only
    assert accepted is not None and accepted.role == "admin"
    assert revoked.returncode == 0 and tokens.authenticate(secret) is None


def test_a_duplicate_name_or_an_unknown_role_is_a_usage_error(tmp_path: Path) -> None:
    _vigil(tmp_path, "create", "alice")

    twice = _vigil(tmp_path, "create", "alice")
    bad_role = _vigil(tmp_path, "create", "bob", "--role", "root")
    unknown = _vigil(tmp_path, "revoke", "carol")

    assert (twice.returncode, bad_role.returncode, unknown.returncode) == (2, 2, 2)
    assert "exists already" in twice.stderr and "no token named 'carol'" in unknown.stderr


def test_without_c_tokens_go_to_the_file_of_the_config_named_by_vigil_config(tmp_path: Path) -> None:
    # As in the images: the service runs with /etc/vigil/vigil.yaml, an operator execs `vigil tokens create` in
    # another folder; both must use the tokens file of that config, or the service never sees the token.
    (tmp_path / "etc").mkdir()
    (tmp_path / "elsewhere").mkdir()
    config = tmp_path / "etc" / "vigil.yaml"
    config.write_text(f"api: {{tokens_file: {tmp_path / 'data' / 'tokens.yaml'}}}\n")

    created = _vigil(tmp_path / "elsewhere", "create", "alice", "--role", "admin", VIGIL_CONFIG=str(config))
    service_tokens = ApiTokens(load_config(config, environ={}).api.tokens_file)

    assert created.returncode == 0, created.stderr
    assert service_tokens.authenticate(created.stdout.strip()) is not None
    assert not (tmp_path / "elsewhere" / "data").exists()
