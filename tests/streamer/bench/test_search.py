"""The watchlist benchmarks run end to end at toy sizes: one row per size and kind, and enrollment stores every
photo (the numbers themselves are for ``vigil bench``, not for tests)."""

from __future__ import annotations

import faiss

from engines.scene import SceneEmbedder
from streamer.bench.search import bench_enrollment, bench_search, synthetic_watchlist


def test_search_benchmark_has_a_row_per_size_and_kind_within_its_largest_size() -> None:
    threads = faiss.omp_get_max_threads()

    table = bench_search((100, 1_000), dims=(("face", 16, 1_000), ("scene", 32, 100)), queries=16, faiss_threads=1)

    assert [row[:2] for row in table.rows] == [["face 16-d", "100"], ["face 16-d", "1,000"], ["scene 32-d", "100"]]
    assert all(float(cell) >= 0 for row in table.rows for cell in row[2:])
    assert faiss.omp_get_max_threads() == threads  # restored


def test_the_synthetic_watchlist_holds_one_unit_vector_per_entry() -> None:
    data = synthetic_watchlist(50, 8).data

    assert len(data.entries) == len(data.image_ids) == 50
    assert abs(float((data.vectors**2).sum(axis=1).mean()) - 1.0) < 1e-5


def test_enrollment_benchmark_stores_every_photo_of_its_folder(scene_embedder: SceneEmbedder) -> None:
    table = bench_enrollment(scene_embedder, count=12, batch_size=4)

    assert table.rows[0][:2] == [scene_embedder.version, "12"]
