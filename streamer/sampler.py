"""Which decoded frames are worth embedding.

Embedding costs ~10 ms a frame on a CPU core while decoding keyframes costs far less, so the sampler is where a
camera's share of the embedder is bounded: keyframes only (when the source decodes everything) and at most
``max_per_second`` frames per camera. One verb: ``admit(frame) -> bool``.

The rate is a credit, not a minimum gap: each camera earns ``max_per_second`` frames of credit per second, holds at
most ``BURST_FRAMES`` of it, and an admitted frame spends one. A minimum gap between arrivals (the old rule, with a
5% tolerance) drops keyframes from a camera that sends exactly ``max_per_second`` whenever arrivals jitter: under
load a keyframe that comes 0.3 s late is followed by one 0.7 s later, and the second was dropped (3-24% of them on a
loaded 2-core node). The credit lets the late one's unused time pay for the early one, while over any window the
camera still gets at most ``max_per_second`` per second plus ``BURST_FRAMES``.

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

BURST_FRAMES = 2.0
"""Most credit a camera holds, in frames: absorbs an arrival up to one interval late without dropping the next."""
SLACK_FRAMES = 0.05
"""Credit short of a whole frame still admitted: a camera clock a few percent fast is not dropped from."""


class KeyframeSampler:
    """Per-camera rate limiter over keyframes; bounded state (one credit and timestamp per configured camera).

    Args:
        configs: each camera's ``SampleConfig``; a camera missing here uses the defaults.
        metrics: counts ``keyframes_sampled`` and ``frames_dropped{reason="rate"|"not_keyframe"}``.
    """

    def __init__(self, configs: dict[str, SampleConfig], metrics: VigilMetrics) -> None:
        self._configs = dict(configs)
        self._default = SampleConfig()
        self._metrics = metrics
        self._credit: dict[str, tuple[float, float]] = {}  # camera -> (frames of credit, at received_at)
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
        with self._lock:
            credit, at = self._credit.get(frame.camera, (1.0, frame.received_at))  # the first frame is admitted
            credit = min(BURST_FRAMES, credit + max(0.0, frame.received_at - at) * config.max_per_second)
            admitted = credit >= 1.0 - SLACK_FRAMES
            self._credit[frame.camera] = (credit - 1.0 if admitted else credit, max(at, frame.received_at))
        if admitted:
            self._metrics.keyframes_sampled.labels(camera=frame.camera).inc()
        else:
            self._metrics.frames_dropped.labels(camera=frame.camera, reason="rate").inc()
        return admitted
