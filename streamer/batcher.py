"""Cross-camera dynamic batching: one batch per inference call, from every camera, fairly.

A batch leaves when it is full (``max_batch``) or when its oldest frame has waited ``max_wait_ms``, whichever comes
first: a busy site gets large, efficient batches; a quiet one gets low latency. Each camera has its own bounded
queue; when it is full the camera's *oldest* frame is dropped and counted (``frames_dropped{reason="backpressure"}``),
so a slow engine sheds stale frames instead of growing memory, and a flooding camera cannot crowd out the others.
Frames of a confirmation burst go first: a full queue drops its oldest burst frame, or the burst frame arriving when
it holds only keyframes (``frames_dropped{reason="backpressure_burst"}``), so under load bursts are shed, never
keyframes.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from streamer.config import BatchConfig
from streamer.metrics import VigilMetrics
from streamer.sources.frame import Keyframe


class CrossCameraBatcher:
    """Bounded per-camera queues drained round-robin into batches.

    Args:
        config: ``max_batch``, ``max_wait_ms`` and ``per_camera_queue``.
        metrics: counts back-pressure drops.
    """

    def __init__(self, config: BatchConfig, metrics: VigilMetrics) -> None:
        self._config = config
        self._metrics = metrics
        self._queues: dict[str, deque[Keyframe]] = {}
        self._cond = threading.Condition()
        self._next_camera = 0

    def put(self, frame: Keyframe) -> None:
        """Queue a sampled frame; never blocks (when the camera's queue is full, drops its oldest burst frame, else
        the arriving burst frame, else its oldest frame)."""
        with self._cond:
            queue = self._queues.setdefault(frame.camera, deque())
            if len(queue) >= self._config.per_camera_queue:
                burst = next((queued for queued in queue if queued.burst), None)
                if burst is None and frame.burst:
                    self._metrics.frames_dropped.labels(camera=frame.camera, reason="backpressure_burst").inc()
                    return
                if burst is not None:
                    queue.remove(burst)
                else:
                    queue.popleft()
                reason = "backpressure_burst" if burst is not None else "backpressure"
                self._metrics.frames_dropped.labels(camera=frame.camera, reason=reason).inc()
            queue.append(frame)
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    def next_batch(self, timeout: float) -> list[Keyframe]:
        """Wait up to ``timeout`` seconds for a frame, then up to ``max_wait_ms`` more to fill the batch.

        Returns an empty list on timeout (so the caller can check its stop event).
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._total():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)
            oldest = min(q[0].received_at for q in self._queues.values() if q)
            leave_at = max(oldest + self._config.max_wait_ms / 1000.0, time.monotonic())
            while self._total() < self._config.max_batch:
                remaining = leave_at - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._take(self._config.max_batch)

    def _total(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def _take(self, limit: int) -> list[Keyframe]:
        """Round-robin over cameras, starting after the camera served first last time (fairness)."""
        cameras = list(self._queues)
        batch: list[Keyframe] = []
        start = self._next_camera % max(len(cameras), 1)
        order = cameras[start:] + cameras[:start]
        while len(batch) < limit and any(self._queues[c] for c in order):
            for camera in order:
                if self._queues[camera] and len(batch) < limit:
                    batch.append(self._queues[camera].popleft())
        self._next_camera = start + 1
        return batch
