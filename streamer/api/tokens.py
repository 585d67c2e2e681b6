"""API bearer tokens: a YAML file of names, roles and SHA-256 digests. The secrets themselves are never stored.

``vigil tokens create NAME --role admin`` makes a random secret, prints it once and appends its digest; whoever
reads the file (a backup, a support bundle) learns no usable token. The service re-reads the file when it changes,
so creating or revoking a token needs no restart. A file that cannot be parsed admits nobody (fail closed) and says
why in the log.

```yaml
tokens:
- {name: alice, role: admin, sha256: 5e88..., created_at: '2026-11-23T10:00:00+00:00'}
```
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, cast, get_args

import yaml

from engines.atomic_write import replaced_on_success
from streamer.errors import ConfigError

log = logging.getLogger(__name__)

Role = Literal["viewer", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
TOKEN_PREFIX = "vgl_"
BOOTSTRAP_NAME = "bootstrap"
BOOTSTRAP_MIN_CHARS = 24
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class ApiToken:
    """One token as the file keeps it: who holds it, what they may do, and the digest of the secret."""

    name: str
    role: Role
    sha256: str
    created_at: datetime

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"token name {self.name!r}: letters, digits and . _ @ - only, 1 to 64 characters")
        if self.role not in ROLES:
            raise ValueError(f"token {self.name!r}: role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"token {self.name!r}: sha256 must be 64 hex digits")


def digest(secret: str) -> str:
    """The SHA-256 hex digest a secret is stored and looked up by."""
    return hashlib.sha256(secret.encode()).hexdigest()


def read_tokens(path: Path) -> list[ApiToken]:
    """The tokens in the file; none when it does not exist.

    Raises:
        ConfigError: the file is not valid YAML or a token is malformed (the message names the file and token).
    """
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"api.tokens_file {path} cannot be read: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("tokens", []), list):
        raise ConfigError(f"api.tokens_file {path}: expected a mapping with a 'tokens' list")
    try:
        tokens = [
            ApiToken(str(t["name"]), t["role"], str(t["sha256"]), datetime.fromisoformat(str(t["created_at"])))
            for t in raw.get("tokens", [])
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"api.tokens_file {path}: malformed token: {exc}") from None
    names = [t.name for t in tokens]
    if len(set(names)) != len(names):
        raise ConfigError(f"api.tokens_file {path}: a token name appears twice")
    return tokens


def create_token(path: Path, name: str, role: str) -> tuple[ApiToken, str]:
    """Add a token and return it with its secret: the only time the secret exists outside the caller's hands.

    Raises:
        ConfigError: the name is taken or malformed, the role unknown, or the file unreadable.
    """
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        token = ApiToken(name, cast(Role, role), digest(secret), datetime.now(UTC).replace(microsecond=0))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    with _locked(path):
        tokens = read_tokens(path)
        if any(t.name == name for t in tokens):
            raise ConfigError(f"a token named {name!r} exists already; revoke it first")
        _write(path, [*tokens, token])
    return token, secret


def revoke_token(path: Path, name: str) -> ApiToken:
    """Remove a token; requests bearing it fail from the service's next request on.

    Raises:
        ConfigError: no token has this name.
    """
    with _locked(path):
        tokens = read_tokens(path)
        found = [t for t in tokens if t.name == name]
        if not found:
            raise ConfigError(f"no token named {name!r} in {path}")
        _write(path, [t for t in tokens if t.name != name])
    return found[0]


def read_bootstrap_token(path: Path) -> ApiToken:
    """The admin token ``bootstrap`` whose secret is the content of ``path`` (``api.bootstrap_token_file``).

    Containers get their first admin from a mounted secret this way: nobody has to exec into a pod to run
    ``vigil tokens create`` before the API can be used. The secret is read once, at start; rotate it by replacing
    the secret and restarting, or revoke it by creating real tokens and dropping the setting.

    Raises:
        ConfigError: the file cannot be read or holds fewer than ``BOOTSTRAP_MIN_CHARS`` characters.
    """
    try:
        secret = path.read_text().strip()
        stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(microsecond=0)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"api.bootstrap_token_file {path} cannot be read: {exc}") from None
    if len(secret) < BOOTSTRAP_MIN_CHARS or any(c.isspace() for c in secret):
        raise ConfigError(
            f"api.bootstrap_token_file {path}: the token must be at least {BOOTSTRAP_MIN_CHARS} characters without "
            "spaces (e.g. openssl rand -hex 32)"
        )
    return ApiToken(BOOTSTRAP_NAME, "admin", digest(secret), stamp)


class ApiTokens:
    """The tokens the service accepts, following the file, plus the bootstrap admin token when one is configured.

    Args:
        path: the tokens file (``api.tokens_file``).
        bootstrap_file: a file holding one more admin secret (``api.bootstrap_token_file``), or ``None``.

    Raises:
        ConfigError: the file is malformed at start (later, a malformed file admits nobody until it is fixed), or
            the bootstrap token file is unreadable or too short.
    """

    def __init__(self, path: Path, bootstrap_file: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._bootstrap = None if bootstrap_file is None else read_bootstrap_token(bootstrap_file)
        self._stamp = self._file_stamp()
        self._by_digest = {t.sha256: t for t in read_tokens(path)}
        if self._bootstrap is not None:
            log.info("API: admin token %r from %s accepted", BOOTSTRAP_NAME, bootstrap_file)
        elif not self._by_digest:
            log.warning(
                "no API tokens in %s: every request but /healthz gets 401 (create one: vigil tokens create)", path
            )

    def authenticate(self, secret: str) -> ApiToken | None:
        """The token whose secret this is, or ``None``."""
        tokens = self._current()
        if self._bootstrap is not None:
            tokens = {**tokens, self._bootstrap.sha256: self._bootstrap}
        wanted = digest(secret)
        for known, token in tokens.items():
            if hmac.compare_digest(known, wanted):
                return token
        return None

    def _current(self) -> dict[str, ApiToken]:
        with self._lock:
            stamp = self._file_stamp()
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._by_digest = {t.sha256: t for t in read_tokens(self.path)}
                    log.info("API tokens reloaded from %s: %d tokens", self.path, len(self._by_digest))
                except ConfigError as exc:
                    log.error("%s; no API token is accepted until it is fixed", exc.message)
                    self._by_digest = {}
            return self._by_digest

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size


def _write(path: Path, tokens: list[ApiToken]) -> None:
    """Replace the file atomically, readable by its owner only."""
    data = {
        "tokens": [
            {"name": t.name, "role": t.role, "sha256": t.sha256, "created_at": t.created_at.isoformat()} for t in tokens
        ]
    }
    header = "# Vigil API tokens: SHA-256 digests only. Manage with `vigil tokens create | list | revoke`.\n"
    with replaced_on_success(path, private=True) as temporary:
        temporary.write_text(header + yaml.safe_dump(data, sort_keys=False))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer at a time (two admins creating tokens at once must not lose one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
