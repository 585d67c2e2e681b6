"""Keeps the anomaly adaptation current: retrains in the background when the watchlist changes, and on demand.

A change (an entry, an image, a negative) is followed by ``retrain_after_s`` of quiet before training starts, so a
folder enrolled image by image trains once. A training runs on its own low-priority thread beside the pipeline; if
the watchlist changes meanwhile it is cancelled and started again on the newer data. Whatever happens, the serving
adaptation stays until a new one is stored: a failed or cancelled training costs nothing but the time it ran. The
stored adaptation reaches every node's matcher through ``AdaptationSlot.sync``.

``train_once`` is the same training run in the caller's thread (``vigil adapt``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from streamer.config import AdaptationConfig
from streamer.metrics import VigilMetrics
from watchlists.adaptation import Adaptation
from watchlists.adaptation_slot import AdaptationSlot
from watchlists.adaptation_training import (
    HeadTrainer,
    Progress,
    TrainingCancelled,
    examples_from_store,
)
from watchlists.embedding import Embedder
from watchlists.errors import StoreError
from watchlists.generic_view_cache import GenericViewCache
from watchlists.store import WatchlistStore

log = logging.getLogger(__name__)

Background = Callable[[], np.ndarray]
"""Returns the cameras' archived background regions, ``(rows, dim)`` unit vectors (may be empty)."""

BackgroundCameras = Callable[[], frozenset[str]]
"""Returns the cameras that have archived background old enough to learn from."""

CAMERA_CHECK_S = 60.0
"""How often the worker looks for cameras whose background no training has seen yet."""

STORE_CHECK_S = 1.0
"""Seconds between two looks at the watchlist during a training (its revision, its newest adaptation's version: one
cheap query each). A step count would never look in a small training: a few photos are a handful of steps."""


@dataclass(frozen=True)
class TrainingOutcome:
    """What one training did: ``trained`` (stored and serving), ``unchanged`` (same inputs as the serving one),
    ``nothing`` (no entry has enough photos), ``cancelled`` or ``failed``."""

    outcome: str
    adaptation: Adaptation | None = None
    detail: str = ""


def train_once(
    store: WatchlistStore,
    embedder: Embedder,
    settings: AdaptationConfig,
    *,
    actor: str,
    kind: str = "anomaly",
    background: Background | None = None,
    serving: Adaptation | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    view_cache: GenericViewCache | None = None,
    posture_labels: Sequence[str] = (),
) -> TrainingOutcome:
    """Read the watchlist, train unless the inputs are those of ``serving``, store the result (audited).

    Entries whose label is in ``posture_labels`` (``posture_labels(config.posture)``) are matched by posture and get
    no head; their photos still teach the other heads.

    Another trainer may store the same inputs' adaptation meanwhile (``vigil watchlist add`` trains at once, and the
    node it feeds trains after ``retrain_after_s`` of quiet): the training then stops and returns that one as
    ``unchanged`` instead of spending the CPU twice and storing a copy.

    Raises:
        StoreError: the watchlist cannot be read or written.
    """
    cancel = cancel or threading.Event()
    revision, entries = examples_from_store(store, kind)
    rows: np.ndarray | None = None
    # the newest adaptation this training knows of; with ``serving`` that is the caller's, which may lag the store
    stored_version = serving.version if serving is not None else store.adaptation_version(kind, embedder.version)
    superseded: Adaptation | None = None
    looked = float("-inf")

    def stored_meanwhile() -> Adaptation | None:
        """The store's newest adaptation when it is not ``stored_version`` and was trained on these inputs."""
        nonlocal stored_version
        version = store.adaptation_version(kind, embedder.version)
        if version is None or version == stored_version:
            return None
        stored_version = version
        stored = store.latest_adaptation(kind, embedder.version)
        current = stored is not None and trainer.is_current(stored.data_digest, entries, rows, kind=kind)
        return stored if current else None

    def watch(stage: str, done: int, total: int) -> None:
        nonlocal looked, superseded
        if time.monotonic() - looked >= STORE_CHECK_S:
            looked = time.monotonic()
            if store.revision() != revision:
                cancel.set()  # the data changed under the training: its result would be stale at once
            elif (superseded := stored_meanwhile()) is not None:
                cancel.set()
        if progress is not None:
            progress(stage, done, total)

    training = settings.training_settings(posture_labels)
    trainer = HeadTrainer(embedder, training, progress=watch, cancel=cancel, view_cache=view_cache)
    if not trainer.adaptable(entries):  # before anything loads a model or reads the archive
        return TrainingOutcome("nothing", detail=trainer.nothing_to_adapt(entries, kind))
    rows = background() if background is not None and settings.background else None
    if serving is not None:
        if trainer.is_current(serving.data_digest, entries, rows, kind=kind):
            return TrainingOutcome("unchanged", serving)
        if (stored := stored_meanwhile()) is not None:  # a node's slot may lag the store by a moment
            return TrainingOutcome("unchanged", stored, detail="stored by another trainer")
    try:
        adaptation = trainer.train(entries, rows, revision=revision, kind=kind)
    except TrainingCancelled as exc:
        if superseded is not None:
            return TrainingOutcome("unchanged", superseded, detail="stored by another trainer meanwhile")
        return TrainingOutcome("cancelled", detail=str(exc))
    if (stored := stored_meanwhile()) is not None:  # a short training may not have looked while it ran
        return TrainingOutcome("unchanged", stored, detail="stored by another trainer meanwhile")
    store.save_adaptation(adaptation, actor=actor)
    return TrainingOutcome("trained", adaptation)


