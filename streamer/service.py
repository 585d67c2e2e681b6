"""Builds the running service from a configuration: models, watchlist, outbox, publisher, pipeline, metrics.

Kept apart from ``pipeline`` so that the pipeline only wires ready stages, and tests can hand it their own.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engines.posture import PersonPostureDetector
from engines.scene import load_scene_embedder
from streamer.adaptation_worker import AdaptationWorker
from streamer.alerts.event import NODE_RESTARTED, AlertEvent
from streamer.alerts.mqtt import MqttPublisher
from streamer.alerts.outbox import AlertOutbox
from streamer.archive.keyframes import KeyframeArchive, archive_folder
from streamer.config import VigilConfig
from streamer.face_matcher import FaceMatcher
from streamer.free_space import FreeSpaceGuard
from streamer.matcher import SceneMatcher
from streamer.metrics import VigilMetrics
from streamer.pipeline import Pipeline, PipelineParts
from streamer.posture_matcher import PostureMatcher, posture_labels
from streamer.score_baseline import ScoreBaseline
from streamer.small_objects import small_object_finder
from streamer.unknown.clusters import UnknownFaceClusterer
from streamer.unknown.store import UnknownFaceStore, unknown_db_path
from watchlists.adaptation_slot import AdaptationSlot
from watchlists.embedders import DeferredEmbedder
from watchlists.embedding import Embedder
from watchlists.generic_view_cache import GenericViewCache
from watchlists.index import WatchlistIndex
from watchlists.reembed import reembed
from watchlists.store import WatchlistStore

log = logging.getLogger(__name__)


def outbox_path(config: VigilConfig) -> Path:
    """The outbox lives beside the snapshots, in the node's data folder."""
    return config.storage.snapshots.parent / "outbox.db"


def index_dir(config: VigilConfig) -> Path:
    """The saved search indexes are node data (each node keeps its own, even with a shared PostgreSQL watchlist):
    ``watchlist.index_dir``, else ``index`` beside the snapshots."""
    return config.watchlist.index_dir or config.storage.snapshots.parent / "index"


def build_pipeline(
    config: VigilConfig,
    *,
    metrics: VigilMetrics | None = None,
    on_alert: list[Callable[[AlertEvent], None]] | None = None,
) -> tuple[Pipeline, WatchlistStore]:
    """Load the scene model, open the watchlist (re-embedding it if the model changed) and the outbox, and wire a
    pipeline (not started)."""
    metrics = metrics or VigilMetrics(cameras=config.cameras)
    embedder = load_scene_embedder(
        config.models.scene,
        backend=config.models.backend,
        cache_dir=config.models.cache_dir,
        show_progress=True,
        options=config.models.backend_options(),
    )
    store = WatchlistStore(config.watchlist.database, password_file=config.watchlist.password_file)
    index = _current_index(config, store, "anomaly", embedder)
    archive = _keyframe_archive(config, metrics)
    adaptation = AdaptationSlot(store, "anomaly", embedder.version) if config.adaptation.enabled else None

    faces = _face_matcher(config, store, metrics)
    posture = None
    if config.posture.enabled:
        posture = PostureMatcher(PersonPostureDetector(tiles=config.posture.tiles), index, config.posture, metrics)

    counted_revision = -1

    def sync_index() -> None:
        nonlocal counted_revision
        index.sync()
        if adaptation is not None:
            adaptation.sync()
        if faces is not None:
            faces.index.sync()
        if index.revision != counted_revision:  # count entries only when the watchlist changed, not every sync
            counted_revision = index.revision
            for kind in ("face", "anomaly"):
                enabled = sum(1 for e in store.list_entries(kind) if e.enabled)
                metrics.watchlist_entries.labels(kind=kind).set(enabled)

    outbox = AlertOutbox(outbox_path(config), write_failures=metrics.outbox_write_failures)
    if closed := outbox.close_orphans(NODE_RESTARTED):
        log.warning("closed %d alert(s) left open by a previous run that did not stop cleanly", closed)
    free_space = FreeSpaceGuard(outbox_path(config).parent, config.storage.min_free_mb, metrics)
    publisher = MqttPublisher(config.mqtt, config.node_id, outbox, metrics, free_space, cameras=config.cameras)
    skip_labels = posture.labels if posture is not None else frozenset()
    parts = PipelineParts(
        embedder=embedder,
        matcher=SceneMatcher(
            index,
            metrics,
            config.watchlist.top_k,
            adaptation,
            ScoreBaseline(config.adaptation.baseline_settings()),
            skip_labels=skip_labels,
        ),
        posture=posture,
        small_objects=small_object_finder(config, embedder, adaptation, index, metrics, skip_labels),
        index_sync=sync_index,
        outbox=outbox,
        publisher=publisher,
        metrics=metrics,
        face_matcher=faces.matcher if faces is not None else None,
        on_alert=list(on_alert or []),
        indexes=(index,) if faces is None else (index, faces.index),
        archive=archive,
        free_space=free_space,
        unknown=faces.unknown if faces is not None else None,
        adaptation=None if adaptation is None else _adaptation_worker(config, store, adaptation, archive, metrics),
    )
    return Pipeline(config, parts), store


