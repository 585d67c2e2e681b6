"""Every Prometheus metric Vigil exports, declared in one place (names are a contract: DESIGN.md, "Metrics").

Labels come only from bounded sets (camera, model, kind, reason, event), never a person or track id. Each pipeline
owns one ``VigilMetrics`` with its own registry, so tests can run several pipelines in one process. The registry also
carries the standard ``process_*`` metrics (CPU, memory, file descriptors); ``*_created`` series are not exported.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.exposition import generate_latest

from streamer import __version__

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
KINDS = ("face", "anomaly", "unknown_face")
EVENTS = ("open", "update", "close")
BURST_OUTCOMES = ("started", "shed_camera", "shed_concurrent", "shed_load")
ADAPTATION_OUTCOMES = ("trained", "unchanged", "nothing", "cancelled", "failed")
STORAGE_KINDS = ("snapshot", "archive")  # the writes the free-space guard may skip


OTHER_CAMERA = "other"
"""The ``camera`` label of a camera that is not in the config (a metric label set must stay bounded)."""


class VigilMetrics:
    """The collectors, registered on a private registry.

    Args:
        registry: where to register (default: a new private one).
        cameras: the configured camera names: the only values the ``camera`` label takes (any other is ``other``).
    """

    def __init__(self, registry: CollectorRegistry | None = None, cameras: Iterable[str] = ()) -> None:
        self._cameras = frozenset(cameras)
        disable_created_metrics()  # a *_created series per counter doubles the scrape and no dashboard reads it
        self.registry = registry or CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes, open fds ...
        self.frames_decoded = Counter("vigil_frames_decoded", "Frames decoded from cameras.", ["camera"], registry=r)
        self.frames_decoded_by_reason = Counter(
            "vigil_frames_decoded_by_reason",
            "Frames decoded from cameras, by why: keyframe (keyframe-only rest), burst (confirmation bursts, passed"
            " on or not), stream (cameras that decode every frame). Sums to vigil_frames_decoded_total.",
            ["camera", "reason"],
            registry=r,
        )
        self.keyframes_sampled = Counter(
            "vigil_keyframes_sampled", "Frames the sampler passed on for embedding.", ["camera"], registry=r
        )
        self.keyframes_unchanged = Counter(
            "vigil_keyframes_unchanged",
            "Sampled keyframes that showed the same picture as their camera's last matched one, which matched"
            " nothing: not embedded, no face detection (sample.skip_unchanged).",
            ["camera"],
            registry=r,
        )
        self.frames_dropped = Counter(
            "vigil_frames_dropped",
            "Frames dropped, by reason (rate, backpressure, decode_error).",
            ["camera", "reason"],
            registry=r,
        )
        self.confirm_bursts = Counter(
            "vigil_confirm_bursts",
            "Confirmation bursts asked of a camera, by outcome: started, or shed_camera / shed_concurrent / shed_load"
            " (over the camera's per-minute budget, the node's concurrent bursts, or a backlog at the batcher).",
            ["camera", "outcome"],
            registry=r,
        )
        self.confirm_frames_sampled = Counter(
            "vigil_confirm_frames_sampled",
            "Burst frames the sampler passed on for embedding (outside the camera's rate; not keyframes).",
            ["camera"],
            registry=r,
        )
        self.camera_up = Gauge("vigil_camera_up", "1 while the camera delivers frames, else 0.", ["camera"], registry=r)
        self.camera_reconnects = Counter(
            "vigil_camera_reconnects", "Reconnect attempts after a camera failed or stalled.", ["camera"], registry=r
        )
        self.inference_seconds = Histogram(
            "vigil_inference_seconds", "Time to embed one batch.", ["model"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.batch_size = Histogram(
            "vigil_batch_size", "Frames per inference batch.", ["model"], buckets=BATCH_BUCKETS, registry=r
        )
        self.search_seconds = Histogram(
            "vigil_search_seconds",
            "Time to search the watchlist index for one batch.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.matches = Counter(
            "vigil_matches", "Embeddings that matched a watchlist entry.", ["kind", "camera"], registry=r
        )
        self.small_object_looks = Counter(
            "vigil_small_object_looks",
            "Finer windows embedded on their own because a head's score rose there, by whether the crop confirmed it.",
            ["result"],
            registry=r,
        )
        self.alerts_published = Counter(
            "vigil_alerts_published", "Alerts acknowledged by the MQTT broker.", ["kind", "event", "camera"], registry=r
        )
        self.alert_latency_seconds = Histogram(
            "vigil_alert_latency_seconds",
            "Frame received to broker acknowledgement of its alert.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.mqtt_outbox_depth = Gauge("vigil_mqtt_outbox_depth", "Alerts waiting for a broker ack.", registry=r)
        self.outbox_write_failures = Counter(
            "vigil_outbox_write_failures",
            "Outbox writes that failed (full disk, I/O error); the alert waits in memory and the write is retried.",
            registry=r,
        )
        self.archive_write_failures = Counter(
            "vigil_archive_write_failures", "Keyframes the archive failed to write (skipped).", registry=r
        )
        self.storage_skipped_writes = Counter(
            "vigil_storage_skipped_writes",
            "Snapshot and archive writes skipped because the data volume is below storage.min_free_mb.",
            ["kind"],
            registry=r,
        )
        self.storage_free_bytes = Gauge("vigil_storage_free_bytes", "Free bytes on the data volume.", registry=r)
        self.watchlist_entries = Gauge("vigil_watchlist_entries", "Enabled watchlist entries.", ["kind"], registry=r)
        self.adaptation_age_seconds = Gauge(
            "vigil_adaptation_age_seconds", "Age of the adaptation serving (NaN: none serves).", ["kind"], registry=r
        )
        self.adaptation_training_seconds = Gauge(
            "vigil_adaptation_training_seconds", "How long the serving adaptation took to train.", ["kind"], registry=r
        )
        self.adaptation_trainings = Counter(
            "vigil_adaptation_trainings",
            "Background trainings by outcome (trained, unchanged, failed, cancelled, nothing).",
            ["kind", "outcome"],
            registry=r,
        )
        self.adaptation_entries = Gauge(
            "vigil_adaptation_entries", "Entries matched by a trained head (the rest by cosine).", ["kind"], registry=r
        )
        self.adaptation_validation = Gauge(
            "vigil_adaptation_validation",
            "Worst held-out figure over the serving heads (metric: recall = lowest, fpr = highest).",
            ["kind", "metric"],
            registry=r,
        )
        self.build_info = Info("vigil_build", "Version and inference backend.", registry=r)
        self.build_info.info({"version": __version__, "backend": "none"})
        self._zero_bounded_series()

    def camera(self, name: str) -> str:
        """The ``camera`` label value for camera ``name``: itself when configured, else ``other``."""
        return name if name in self._cameras else OTHER_CAMERA

    def _zero_bounded_series(self) -> None:
        """Create every (kind, event, camera) series at 0, so dashboards and rate() see them before the first alert."""
        for kind in KINDS:
            self.search_seconds.labels(kind=kind)
            for camera in self._cameras:
                self.matches.labels(kind=kind, camera=camera)
                for event in EVENTS:
                    self.alerts_published.labels(kind=kind, event=event, camera=camera)
        for kind in ("face", "anomaly"):
            self.watchlist_entries.labels(kind=kind)
        for kind in STORAGE_KINDS:
            self.storage_skipped_writes.labels(kind=kind)
        for camera in self._cameras:  # unchanged keyframes and confirmation bursts (started or shed) from 0
            self.keyframes_unchanged.labels(camera=camera)
            self.confirm_frames_sampled.labels(camera=camera)
            for outcome in BURST_OUTCOMES:
                self.confirm_bursts.labels(camera=camera, outcome=outcome)
        for outcome in ADAPTATION_OUTCOMES:
            self.adaptation_trainings.labels(kind="anomaly", outcome=outcome)
        self.adaptation_entries.labels(kind="anomaly")  # 0 until an adaptation serves
        for result in ("confirmed", "rejected"):
            self.small_object_looks.labels(result=result)
        self.adaptation_training_seconds.labels(kind="anomaly").set(float("nan"))
        for metric in ("recall", "fpr"):
            self.adaptation_validation.labels(kind="anomaly", metric=metric).set(float("nan"))

    def set_backend(self, backend: str) -> None:
        self.build_info.info({"version": __version__, "backend": backend})

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)

    def serve(self, bind: str, port: int) -> int:
        """Serve ``/metrics`` on a daemon thread; returns the bound port (useful with port 0)."""
        server, _thread = start_http_server(port, addr=bind, registry=self.registry)
        self._server = server
        return server.server_port

    def close(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
