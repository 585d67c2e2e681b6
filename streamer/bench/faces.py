"""Face pipeline costs: MTCNN per 720p/1080p frame, and the ported dlib ResNet against dlib itself, equal threads,
on distinct face chips.

The chips: ``CHIPS`` different aligned 150x150 chips, detected and aligned by Vigil's own pipeline in photos of
three people (scikit-image's astronaut and cameraman, matplotlib's Grace Hopper when matplotlib is installed), each
photo rotated, scaled, re-lit and mirrored at random first, so no two chips are the same pixels (a batch of copies
of one chip would let caches flatter both sides). The embedder rows time them every way: the port's network alone on
a ready NCHW batch, ``FaceEmbedder.embed`` (chip checks and preprocessing included) at batch 1 and ``CHIPS``, the
same right after an MTCNN run (the order the pipeline runs them in), and dlib's own ``compute_face_descriptor``: one
chip per call, and its batched call over the same chips.

Equal threads: dlib's wheel (dlib-bin, built without BLAS) computes on one thread, so every row compared with it
runs ONNX Runtime on one thread too, and the table shows the threads each row kept busy (CPU time over wall time).
One row runs the port on all cores for reference, without a speed-up (it would compare unequal hardware). Rows
are measured in turns within each repeat, ratios are taken within a repeat, and cells are median (min-max) over
repeats: on a shared 2-core VM dlib's own time moves by a third from minute to minute.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from engines.backends import BackendOptions, create_backend
from engines.faces import FacePipeline, load_face_embedder, load_face_pipeline
from engines.registry import get_model_spec
from streamer.bench.report import BenchTable, console, spread
from streamer.demo.scenes import letterbox, photo

CHIPS = 16
DLIB_SINGLE, DLIB_BATCH = "dlib, 1 chip per call (1 thread)", f"dlib, {CHIPS} chips per call (1 thread)"


@dataclass(frozen=True)
class _Row:
    """One timed way of describing chips.

    Attributes:
        label: the row's name in the table.
        run: the timed call.
        chips: chips per call (0: not a chip row).
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
        f"face pipeline, {CHIPS} distinct chips (median (min-max) of {repeats} interleaved repeats; "
        "speed-up: dlib's ms per chip over the row's, same batch, same threads)",
        ["what", "threads busy", "ms per call", "ms per chip", "speed-up vs dlib"],
        notes=["MTCNN (all cores) searches a copy shrunk to 640 px on its long side and maps boxes back.",
               "dlib: compute_face_descriptor from the dlib-bin wheel (one thread, no BLAS), same chips, same process.",
               "ONNX port: ONNX Runtime on the CPU with 1 intra-op thread, like dlib, unless the row says all cores.",
               f"chips: {CHIPS} different faces-in-photos of 3 people, augmented, detected and aligned by Vigil."],
    )  # fmt: skip
    with console.status(f"{CHIPS} distinct face chips"):
        chips = distinct_chips(pipeline, CHIPS)
    frames = {name: letterbox(photo("astronaut"), size, 1.0) for name, size in (("720p", (1280, 720)),
                                                                                ("1080p", (1920, 1080)))}  # fmt: skip
    rows = [
        _Row(f"MTCNN detect, {name} frame (all cores)", lambda f=frame: pipeline.detector.detect(f), 0)
        for name, frame in frames.items()
    ]
    rows += _embedder_rows(pipeline, chips, frames["720p"])
    with console.status(f"MTCNN, face embedders and dlib: {len(rows)} rows x {repeats} repeats, in turns"):
        wall, busy = _measure_in_turns(rows, repeats)
    per_chip = {row.label: [ms / row.chips for ms in wall[row.label]] for row in rows if row.chips}
    for row in rows:
        speedup = ""
        if row.versus in per_chip:
            ratios = [theirs / mine for theirs, mine in zip(per_chip[row.versus], per_chip[row.label], strict=True)]
            speedup = spread(ratios, 1, "x")
        table.rows.append([
            row.label, f"{np.median(busy[row.label]):.2f}", spread(wall[row.label], 1),
            spread(per_chip[row.label]) if row.chips else "", speedup,
        ])  # fmt: skip
    if DLIB_SINGLE not in per_chip:
        table.notes.append("no dlib rows: dlib is not installed (pip install dlib-bin)")
    return table


def distinct_chips(pipeline: FacePipeline, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` aligned chips, no two alike: each from a randomly rotated, scaled, re-lit (and every other one
    mirrored) copy of one of the bundled face photos, found and aligned by ``pipeline``."""
    rng = np.random.default_rng(seed)
    photos = _face_photos()
    chips: list[np.ndarray] = []
    for attempt in range(count * 4):
        source = photos[attempt % len(photos)]
        height, width = source.shape[:2]
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), rng.uniform(-12, 12), rng.uniform(0.8, 1.2))
        image = cv2.warpAffine(source, turn, (width, height), borderMode=cv2.BORDER_REFLECT)
        image = np.clip(image.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-20, 20), 0, 255)
        image = np.ascontiguousarray(image.astype(np.uint8)[:, ::-1] if attempt % 2 else image.astype(np.uint8))
        faces = pipeline.analyse(image)
        if faces:
            chips.append(np.ascontiguousarray(faces[0].chip))
        if len(chips) == count:
            return chips
    raise RuntimeError(f"found faces for only {len(chips)} of {count} chips")


def _face_photos() -> list[np.ndarray]:
    """Public-domain photos of one face each, shipped inside installed packages (nothing is downloaded)."""
    photos = [photo("astronaut"), photo("camera")]
    try:
        from matplotlib import cbook
        from PIL import Image
    except ImportError:  # matplotlib is a dev dependency
        return photos
    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as hopper:
        photos.append(np.asarray(hopper.convert("RGB")))
    return photos


def _embedder_rows(pipeline: FacePipeline, chips: list[np.ndarray], frame: np.ndarray) -> list[_Row]:
    embedder = pipeline.embedder
    one = load_face_embedder(embedder.name, backend="onnxruntime", threads=1)
    network = create_backend("onnxruntime", one.spec, options=BackendOptions(threads=1))
    ready = one.preprocess(chips)
    rows = [
        _Row(f"ONNX port network alone, ready batch of {CHIPS}", lambda: network.run(ready), CHIPS, DLIB_BATCH),
        _Row("FaceEmbedder.embed, batch 1", lambda: one.embed(chips[:1]), 1, DLIB_SINGLE),
        _Row(f"FaceEmbedder.embed, batch {CHIPS}", lambda: one.embed(chips), CHIPS, DLIB_BATCH),
        _Row(
            f"FaceEmbedder.embed, batch {CHIPS}, right after MTCNN", lambda: one.embed(chips), CHIPS, DLIB_BATCH,
            before=lambda: pipeline.detector.detect(frame),
        ),
        _Row(f"FaceEmbedder.embed, batch {CHIPS}, all {os.cpu_count()} cores (not comparable)",
             lambda: embedder.embed(chips), CHIPS),
    ]  # fmt: skip
    model = _dlib_model()
    if model is not None:
        rows.append(_Row(DLIB_SINGLE, lambda: model.compute_face_descriptor(chips[0]), 1))
        rows.append(_Row(DLIB_BATCH, lambda: model.compute_face_descriptor(chips), CHIPS))
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


def _dlib_model() -> Any | None:
    """dlib's own descriptor model on Vigil's weights file, or None without dlib (a dev dependency)."""
    try:
        import dlib
    except ImportError:
        return None
    return dlib.face_recognition_model_v1(str(get_model_spec("dlib_resnet128").weights_path()))
