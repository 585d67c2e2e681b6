"""The regions benchmark: a row per (model, grid) with crops "3x2" as the 1.0 reference and pooled rows beside it.
Measured for one round on one frame; timings are not asserted (no timing assertions in unit tests)."""

from __future__ import annotations

from streamer.bench.regions import BASELINE, MODES, bench_regions


def test_every_mode_gets_a_row_with_its_rows_per_frame_and_its_cost_against_crops_3x2() -> None:
    table = bench_regions(rounds=1, batch=1)

    assert [(row[0], row[1]) for row in table.rows] == list(MODES)
    assert [row[2] for row in table.rows] == ["1", "7", "19", "7", "19", "43"]
    assert next(row[5] for row in table.rows if (row[0], row[1]) == BASELINE) == "1.00"
    assert all(float(row[3]) > 0 for row in table.rows)
    assert any("cosine pooled vs crop" in note for note in table.notes)
