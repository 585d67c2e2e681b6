"""Cross-camera batching: full batches leave at once, partial ones after max_wait, queues stay bounded."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import numpy as np

from streamer.batcher import CrossCameraBatcher
from streamer.config import BatchConfig
from streamer.metrics import VigilMetrics
from streamer.sources.frame import Keyframe

IMAGE = np.zeros((4, 4, 3), np.uint8)


def frame(camera: str, n: int) -> Keyframe:
    return Keyframe(camera=camera, image=IMAGE, frame_time=datetime.now(UTC), received_at=time.monotonic(), pts=n)


def test_a_full_batch_mixes_cameras_fairly():
    batcher = CrossCameraBatcher(BatchConfig(max_batch=4, max_wait_ms=10_000, per_camera_queue=10), VigilMetrics())
    for n in range(4):
        batcher.put(frame("busy", n))
    batcher.put(frame("quiet", 0))
    batch = batcher.next_batch(timeout=1)
    assert len(batch) == 4
    assert "quiet" in {f.camera for f in batch}
    assert batcher.pending() == 1


def test_a_partial_batch_leaves_after_max_wait():
    batcher = CrossCameraBatcher(BatchConfig(max_batch=8, max_wait_ms=50, per_camera_queue=4), VigilMetrics())
    batcher.put(frame("a", 0))
    batch = batcher.next_batch(timeout=5)
    assert [f.camera for f in batch] == ["a"]


def test_an_empty_batcher_returns_nothing_on_timeout():
    batcher = CrossCameraBatcher(BatchConfig(), VigilMetrics())
    assert batcher.next_batch(timeout=0.05) == []


def test_a_flooding_camera_drops_its_oldest_frames_and_counts_them():
    metrics = VigilMetrics()
    batcher = CrossCameraBatcher(BatchConfig(max_batch=16, max_wait_ms=0, per_camera_queue=3), metrics)
    for n in range(10):
        batcher.put(frame("flood", n))
    batcher.put(frame("calm", 0))
    batch = batcher.next_batch(timeout=1)
    assert [f.pts for f in batch if f.camera == "flood"] == [7, 8, 9]
    assert [f.camera for f in batch].count("calm") == 1
    dropped = metrics.registry.get_sample_value(
        "vigil_frames_dropped_total", {"camera": "flood", "reason": "backpressure"}
    )
    assert dropped == 7


def test_a_waiting_consumer_wakes_when_a_frame_arrives():
    batcher = CrossCameraBatcher(BatchConfig(max_batch=1, max_wait_ms=0), VigilMetrics())
    got: list[list[Keyframe]] = []
    consumer = threading.Thread(target=lambda: got.append(batcher.next_batch(timeout=10)))
    consumer.start()
    batcher.put(frame("a", 1))
    consumer.join(timeout=10)
    assert got and got[0][0].pts == 1
