"""A node's data folder holding two stranger clusters made from real face photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engines.faces import FacePipeline
from streamer.unknown.clusters import UnknownFaceClusterer
from streamer.unknown.store import UnknownFaceStore
from tests.streamer.unknown.scenes import FACE_THRESHOLD, see_strangers


@pytest.fixture
def clustered(tmp_path: Path, face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray]) -> Path:
    """``<tmp>/data/unknown.db`` (where ``storage.snapshots: data/snapshots`` puts it): ``unknown-1`` is Grace
    Hopper (3 sightings, lobby and gate), ``unknown-2`` Eileen Collins (2 sightings, gate)."""
    path = tmp_path / "data" / "unknown.db"
    with UnknownFaceStore(path) as store:
        see_strangers(UnknownFaceClusterer(store, face_pipeline.version, FACE_THRESHOLD), face_pipeline, face_photos)
    return path
