"""Face pipeline costs: MTCNN per 720p/1080p frame, and the ported dlib ResNet against dlib itself on the same CPU.

The embedder rows time the same 16 aligned 150x150 chips (the astronaut's face) every way: the ONNX port's network
alone on a ready NCHW batch, ``FaceEmbedder.embed`` (chip checks and preprocessing included) at batch 1 and 16, the
same right after an MTCNN run (the order the pipeline runs them in), the same on one thread, and dlib's own
``compute_face_descriptor``: one chip per call, and its batched call over the 16 chips.

Fair to dlib: its wheel (dlib-bin, no BLAS) computes on one thread whatever it is given, so each speed-up pairs like
with like (batch 1 with dlib's single call, batch 16 with its 16-chip call), the table shows the threads each row
kept busy (CPU time over wall time, so ONNX Runtime's spinning workers count; the 1-thread row is the per-core
comparison), and the last column divides dlib's fastest repeat by the row's median. Rows are measured in turns within
each repeat, ratios are taken within a repeat, and the table shows medians over repeats: on a shared 2-core VM dlib's
own time moves by a third from minute to minute (77-112 ms per chip seen), more than the port's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.backends import BackendOptions, create_backend
from engines.faces import FacePipeline, load_face_embedder, load_face_pipeline
from engines.registry import get_model_spec
from streamer.bench.report import BenchTable, console
from streamer.demo.scenes import letterbox, photo

BATCH = 16
DLIB_SINGLE, DLIB_BATCH = "dlib, 1 chip per call", f"dlib, {BATCH} chips per call"


@dataclass(frozen=True)
class _Row:
    """One timed way of describing chips.

    Attributes:
        label: the row's name in the table.
        run: the timed call.
        chips: chips per call.
        versus: the dlib row it is compared with (same batch), if any.
        before: untimed work done just before each timed call (what the call follows in the pipeline).
    """

    label: str
    run: Callable[[], object]
    chips: int
    versus: str | None = None
    before: Callable[[], object] | None = None


def bench_faces(repeats: int = 10) -> BenchTable:
    """MTCNN per frame, then every embedder row of the module docstring, ``repeats`` turns each."""
    pipeline = load_face_pipeline(backend="onnxruntime", threads=0, show_progress=True)
    table = BenchTable(
        f"face pipeline (median of {repeats} repeats; speed-up: dlib's ms per chip over the row's, same batch)",
        ["what", "threads busy", "ms per call", "ms per chip", "speed-up vs dlib (range)", "vs dlib's fastest"],
        notes=["MTCNN searches a copy shrunk to 640 px on its long side and maps boxes back.",
               "dlib: compute_face_descriptor from the dlib-bin wheel (one thread), same chips, same process.",
               "ONNX port: ONNX Runtime on the CPU, intra-op threads = all cores unless the row says 1 thread.",
               "vs dlib's fastest: dlib's best repeat over the row's median, the bound that flatters dlib most."],
    )  # fmt: skip
    for name, size in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
        frame = letterbox(photo("astronaut"), size, 1.0)
        with console.status(f"MTCNN on a {name} frame"):
            ms = _median_ms(lambda f=frame: pipeline.detector.detect(f), repeats)
        table.rows.append([f"MTCNN detect, {name} frame", "", f"{ms:.1f}", "", "", ""])
    chip = pipeline.analyse(photo("astronaut"))[0].chip
    rows = _embedder_rows(pipeline, [np.ascontiguousarray(chip) for _ in range(BATCH)])
    with console.status(f"face embedders and dlib: {len(rows)} rows x {repeats} repeats, in turns"):
        wall, busy = _measure_in_turns(rows, repeats)
    per_chip = {row.label: [ms / row.chips for ms in wall[row.label]] for row in rows}
    for row in rows:
        ours = statistics.median(per_chip[row.label])
        speedup = fastest = ""
        if row.versus in per_chip:
            ratios = [theirs / mine for theirs, mine in zip(per_chip[row.versus], per_chip[row.label], strict=True)]
            speedup = f"{statistics.median(ratios):.1f}x ({min(ratios):.1f}-{max(ratios):.1f})"
            fastest = f"{min(per_chip[row.versus]) / ours:.1f}x"
        table.rows.append([
            row.label, f"{statistics.median(busy[row.label]):.2f}", f"{statistics.median(wall[row.label]):.1f}",
            f"{ours:.2f}", speedup, fastest,
        ])  # fmt: skip
    if DLIB_SINGLE not in per_chip:
        table.notes.append("no dlib rows: dlib is not installed (pip install dlib-bin)")
    return table


def _embedder_rows(pipeline: FacePipeline, chips: list[np.ndarray]) -> list[_Row]:
    embedder = pipeline.embedder
    network = create_backend("onnxruntime", embedder.spec, options=BackendOptions(threads=0))
    ready = embedder.preprocess(chips)
    one_thread = load_face_embedder(embedder.name, backend="onnxruntime", threads=1)
    frame = letterbox(photo("astronaut"), (1280, 720), 1.0)
    rows = [
        _Row(f"ONNX port network alone, ready batch of {BATCH}", lambda: network.run(ready), BATCH, DLIB_BATCH),
        _Row("FaceEmbedder.embed, batch 1", lambda: embedder.embed(chips[:1]), 1, DLIB_SINGLE),
        _Row(f"FaceEmbedder.embed, batch {BATCH}", lambda: embedder.embed(chips), BATCH, DLIB_BATCH),
        _Row(
            f"FaceEmbedder.embed, batch {BATCH}, right after MTCNN", lambda: embedder.embed(chips), BATCH, DLIB_BATCH,
            before=lambda: pipeline.detector.detect(frame),
        ),
        _Row(f"FaceEmbedder.embed, batch {BATCH}, 1 thread", lambda: one_thread.embed(chips), BATCH, DLIB_BATCH),
    ]  # fmt: skip
    model = _dlib_model()
    if model is not None:
        rows.append(_Row(DLIB_SINGLE, lambda: model.compute_face_descriptor(chips[0]), 1))
        rows.append(_Row(DLIB_BATCH, lambda: model.compute_face_descriptor(chips), BATCH))
    return rows


def _measure_in_turns(rows: list[_Row], repeats: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall ms and busy threads (CPU s over wall s) per row, ``repeats`` values each, every row once per repeat."""
    wall: dict[str, list[float]] = {row.label: [] for row in rows}
    busy: dict[str, list[float]] = {row.label: [] for row in rows}
    for row in rows:
        row.run()  # warm-up
    for _ in range(repeats):
        for row in rows:
            if row.before is not None:
                row.before()
            started, cpu = time.perf_counter(), time.process_time()
            row.run()
            elapsed = time.perf_counter() - started
            wall[row.label].append(elapsed * 1000)
            busy[row.label].append((time.process_time() - cpu) / elapsed)
    return wall, busy


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))


def _dlib_model() -> Any | None:
    """dlib's own descriptor model on Vigil's weights file, or None without dlib (a dev dependency)."""
    try:
        import dlib
    except ImportError:
        return None
    return dlib.face_recognition_model_v1(str(get_model_spec("dlib_resnet128").weights_path()))
