"""One PostgreSQL connection, set up for the watchlist, with the same read and write transactions as SQLite's.

How the SQLite promises carry over:

- *One writer at a time, from the first statement* (SQLite's ``BEGIN IMMEDIATE``): a write transaction starts
  with ``LOCK TABLE revision IN EXCLUSIVE MODE``. The store's writes check before they insert (is this image
  stored? does the entry exist? which dimension has this model?), and those checks are only true if no other node
  writes in between. The lock makes that so and simply waits, up to ``busy_timeout_s``. SERIALIZABLE would
  instead fail one of two overlapping writes and require re-running it, which a ``with`` block cannot be; writes
  are rare admin actions, so queueing them costs nothing. EXCLUSIVE still lets plain SELECTs through: readers,
  such as every node's ``revision()`` poll, never wait for a writer.
- *A consistent snapshot per read*: reads run in one ``REPEATABLE READ, READ ONLY`` transaction.
- *Nothing half-written*: a write commits whole or rolls back whole; integrity errors map to the same store errors
  as SQLite's (``watchlists.database.integrity_error``).

The shared SQL uses ``?`` placeholders; the connection handed to it turns them into psycopg's ``%s``. Results come
in binary format, so embeddings (``bytea``) arrive as bytes without hex decoding. A connection lost (a server
restart, a network cut) fails the call in progress with a ``StoreError`` and is reopened by the next call. The
URL's password never appears in a message (``watchlists.postgres_url``).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from watchlists.database import integrity_error
from watchlists.errors import StoreError
from watchlists.postgres_url import PostgresUrl
from watchlists.schema_postgres import migrate

logger = logging.getLogger(__name__)


class PostgresDatabase:
    """An open, migrated watchlist database on a PostgreSQL server.

    Args:
        url: ``postgresql://user[:password]@host[:port]/dbname[?options]``.
        password_file: a file holding the password, used when neither the URL nor ``PGPASSWORD`` has one.
        busy_timeout_s: how long a write waits for another node's write, and a connection for the server.

    Raises:
        StoreError: the URL is malformed, the server cannot be reached or refuses the login, or the schema is newer;
            the message names ``host:port/dbname``, never the password.
    """

    def __init__(self, url: str, *, password_file: Path | None = None, busy_timeout_s: float = 10.0) -> None:
        try:
            self._url = PostgresUrl.parse(url)
        except ValueError as exc:
            raise StoreError(f"watchlist database: {exc}") from None
        self.location = self._url.redacted()
        self._busy_timeout_s = busy_timeout_s
        self._password_file = password_file
        self._lock = threading.RLock()
        self._closed = False
        self._connection = self._connect()
        try:
            migrate(self._connection)
        except StoreError:
            self._connection.close()
            raise
        except psycopg.Error as exc:
            self._connection.close()
            raise StoreError(f"cannot migrate watchlist database {self.location}: {self._scrub(exc)}") from None

    def close(self) -> None:
        """Close the connection; every committed change is on the server whether or not this runs."""
        with self._lock:
            self._closed = True
            self._connection.close()

    @contextmanager
    def write(self) -> Iterator[PostgresSql]:
        """One write transaction, holding the watchlist's write lock from its start.

        Raises:
            StoreError: the lock was not free within ``busy_timeout_s``, the server refused the write or the
                connection was lost (nothing changed, except where the message says the commit itself was cut).
            DuplicateImageError: the schema refused an image already stored (nothing changed).
        """
        with self._lock:
            connection = self._connected()
            lock_timeout_ms = max(1, round(self._busy_timeout_s * 1000))
            try:
                connection.execute(
                    "BEGIN ISOLATION LEVEL READ COMMITTED;"
                    f" SET LOCAL lock_timeout = {lock_timeout_ms};"
                    " LOCK TABLE revision IN EXCLUSIVE MODE"
                )
            except pg_errors.LockNotAvailable:
                self._rollback(connection)
                raise StoreError(
                    f"watchlist database {self.location} is not writable now: another write held the lock"
                    f" for over {self._busy_timeout_s:g} s"
                ) from None
            except psycopg.Error as exc:
                self._rollback(connection)
                raise StoreError(
                    f"watchlist database {self.location} is not writable now: {self._scrub(exc)}"
                ) from None
            committing = False
            try:
                yield PostgresSql(connection)
                committing = True
                connection.execute("COMMIT")
            except pg_errors.IntegrityError as exc:
                self._rollback(connection)
                raise integrity_error(self.location, exc.diag.constraint_name or str(exc), str(exc)) from exc
            except psycopg.Error as exc:
                self._rollback(connection)
                outcome = "nothing changed"
                if committing and connection.broken:
                    outcome = "the connection broke while committing: the change may or may not be stored"
                raise StoreError(
                    f"watchlist database {self.location}: write failed, {outcome}: {self._scrub(exc)}"
                ) from exc
            except BaseException:
                self._rollback(connection)
                raise

    @contextmanager
    def read(self) -> Iterator[PostgresSql]:
        """One read transaction (``REPEATABLE READ``), so several queries see the same snapshot."""
        with self._lock:
            connection = self._connected()
            try:
                connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield PostgresSql(connection)
            except psycopg.Error as exc:
                raise StoreError(f"watchlist database {self.location}: read failed: {self._scrub(exc)}") from exc
            finally:
                self._rollback(connection)

    def _connected(self) -> psycopg.Connection:
        """The connection, reopened first when the last one was lost (not when the store was closed)."""
        if self._closed:
            raise StoreError(f"watchlist database {self.location}: the store was closed")
        if self._connection.closed or self._connection.broken:
            logger.info("watchlist database %s: connection lost, reconnecting", self.location)
            self._connection.close()
            self._connection = self._connect()
        return self._connection

    def _connect(self) -> psycopg.Connection:
        try:
            password = self._url.password_from_file(self._password_file)
        except OSError as exc:
            raise StoreError(f"cannot connect to watchlist database {self.location}: {exc}") from None
        extra = {"password": password} if password else {}
        try:
            connection = psycopg.connect(
                self._url.url,
                autocommit=True,
                connect_timeout=max(2, math.ceil(self._busy_timeout_s)),
                fallback_application_name="vigil",
                options=f"{self._url.options} -c TimeZone=UTC".strip(),  # times read back in UTC, as SQLite's
                **extra,
            )
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to watchlist database {self.location}: {self._scrub(exc, password)}"
            ) from None
        return connection

    def _rollback(self, connection: psycopg.Connection) -> None:
        if connection.broken or connection.info.transaction_status == TransactionStatus.IDLE:
            return
        try:
            connection.execute("ROLLBACK")
        except psycopg.OperationalError:  # the connection went meanwhile: the server rolled back for us
            pass

    def _scrub(self, exc: BaseException, *secrets: str | None) -> str:
        return self._url.scrub(str(exc).strip(), os.environ.get("PGPASSWORD"), *secrets)


class PostgresSql:
    """The connection as the shared SQL sees it: ``?`` placeholders, results in binary format."""

    def __init__(self, connection: psycopg.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self._connection.execute(_placeholders(sql), list(params), binary=True)


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """``?`` -> ``%s``, and a literal ``%`` escaped (the shared SQL never holds ``?`` inside a string literal)."""
    return sql.replace("%", "%%").replace("?", "%s")
