"""Re-embedding after a model change: every stored image and negative gets an embedding by the new model, all in
one swap, from the bytes the store kept; what the new model refuses is reported."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest

from engines.faces import FacePipeline
from engines.scene import SceneEmbedder
from tests.watchlists.samples import encode, unit
from watchlists.index import WatchlistIndex
from watchlists.records import NewImage
from watchlists.reembed import reembed
from watchlists.store import WatchlistStore

OLD_MODEL = "older-model@000000000000"


def _old(data: bytes, source: str, axis: int) -> NewImage:
    """A real photo as an older model had embedded it (an 8-d vector: another model entirely)."""
    return NewImage(data, hashlib.sha256(data).hexdigest(), "image/png", 1, 1, source, unit(*[0] * axis, 1), OLD_MODEL)


@pytest.fixture
def old_store(store: WatchlistStore, reference_files: dict[str, Path]) -> WatchlistStore:
    """Two anomaly entries (four reference photos, one negative) embedded only by the older model."""
    astronaut = sorted(reference_files["astronaut"].iterdir())
    entry = store.create_entry(
        "anomaly", "astronaut", [_old(p.read_bytes(), p.name, i) for i, p in enumerate(astronaut)], actor="t"
    ).entry
    store.add_negatives(entry.id, [_old(reference_files["coffee"].read_bytes(), "coffee.jpg", 3)], actor="t")
    store.create_entry("anomaly", "cat", [_old(reference_files["chelsea"].read_bytes(), "chelsea.png", 4)], actor="t")
    return store


def test_a_model_change_embeds_every_stored_image_and_negative_with_the_new_model(
    old_store: WatchlistStore, scene_embedder: SceneEmbedder, reference_images: dict[str, np.ndarray]
) -> None:
    index = WatchlistIndex.from_store(old_store, "anomaly", scene_embedder.version, default_threshold=0.75)
    assert index.image_count == 0 and index.entry_count == 2  # entries, but nothing the new model can search

    report = reembed(old_store, "anomaly", scene_embedder, actor="service")

    assert (report.missing, report.embedded, report.refused) == (5, 5, ())
    assert index.sync() and index.image_count == 4
    query = scene_embedder.embed([reference_images["chelsea"][20:280, 40:400]])
    assert [m.label for m in index.search(query)[0]] == ["cat"]
    data = old_store.embeddings("anomaly", scene_embedder.version)
    assert len(data.negative_entry_ids) == 1 and data.dim == scene_embedder.dim
    images = [i for e in old_store.list_entries() for i in old_store.entry_images(e.id)]
    assert all(i.model_versions == tuple(sorted((OLD_MODEL, scene_embedder.version))) for i in images)  # old kept
    [audit] = old_store.audit(limit=1)
    assert (audit.action, audit.actor, audit.detail["images"], audit.detail["negatives"]) == (
        "embeddings.added",
        "service",
        4,
        1,
    )


def test_reembedding_when_nothing_is_missing_writes_nothing(
    old_store: WatchlistStore, scene_embedder: SceneEmbedder
) -> None:
    reembed(old_store, "anomaly", scene_embedder, actor="service")
    revision, audit = old_store.revision(), len(old_store.audit())

    again = reembed(old_store, "anomaly", scene_embedder, actor="service")

    assert (again.missing, again.embedded) == (0, 0)
    assert (old_store.revision(), len(old_store.audit())) == (revision, audit)


def test_an_index_following_the_store_sees_none_or_all_of_a_reembedding(
    old_store: WatchlistStore, scene_embedder: SceneEmbedder
) -> None:
    index = WatchlistIndex.from_store(old_store, "anomaly", scene_embedder.version, default_threshold=0.75)
    seen: set[int] = set()
    done = threading.Event()

    def follow() -> None:
        while not done.is_set():
            index.sync()
            seen.add(index.image_count)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    try:
        reembed(old_store, "anomaly", scene_embedder, actor="service", batch_size=1)
    finally:
        done.set()
        follower.join(timeout=10)
    index.sync()
    seen.add(index.image_count)

    assert not follower.is_alive() and seen == {0, 4}


def test_images_the_new_model_refuses_are_reported_and_the_others_embedded(
    store: WatchlistStore,
    face_pipeline: FacePipeline,
    face_photos: dict[str, np.ndarray],
    reference_files: dict[str, Path],
) -> None:
    face = encode(face_photos["hopper"], "PNG")
    store.create_entry(
        "face",
        "grace",
        [_old(face, "hopper.png", 0), _old(reference_files["coffee"].read_bytes(), "cup.jpg", 1)],
        actor="t",
    )

    report = reembed(store, "face", face_pipeline, actor="service")

    assert (report.missing, report.embedded) == (2, 1)
    assert [(p.code, "cup.jpg" in p.source) for p in report.refused] == [("no_face_found", True)]
    index = WatchlistIndex.from_store(store, "face", face_pipeline.version, default_threshold=0.6)
    assert [m.label for m in index.search(face_pipeline.embed([face_photos["hopper"]]))[0]] == ["grace"]
