"""The watchlist index: per-entry thresholds, camera scope, enabled flag, grouping by entry, following the store."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import pytest

from engines.scene import SceneEmbedder
from tests.watchlists.counting_store import CountingStore
from tests.watchlists.samples import DIM, TEST_MODEL, new_image, unit
from watchlists import index as index_module
from watchlists.enroll import Enroller
from watchlists.errors import EmbeddingMismatchError
from watchlists.index import Match, WatchlistIndex
from watchlists.index_gpu import gpu_copy_kind
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
    ("threshold", "near_margin", "expected"),
    [
        (0.75, 0.0, []),  # 0.707 under 0.75: nothing without a margin
        (0.75, 0.05, [("halfway", True)]),  # within 0.05 under it: a near candidate, never a match
        (0.80, 0.05, []),  # 0.093 under: too far even for a near candidate
        (0.70, 0.05, [("halfway", False)]),  # over the threshold it stays a plain match
    ],
)
def test_a_search_with_a_near_margin_also_returns_entries_just_under_their_threshold(
    store: WatchlistStore, threshold: float, near_margin: float, expected: list[tuple[str, bool]]
) -> None:
    store.create_entry("anomaly", "halfway", [new_image(HALFWAY, "h")], actor="t", threshold=threshold)

    found = _index(store).search(QUERY, near_margin=near_margin)[0]

    assert [(m.label, m.near) for m in found] == expected
    if expected:
        assert found[0].threshold == threshold


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

    store.update_entry(entry.id, enabled=False, actor="t")
    assert index.sync() and index.search(QUERY) == [[]]

    store.update_entry(entry.id, enabled=True, actor="t")
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


def test_sync_picks_up_a_change_made_through_another_connection(store: WatchlistStore, watchlist_database: str) -> None:
    index = _index(store)
    with WatchlistStore(watchlist_database) as other_process:
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


def test_a_change_reads_only_the_vectors_the_index_lacks_and_removal_reads_none(watchlist_database: str) -> None:
    with CountingStore(watchlist_database) as store:
        fire = store.create_entry("anomaly", "fire", [new_image(NEAR, "n"), new_image(CLOSE, "c")], actor="t").entry
        index = _index(store)
        store.create_entry("anomaly", "fog", [new_image(HALFWAY, "h")], actor="t")
        assert index.sync() and _labels(index.search(QUERY)[0]) == ["fire", "fog"]

        store.remove_entry(fire.id, actor="t")
        assert index.sync() and _labels(index.search(QUERY)[0]) == ["fog"]

        store.update_entry(store.list_entries()[0].id, enabled=False, actor="t")
        assert index.sync() and index.search(QUERY) == [[]] and index.image_count == 0

        assert store.fetched == [2, 1, 0, 0] and store.known == [0, 2, 3, 1] and store.full_reads == 0


def _oracle(stored: np.ndarray, owner: np.ndarray, queries: np.ndarray, threshold: float) -> list[dict[int, float]]:
    """Exact answer by brute force: each entry's best score per query, for entries at or over the threshold."""
    scores = queries @ stored.T
    best: list[dict[int, float]] = []
    for row in scores:
        per_entry: dict[int, float] = {}
        for entry, score in zip(owner.tolist(), row.tolist(), strict=True):
            per_entry[entry] = max(per_entry.get(entry, -1.0), score)
        best.append({e: s for e, s in per_entry.items() if s >= threshold})
    return best


@dataclass(frozen=True, eq=False)
class LargeWatchlist:
    store: WatchlistStore
    path: Path  # its SQLite file
    stored: np.ndarray  # (7000, 1280) the images' vectors, entry by entry
    entry_ids: list[str]


@pytest.fixture(scope="module")
def large_watchlist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LargeWatchlist]:
    """140 entries of 50 scene-sized (1280-d) images each, 7,000 in all: past the size where the index goes IVF.
    Each entry is a random direction and its images near-duplicates of it (cosine ~0.8 to it), as several photos
    of one scene are."""
    rng = np.random.default_rng(7)
    dim, entries, images = 1280, 140, 50
    centres = rng.standard_normal((entries, dim)).astype(np.float32)
    spread = rng.standard_normal((entries, images, dim)).astype(np.float32) * (0.75 / np.sqrt(dim))
    stored = (centres[:, None, :] / np.linalg.norm(centres, axis=1)[:, None, None] + spread).reshape(-1, dim)
    stored = (stored / np.linalg.norm(stored, axis=1, keepdims=True)).astype(np.float32)
    path = tmp_path_factory.mktemp("large") / "watchlist.db"  # SQLite: one test works on a copy
    with WatchlistStore(path) as store:
        ids = []
        for e in range(entries):
            rows = stored[e * images : (e + 1) * images]
            batch = [new_image(v, f"{e}-{i}", model_version="scene@1") for i, v in enumerate(rows)]
            ids.append(store.create_entry("anomaly", f"scene {e}", batch, actor="t").entry.id)
        yield LargeWatchlist(store, path, stored, ids)


