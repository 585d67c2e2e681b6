"""The embedding benchmark runs the pipeline with the shipped defaults beside bare ONNX Runtime: a row each and a
ratio row, every cell a median with its spread (the timings themselves are for ``vigil bench``, not for tests)."""

from __future__ import annotations

import pytest

from streamer.bench.embedding import bench_embedding
from streamer.bench.report import median_of


def test_embedding_benchmark_compares_the_default_pipeline_with_bare_onnx_runtime() -> None:
    table = bench_embedding(seconds=1.0, repeats=2)

    pipeline, bare, ratio = table.rows
    assert pipeline[0].startswith("pipeline, shipped defaults") and bare[0].startswith("bare ORT")
    assert "regions 3x2: 7 embeddings per keyframe, faces on" in table.notes[0]  # the shipped defaults, said
    assert "mobilenet_v2_pooled@" in table.title and "the mean of the cells under each window" in table.notes[1]
    for row in (pipeline, bare):
        keyframes, images = median_of(row[1]), median_of(row[2])
        assert keyframes > 0 and images == pytest.approx(keyframes * 7, rel=0.2)
        assert all("(" in cell for cell in row[1:])  # median (min-max) of the turns
    assert ratio[0] == "pipeline / bare" and median_of(ratio[2]) > 0 and median_of(ratio[3]) > 0