class AdaptationWorker:
    """The background trainer of one node.

    Args:
        store: the watchlist (read for training, written with the result).
        embedder: the live scene model.
        slot: what the matcher serves; a trained adaptation is published to it at once.
        settings: the ``adaptation`` config section.
        metrics: ``vigil_adaptation_*``.
        background: the cameras' archived background regions.
        background_cameras: the cameras that have some; a camera new to it triggers a training, so a new camera's
            "normal" is learnt once its first keyframes are old enough, not at the next daily retraining.
        camera_check_s: how often ``background_cameras`` is asked.
        wall_clock: the time now (injectable for tests): how long ago the watchlist last changed, at start.
        view_cache: where the generic set's embedded views are kept between processes.
    """

    def __init__(
        self,
        store: WatchlistStore,
        embedder: Embedder,
        slot: AdaptationSlot,
        settings: AdaptationConfig,
        metrics: VigilMetrics,
        *,
        background: Background | None = None,
        background_cameras: BackgroundCameras | None = None,
        camera_check_s: float = CAMERA_CHECK_S,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        view_cache: GenericViewCache | None = None,
        posture_labels: Sequence[str] = (),
    ) -> None:
        self._store = store
        self._posture_labels = tuple(posture_labels)
        self._background_cameras = background_cameras
        self._camera_check_s = camera_check_s
        self._wall_clock = wall_clock
        self._view_cache = view_cache
        self._embedder = embedder
        self._slot = slot
        self._settings = settings
        self._metrics = metrics
        self._background = background
        self._kind = slot.kind
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self._wake = threading.Event()
        self._requested_by: str | None = None
        self._thread = threading.Thread(target=self._run, name="adaptation", daemon=True)
        self.state = "idle"
        self.last_outcome: TrainingOutcome | None = None
        self.last_error = ""
        metrics.adaptation_age_seconds.labels(kind=self._kind).set_function(self._age)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._cancel.set()
        self._wake.set()
        self._thread.join(timeout=timeout)

    def request(self, actor: str) -> None:
        """Train as soon as possible (``POST /api/v1/adapt``), even if nothing changed."""
        self._requested_by = actor
        self._wake.set()

    @property
    def serving(self) -> Adaptation | None:
        """The adaptation the matcher uses now."""
        return self._slot.current

    def status(self) -> dict[str, object]:
        """What the API and the web page show."""
        current = self._slot.current
        return {
            "state": self.state,
            "last_outcome": self.last_outcome.outcome if self.last_outcome else None,
            "last_error": self.last_error or None,
            "adaptation": current.summary() if current else None,
        }

    def _age(self) -> float:
        current = self._slot.current
        return (datetime.now(UTC) - current.trained_at).total_seconds() if current else float("nan")

    def _run(self) -> None:
        """Decide once a second whether to train. The slot is kept current by the pipeline's index sync (every node
        serves what any node stored); this loop only reads it."""
        trained_revision: int | None = None
        changed_at = time.monotonic()
        seen_revision: int | None = None
        reported: Adaptation | None = None
        unreachable = False
        learnt_cameras: frozenset[str] | None = None  # whose background the serving adaptation saw (assumed at start)
        cameras_checked = float("-inf")
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                revision = self._store.revision()
            except StoreError as exc:
                if not unreachable:  # once per outage, not once a second
                    log.warning("adaptation not checked, the watchlist is unreachable: %s", exc)
                unreachable = True
                continue
            unreachable = False
            if self._slot.current is not reported:
                reported = self._slot.current
                self._report_serving()
            if revision != seen_revision:
                changed_at = time.monotonic() if seen_revision is not None else self._last_change()
                seen_revision = revision
            current = self._slot.current
            if trained_revision is None and current is not None:
                trained_revision = current.watchlist_revision
            quiet = time.monotonic() - changed_at >= self._settings.retrain_after_s
            stale = revision != trained_revision and quiet
            due = current is not None and self._age() >= self._settings.retrain_every_h * 3600
            cameras = learnt_cameras
            if time.monotonic() - cameras_checked >= self._camera_check_s:
                cameras_checked, cameras = time.monotonic(), self._cameras_with_background()
                learnt_cameras = cameras if learnt_cameras is None else learnt_cameras
            new_cameras = sorted(cameras - learnt_cameras) if cameras is not None and current is not None else []
            actor = self._requested_by
            if not (stale or due or actor or new_cameras):
                continue
            if new_cameras and not (stale or due or actor):
                log.info("adaptation: learning the normal view of camera(s) %s", ", ".join(new_cameras))
            self._requested_by = None
            outcome = self._train(actor or "service")
            if outcome.outcome in ("trained", "unchanged", "nothing"):
                trained_revision = revision if outcome.adaptation is None else outcome.adaptation.watchlist_revision
                learnt_cameras = cameras if cameras is not None else learnt_cameras

    def _last_change(self) -> float:
        """When the watchlist last changed (its newest audit row), on the monotonic clock. A node started well after
        an enrollment (``vigil watchlist add``, then ``vigil run``) trains at once instead of matching the new
        entries by cosine for ``retrain_after_s`` more; one started amid an enrollment waits for it to go quiet."""
        try:
            newest = self._store.audit(limit=1)
        except StoreError:
            return time.monotonic()
        if not newest:
            return float("-inf")
        age = (self._wall_clock() - newest[0].at).total_seconds()
        return time.monotonic() - max(0.0, age)

    def _cameras_with_background(self) -> frozenset[str] | None:
        if self._background_cameras is None or not self._settings.background:
            return None
        try:
            return self._background_cameras()
        except Exception as exc:  # the archive is optional; matching goes on without it
            log.warning("adaptation: cannot list the archived cameras: %s", exc)
            return None

    def _train(self, actor: str) -> TrainingOutcome:
        self.state = "training"
        self._cancel.clear()
        started = time.perf_counter()
        try:
            outcome = train_once(
                self._store,
                self._embedder,
                self._settings,
                actor=actor,
                kind=self._kind,
                background=self._background,
                serving=self._slot.current,
                cancel=self._cancel,
                view_cache=self._view_cache,
                posture_labels=self._posture_labels,
            )
            self.last_error = ""
        except Exception as exc:  # a failed training must leave the serving adaptation and the service alone
            log.exception("%s adaptation training failed; the previous adaptation keeps serving", self._kind)
            outcome = TrainingOutcome("failed", detail=str(exc))
            self.last_error = str(exc)
        self.state = "idle"
        self.last_outcome = outcome
        self._metrics.adaptation_trainings.labels(kind=self._kind, outcome=outcome.outcome).inc()
        stored = outcome.adaptation if outcome.outcome == "unchanged" else None
        if stored is not None and stored is not self._slot.current:
            self._slot.publish(stored)  # another trainer's, stored a moment ago: serve it before the next sync
            log.info("%s adaptation %s %s", self._kind, stored.version, outcome.detail)
        if outcome.outcome == "trained" and outcome.adaptation is not None:
            self._slot.publish(outcome.adaptation)  # the loop reports it on its next turn
            log.info(
                "%s adaptation %s trained in %.1f s on %d entries",
                self._kind,
                outcome.adaptation.version,
                time.perf_counter() - started,
                len(outcome.adaptation.heads),
            )
        elif outcome.outcome != "unchanged":
            log.info("%s adaptation not trained (%s): %s", self._kind, outcome.outcome, outcome.detail)
        return outcome

    def _report_serving(self) -> None:
        current = self._slot.current
        if current is None:
            return
        labels = {"kind": self._kind}
        self._metrics.adaptation_training_seconds.labels(**labels).set(current.training_s)
        self._metrics.adaptation_entries.labels(**labels).set(len(current.heads))
        recalls = [h.validation_recall for h in current.heads if h.validation_recall == h.validation_recall]
        fprs = [h.validation_fpr for h in current.heads if h.validation_fpr == h.validation_fpr]
        if recalls:
            self._metrics.adaptation_validation.labels(kind=self._kind, metric="recall").set(min(recalls))
        if fprs:
            self._metrics.adaptation_validation.labels(kind=self._kind, metric="fpr").set(max(fprs))