def _near_duplicate_queries(stored: np.ndarray, count: int, threshold: float, seed: int) -> np.ndarray:
    """Queries at a similarity drawn from [threshold, 1) to random stored images, plus as many random impostors."""
    rng = np.random.default_rng(seed)
    source = stored[rng.integers(0, len(stored), count)]
    drift = rng.standard_normal(source.shape).astype(np.float32)
    drift -= np.sum(drift * source, axis=1, keepdims=True) * source
    drift /= np.linalg.norm(drift, axis=1, keepdims=True)
    similarity = rng.uniform(threshold, 1.0, (count, 1)).astype(np.float32)
    near = similarity * source + np.sqrt(1 - similarity**2) * drift
    queries = np.concatenate([near, rng.standard_normal(near.shape).astype(np.float32)])
    return (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def _assert_matches_like_an_exact_search(index: WatchlistIndex, stored: np.ndarray, entry_ids: list[str]) -> None:
    """At least 99% of the exact matches, nothing the exact search would not match, and the exact scores."""
    queries = _near_duplicate_queries(stored, 300, 0.75, seed=8)
    truth = _oracle(stored, np.repeat(np.arange(len(entry_ids)), 50), queries, 0.75)

    found = [{entry_ids.index(m.entry_id): m.score for m in row} for row in index.search(queries, k=200)]

    wanted = sum(len(t) for t in truth)
    assert wanted >= 300 and sum(len(t.keys() & f.keys()) for t, f in zip(truth, found, strict=True)) / wanted >= 0.99
    for t, f in zip(truth, found, strict=True):
        assert f.keys() <= t.keys() and all(f[e] == pytest.approx(t[e], abs=1e-5) for e in f)


def test_a_large_watchlist_searched_by_ivf_matches_what_an_exact_search_matches(
    large_watchlist: LargeWatchlist,
) -> None:
    large = large_watchlist

    index = WatchlistIndex.from_store(large.store, "anomaly", "scene@1", default_threshold=0.75, dim=1280)

    assert index.layout.startswith("ivf") and index.image_count == 7_000
    _assert_matches_like_an_exact_search(index, large.stored, large.entry_ids)


def test_a_large_watchlist_follows_small_changes_in_place_and_still_matches_exactly(
    large_watchlist: LargeWatchlist,
) -> None:
    store, stored = large_watchlist.store, large_watchlist.stored
    index = WatchlistIndex.from_store(store, "anomaly", "scene@1", default_threshold=0.75, dim=1280)
    layout = index.layout
    extra = store.create_entry("anomaly", "extra", [new_image(stored[0], "extra", model_version="scene@1")], actor="t")
    try:
        assert index.sync() and "extra" in _labels(index.search(stored[:1])[0])
    finally:
        store.remove_entry(extra.entry.id, actor="t")
    assert index.sync() and "extra" not in _labels(index.search(stored[:1])[0])

    assert index.layout == layout  # applied in place: no retraining for one image
    _assert_matches_like_an_exact_search(index, stored, large_watchlist.entry_ids)


def test_an_ivf_index_that_shrinks_goes_back_to_an_exact_flat_scan(
    large_watchlist: LargeWatchlist, tmp_path: Path
) -> None:
    stored, entry_ids = large_watchlist.stored, large_watchlist.entry_ids
    with closing(sqlite3.connect(large_watchlist.path)) as source, closing(sqlite3.connect(tmp_path / "c.db")) as copy:
        source.backup(copy)
    with WatchlistStore(tmp_path / "c.db") as shrinking:
        index = WatchlistIndex.from_store(shrinking, "anomaly", "scene@1", default_threshold=0.75, dim=1280)
        assert index.layout.startswith("ivf")
        for entry_id in entry_ids[:80]:
            shrinking.remove_entry(entry_id, actor="t")

        assert index.sync() and index.layout == "flat" and index.image_count == 3_000
        queries = _near_duplicate_queries(stored[4_000:], 100, 0.75, seed=3)
        truth = _oracle(stored[4_000:], np.repeat(np.arange(80, 140), 50), queries, 0.75)
        found = [{entry_ids.index(m.entry_id): m.score for m in row} for row in index.search(queries, k=200)]
        assert [t.keys() for t in truth] == [f.keys() for f in found]  # exact again


@pytest.mark.skipif(gpu_copy_kind() is None, reason="no CUDA device for FAISS-GPU or torch")
def test_on_a_gpu_the_index_searches_a_device_copy_and_matches_what_an_exact_search_matches(
    large_watchlist: LargeWatchlist,
) -> None:
    large = large_watchlist

    index = WatchlistIndex.from_store(large.store, "anomaly", "scene@1", default_threshold=0.75, dim=1280)

    assert index.layout.endswith("+gpu")
    _assert_matches_like_an_exact_search(index, large.stored, large.entry_ids)


def test_a_live_batch_searches_on_one_faiss_thread_and_a_large_search_on_all(store: WatchlistStore) -> None:
    store.create_entry("anomaly", "near", [new_image(NEAR, "n")], actor="t")
    index = _index(store)
    assert _labels(index.search(np.repeat(QUERY, 7, axis=0))[0]) == ["near"]
    assert faiss.omp_get_max_threads() == 1  # a second thread would wait for a core the networks hold
    large = np.repeat(QUERY, index_module.ONE_THREAD_UP_TO_QUERIES + 1, axis=0)
    assert all(_labels(found) == ["near"] for found in index.search(large))
    assert faiss.omp_get_max_threads() == index_module._ALL_THREADS
