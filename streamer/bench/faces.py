"""Face pipeline costs: MTCNN per 720p/1080p frame, and the ported dlib ResNet vs dlib itself on the same CPU.

The embedder rows time the same aligned 150x150 chips three ways: Vigil's ONNX port at batch 1 and at batch 16, and
dlib's own ``compute_face_descriptor`` (one chip per call, and dlib's batched call over a list of chips).
"""

from __future__ import annotations

import time

import numpy as np

from engines.faces import load_face_pipeline
from engines.registry import get_model_spec
from streamer.bench.report import BenchTable, console
from streamer.demo.scenes import letterbox, photo


def bench_faces(repeats: int = 10) -> BenchTable:
    pipeline = load_face_pipeline(threads=0, show_progress=True)
    table = BenchTable(
        "face pipeline (ms; median of repeats)",
        ["what", "ms", "ms per chip", "speed-up vs dlib (1 chip/call)"],
        notes=["MTCNN searches a copy shrunk to 640 px on its long side and maps boxes back.",
               "dlib: compute_face_descriptor from the dlib-bin wheel, same chips, same process."],
    )  # fmt: skip
    for name, size in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
        frame = letterbox(photo("astronaut"), size, 1.0)
        with console.status(f"MTCNN on a {name} frame"):
            ms = _median_ms(lambda f=frame: pipeline.detector.detect(f), repeats)
        table.rows.append([f"MTCNN detect, {name} frame", f"{ms:.1f}", "", ""])
    chip = pipeline.analyse(photo("astronaut"))[0].chip
    chips = [np.ascontiguousarray(chip) for _ in range(16)]
    dlib_single = _dlib_ms_per_chip(chips, repeats)
    with console.status("face embedder"):
        for batch in (1, 16):
            ms = _median_ms(lambda b=batch: pipeline.embedder.embed(chips[:b]), repeats) / batch
            speedup = f"{dlib_single[0] / ms:.1f}x" if dlib_single else "dlib not installed"
            table.rows.append([f"ONNX port, batch {batch}", f"{ms * batch:.1f}", f"{ms:.2f}", speedup])
    if dlib_single:
        single, batched = dlib_single
        table.rows.append(["dlib, one chip per call", f"{single:.1f}", f"{single:.2f}", "1.0x"])
        table.rows.append(
            ["dlib, 16 chips per call", f"{batched * 16:.1f}", f"{batched:.2f}", f"{single / batched:.1f}x"]
        )
    return table


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))


def _dlib_ms_per_chip(chips: list[np.ndarray], repeats: int) -> tuple[float, float] | None:
    """dlib's own descriptor cost per chip (single calls, batched call), or None without dlib (a dev dependency)."""
    try:
        import dlib
    except ImportError:
        return None
    model = dlib.face_recognition_model_v1(str(get_model_spec("dlib_resnet128").weights_path()))
    with console.status("dlib compute_face_descriptor"):
        single = _median_ms(lambda: model.compute_face_descriptor(chips[0]), repeats)
        batched = _median_ms(lambda: model.compute_face_descriptor(chips), max(2, repeats // 4)) / len(chips)
    return single, batched
