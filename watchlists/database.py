"""The narrow interface the watchlist's SQL runs on, and the choice of engine: SQLite for one node, PostgreSQL for
several.

Both engines give the same three things: a read transaction that sees one snapshot, a write transaction that
holds the only write lock from its first statement (so the store's check-then-insert steps never race another
writer) and commits or rolls back whole, and a connection whose ``execute(sql, params)`` takes the shared SQL with
``?`` placeholders. Whatever a database refuses comes back as the same store errors whichever engine refused it.

Example:
    >>> database = open_database("postgresql://vigil@db:5432/vigil")  # or a path: data/watchlist.db
    >>> with database.read() as db:
    ...     revision = db.execute("SELECT value FROM revision").fetchone()[0]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from watchlists.errors import DuplicateImageError, StoreError, WatchlistError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class SqlCursor(Protocol):
    """The result of one statement: sqlite3's and psycopg's cursors both fit."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class SqlConnection(Protocol):
    """Runs the shared SQL (``?`` placeholders, parameters in order) inside the transaction it was handed out for."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> SqlCursor: ...


class WatchlistDatabase(Protocol):
    """An open, migrated watchlist database of either engine.

    Attributes:
        location: where it is, fit for messages and logs (a path, or a URL without its password).
    """

    location: str

    def read(self) -> AbstractContextManager[SqlConnection]:
        """One read transaction: every query in the block sees the same snapshot."""
        ...

    def write(self) -> AbstractContextManager[SqlConnection]:
        """One write transaction, the only one at a time: committed when the block ends, rolled back on an error."""
        ...

    def close(self) -> None: ...


def is_postgres_url(target: object) -> bool:
    """Whether ``target`` names a PostgreSQL server rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def open_database(
    target: str | Path, *, password_file: Path | None = None, busy_timeout_s: float = 10.0
) -> WatchlistDatabase:
    """Open (creating and migrating when needed) the watchlist database at ``target``.

    Args:
        target: a SQLite file path, or a ``postgresql://user@host:port/db`` URL.
        password_file: PostgreSQL only: a file holding the password when the URL has none.
        busy_timeout_s: how long a write waits for another writer (and a PostgreSQL connection for the server).

    Raises:
        StoreError: the database cannot be opened, reached or migrated, or the URL names another engine.
    """
    if is_postgres_url(target):
        from watchlists.database_postgres import PostgresDatabase  # libpq loads only where a server is used

        return PostgresDatabase(str(target), password_file=password_file, busy_timeout_s=busy_timeout_s)
    if "://" in str(target):
        scheme = str(target).split("://", 1)[0]
        raise StoreError(f"watchlist database: {scheme}:// is not supported; give a SQLite path or postgresql://...")
    from watchlists.database_sqlite import SqliteDatabase

    return SqliteDatabase(Path(target), busy_timeout_s=busy_timeout_s)


def integrity_error(location: str, constraint: str, message: str) -> WatchlistError:
    """The store error for a write the schema refused, the same for both engines (nothing of the write was kept).

    The store checks for duplicates before inserting, under the write lock, so this is the schema's safety net
    (a hand-written row, a writer that bypassed the store), not the normal path for a duplicate.

    Args:
        constraint: the constraint's name or the engine's message about it (``images_sha256_key``,
            ``UNIQUE constraint failed: images.sha256``).
    """
    if "sha256" in constraint:
        return DuplicateImageError(f"watchlist database {location}: that image (by SHA-256) is already stored")
    return StoreError(f"watchlist database {location}: the schema refused the write, nothing changed: {message}")
