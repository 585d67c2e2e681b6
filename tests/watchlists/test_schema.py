"""Schema migrations: a new file gets the whole schema, a current one is left alone, a newer one is refused."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from watchlists.errors import StoreError
from watchlists.schema import MIGRATIONS, SCHEMA_VERSION, _statements, migrate
from watchlists.store import WatchlistStore


def _connect(path: Path) -> closing[sqlite3.Connection]:
    """A plain connection that is closed when the ``with`` block ends (sqlite3's own only commits)."""
    return closing(sqlite3.connect(path, isolation_level=None))


def test_an_empty_file_is_migrated_to_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "watchlist.db"

    WatchlistStore(path).close()

    with _connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"entries", "images", "embeddings", "audit_log", "revision"} <= tables
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_migrating_a_current_database_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.db"
    WatchlistStore(path).close()
    with _connect(path) as db:
        before = db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()

        assert migrate(db) == SCHEMA_VERSION

        assert db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before


def test_a_database_from_a_newer_build_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.db"
    with _connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        WatchlistStore(path)


def test_a_file_that_is_not_a_database_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.db"
    path.write_text("not a database, just some text that is long enough to fill a header page" * 20)

    with pytest.raises(StoreError, match=r"watchlist\.db"):
        WatchlistStore(path)


def test_a_failing_migration_leaves_the_previous_version_intact(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.db"
    with _connect(path) as db:
        db.execute("CREATE TABLE entries (id TEXT)")  # a clash: the first migration's CREATE TABLE fails midway

        with pytest.raises(sqlite3.OperationalError, match="already exists"):
            migrate(db)

        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["entries"]


def test_two_stores_opening_a_new_file_at_once_both_succeed(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.db"
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def open_store() -> None:
        start.wait(timeout=10)
        try:
            WatchlistStore(path).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    with _connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)


def test_a_version_1_database_gains_negative_examples_and_keeps_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.db"
    with _connect(path) as db:
        for statement in _statements(MIGRATIONS[0]):
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO entries (id, kind, label, created_at, updated_at) VALUES (?1, 'anomaly', 'fire', ?2, ?2)",
            ("a" * 32, "2026-01-01T00:00:00+00:00"),
        )

    with WatchlistStore(path) as store:
        assert [e.label for e in store.list_entries()] == ["fire"]
        assert store.entry_negatives("a" * 32) == []
    with _connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
