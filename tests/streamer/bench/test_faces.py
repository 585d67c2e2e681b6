"""The faces benchmark: every one-thread way of describing the chips is compared with dlib at its own batch size, on
distinct chips. Run once with two repeats; the numbers themselves are not asserted (no timing assertions in unit
tests)."""

from __future__ import annotations

import numpy as np
import pytest

from engines.faces import FacePipeline
from streamer.bench.faces import CHIPS, DLIB_BATCH, DLIB_SINGLE, bench_faces, distinct_chips
from streamer.bench.report import median_of


def test_each_one_thread_row_is_compared_with_dlib_at_the_same_batch_and_dlib_rows_are_the_reference() -> None:
    pytest.importorskip("dlib")

    table = bench_faces(repeats=2)

    rows = {row[0]: row for row in table.rows}
    compared = [label for label in rows if rows[label][4]]
    assert len(compared) == 4 and all(float(rows[label][1]) < 1.5 for label in compared)  # one thread, like dlib
    assert {DLIB_SINGLE, DLIB_BATCH} <= set(rows)
    assert all(rows[label][4].endswith(")") and "x (" in rows[label][4] for label in compared)  # median (min-max)
    assert rows[DLIB_SINGLE][4] == rows[DLIB_BATCH][4] == ""
    assert median_of(rows[DLIB_BATCH][2]) == pytest.approx(median_of(rows[DLIB_BATCH][3]) * CHIPS, rel=0.01)


def test_the_chips_are_distinct_faces(face_pipeline: FacePipeline) -> None:
    chips = distinct_chips(face_pipeline, 8)

    assert len(chips) == 8 and all(chip.shape == (150, 150, 3) for chip in chips)
    assert len({chip.tobytes() for chip in chips}) == 8
    embeddings = face_pipeline.embedder.embed_unit(chips)
    similarity = embeddings @ embeddings.T
    assert float(similarity[np.triu_indices(8, 1)].min()) < 0.95  # more than one person among them
