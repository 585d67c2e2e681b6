"""Negative examples ("not this"): stored per entry, and a query closer to one of them than to the entry's
references does not match that entry; checked with hand-made vectors and with the real scene model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data

from engines.scene import SceneEmbedder
from tests.watchlists.conftest import PlainSql
from tests.watchlists.samples import DIM, TEST_MODEL, encode, new_image, unit
from watchlists.enroll import Enroller
from watchlists.errors import EntryNotFoundError, NegativeConflictError
from watchlists.index import WatchlistIndex
from watchlists.sources import check_image_bytes
from watchlists.store import WatchlistStore

# Against the reference REF, the query unit(1) scores 1.0 and unit(1, 1) scores 0.707.
REF = unit(1)


def _index(store: WatchlistStore, threshold: float = 0.5) -> WatchlistIndex:
    return WatchlistIndex.from_store(store, "anomaly", TEST_MODEL, default_threshold=threshold, dim=DIM)


def _labels(index: WatchlistIndex, query: np.ndarray, k: int = 5) -> list[str]:
    return [m.label for m in index.search(query[None], k=k)[0]]


@pytest.mark.parametrize(
    ("negative", "query", "matches"),
    [
        (None, unit(1, 1), True),  # 0.707 to the reference: a match without negatives
        (unit(0, 1), unit(1, 1), True),  # 0.707 to both: a tie is not "closer", the entry keeps matching
        (unit(1, 2), unit(1, 1), False),  # 0.949 to the negative > 0.707 to the reference: vetoed
        (unit(0, 0, 1), unit(1, 1), True),  # 0 to the negative: unaffected
        (unit(1, 2), unit(1), True),  # 1.0 to the reference > 0.447 to the negative
    ],
    ids=["no negative", "tie", "closer to the negative", "far from the negative", "closer to the reference"],
)
def test_a_query_closer_to_a_negative_than_to_the_references_does_not_match(
    store: WatchlistStore, negative: np.ndarray | None, query: np.ndarray, matches: bool
) -> None:
    entry = store.create_entry("anomaly", "fire", [new_image(REF, "ref")], actor="t").entry
    if negative is not None:
        store.add_negatives(entry.id, [new_image(negative, "neg")], actor="t")

    assert _labels(_index(store), query) == (["fire"] if matches else [])


def test_a_negative_vetoes_only_its_own_entry_and_does_not_use_up_k(store: WatchlistStore) -> None:
    vetoed = store.create_entry("anomaly", "vetoed", [new_image(unit(1), "a")], actor="t").entry
    store.create_entry("anomaly", "other", [new_image(unit(2, 1), "b")], actor="t")
    store.add_negatives(vetoed.id, [new_image(unit(1, 0.1), "not this")], actor="t")

    assert _labels(_index(store), unit(1, 0.1), k=1) == ["other"]
    assert _labels(_index(store), unit(1), k=2) == ["vetoed", "other"]


def test_negatives_are_stored_per_entry_with_their_embedding_and_an_audit_row(store: WatchlistStore) -> None:
    jane = store.create_entry("face", "jane", [new_image(unit(1), "jane")], actor="t").entry
    john = store.create_entry("face", "john", [new_image(unit(2), "john")], actor="t").entry
    revision = store.revision()

    first = store.add_negatives(jane.id, [new_image(unit(2), "john"), new_image(unit(3), "x")], actor="alice")
    again = store.add_negatives(jane.id, [new_image(unit(3), "x")], actor="alice")
    other = store.add_negatives(john.id, [new_image(unit(3), "x")], actor="alice")

    assert [n.source for n in first.added] == ["john.png", "x.png"]  # John's reference may be Jane's negative
    assert again.added == () and [(d.entry_id, d.image_id) for d in again.duplicates] == [(jane.id, first.added[1].id)]
    assert len(other.added) == 1  # the same bytes may be a negative of several entries
    negatives = store.entry_negatives(jane.id)
    assert all(n.negative and n.model_versions == (TEST_MODEL,) for n in negatives)
    assert store.image_bytes(negatives[0].id, negative=True) == new_image(unit(2), "john").data
    assert store.revision() > revision
    assert [a.action for a in store.audit(jane.id)] == ["negatives.added", "entry.created"]
    assert store.audit(jane.id)[0].actor == "alice"
    data = store.embeddings("face", TEST_MODEL)
    assert data.negative_entry_ids == (jane.id, jane.id, john.id) and data.negative_vectors.shape == (3, DIM)


def test_an_entrys_own_reference_is_refused_as_its_negative_and_nothing_is_stored(store: WatchlistStore) -> None:
    entry = store.create_entry("anomaly", "fire", [new_image(unit(1), "ref")], actor="t").entry
    revision = store.revision()

    with pytest.raises(NegativeConflictError, match="reference image"):
        store.add_negatives(entry.id, [new_image(unit(2), "fine"), new_image(unit(1), "ref")], actor="t")

    assert store.entry_negatives(entry.id) == [] and store.revision() == revision


def test_removing_an_entry_removes_its_negatives(store: WatchlistStore, plain_sql: PlainSql) -> None:
    entry = store.create_entry("anomaly", "fire", [new_image(unit(1), "ref")], actor="t").entry
    store.add_negatives(entry.id, [new_image(unit(2), "neg")], actor="t")

    store.remove_entry(entry.id, actor="t")

    assert (
        plain_sql("SELECT count(*) FROM negatives") == plain_sql("SELECT count(*) FROM negative_embeddings") == [(0,)]
    )
    with pytest.raises(EntryNotFoundError):
        store.add_negatives(entry.id, [new_image(unit(2), "neg")], actor="t")


# -- with the real scene model -------------------------------------------------------------------------------------


@pytest.fixture
def astronaut_entry(store: WatchlistStore, scene_embedder: SceneEmbedder, reference_files: dict[str, Path]) -> str:
    """The astronaut's three crops at a loose threshold (0.55): loose enough that coffee photos match (~0.57)."""
    enroller = Enroller(store, scene_embedder, show_progress=False)
    return enroller.enroll("anomaly", "astronaut", [reference_files["astronaut"]], actor="t", threshold=0.55).entry.id


