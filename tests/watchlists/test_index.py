"""The watchlist index: per-entry thresholds, camera scope, enabled flag, grouping by entry, following the store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engines.scene import SceneEmbedder
from tests.watchlists.samples import DIM, TEST_MODEL, new_image, unit
from watchlists.enroll import Enroller
from watchlists.errors import EmbeddingMismatchError
from watchlists.index import Match, WatchlistIndex
from watchlists.store import WatchlistStore

# The query unit(1) scores 1.0 against NEAR, 0.894 against CLOSE, 0.707 against HALFWAY, 0 against ORTHOGONAL.
NEAR, CLOSE, HALFWAY, ORTHOGONAL = unit(1), unit(2, 1), unit(1, 1), unit(0, 1)
QUERY = unit(1)[None]


def _index(store: WatchlistStore, default_threshold: float = 0.6) -> WatchlistIndex:
    return WatchlistIndex.from_store(store, "anomaly", TEST_MODEL, default_threshold=default_threshold, dim=DIM)


def _labels(matches: list[Match]) -> list[str]:
    return [m.label for m in matches]


@pytest.mark.parametrize(
    ("own_threshold", "default_threshold", "matches"),
    [
        (None, 0.6, True),  # 0.707 >= default 0.6
        (None, 0.75, False),  # 0.707 <  default 0.75
        (0.7, 0.75, True),  # its own threshold wins over the default
        (0.71, 0.0, False),
        (0.7071, 0.0, True),  # at the threshold counts as a match
    ],
)
def test_an_entry_matches_at_or_above_its_own_threshold_else_the_kinds_default(
    store: WatchlistStore, own_threshold: float | None, default_threshold: float, matches: bool
) -> None:
    store.create_entry("anomaly", "halfway", [new_image(HALFWAY, "h")], actor="t", threshold=own_threshold)

    found = _index(store, default_threshold).search(QUERY)[0]

    assert _labels(found) == (["halfway"] if matches else [])
    if matches:
        assert found[0].threshold == (default_threshold if own_threshold is None else own_threshold)
        assert found[0].score == pytest.approx(0.70710677, abs=1e-6)


@pytest.mark.parametrize(
    ("scope", "camera", "matches"),
    [
        ((), "lobby", True),
        (("lobby",), "lobby", True),
        (("lobby", "gate"), "gate", True),
        (("lobby",), "garage", False),
        (("lobby",), None, True),
    ],  # None: an admin's query, no camera to scope by
)
def test_camera_scope_limits_where_an_entry_can_match(
    store: WatchlistStore, scope: tuple[str, ...], camera: str | None, matches: bool
) -> None:
    store.create_entry("anomaly", "scoped", [new_image(NEAR, "n")], actor="t", cameras=scope)

    assert _labels(_index(store).search(QUERY, camera=camera)[0]) == (["scoped"] if matches else [])


def test_a_disabled_entry_never_matches_and_matches_again_once_enabled(store: WatchlistStore) -> None:
    entry = store.create_entry("anomaly", "fire", [new_image(NEAR, "n")], actor="t").entry
    index = _index(store)

    store.set_enabled(entry.id, False, actor="t")
    assert index.sync() and index.search(QUERY) == [[]]

    store.set_enabled(entry.id, True, actor="t")
    assert index.sync() and _labels(index.search(QUERY)[0]) == ["fire"]


def test_hits_are_grouped_by_entry_its_best_image_wins_and_entries_come_best_first(store: WatchlistStore) -> None:
    two = store.create_entry("anomaly", "two", [new_image(HALFWAY, "h"), new_image(CLOSE, "c")], actor="t")
    store.create_entry("anomaly", "exact", [new_image(NEAR, "n")], actor="t")
    store.create_entry("anomaly", "unrelated", [new_image(ORTHOGONAL, "o")], actor="t")

    found = _index(store).search(QUERY)[0]

    assert _labels(found) == ["exact", "two"]
    assert found[1].image_id == two.added[1].id and found[1].score == pytest.approx(0.894, abs=1e-3)
    assert [m.kind for m in found] == ["anomaly", "anomaly"]


def test_k_caps_the_entries_per_query_and_every_query_row_gets_its_own_list(store: WatchlistStore) -> None:
    for i, vector in enumerate([NEAR, CLOSE, HALFWAY]):
        store.create_entry("anomaly", f"e{i}", [new_image(vector, f"v{i}")], actor="t")
    index = _index(store)

    results = index.search(np.stack([unit(1), unit(0, 0, 1), unit(1)]), k=2)

    assert [_labels(r) for r in results] == [["e0", "e1"], [], ["e0", "e1"]]
    assert index.search(np.empty((0, DIM), dtype=np.float32)) == []


def test_queries_need_not_be_normalised_but_must_have_the_models_dimension(store: WatchlistStore) -> None:
    store.create_entry("anomaly", "fire", [new_image(NEAR, "n")], actor="t")
    index = _index(store)

    assert _labels(index.search(QUERY * 7.5)[0]) == ["fire"]
    with pytest.raises(EmbeddingMismatchError, match=f"\\(N, {DIM}\\)"):
        index.search(np.ones((1, DIM + 1), dtype=np.float32))


def test_an_empty_watchlist_matches_nothing(store: WatchlistStore) -> None:
    index = _index(store)

    assert index.search(np.stack([unit(1), unit(2)])) == [[], []]
    assert (index.entry_count, index.image_count) == (0, 0)


def test_sync_is_a_no_op_until_the_store_changes_then_removal_takes_effect_at_once(store: WatchlistStore) -> None:
    entry = store.create_entry("anomaly", "fire", [new_image(NEAR, "n")], actor="t").entry
    index = _index(store)
    assert index.sync() is False

    store.remove_entry(entry.id, actor="t")

    assert index.sync() is True and index.revision == store.revision()
    assert index.search(QUERY) == [[]] and index.image_count == 0


def test_sync_picks_up_a_change_made_through_another_connection(store: WatchlistStore) -> None:
    index = _index(store)
    with WatchlistStore(store.path) as other_process:
        other_process.create_entry("anomaly", "fire", [new_image(NEAR, "n")], actor="t")

    assert index.sync() is True
    assert _labels(index.search(QUERY)[0]) == ["fire"]


def test_embeddings_of_another_model_are_ignored(store: WatchlistStore) -> None:
    store.create_entry("anomaly", "old model", [new_image(NEAR, "n", model_version="older@1")], actor="t")

    index = _index(store)

    assert index.search(QUERY) == [[]] and index.entry_count == 1 and index.image_count == 0


def test_a_searcher_thread_keeps_getting_whole_answers_while_the_index_rebuilds(store: WatchlistStore) -> None:
    store.create_entry("anomaly", "stays", [new_image(NEAR, "stays")], actor="t")
    index = _index(store)
    stop, failures, searches = threading.Event(), [], [0]

    def search_until_stopped() -> None:
        while not stop.is_set():
            labels = _labels(index.search(QUERY)[0])
            if labels[:1] != ["stays"] or not set(labels) <= {"stays", "comes and goes"}:
                failures.append(labels)
            searches[0] += 1

    searcher = threading.Thread(target=search_until_stopped, daemon=True)
    searcher.start()
    try:
        for round_ in range(30):
            entry = store.create_entry("anomaly", "comes and goes", [new_image(CLOSE, f"c{round_}")], actor="t").entry
            index.sync()
            store.remove_entry(entry.id, actor="t")
            index.sync()
    finally:
        stop.set()
        searcher.join(timeout=10)

    assert not searcher.is_alive() and failures == [] and searches[0] > 0


@pytest.fixture(scope="module")
def enrolled(
    tmp_path_factory: pytest.TempPathFactory, scene_embedder: SceneEmbedder, reference_files: dict[str, Path]
) -> Iterator[WatchlistStore]:
    """Real embeddings: an astronaut entry (three crops) scoped to the lobby, and a coffee entry."""
    with WatchlistStore(tmp_path_factory.mktemp("enrolled") / "watchlist.db") as store:
        enroller = Enroller(store, scene_embedder, show_progress=False)
        enroller.enroll("anomaly", "astronaut", [reference_files["astronaut"]], actor="t", cameras=["lobby"])
        enroller.enroll("anomaly", "coffee", [reference_files["coffee"]], actor="t")
        yield store


@pytest.mark.parametrize(
    ("photo", "camera", "expected"),
    [
        ("astronaut", "lobby", ["astronaut"]),
        ("astronaut shifted and darker", "lobby", ["astronaut"]),
        ("astronaut", "garage", []),  # the astronaut entry is scoped to the lobby
        ("coffee", "garage", ["coffee"]),
        ("chelsea", "lobby", []),
        ("rocket", "lobby", []),
    ],
)
def test_real_embeddings_match_the_enrolled_scene_and_nothing_else_at_the_default_threshold(
    enrolled: WatchlistStore,
    scene_embedder: SceneEmbedder,
    reference_images: dict[str, np.ndarray],
    photo: str,
    camera: str,
    expected: list[str],
) -> None:
    if photo == "astronaut shifted and darker":
        image = (reference_images["astronaut"][60:500, 30:490] * 0.7).astype(np.uint8)
    else:
        image = reference_images[photo]
    index = WatchlistIndex.from_store(
        enrolled, "anomaly", scene_embedder.version, default_threshold=0.75, dim=scene_embedder.dim
    )

    found = index.search(scene_embedder.embed([image]), camera=camera)[0]

    assert _labels(found) == expected
    assert all(m.score >= 0.75 for m in found)
