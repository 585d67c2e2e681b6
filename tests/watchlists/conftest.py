"""Fixtures for the watchlist tests: a fresh store per test on each engine (SQLite, PostgreSQL), reference photos
written once as files, face models."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from tests.fixtures.faces import (  # noqa: F401  (fixtures are found by name; the models load only where used)
    face_embedder,
    face_photos,
    face_pipeline,
    mtcnn_detector,
)
from tests.watchlists.samples import write_reference_files
from watchlists.database import is_postgres_url
from watchlists.store import WatchlistStore

ENGINES = ["sqlite", "postgres"]

PlainSql = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture(params=ENGINES)
def new_watchlist_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes fresh, empty watchlist databases of one engine: SQLite files, or PostgreSQL databases on the session's
    server (started only when a test asks for one)."""
    if request.param == "sqlite":
        numbers = itertools.count()
        return lambda: str(tmp_path / "databases" / f"watchlist-{next(numbers)}.db")
    return request.getfixturevalue("new_postgres_database")


@pytest.fixture
def watchlist_database(new_watchlist_database: Callable[[], str]) -> str:
    """Where this test's empty watchlist lives: a SQLite path or a ``postgresql://`` URL."""
    return new_watchlist_database()


@pytest.fixture
def store(watchlist_database: str) -> Iterator[WatchlistStore]:
    """An empty watchlist, on each engine."""
    with WatchlistStore(watchlist_database) as opened:
        yield opened


@pytest.fixture
def plain_sql(watchlist_database: str) -> PlainSql:
    """Runs one statement on a separate plain connection (what another process would see) and returns its rows."""

    def run(statement: str) -> list[tuple[Any, ...]]:
        if is_postgres_url(watchlist_database):
            with psycopg.connect(watchlist_database, autocommit=True) as pg:
                cursor = pg.execute(statement)
                return cursor.fetchall() if cursor.description else []
        with closing(sqlite3.connect(watchlist_database, isolation_level=None)) as db:
            return db.execute(statement).fetchall()

    return run


@pytest.fixture(scope="session")
def reference_files(
    tmp_path_factory: pytest.TempPathFactory, reference_images: dict[str, np.ndarray]
) -> dict[str, Path]:
    """Photo files shared by the session (read only): ``astronaut`` is a folder of three crops, the others files."""
    return write_reference_files(tmp_path_factory.mktemp("references"), reference_images)
