"""Embedding throughput: the whole pipeline path vs a bare ONNX Runtime session on the same model and batch.

Three rows per batch size, measured one after the other in this process:
- bare ONNX Runtime: ``session.run`` on a ready NCHW tensor (the ceiling);
- engine: ``SceneEmbedder.embed`` on 1280x720 RGB frames (adds resize, normalisation, L2);
- pipeline: frames submitted by 8 simulated cameras into a running ``Pipeline`` (sampler, cross-camera batcher,
  engine, FAISS matcher, alert policy, outbox, MQTT), counted from its own metrics.
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime

import numpy as np
import onnxruntime as ort

from engines.backends.onnxruntime import session_options
from engines.export import exported_model_path
from engines.scene import load_scene_embedder
from streamer.bench.report import BenchTable, console, rate
from streamer.config import VigilConfig
from streamer.demo.scenes import demo_frames
from streamer.devservices.mosquitto import MosquittoBroker
from streamer.metrics import VigilMetrics
from streamer.service import build_pipeline
from streamer.sources.frame import Keyframe

CAMERAS = 8


def bench_embedding(batch_sizes: tuple[int, ...], seconds: float) -> BenchTable:
    frames = list(demo_frames())[::25][:16]
    embedder = load_scene_embedder(threads=0, show_progress=True)
    # The backend's own session options: a bare session left spinning its threads after each run would slow
    # whatever is measured next, and the comparison would measure that instead of the pipeline.
    path = str(exported_model_path(embedder.spec))
    session = ort.InferenceSession(path, session_options(), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    table = BenchTable(
        f"scene embedding throughput ({embedder.version}, images/s)",
        [
            "batch",
            "bare ORT",
            "bare ORT+pre",
            "engine",
            "pipeline",
            "pipeline / bare+pre",
            "pipeline / bare",
            "dropped",
        ],
        notes=[
            "bare ORT runs on a ready 224x224 tensor; every other column starts from 1280x720 RGB frames.",
            f"pipeline: {CAMERAS} simulated cameras feed a running pipeline (batcher, matcher, policy, MQTT).",
        ],
    )
    for batch in batch_sizes:
        chosen = [frames[i % len(frames)] for i in range(batch)]
        tensor = embedder.preprocess(chosen)
        with console.status(f"batch {batch}: bare ONNX Runtime"):
            bare = rate(lambda t=tensor: session.run(None, {input_name: t}), batch, seconds)
        with console.status(f"batch {batch}: bare ONNX Runtime + preprocessing"):
            bare_pre = rate(lambda c=chosen: session.run(None, {input_name: embedder.preprocess(c)}), batch, seconds)
        with console.status(f"batch {batch}: engine"):
            engine = rate(lambda c=chosen: embedder.embed(c), batch, seconds)
        with console.status(f"batch {batch}: pipeline with {CAMERAS} cameras"):
            pipeline, dropped = _pipeline_rate(frames, batch, seconds)
        table.rows.append([
            str(batch), f"{bare:.1f}", f"{bare_pre:.1f}", f"{engine:.1f}", f"{pipeline:.1f}",
            f"{pipeline / bare_pre:.0%}", f"{pipeline / bare:.0%}", f"{dropped:.0f}",
        ])  # fmt: skip
    return table


def _pipeline_rate(frames: list[np.ndarray], batch: int, seconds: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp, MosquittoBroker() as broker:
        config = VigilConfig.model_validate(
            {
                "mqtt": {"host": broker.host, "port": broker.port},
                "watchlist": {"database": f"{tmp}/watchlist.db"},
                "storage": {"snapshots": f"{tmp}/snapshots"},
                "batch": {"max_batch": batch, "max_wait_ms": 20, "per_camera_queue": 4},
                "models": {"scene_regions": "none"},  # like-for-like: one embedding per frame, as in the other columns
                # Disabled cameras: no capture thread; frames come from the feeder, sampled at up to 20 per second.
                "cameras": {
                    f"cam{i}": {"url": f"rtsp://127.0.0.1:9/cam{i}", "enabled": False, "sample": {"max_per_second": 20}}
                    for i in range(CAMERAS)
                },
            }
        )
        metrics = VigilMetrics()
        pipeline, store = build_pipeline(config, metrics=metrics)
        pipeline.start()
        stop = threading.Event()
        feeder = threading.Thread(target=_feed, args=(pipeline, frames, stop), daemon=True)
        feeder.start()
        value = metrics.registry.get_sample_value
        time.sleep(min(2.0, seconds / 2))  # warm-up
        done0 = value("vigil_batch_size_sum", {"model": "mobilenet_v2"}) or 0
        started = time.perf_counter()
        time.sleep(seconds)
        done = (value("vigil_batch_size_sum", {"model": "mobilenet_v2"}) or 0) - done0
        elapsed = time.perf_counter() - started
        stop.set()
        feeder.join(timeout=5)
        pipeline.stop()
        store.close()
        dropped = sum(
            value("vigil_frames_dropped_total", {"camera": f"cam{i}", "reason": "backpressure"}) or 0
            for i in range(CAMERAS)
        )
        return done / elapsed, dropped


def _feed(pipeline, frames: list[np.ndarray], stop: threading.Event) -> None:
    """Each simulated camera offers a keyframe every 50 ms (8 x 20 fps: more than a CPU can embed)."""
    n = 0
    while not stop.is_set():
        for camera in range(CAMERAS):
            pipeline.submit(
                Keyframe(
                    camera=f"cam{camera}",
                    image=frames[n % len(frames)],
                    frame_time=datetime.now(UTC),
                    received_at=time.monotonic(),
                )
            )
            n += 1
        stop.wait(0.05)