def _adaptation_worker(
    config: VigilConfig,
    store: WatchlistStore,
    slot: AdaptationSlot,
    archive: KeyframeArchive | None,
    metrics: VigilMetrics,
) -> AdaptationWorker:
    """The background trainer, with its own one-thread copy of the scene model (loaded at its first training) so a
    training takes one core, not the inference thread's pool."""
    settings = config.adaptation
    options = replace(config.models.backend_options(), threads=1)
    model = DeferredEmbedder(
        lambda: load_scene_embedder(
            config.models.scene, backend=config.models.backend, cache_dir=config.models.cache_dir, options=options
        )
    )

    def background() -> np.ndarray:
        if archive is None:
            return np.empty((0, 0), np.float32)
        limit, age = settings.max_background, settings.background_min_age_s
        return archive.background(slot.model_version, limit=limit, older_than_s=age)

    def background_cameras() -> frozenset[str]:
        if archive is None:
            return frozenset()
        return archive.background_cameras(slot.model_version, older_than_s=settings.background_min_age_s)

    return AdaptationWorker(
        store,
        model,
        slot,
        settings,
        metrics,
        background=background,
        background_cameras=background_cameras,
        view_cache=GenericViewCache(config.models.cache_dir),
        posture_labels=posture_labels(config.posture),
    )


def _keyframe_archive(config: VigilConfig, metrics: VigilMetrics) -> KeyframeArchive | None:
    """The keyframe archive when ``archive.enabled``; one that cannot be opened is logged and left off (matching
    and alerts do not depend on it)."""
    if not config.archive.enabled:
        return None
    try:
        return KeyframeArchive(
            archive_folder(config.storage),
            config.archive,
            config.storage.keep_days,
            write_failures=metrics.archive_write_failures,
        )
    except (OSError, sqlite3.Error) as exc:
        log.error("keyframe archive off: cannot open %s: %s", archive_folder(config.storage), exc)
        return None


def _current_index(config: VigilConfig, store: WatchlistStore, kind: str, model: Embedder) -> WatchlistIndex:
    """``kind``'s index for the live model: its images re-embedded first when the model changed since enrollment
    (a no-op otherwise), then the saved index loaded and caught up, or built from the store."""
    reembed(store, kind, model, actor="service")
    return WatchlistIndex.from_store(
        store,
        kind,
        model.version,
        default_threshold=config.watchlist.default_threshold[kind],
        index_dir=index_dir(config),
    )


@dataclass(frozen=True)
class _FaceStage:
    matcher: FaceMatcher
    index: WatchlistIndex
    unknown: UnknownFaceClusterer | None


def _face_matcher(config: VigilConfig, store: WatchlistStore, metrics: VigilMetrics) -> _FaceStage | None:
    """The face stage, when ``models.faces`` is on: the face models, re-embedding, the face index."""
    if not config.models.faces:
        log.info("face matching is off (models.faces: false)")
        return None
    from engines.faces import load_face_pipeline

    faces = load_face_pipeline(
        detector=config.models.face_detector,
        embedder=config.models.face_embedder,
        backend=config.models.backend,
        cache_dir=config.models.cache_dir,
        show_progress=True,
        options=config.models.backend_options(),
    )
    index = _current_index(config, store, "face", faces)
    unknown = _unknown_clusterer(config, faces.version) if config.alerts.unknown_faces else None
    matcher = FaceMatcher(
        faces, index, metrics, config.watchlist.top_k, unknown=unknown,
        near_margin=config.confirm.near_margin if config.confirm.enabled else 0.0,
    )  # fmt: skip
    return _FaceStage(matcher, index, unknown)


def _unknown_store(config: VigilConfig) -> UnknownFaceStore | None:
    """The stranger clusters for the API: when ``alerts.unknown_faces`` is on, or clusters were kept before."""
    path = unknown_db_path(config.storage)
    return UnknownFaceStore(path) if config.alerts.unknown_faces or path.exists() else None


def _unknown_clusterer(config: VigilConfig, model: str) -> UnknownFaceClusterer:
    """Strangers' clusters in ``data/unknown.db``, joined at the face threshold, kept ``storage.keep_days``."""
    store = UnknownFaceStore(unknown_db_path(config.storage))
    threshold = config.watchlist.default_threshold["face"]
    return UnknownFaceClusterer(store, model, threshold, keep_days=config.storage.keep_days)


def run_service(config: VigilConfig, stop: threading.Event) -> None:
    """Run until ``stop`` is set: metrics endpoint, the pipeline, then the REST API beside it."""
    metrics = VigilMetrics(cameras=config.cameras)
    listening = None
    if config.api.enabled:  # a taken port fails now, before cameras, models and databases start
        from streamer.api.server import listen

        listening = listen(config.api.bind, config.api.port)
    if config.metrics.enabled:
        bind = config.metrics.address(config.api)
        port = metrics.serve(bind, config.metrics.port)
        log.info("metrics on http://%s:%d/metrics", bind, port)
    pipeline, store = build_pipeline(config, metrics=metrics)
    if not config.cameras:
        log.warning("no cameras configured: add some under 'cameras:' in the config")
    pipeline.start()
    history = AlertOutbox(outbox_path(config))  # the API's own connection: reads never wait on the publisher's
    unknown = _unknown_store(config)  # the API's own connection too
    api = None
    try:
        if listening is not None:
            from streamer.api.server import start_api  # FastAPI and uvicorn load only when the API is on

            api = start_api(config, store, pipeline, history, listening, unknown)
        stop.wait()
    finally:
        if api is not None:
            api.stop()
        pipeline.stop()
        history.close()
        if unknown is not None:
            unknown.close()
        store.close()
        metrics.close()
