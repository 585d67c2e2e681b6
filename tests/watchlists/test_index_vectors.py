"""The FAISS side of the watchlist index: layout by size, IVF recall against an exact scan, removal, probe counts."""

from __future__ import annotations

import itertools

import faiss
import numpy as np
import pytest

from watchlists.index_probes import THRESHOLDS, ProbeTable
from watchlists.index_vectors import RETRAIN_GROWTH, VectorIndex, ivf_from


def _unit_rows(count: int, dim: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, dim), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _near_duplicates(stored: np.ndarray, count: int, low: float, seed: int = 1) -> np.ndarray:
    """Queries at a similarity drawn from [low, 1) to random stored rows: true matches at threshold ``low``."""
    rng = np.random.default_rng(seed)
    source = stored[rng.integers(0, len(stored), count)]
    drift = rng.standard_normal(source.shape).astype(np.float32)
    drift -= np.sum(drift * source, axis=1, keepdims=True) * source
    drift /= np.linalg.norm(drift, axis=1, keepdims=True)
    similarity = rng.uniform(low, 1.0, (count, 1)).astype(np.float32)
    return np.ascontiguousarray(similarity * source + np.sqrt(1 - similarity**2) * drift, dtype=np.float32)


def _hits(lims: np.ndarray, scores: np.ndarray, ids: np.ndarray) -> list[dict[int, float]]:
    return [dict(zip(ids[a:b].tolist(), scores[a:b].tolist(), strict=True)) for a, b in itertools.pairwise(lims)]


@pytest.fixture(scope="module")
def large() -> tuple[np.ndarray, np.ndarray, VectorIndex]:
    """8k random 1280-d unit rows (ids 1000, 1001, ...): past the 6,554 rows from which 1280-d goes IVF."""
    vectors = _unit_rows(8_000, 1280)
    ids = np.arange(1_000, 1_000 + len(vectors), dtype=np.int64)
    return ids, vectors, VectorIndex.build(1280, ids, vectors)


@pytest.mark.parametrize(
    ("dim", "count", "layout"),
    [
        (8, 100, "flat"),
        (128, 20_000, "flat"),  # 2.6M floats: a flat scan still fits the budget
        (1280, ivf_from(1280) - 1, "flat"),
        (1280, ivf_from(1280), "ivf"),
    ],
)
def test_the_layout_follows_the_size_of_the_vectors(dim: int, count: int, layout: str) -> None:
    built = VectorIndex.build(dim, np.arange(count, dtype=np.int64), _unit_rows(count, dim))

    assert built.layout.startswith(layout) and built.ntotal == count
    assert (built.probes is None) == (layout == "flat")


def test_ivf_finds_what_an_exact_scan_finds_with_the_same_scores(large: tuple) -> None:
    ids, vectors, index = large
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(1280))
    exact.add_with_ids(vectors, ids)
    queries = np.concatenate([_near_duplicates(vectors, 300, 0.75), _unit_rows(100, 1280, seed=5)])

    found = _hits(*index.range_search(queries, 0.75))
    truth = _hits(*exact.range_search(queries, 0.75))

    wanted = sum(len(t) for t in truth)
    recalled = sum(len(t.keys() & f.keys()) for t, f in zip(truth, found, strict=True))
    assert wanted >= 300 and recalled / wanted >= 0.99
    for t, f in zip(truth, found, strict=True):
        assert f.keys() <= t.keys()  # never a hit the exact scan does not have
        assert all(f[i] == pytest.approx(t[i], abs=1e-5) for i in f)  # vectors are not quantised


def test_contents_give_back_every_id_and_vector_in_id_order(large: tuple) -> None:
    ids, vectors, index = large
    small = VectorIndex.build(1280, ids[:50][::-1].copy(), vectors[:50][::-1].copy())

    for built, count in ((index, len(ids)), (small, 50)):
        got_ids, got_vectors = built.contents()
        assert np.array_equal(got_ids, ids[:count]) and np.array_equal(got_vectors, vectors[:count])
        assert np.array_equal(built.ids(), ids[:count])


@pytest.mark.parametrize("layout", ["flat", "ivf"])
def test_a_removed_id_is_never_found_again_and_added_ids_are(large: tuple, layout: str) -> None:
    ids, vectors, ivf = large
    index = ivf.rebuilt() if layout == "ivf" else VectorIndex.build(1280, ids[:100], vectors[:100])
    added = _unit_rows(1, 1280, seed=9)

    assert index.remove(ids[[3, 7]]) == 2 and index.remove(np.array([123_456_789])) == 0
    index.add(np.array([99_999]), added)

    lims, _, found = index.range_search(np.concatenate([vectors[[3, 7, 8]], added]), 0.99)
    assert [found[a:b].tolist() for a, b in itertools.pairwise(lims)] == [[], [], [ids[8]], [99_999]]


def test_a_clone_changes_apart_from_its_original(large: tuple) -> None:
    ids, _, index = large

    copy = index.clone()
    copy.remove(ids[:10])

    assert copy.layout == index.layout and copy.probes == index.probes
    assert (copy.ntotal, index.ntotal) == (len(ids) - 10, len(ids))


def test_an_index_asks_for_a_rebuild_when_its_size_leaves_its_layout(large: tuple) -> None:
    ids, vectors, ivf = large
    flat = VectorIndex.build(1280, ids[:10], vectors[:10])

    assert not flat.needs_rebuild(ivf_from(1280) - 1) and flat.needs_rebuild(ivf_from(1280))
    assert not ivf.needs_rebuild(len(ids)) and not ivf.needs_rebuild(int(RETRAIN_GROWTH * len(ids)) - 1)
    assert ivf.needs_rebuild(int(RETRAIN_GROWTH * len(ids)))  # lists grown long: retrain
    assert ivf.needs_rebuild(ivf_from(1280) // 2 - 1)  # shrunk: back to flat


def test_lower_thresholds_probe_at_least_as_many_lists(large: tuple) -> None:
    probes = large[2].probes

    assert probes is not None and list(probes.probes) == sorted(probes.probes, reverse=True)
    assert 1 <= probes.nprobe(0.95) <= probes.nprobe(0.75) <= probes.nprobe(0.5) <= probes.nlist


@pytest.mark.parametrize(
    ("floor", "nprobe"),
    [(0.99, 2), (0.95, 2), (0.9499999, 3), (0.7, 9), (0.5, 20), (0.4999, 100), (-1.0, 100)],
)
def test_a_search_probes_the_count_of_the_highest_grid_threshold_at_or_below_its_floor(
    floor: float, nprobe: int
) -> None:
    counts = (20, 18, 15, 12, 9, 7, 5, 4, 3, 2)  # one per grid threshold, 0.5 ... 0.95
    table = ProbeTable(100, THRESHOLDS, counts)

    assert table.nprobe(floor) == nprobe


def test_a_probe_table_refuses_counts_outside_its_lists() -> None:
    with pytest.raises(ValueError, match="in \\[1, 10\\]"):
        ProbeTable(10, (0.5,), (11,))
