"""Embedding throughput: the running pipeline with the shipped defaults against bare ONNX Runtime on the same model.

- pipeline: a running ``Pipeline`` built from the default config (``models.scene_regions`` 3x2, so each keyframe is
  embedded whole and as 6 windows; ``models.faces`` on, with a face and a scene entry enrolled so both matchers
  work; default batching and threads), fed 1280x720 keyframes by 8 simulated cameras faster than it can take them.
  It counts keyframes from its own metrics; scene images = keyframes x embeddings per keyframe.
- bare ORT: what a plain script gets from the same exported MobileNetV2, run by an ONNX Runtime session with the
  backend's session options in batches of ``models.max_batch``, inputs normalised with the model's mean/std. With
  crops (``mobilenet_v2``): the same windows of the same frames, each ``cv2.resize``d to 224x224. Pooled
  (``mobilenet_v2_pooled``, the default): each frame ``cv2.resize``d to the pipeline's input size, one pass, and
  each window the plain mean of the feature-map cells it covers. No faces, no matching: the ceiling.

Both are timed over at least the same wall time (the pipeline from one finished batch to another), in wall time and
in CPU time (``time.process_time``: every thread of this
process, ONNX Runtime's included), taking turns (pipeline window, bare window, ...), so the shared machine's load
moves both alike. The ratios are taken within each turn; cells are median (min-max) over turns.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from engines.backends.onnxruntime import session_options
from engines.export import exported_model_path
from engines.region_pooling import map_input_size
from engines.regions import RegionGrid
from streamer.bench.report import BenchTable, console, spread
from streamer.config import VigilConfig
from streamer.demo.scenes import REFERENCES, demo_frames, reference_image
from streamer.devservices.mosquitto import MosquittoBroker
from streamer.metrics import VigilMetrics
from streamer.pipeline import Pipeline
from streamer.service import build_pipeline
from streamer.sources.frame import Keyframe
from watchlists.enroll import Enroller
from watchlists.store import WatchlistStore

CAMERAS = 8


def bench_embedding(seconds: float, repeats: int = 3) -> BenchTable:
    """``repeats`` turns of ``seconds`` of the pipeline, then of bare ONNX Runtime."""
    frames = list(demo_frames())[::25][:16]
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp, MosquittoBroker() as broker:
        config = _config(Path(tmp), broker)
        metrics = VigilMetrics()
        pipeline, store = build_pipeline(config, metrics=metrics)
        try:
            _enroll(pipeline, store, Path(tmp))
            grid = RegionGrid.parse(config.models.scene_regions)
            bare = _BareOrt(pipeline, grid, frames, config.models.max_batch)
            table = BenchTable(
                f"scene embedding, shipped defaults vs bare ONNX Runtime ({pipeline.embedder.version}; "
                f"median (min-max) of {repeats} interleaved {seconds:.0f} s turns)",
                ["what", "keyframes/s", "scene images/s", "images per CPU-s", "CPU-ms per keyframe"],
                notes=[
                    f"pipeline: default config (regions {grid}: {grid.per_frame} embeddings per keyframe, faces on, "
                    f"batch.max_batch {config.batch.max_batch}), {CAMERAS} simulated 1280x720 cameras, MQTT on.",
                    f"bare ORT: {bare.describe()}, mean/std, batches of {config.models.max_batch}, the backend's "
                    "session options.",
                    "pipeline / bare: scene images per wall second and per CPU-second, ratio taken within each turn.",
                ],
            )
            pipeline.start()
            turns = _turns(pipeline, metrics, bare, frames, seconds, repeats, grid.per_frame)
        finally:
            pipeline.stop()
            store.close()
    ours, theirs = turns
    for label, samples in (("pipeline, shipped defaults", ours), ("bare ORT + cv2.resize", theirs)):
        table.rows.append([
            label, spread([s.keyframes for s in samples], 1), spread([s.images for s in samples], 1),
            spread([s.per_cpu for s in samples], 1), spread([s.cpu_ms for s in samples], 1),
        ])  # fmt: skip
    table.rows.append([
        "pipeline / bare", "", spread([a.images / b.images for a, b in zip(ours, theirs, strict=True)], 2, "x"),
        spread([a.per_cpu / b.per_cpu for a, b in zip(ours, theirs, strict=True)], 2, "x"), "",
    ])  # fmt: skip
    return table


class _Sample:
    """One turn's rates: keyframes and scene images per wall second, images per CPU second, CPU ms per keyframe."""

    def __init__(self, keyframes: float, per_frame: int, wall: float, cpu: float) -> None:
        self.keyframes = keyframes / wall
        self.images = keyframes * per_frame / wall
        self.per_cpu = keyframes * per_frame / cpu
        self.cpu_ms = cpu * 1000 / keyframes


