"""The watchlist benchmarks run end to end at toy sizes: one row per size and kind, recall and matched shares that
make sense for mostly non-matching queries, and enrollment stores every photo (the timings themselves are for
``vigil bench``, not for tests)."""

from __future__ import annotations

import faiss
import numpy as np

from engines.scene import SceneEmbedder
from streamer.bench.report import median_of
from streamer.bench.search import (
    FACE_LIKE,
    MATCH_SHARE,
    SCENE_LIKE,
    bench_enrollment,
    bench_search,
    synthetic_watchlist,
)


def test_search_benchmark_has_a_row_per_size_and_kind_with_recall_and_mostly_unmatched_queries() -> None:
    threads = faiss.omp_get_max_threads()

    table = bench_search(
        (100, 1_000), dims=(("face", 128, 1_000), ("scene", 256, 100)), queries=40, repeats=2, faiss_threads=1
    )

    assert [row[:2] for row in table.rows] == [["face 128-d", "100"], ["face 128-d", "1,000"], ["scene 256-d", "100"]]
    for row in table.rows:
        p50, p99, exact_p99 = (median_of(cell) for cell in row[5:8])
        assert 0 < p50 <= p99 and exact_p99 > 0
        assert "(" in row[5]  # median (min-max) of the repeats
        matched = float(row[8].rstrip("%")) / 100
        assert MATCH_SHARE / 2 <= matched <= MATCH_SHARE * 2  # the watchlisted captures match, strangers do not
        assert float(row[9]) == 1.0  # below 32 MB the index is the exact scan: recall@1 cannot miss
    assert faiss.omp_get_max_threads() == threads  # restored


def test_synthetic_vectors_are_clustered_like_real_embeddings_not_isotropic() -> None:
    for model, dim, threshold in ((FACE_LIKE, 128, 0.945), (SCENE_LIKE, 1280, 0.75)):
        data = synthetic_watchlist(300, dim, model=model).data
        assert len(data.entries) == len(data.image_ids) == 300
        assert np.allclose(np.linalg.norm(data.vectors, axis=1), 1.0, atol=1e-5)
        cosines = (data.vectors @ data.vectors.T)[np.triu_indices(300, 1)]
        # strangers share a direction (random unit vectors would sit near 0) yet stay below the match threshold
        assert 0.3 < float(np.median(cosines)) < threshold - 0.1
        assert float(np.percentile(cosines, 99.9)) < threshold


def test_enrollment_benchmark_stores_every_photo_of_its_folder(scene_embedder: SceneEmbedder) -> None:
    table = bench_enrollment(scene_embedder, count=12, batch_size=4)

    assert table.rows[0][:2] == [scene_embedder.version, "12"]
