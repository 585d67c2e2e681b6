"""One SQLite connection, set up for the watchlist, with explicit read and write transactions.

The settings carry the store's promises: WAL so readers in other processes never wait for a writer,
``synchronous=FULL`` so a committed enrollment survives a power cut, foreign keys so removing an entry removes its
images and embeddings, ``BEGIN IMMEDIATE`` so a write takes the lock up front instead of failing halfway, and
autocommit mode so no transaction is ever left open by accident. Threads share the connection under a lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from watchlists.database import integrity_error
from watchlists.errors import StoreError
from watchlists.schema import migrate

STRING_AGG_BUILT_IN = sqlite3.sqlite_version_info >= (3, 44, 0)
"""SQLite has ``string_agg`` (which the shared SQL uses, as PostgreSQL spells it) from 3.44; Debian 12 ships 3.40."""


class SqliteDatabase:
    """An open, migrated watchlist database file.

    Args:
        path: the file; it and its folder are created when missing.
        busy_timeout_s: how long a write waits for another process's write to finish.

    Raises:
        StoreError: the file cannot be opened, is not a database, or has a newer schema.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self.location = str(path)
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            if not STRING_AGG_BUILT_IN:
                self._connection.create_aggregate("string_agg", 2, _StringAgg)
            _enable_wal(self._connection, busy_timeout_s)
            self._connection.execute("PRAGMA synchronous = FULL")
            self._connection.execute("PRAGMA foreign_keys = ON")
            migrate(self._connection)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open watchlist database {path}: {exc}") from None

    def close(self) -> None:
        """Close the connection; committed data is safe on disk whether or not this runs."""
        with self._lock:
            self._connection.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back on any exception (or a crash).

        Raises:
            StoreError: the lock could not be taken in time, or SQLite refused the write (nothing changed).
            DuplicateImageError: the schema refused an image already stored (nothing changed).
        """
        with self._lock:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"watchlist database {self.path} is not writable now: {exc}") from None
            try:
                yield self._connection
                self._connection.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                self._rollback()
                raise integrity_error(self.location, str(exc), str(exc)) from exc
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"watchlist database {self.path}: write failed, nothing changed: {exc}") from exc
            except BaseException:
                self._rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction, so several queries see the same snapshot."""
        with self._lock:
            self._connection.execute("BEGIN")
            try:
                yield self._connection
            except sqlite3.Error as exc:
                raise StoreError(f"watchlist database {self.path}: read failed: {exc}") from exc
            finally:
                self._rollback()

    def _rollback(self) -> None:
        if self._connection.in_transaction:  # SQLite rolls back by itself after some errors (disk full ...)
            self._connection.execute("ROLLBACK")


class _StringAgg:
    """``string_agg(value, separator)`` for SQLite before 3.44: the values joined in the order they come."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._separator = ""

    def step(self, value: object, separator: str) -> None:
        if value is not None:
            self._parts.append(str(value))
            self._separator = separator

    def finalize(self) -> str | None:
        return self._separator.join(self._parts) if self._parts else None


def _enable_wal(connection: sqlite3.Connection, timeout_s: float) -> None:
    """Switch to WAL; SQLite answers "locked" at once (no busy wait) while another process switches too."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)