class _BareOrt:
    """A plain script's view of the model: an ORT session fed ``cv2.resize``d windows, or whole frames whose
    feature map it averages over each window (the pooled model)."""

    def __init__(self, pipeline: Pipeline, grid: RegionGrid, frames: list[np.ndarray], batch: int) -> None:
        spec = pipeline.embedder.spec
        self._session = ort.InferenceSession(
            str(exported_model_path(spec)), session_options(), providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self._pooled = spec.dynamic_size
        height, width = frames[0].shape[:2]
        self._size = map_input_size(width, height) if self._pooled else (spec.input_size[1], spec.input_size[0])
        self._mean = np.array(spec.mean, np.float32)
        self._std = np.array(spec.std, np.float32)
        self._frames, self._grid, self._batch = frames, grid, batch

    def describe(self) -> str:
        if self._pooled:
            width, height = self._size
            return f"each frame cv2.resize'd to {width}x{height}, the mean of the cells under each window"
        return f"the same {self._grid.per_frame} windows per frame, cv2.resize to 224"

    def keyframe_batch(self, start: int, count: int) -> None:
        """Embed the windows of ``count`` frames from ``start``: resize, normalise, NCHW, run (then pool)."""
        images = []
        for n in range(start, start + count):
            image = self._frames[n % len(self._frames)]
            windows = [image] if self._pooled else self._windows(image)
            images += [cv2.resize(window, self._size, interpolation=cv2.INTER_LINEAR) for window in windows]
        tensor = ((np.stack(images).astype(np.float32) - self._mean) / self._std).transpose(0, 3, 1, 2)
        tensor = np.ascontiguousarray(tensor)
        for begin in range(0, len(tensor), self._batch):
            (output,) = self._session.run(None, {self._input: tensor[begin : begin + self._batch]})
            if self._pooled:
                self._pool(output)

    def _windows(self, image: np.ndarray) -> list[np.ndarray]:
        return [image[y : y + h, x : x + w] for x, y, w, h in self._grid.boxes(image.shape[1], image.shape[0])]

    def _pool(self, maps: np.ndarray) -> np.ndarray:
        """Each window's vector: the mean of the whole cells it covers (rounded to cells)."""
        _, _, cells_down, cells_across = maps.shape
        height, width = self._frames[0].shape[:2]
        pooled = []
        for x, y, w, h in self._grid.boxes(width, height):
            x0, y0 = round(x * cells_across / width), round(y * cells_down / height)
            x1 = max(round((x + w) * cells_across / width), x0 + 1)
            y1 = max(round((y + h) * cells_down / height), y0 + 1)
            pooled.append(maps[:, :, y0:y1, x0:x1].mean(axis=(2, 3)))
        return np.stack(pooled, axis=1)

    def run_for(self, seconds: float, keyframes_per_call: int) -> tuple[float, float, float]:
        """(keyframes, wall s, CPU s) over about ``seconds``."""
        self.keyframe_batch(0, keyframes_per_call)  # warm-up
        done = 0
        wall, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() - wall < seconds:
            self.keyframe_batch(done, keyframes_per_call)
            done += keyframes_per_call
        return done, time.perf_counter() - wall, time.process_time() - cpu


def _turns(
    pipeline: Pipeline, metrics: VigilMetrics, bare: _BareOrt, frames: list[np.ndarray], seconds: float,
    repeats: int, per_frame: int,
) -> tuple[list[_Sample], list[_Sample]]:  # fmt: skip
    value = metrics.registry.get_sample_value
    name = pipeline.embedder.name

    def processed() -> float:
        return value("vigil_batch_size_sum", {"model": name}) or 0.0

    ours: list[_Sample] = []
    theirs: list[_Sample] = []
    for turn in range(repeats):
        with console.status(f"turn {turn + 1}/{repeats}: pipeline with {CAMERAS} cameras, {seconds:.0f} s"):
            stop = threading.Event()
            feeder = threading.Thread(target=_feed, args=(pipeline, frames, stop), daemon=True)
            feeder.start()
            time.sleep(min(2.0, seconds / 2))  # warm-up: queues full, batches at their size
            done, wall, cpu = _whole_batches(processed, seconds)
            stop.set()
            feeder.join(timeout=5)
            _drain()
        ours.append(_Sample(done, per_frame, wall, cpu))
        with console.status(f"turn {turn + 1}/{repeats}: bare ONNX Runtime, {seconds:.0f} s"):
            done, wall, cpu = bare.run_for(seconds, keyframes_per_call=8)
        theirs.append(_Sample(done, per_frame, wall, cpu))
    return ours, theirs


def _whole_batches(processed: Callable[[], float], seconds: float, poll_s: float = 0.02) -> tuple[float, float, float]:
    """(keyframes, wall s, CPU s) from one batch's end to another's, over at least ``seconds``.

    The pipeline counts a batch's keyframes when the batch is done (8 keyframes of 7 windows each can take seconds on
    a loaded machine), so a fixed window would count 0, 1 or 2 batches; from one batch's end to another's counts
    exactly what was done in between.
    """
    marks: list[tuple[float, float, float]] = []
    last = processed()
    started = time.perf_counter()
    while len(marks) < 2 or time.perf_counter() - started < seconds:
        if time.perf_counter() - started > seconds + 120:
            raise RuntimeError("the pipeline finished fewer than 2 batches in 2 minutes")
        time.sleep(poll_s)
        if (count := processed()) != last:
            marks.append((count, time.perf_counter(), time.process_time()))
            last = count
    (count0, wall0, cpu0), (count1, wall1, cpu1) = marks[0], marks[-1]
    return count1 - count0, wall1 - wall0, cpu1 - cpu0


def _drain(window_s: float = 0.25, busy: float = 0.1, timeout_s: float = 60.0) -> None:
    """Wait until this process is idle (under ``busy`` of a core over ``window_s``): the pipeline has embedded what
    its queues held, so the next bare turn does not share the CPU with it. An idle pipeline costs ~0.1% of a core."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        cpu = time.process_time()
        time.sleep(window_s)
        if time.process_time() - cpu < busy * window_s:
            return


def _config(tmp: Path, broker: MosquittoBroker) -> VigilConfig:
    """The shipped defaults; only where data lives, the broker, and disabled cameras fed by ``_feed``."""
    return VigilConfig.model_validate(
        {
            "mqtt": {"host": broker.host, "port": broker.port},
            "watchlist": {"database": f"{tmp}/watchlist.db"},
            "storage": {"snapshots": f"{tmp}/snapshots"},
            # Disabled cameras: no capture thread; frames come from the feeder, sampled at up to 20 per second.
            "cameras": {
                f"cam{i}": {"url": f"rtsp://127.0.0.1:9/cam{i}", "enabled": False, "sample": {"max_per_second": 20}}
                for i in range(CAMERAS)
            },
        }
    )


def _enroll(pipeline: Pipeline, store: WatchlistStore, tmp: Path) -> None:
    """The demo's references (a face, two scenes): with a face entry the face matcher runs, as deployed."""
    for number, reference in enumerate(REFERENCES):
        model = pipeline.face_pipeline if reference.kind == "face" else pipeline.embedder
        if model is None:
            continue
        path = tmp / f"reference-{number}.png"
        cv2.imwrite(str(path), cv2.cvtColor(reference_image(reference), cv2.COLOR_RGB2BGR))
        Enroller(store, model, show_progress=False).enroll(  # type: ignore[arg-type]
            reference.kind, reference.label, [path], threshold=reference.threshold, actor="bench"
        )


def _feed(pipeline: Pipeline, frames: list[np.ndarray], stop: threading.Event) -> None:
    """Each simulated camera offers a keyframe every 50 ms (8 x 20 fps: more than a CPU can embed)."""
    n = 0
    while not stop.is_set():
        for camera in range(CAMERAS):
            now = datetime.now(UTC)
            pipeline.submit(Keyframe(camera=f"cam{camera}", image=frames[n % len(frames)], frame_time=now,
                                     received_at=time.monotonic()))  # fmt: skip
            n += 1
        stop.wait(0.05)
