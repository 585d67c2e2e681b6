"""Strangers' clusters on real face photos: one person -> one cluster across frames and cameras, two people -> two,
the best crops kept on disk, clusters surviving a restart, retention removing old ones."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from engines.faces import FacePipeline
from streamer.unknown.clusters import UnknownFaceClusterer
from streamer.unknown.store import UnknownFaceError, UnknownFaceStore
from tests.streamer.unknown.scenes import FACE_THRESHOLD, T0, frame_of, see


@pytest.fixture
def store(tmp_path: Path):
    with UnknownFaceStore(tmp_path / "data" / "unknown.db") as opened:
        yield opened


def test_one_stranger_seen_on_two_cameras_is_one_cluster_and_another_person_is_a_second(
    store: UnknownFaceStore, face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray]
):
    clusterer = UnknownFaceClusterer(store, face_pipeline.version, FACE_THRESHOLD, keep_crops=2)
    hopper = [frame_of(face_photos["hopper"], scale) for scale in (1.0, 0.8, 0.9)]
    seen = see(clusterer, face_pipeline, hopper[0], "lobby", T0)
    seen += see(clusterer, face_pipeline, hopper[1], "gate", T0 + timedelta(minutes=5))
    seen += see(clusterer, face_pipeline, hopper[2], "lobby", T0 + timedelta(minutes=6))
    other = see(clusterer, face_pipeline, frame_of(face_photos["astronaut"], 1.0), "gate", T0 + timedelta(minutes=7))
    assert [m.id for m in seen] == ["unknown-1"] * 3
    assert seen[0].similarity == 1.0 and all(FACE_THRESHOLD <= m.similarity < 1.0 for m in seen[1:])
    assert [(m.id, m.label) for m in other] == [("unknown-2", "Unknown 2")]
    first = store.get("unknown-1")
    assert (first.count, first.cameras, first.first_seen, first.last_seen) == (
        3, ("gate", "lobby"), T0, T0 + timedelta(minutes=6)
    )  # fmt: skip
    assert len(first.crops) == 2, "only the keep_crops best crops stay"
    assert [c.rank for c in first.crops] == sorted((c.rank for c in first.crops), reverse=True)
    assert first.crops[0].seen_at == T0, "the largest face (scale 1.0) ranks first"
    crop = cv2.imread(str(store.crop_path("unknown-1", first.crops[0].id)))
    assert crop is not None and len(face_pipeline.analyse(crop[:, :, ::-1])) == 1, "a crop holds the face"
    assert len(list((store.crops_dir / "1").glob("*.jpg"))) == 2, "dropped crops leave no file behind"
    assert [c.id for c in store.clusters()] == ["unknown-2", "unknown-1"]  # most recently seen first


def test_clusters_survive_a_restart_and_numbers_are_never_reused(
    store: UnknownFaceStore, face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray]
):
    first = UnknownFaceClusterer(store, face_pipeline.version, FACE_THRESHOLD, keep_days=30)
    see(first, face_pipeline, frame_of(face_photos["hopper"], 1.0), "lobby", T0)
    see(first, face_pipeline, frame_of(face_photos["astronaut"], 1.0), "lobby", T0 + timedelta(days=20))
    restarted = UnknownFaceClusterer(store, face_pipeline.version, FACE_THRESHOLD, keep_days=30)
    again = see(restarted, face_pipeline, frame_of(face_photos["hopper"], 0.8), "gate", T0 + timedelta(days=1))
    assert [m.id for m in again] == ["unknown-1"]
    assert restarted.prune(T0 + timedelta(days=31, hours=1)) == 1  # hopper last seen on day 1: gone
    assert [c.id for c in store.clusters()] == ["unknown-2"]
    assert not (store.crops_dir / "1").exists()
    with pytest.raises(UnknownFaceError, match="unknown-1"):
        store.get("unknown-1")
    back = see(restarted, face_pipeline, frame_of(face_photos["hopper"], 1.0), "lobby", T0 + timedelta(days=32))
    assert [m.id for m in back] == ["unknown-3"], "a pruned number is not given to someone else"


@pytest.mark.parametrize(
    ("keep_days", "removed"),
    [(0, []), (30, ["unknown-1"]), (90, [])],
)
def test_retention_follows_keep_days(
    store: UnknownFaceStore, face_pipeline: FacePipeline, face_photos: dict[str, np.ndarray], keep_days, removed
):
    clusterer = UnknownFaceClusterer(store, face_pipeline.version, FACE_THRESHOLD, keep_days=keep_days)
    see(clusterer, face_pipeline, frame_of(face_photos["hopper"], 1.0), "lobby", T0)
    see(clusterer, face_pipeline, frame_of(face_photos["astronaut"], 1.0), "lobby", T0 + timedelta(days=40))
    before = {c.id for c in store.clusters()}
    assert clusterer.prune(T0 + timedelta(days=41)) == len(removed)
    assert {c.id for c in store.clusters()} == before - set(removed)


@pytest.mark.parametrize(
    ("cluster_id", "code"),
    [("unknown-9", "unknown_not_found"), ("alice", "unknown_not_found"), ("unknown-x", "unknown_not_found")],
)
def test_an_id_that_names_no_cluster_is_refused_with_a_code(store: UnknownFaceStore, cluster_id: str, code: str):
    with pytest.raises(UnknownFaceError) as raised:
        store.get(cluster_id)
    assert raised.value.code == code
