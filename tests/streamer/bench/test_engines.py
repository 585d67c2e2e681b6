"""The engine benchmark: one row per (model, available backend, batch), the bare session as the 1.0 reference, and
a note for every backend this machine cannot run. Measured for a moment on the smallest registry net; the numbers
themselves are not asserted (no timing assertions in unit tests)."""

from __future__ import annotations

from engines.backends import backend_unavailable_reason
from streamer.bench.engines import BARE, available_setups, bench_engines


def test_every_backend_this_machine_runs_gets_a_row_per_batch_beside_the_bare_session() -> None:
    setups, skipped = available_setups(threads=2)

    table = bench_engines((1, 4), seconds=0.05, models=("mtcnn_rnet",), repeats=2, threads=2)

    labels = [BARE, *(setup.label for setup in setups)]
    assert [(row[1], row[2]) for row in table.rows] == [(label, batch) for batch in ("1", "4") for label in labels]
    assert all(row[0] == "mtcnn_rnet" for row in table.rows)
    assert all(row[6] == "1.00" for row in table.rows if row[1] == BARE)
    assert all(float(row[3]) > 0 and float(row[5]) > 0 for row in table.rows)
    assert set(skipped) <= set(table.notes)


def test_a_backend_that_cannot_run_here_is_named_with_its_reason_instead_of_measured() -> None:
    setups, skipped = available_setups()

    assert setups[0].label == "onnxruntime"
    if backend_unavailable_reason("tensorrt") is not None:
        assert any(note.startswith("tensorrt: ") for note in skipped)
        assert all(setup.backend != "tensorrt" for setup in setups)