@pytest.mark.parametrize(
    ("photo", "without_negative", "with_negative"),
    [
        ("astronaut darker", True, True),
        ("coffee darker", True, False),  # the false alert the negative is there to stop
        ("camera", True, True),  # also loosely similar, but not closer to the coffee negative
        ("rocket", False, False),
    ],
)
def test_a_coffee_negative_stops_coffee_photos_matching_a_loose_astronaut_entry(
    store: WatchlistStore,
    scene_embedder: SceneEmbedder,
    reference_images: dict[str, np.ndarray],
    reference_files: dict[str, Path],
    astronaut_entry: str,
    photo: str,
    without_negative: bool,
    with_negative: bool,
) -> None:
    images = {
        "astronaut darker": (reference_images["astronaut"][60:500, 30:490] * 0.7).astype(np.uint8),
        "coffee darker": (reference_images["coffee"][40:380, 60:560] * 0.7).astype(np.uint8),
        "camera": np.stack([skimage.data.camera()] * 3, axis=-1),
        "rocket": reference_images["rocket"],
    }
    query = scene_embedder.embed([images[photo]])
    index = WatchlistIndex.from_store(store, "anomaly", scene_embedder.version, default_threshold=0.75)
    before = [m.label for m in index.search(query)[0]]

    enroller = Enroller(store, scene_embedder, show_progress=False)
    report = enroller.add_negatives(astronaut_entry, [reference_files["coffee"]], actor="alice")
    index.sync()

    assert len(report.added) == 1 and report.model_version == scene_embedder.version
    assert before == (["astronaut"] if without_negative else [])
    assert [m.label for m in index.search(query)[0]] == (["astronaut"] if with_negative else [])


def test_negatives_go_through_the_same_checks_and_duplicates_are_skipped(
    store: WatchlistStore, scene_embedder: SceneEmbedder, reference_images: dict[str, np.ndarray], astronaut_entry: str
) -> None:
    enroller = Enroller(store, scene_embedder, show_progress=False)
    coffee = check_image_bytes("upload:coffee.png", encode(reference_images["coffee"], "PNG"))

    first = enroller.add_negatives(astronaut_entry, [coffee], actor="alice")
    again = enroller.add_negatives(astronaut_entry, [coffee], actor="alice")

    assert [n.source for n in first.added] == ["upload:coffee.png"] and first.added[0].negative
    assert again.added == () and again.duplicates[0].image_id == first.added[0].id
