"""Where a PostgreSQL watchlist lives: a ``postgresql://`` URL, parsed once, whose password never reaches a message.

The password may sit in the URL, in ``PGPASSWORD`` (libpq reads it), or in the file named by the config's
``watchlist.password_file`` (a Kubernetes or Compose secret mounted as a file), read at each connection so a
rotated secret is picked up on the next reconnect. Everything shown to people goes through ``redacted`` or
``scrub``: libpq quotes parts of a malformed URL in its errors, password included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

DEFAULT_PORT = 5432
_HIDDEN = "***"


@dataclass(frozen=True)
class PostgresUrl:
    """A parsed ``postgresql://user:password@host:port/dbname?option=value`` URL.

    Attributes:
        url: the URL as given, to hand to libpq only.
        where: ``host:port/dbname``, for messages.
        options: server settings given in the URL (``?options=-c%20search_path%3Dvigil``).
    """

    url: str = field(repr=False)
    host: str
    port: int
    dbname: str
    user: str | None
    password: str | None = field(repr=False)
    options: str = ""

    @classmethod
    def parse(cls, url: str) -> PostgresUrl:
        """Parse with libpq's own rules (percent-encoding, query options).

        Raises:
            ValueError: not a URL libpq accepts; the message never holds the password.
        """
        raw_password = _raw_password(url)
        try:
            fields = conninfo_to_dict(url)
        except psycopg.Error as exc:
            hidden = _scrub(str(exc).strip(), [raw_password, unquote(raw_password or "")])
            raise ValueError(f"not a valid postgresql:// URL: {hidden}") from None
        password = fields.get("password")
        port = str(fields.get("port") or os.environ.get("PGPORT") or DEFAULT_PORT).split(",")[0]
        if not port.isdigit():
            raise ValueError(f"not a valid postgresql:// URL: the port must be a number, got {port!r}")
        return cls(
            url=url,
            host=str(fields.get("host") or "localhost"),
            port=int(port),
            dbname=str(fields.get("dbname") or ""),  # empty: libpq picks its default (the user name)
            user=str(fields["user"]) if fields.get("user") else None,
            password=str(password) if password else None,
            options=str(fields.get("options") or ""),
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}/{self.dbname}"

    def redacted(self) -> str:
        """The URL without its password or options: what logs and messages show."""
        user = f"{self.user}@" if self.user else ""
        return f"postgresql://{user}{self.where}"

    def password_from_file(self, file: Path | None) -> str | None:
        """The password to give libpq ourselves: from ``file`` when neither the URL nor ``PGPASSWORD`` has one.

        Raises:
            OSError: the file cannot be read (the message names ``watchlist.password_file`` and the file).
        """
        if self.password or os.environ.get("PGPASSWORD") or file is None:
            return None
        try:
            return Path(file).read_text().strip()
        except OSError as exc:
            raise OSError(f"watchlist.password_file {file} cannot be read: {exc.strerror}") from None

    def scrub(self, text: str, *secrets: str | None) -> str:
        """``text`` with the URL's password (and any of ``secrets``) replaced by ``***``."""
        raw = _raw_password(self.url)
        return _scrub(text, [self.password, raw, unquote(raw or ""), *secrets])


def _raw_password(url: str) -> str | None:
    """The password as written in the URL (maybe percent-encoded), found without libpq: for scrubbing only."""
    try:
        return urlsplit(url).password
    except ValueError:  # a malformed port or netloc: fall back to what sits between ':' and '@'
        netloc = url.split("://", 1)[-1].split("/", 1)[0]
        userinfo = netloc.rpartition("@")[0]
        return userinfo.partition(":")[2] or None


def _scrub(text: str, secrets: list[str | None]) -> str:
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, _HIDDEN)
    return text
