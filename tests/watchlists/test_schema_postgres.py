"""PostgreSQL schema migrations: an empty database gets the whole schema, a current one is left alone, a newer one
is refused, a failed step leaves the previous version, and nodes starting at once migrate once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from streamer.devservices.postgres import PostgresServer
from watchlists import schema
from watchlists.errors import StoreError
from watchlists.schema_postgres import MIGRATIONS, SCHEMA_VERSION
from watchlists.store import WatchlistStore


@pytest.fixture
def empty_database(postgres_server: PostgresServer) -> Iterator[str]:
    """A database with no watchlist schema at all (not a copy of the migrated template)."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture
def plain(empty_database: str) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
    """Runs statements on a separate autocommit connection and returns their rows."""
    with psycopg.connect(empty_database, autocommit=True) as connection:

        def run(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

        yield run


def _tables(plain: Callable[..., list[tuple[Any, ...]]]) -> set[str]:
    return {r[0] for r in plain("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}


def test_an_empty_database_gets_the_whole_schema_at_the_same_version_as_sqlite(
    empty_database: str, plain: Callable[..., list[tuple[Any, ...]]]
) -> None:
    WatchlistStore(empty_database).close()

    assert plain("SELECT version FROM schema_migrations ORDER BY version") == [(1,), (2,), (3,)]
    assert SCHEMA_VERSION == schema.SCHEMA_VERSION
    assert _tables(plain) == {
        "entries",
        "images",
        "embeddings",
        "audit_log",
        "revision",
        "negatives",
        "negative_embeddings",
        "adaptations",
        "schema_migrations",
    }
    assert plain("SELECT value FROM revision") == [(0,)]


def test_opening_a_current_database_changes_nothing(
    empty_database: str, plain: Callable[..., list[tuple[Any, ...]]]
) -> None:
    WatchlistStore(empty_database).close()
    before = plain("SELECT version, applied_at FROM schema_migrations ORDER BY version")

    WatchlistStore(empty_database).close()

    assert plain("SELECT version, applied_at FROM schema_migrations ORDER BY version") == before


def test_a_database_from_a_newer_build_is_refused(
    empty_database: str, plain: Callable[..., list[tuple[Any, ...]]]
) -> None:
    WatchlistStore(empty_database).close()
    plain("INSERT INTO schema_migrations (version) VALUES (%s)", (SCHEMA_VERSION + 1,))

    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, this build knows up to"):
        WatchlistStore(empty_database)


def test_a_failing_migration_leaves_the_previous_version_intact(
    empty_database: str, plain: Callable[..., list[tuple[Any, ...]]]
) -> None:
    plain("CREATE TABLE entries (id text)")  # a clash: the first migration's CREATE TABLE fails midway

    with pytest.raises(StoreError, match=r'cannot migrate watchlist database .*"entries" already exists'):
        WatchlistStore(empty_database)

    assert _tables(plain) == {"entries"}  # not even the version table: it was created in the failed step


def test_two_nodes_opening_a_new_database_at_once_both_succeed(
    empty_database: str, plain: Callable[..., list[tuple[Any, ...]]]
) -> None:
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def open_store() -> None:
        start.wait(timeout=10)
        try:
            WatchlistStore(empty_database).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert plain("SELECT version FROM schema_migrations ORDER BY version") == [(1,), (2,), (3,)]


def test_a_version_1_database_gains_negative_examples_and_keeps_its_entries(
    empty_database: str, plain: Callable[..., list[tuple[Any, ...]]]
) -> None:
    plain("CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz DEFAULT now())")
    plain(MIGRATIONS[0])
    plain("INSERT INTO schema_migrations (version) VALUES (1)")
    plain(
        "INSERT INTO entries (id, kind, label, created_at, updated_at) VALUES (%s, 'anomaly', 'fire', now(), now())",
        ("a" * 32,),
    )

    with WatchlistStore(empty_database) as store:
        assert [e.label for e in store.list_entries()] == ["fire"]
        assert store.entry_negatives("a" * 32) == []
        assert store.revision() == 1  # the insert above bumped it, through version 1's triggers

    assert {"negatives", "negative_embeddings"} <= _tables(plain)
