"""Fixtures for the watchlist tests: a fresh store per test, reference photos written once as files, face models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.faces import (  # noqa: F401  (fixtures are found by name; the models load only where used)
    face_embedder,
    face_photos,
    face_pipeline,
    mtcnn_detector,
)
from tests.watchlists.samples import write_reference_files
from watchlists.store import WatchlistStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WatchlistStore]:
    """An empty watchlist in a new SQLite file."""
    with WatchlistStore(tmp_path / "watchlist.db") as opened:
        yield opened


@pytest.fixture(scope="session")
def reference_files(
    tmp_path_factory: pytest.TempPathFactory, reference_images: dict[str, np.ndarray]
) -> dict[str, Path]:
    """Photo files shared by the session (read only): ``astronaut`` is a folder of three crops, the others files."""
    return write_reference_files(tmp_path_factory.mktemp("references"), reference_images)
