"""The faces benchmark: every way of describing the chips gets a row, each compared with dlib at its own batch size.
Run once with one repeat; the numbers themselves are not asserted (no timing assertions in unit tests)."""

from __future__ import annotations

import pytest

from streamer.bench.faces import BATCH, DLIB_BATCH, DLIB_SINGLE, bench_faces


def test_each_onnx_row_is_compared_with_dlib_at_the_same_batch_and_dlib_rows_are_the_reference() -> None:
    pytest.importorskip("dlib")

    table = bench_faces(repeats=1)

    rows = {row[0]: row for row in table.rows}
    onnx_rows = [label for label in rows if "ONNX" in label or "FaceEmbedder" in label]
    assert len(onnx_rows) == 5 and {DLIB_SINGLE, DLIB_BATCH} <= set(rows)
    assert all(rows[label][4].endswith(")") and rows[label][5].endswith("x") for label in onnx_rows)
    assert rows[DLIB_SINGLE][4:] == rows[DLIB_BATCH][4:] == ["", ""]
    assert float(rows[DLIB_BATCH][2]) == pytest.approx(float(rows[DLIB_BATCH][3]) * BATCH, rel=0.01)
    assert float(rows[f"FaceEmbedder.embed, batch {BATCH}, 1 thread"][1]) < 1.5  # one thread busy, not all cores
