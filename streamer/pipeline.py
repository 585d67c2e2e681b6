"""Wires the stages and owns their threads: source -> sampler -> batcher -> engine -> matcher -> alert policy ->
snapshot -> outbox -> MQTT publisher.

Camera threads only decode, sample and enqueue (never block); one inference thread takes cross-camera batches,
embeds, matches and runs the alert policy; the publisher's thread drains the outbox. ``start`` and ``stop`` read as a
table of contents of the service.

One rule feeds back upstream: a frame with any sighting, or any near candidate (``Sighting.near``), of an entry not
yet alerting on its camera asks that camera for a confirmation burst (``ConfirmationScheduler``; faces by default),
so that the vote can complete on the frames right after it instead of on the next keyframes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from engines.faces import FacePipeline
from engines.regions import RegionGrid
from engines.scene import SceneEmbedder
from streamer.adaptation_worker import AdaptationWorker
from streamer.alerts.event import AlertEvent, AlertKind, AlertPhase
from streamer.alerts.mqtt import MqttPublisher
from streamer.alerts.outbox import AlertOutbox
from streamer.alerts.policy import AlertPolicy, Sighting
from streamer.alerts.snapshot_topic import SnapshotJpegEncoder
from streamer.alerts.snapshots import SnapshotWriter
from streamer.archive.keyframes import KeyframeArchive
from streamer.batcher import CrossCameraBatcher
from streamer.config import VigilConfig
from streamer.confirmation import ConfirmationScheduler
from streamer.face_matcher import FaceMatcher
from streamer.free_space import FreeSpaceGuard
from streamer.latest_keyframes import LatestKeyframes
from streamer.matcher import SceneMatcher
from streamer.metrics import VigilMetrics
from streamer.posture_matcher import PostureMatcher
from streamer.sampler import KeyframeSampler
from streamer.small_objects import SmallObjectFinder
from streamer.sources.camera import CameraWorker
from streamer.sources.frame import Keyframe
from streamer.sources.open_slots import OpenSlots, default_open_slots
from streamer.sources.status import CameraStatus
from streamer.unchanged import MatchContext, UnchangedKeyframes
from streamer.unknown.clusters import UnknownFaceClusterer
from watchlists.errors import StoreError
from watchlists.index import WatchlistIndex

log = logging.getLogger(__name__)
INDEX_SYNC_EVERY_S = 2.0
PRUNE_EVERY_S = 3600.0


@dataclass
class PipelineParts:
    """The ready-made stages a pipeline wires (built by ``streamer.service`` or by tests)."""

    embedder: SceneEmbedder
    matcher: SceneMatcher
    index_sync: Callable[[], object]
    outbox: AlertOutbox
    publisher: MqttPublisher
    metrics: VigilMetrics
    face_matcher: FaceMatcher | None = None
    on_alert: list[Callable[[AlertEvent], None]] = field(default_factory=list)
    indexes: tuple[WatchlistIndex, ...] = ()  # what the matchers search, for the API to share
    archive: KeyframeArchive | None = None  # past keyframes for forensic search, when ``archive.enabled``
    adaptation: AdaptationWorker | None = None  # retrains anomaly heads in the background, when ``adaptation.enabled``
    free_space: FreeSpaceGuard | None = None  # skips snapshots and archive writes when the data volume runs low
    unknown: UnknownFaceClusterer | None = None  # strangers' clusters (the face matcher's), when ``unknown_faces``
    posture: PostureMatcher | None = None  # falls and other 'person lying' entries, when ``posture.enabled``
    small_objects: SmallObjectFinder | None = None  # finer windows confirmed on crops, unless turned off


class Pipeline:
    """The running service minus its HTTP endpoints.

    Args:
        config: the validated configuration.
        parts: the stages that need models, databases or connections.
    """

    def __init__(self, config: VigilConfig, parts: PipelineParts) -> None:
        self._config = config
        self._parts = parts
        self._metrics = parts.metrics
        self._sampler = KeyframeSampler({n: c.sample for n, c in config.cameras.items()}, parts.metrics)
        self._batcher = CrossCameraBatcher(config.batch, parts.metrics)
        self._unchanged = UnchangedKeyframes({n: c.sample for n, c in config.cameras.items()}, parts.metrics)
        self._policy = AlertPolicy(config.alerts, config.node_id)
        self._regions = RegionGrid.parse(config.models.scene_regions)
        self._embedded = parts.small_objects.grid if parts.small_objects is not None else self._regions
        self._snapshots = SnapshotWriter(config.storage.snapshots, config.storage.keep_days, parts.free_space)
        self._snapshot_jpegs = SnapshotJpegEncoder(config.mqtt.snapshots) if config.mqtt.snapshots.enabled else None
        open_slots = OpenSlots(default_open_slots())  # 32 cameras opening at once miss their open timeouts
        self._cameras = [
            CameraWorker(
                name,
                cam,
                self.submit,
                self._on_camera_status,
                parts.metrics,
                bursts=config.confirm.enabled,
                open_slots=open_slots,
            )
            for name, cam in config.cameras.items()
            if cam.enabled
        ]
        self._confirm = ConfirmationScheduler(
            config.confirm,
            {camera.name: camera.bursts for camera in self._cameras if camera.bursts is not None},
            parts.metrics,
            backlogged=lambda: self._batcher.pending() >= config.batch.max_batch,
        )
        self._latest = LatestKeyframes()
        # Faces are matched on a thread of their own while the scene network runs: two single-threaded networks at
        # once keep a small node's cores busier than one network's intra-op threads (issue 13).
        self._faces_thread = ThreadPoolExecutor(1, thread_name_prefix="faces") if parts.face_matcher else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._inference_loop, name="inference", daemon=True)

    @property
    def embedder(self) -> SceneEmbedder:
        """The live scene model: enrollment must embed references with exactly this one."""
        return self._parts.embedder

    @property
    def face_pipeline(self) -> FacePipeline | None:
        """The live face model (enrollment of faces must use exactly this one), when faces are on."""
        return self._parts.face_matcher.faces if self._parts.face_matcher else None

    @property
    def indexes(self) -> tuple[WatchlistIndex, ...]:
        """The watchlist indexes the matchers search (the API searches the same ones: one copy in memory)."""
        return self._parts.indexes

    @property
    def archive(self) -> KeyframeArchive | None:
        """The keyframe archive the pipeline records into (the API searches it), when it is on."""
        return self._parts.archive

    @property
    def adaptation(self) -> AdaptationWorker | None:
        """The background trainer of anomaly heads (the API asks it to train and shows its state), when on."""
        return self._parts.adaptation

    @property
    def latest(self) -> LatestKeyframes:
        """Each camera's newest keyframe (the API serves it as a thumbnail)."""
        return self._latest

    @property
    def cameras(self) -> list[CameraWorker]:
        return list(self._cameras)

    def start(self) -> None:
        """Publisher first (so camera status has somewhere to go), then inference, then the cameras."""
        self._metrics.set_backend(self._parts.embedder.backend)
        self._parts.index_sync()
        self._parts.publisher.start()
        self._thread.start()
        if self._parts.adaptation is not None:
            self._parts.adaptation.start()
        for camera in self._cameras:
            camera.start()
        log.info("pipeline started: %d camera(s), model %s", len(self._cameras), self._parts.embedder.version)

    def stop(self, timeout: float = 10.0) -> None:
        """Cameras first (no new frames), then inference (closes open events), then deliver and disconnect."""
        for camera in self._cameras:
            camera.stop(timeout=3.0)
        if self._parts.adaptation is not None:
            self._parts.adaptation.stop()
        self._stop.set()
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            log.warning("inference thread did not stop within %.1fs", timeout)
        if self._faces_thread is not None:
            self._faces_thread.shutdown(wait=not self._thread.is_alive())
        self._parts.publisher.stop(drain_timeout=timeout)
        self._parts.outbox.close()
        if self._parts.archive is not None:
            self._parts.archive.close()
        if self._parts.unknown is not None:
            self._parts.unknown.store.close()
        log.info("pipeline stopped")

    def submit(self, frame: Keyframe) -> None:
        """Offer a decoded frame: what camera threads call. Cheap and never blocks (the batcher sheds load)."""
        self._latest.keep(frame)
        if self._sampler.admit(frame):
            self._batcher.put(frame)

    def _on_camera_status(self, status: CameraStatus) -> None:
        log.info("camera %s is %s%s", status.camera, status.state.value, f" ({status.reason})" if status.reason else "")
        self._parts.publisher.publish_camera_status(status)

    def _inference_loop(self) -> None:
        next_sync = next_prune = time.monotonic()
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                if now >= next_sync:
                    next_sync = now + INDEX_SYNC_EVERY_S
                    self._sync_index()
                if now >= next_prune:
                    next_prune = now + PRUNE_EVERY_S  # first: a prune that fails must not be retried every batch
                    self._snapshots.prune()
                    self._parts.outbox.prune(self._config.storage.keep_days)
                    if self._parts.archive is not None:
                        self._parts.archive.prune()
                    if self._parts.unknown is not None:
                        self._parts.unknown.prune(datetime.now(UTC))
                batch = self._batcher.next_batch(timeout=0.5)
                pending = [(event, None) for event in self._policy.expire(time.monotonic())]
                if batch:
                    pending += self._process(batch)
                self._emit(pending)
            except Exception:  # supervising loop: one bad batch must not stop the service
                log.exception("inference loop failed on a batch; continuing")
                self._metrics.frames_dropped.labels(camera="*", reason="error").inc()
                self._stop.wait(0.5)
        self._emit([(event, None) for event in self._policy.close_all(time.monotonic())])

    def _sync_index(self) -> None:
        """Follow watchlist changes. An unreachable database is not an outage of matching: the last index goes on
        serving, and the next sync (``INDEX_SYNC_EVERY_S`` later, not on every batch) tries again."""
        try:
            self._parts.index_sync()
        except StoreError as exc:
            log.warning("watchlist not synced, matching goes on with the last index: %s", exc)

    def _process(self, batch: list[Keyframe]) -> list[tuple[AlertEvent, Keyframe | None]]:
        """Match the batch (but keyframes showing their camera's last matched, empty picture: ``streamer.unchanged``),
        then let the policy observe every frame's sightings."""
        context = self._match_context()
        verdicts = [self._unchanged.check(frame, context) for frame in batch]
        found = iter(self._match([frame for frame, v in zip(batch, verdicts, strict=True) if v.reused is None]))
        events: list[tuple[AlertEvent, Keyframe | None]] = []
        for frame, verdict in zip(batch, verdicts, strict=True):
            sightings = verdict.reused
            if sightings is None:
                sightings = next(found)
                self._unchanged.remember(frame, verdict, context, sightings)
            for event in self._policy.observe(
                frame.camera,
                frame.frame_time,
                frame.size,
                frame.received_at,
                self._confirm.votes(frame, sightings),
                self._parts.embedder.version,
            ):
                events.append((event, frame))
            self._confirm.follow(frame.camera, sightings, self._policy)
        return events

    def _match_context(self) -> MatchContext:
        adaptation = self._parts.adaptation
        return MatchContext(
            tuple(index.revision for index in self._parts.indexes), adaptation.serving if adaptation else None
        )

    def _match(self, batch: list[Keyframe]) -> list[list[Sighting]]:
        """Scene, posture and face sightings of each frame. A burst frame is matched only for the kinds bursts
        confirm: nothing else it showed could vote (``ConfirmationScheduler.votes``)."""
        face_matcher, faces = self._parts.face_matcher, None
        face_frames = [f for f in batch if self._confirm.matches(f, AlertKind.FACE)]
        if face_matcher is not None and self._faces_thread is not None and face_frames:
            faces = self._faces_thread.submit(face_matcher.match, face_frames)
        scene_frames = [f for f in batch if self._confirm.matches(f, AlertKind.ANOMALY)]
        found = {id(f): sightings for f, sightings in zip(scene_frames, self._match_scene(scene_frames), strict=True)}
        if faces is not None:
            for frame, sightings in zip(face_frames, faces.result(), strict=True):
                found[id(frame)] = found.get(id(frame), []) + sightings
        return [found.get(id(frame), []) for frame in batch]

    def _match_scene(self, batch: list[Keyframe]) -> list[list[Sighting]]:
        """Scene and posture sightings of each frame: embed, archive, search."""
        if not batch:
            return []
        embedder = self._parts.embedder
        started = time.perf_counter()
        every_row = embedder.embed_regions([frame.image for frame in batch], self._embedded)
        embeddings = every_row.leading(self._regions.per_frame)  # the finer rows only propose small objects
        self._metrics.inference_seconds.labels(model=embedder.name).observe(time.perf_counter() - started)
        self._metrics.batch_size.labels(model=embedder.name).observe(len(batch))
        archive, free_space = self._parts.archive, self._parts.free_space
        if archive is not None and (free_space is None or free_space.allows("archive")):  # never raises
            kept = [position for position, frame in enumerate(batch) if not frame.burst]  # it archives keyframes
            regions = embeddings.vectors.reshape(embeddings.frames, embeddings.per_frame, -1)[kept]
            archive.record([batch[p] for p in kept], embeddings.whole()[kept], embedder.version, regions)
        scene = self._parts.matcher.match(batch, embeddings)
        if self._parts.small_objects is not None:
            small = self._parts.small_objects.find(batch, every_row, scene)
            scene = [found + more for found, more in zip(scene, small, strict=True)]
        if self._parts.posture is not None:
            posture = self._parts.posture.match(batch)
            scene = [found + lying for found, lying in zip(scene, posture, strict=True)]
        return scene

    def _emit(self, events: list[tuple[AlertEvent, Keyframe | None]]) -> None:
        if not events:
            return
        prefix = self._config.mqtt.topic_prefix
        for event, frame in events:
            event = self._snapshots.attach(event, frame.image if frame is not None else None)
            self._parts.outbox.put(event, event.topic(prefix))
            if self._snapshot_jpegs is not None and frame is not None and event.event is not AlertPhase.CLOSE:
                jpeg = self._snapshot_jpegs.encode(event, frame.image)
                self._parts.publisher.publish_snapshot(event.camera, event.kind.value, jpeg)
            log.info(
                "alert %s %s: %s on %s (score %.3f)",
                event.event.value,
                event.alert_id[:8],
                event.label,
                event.camera,
                event.score,
            )
            for callback in self._parts.on_alert:
                callback(event)
        self._parts.publisher.notify()
