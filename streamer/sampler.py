"""Which decoded frames are worth embedding.

Embedding costs ~10 ms a frame on a CPU core while decoding keyframes costs far less, so the sampler is where a
camera's share of the embedder is bounded: keyframes only (when the source decodes everything) and at most
``max_per_second`` frames per camera. One verb: ``admit(frame) -> bool``.

Frames of a confirmation burst (``Keyframe.burst``) are passed on outside that rate: the burst that decoded them is
bounded already (``confirm:``), and dropping them would defeat it. They are counted apart
(``confirm_frames_sampled``) and leave the camera's rate state alone, so the next keyframe is judged as if no burst
had happened.
"""

from __future__ import annotations

import threading

from streamer.config import SampleConfig
from streamer.metrics import VigilMetrics
from streamer.sources.frame import Keyframe


class KeyframeSampler:
    """Per-camera rate limiter over keyframes; bounded state (one timestamp per configured camera).

    Args:
        configs: each camera's ``SampleConfig``; a camera missing here uses the defaults.
        metrics: counts ``keyframes_sampled`` and ``frames_dropped{reason="rate"|"not_keyframe"}``.
    """

    def __init__(self, configs: dict[str, SampleConfig], metrics: VigilMetrics) -> None:
        self._configs = dict(configs)
        self._default = SampleConfig()
        self._metrics = metrics
        self._last_admitted: dict[str, float] = {}
        self._lock = threading.Lock()

    def admit(self, frame: Keyframe) -> bool:
        """True when ``frame`` should be embedded. Safe to call from several camera threads."""
        if frame.burst:
            self._metrics.confirm_frames_sampled.labels(camera=frame.camera).inc()
            return True
        config = self._configs.get(frame.camera, self._default)
        if config.keyframes_only and not frame.is_keyframe:
            self._metrics.frames_dropped.labels(camera=frame.camera, reason="not_keyframe").inc()
            return False
        min_interval = 1.0 / config.max_per_second
        with self._lock:
            last = self._last_admitted.get(frame.camera)
            # A 5% tolerance keeps a 1 fps keyframe stream at 1 fps despite jitter in arrival times.
            if last is not None and frame.received_at - last < min_interval * 0.95:
                admitted = False
            else:
                self._last_admitted[frame.camera] = frame.received_at
                admitted = True
        if admitted:
            self._metrics.keyframes_sampled.labels(camera=frame.camera).inc()
        else:
            self._metrics.frames_dropped.labels(camera=frame.camera, reason="rate").inc()
        return admitted
