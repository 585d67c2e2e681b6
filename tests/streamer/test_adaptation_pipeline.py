"""Adaptation in the running service: an enrollment is trained in the background and reaches the live matcher
without a restart; a failed or cancelled training leaves the previous adaptation serving."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest

from engines.scene import SceneEmbedder
from streamer.adaptation_worker import AdaptationWorker, train_once
from streamer.config import AdaptationConfig
from streamer.demo.scenes import letterbox, photo
from streamer.devservices.clips import ClipEncoding
from streamer.metrics import VigilMetrics
from tests.fixtures.rtsp import wait_until
from watchlists.adaptation_slot import AdaptationSlot
from watchlists.enroll import Enroller
from watchlists.store import WatchlistStore

FAST = {"views_per_reference": 6, "retrain_after_s": 0}
SIZE = (640, 360)


@pytest.fixture(scope="module")
def rocket_photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three crops of the rocket photo, none of them a frame the camera shows."""
    folder = tmp_path_factory.mktemp("rocket")
    rocket = photo("rocket")
    paths = []
    for number, crop in enumerate([rocket[0:330, 100:420], rocket[40:400, 150:450], rocket[:, 60:560]]):
        paths.append(folder / f"rocket-{number}.png")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return paths


def test_an_enrollment_is_trained_in_the_background_and_alerts_through_its_head(
    clip_factory, rtsp_server, run_pipeline, rocket_photos
):
    clip = clip_factory.scenes(
        "rocket-appears",
        [(letterbox(photo("coffee"), SIZE, 1.0), 3), (letterbox(photo("rocket"), SIZE, 1.05), 5)],
        ClipEncoding(fps=10, gop=10),
    )
    server = rtsp_server({"pad": clip})
    sections = {"adaptation": FAST, "alerts": {"cooldown_s": 0}}  # every pass of the clip may open an alert
    running = run_pipeline({"pad": server.url("pad")}, sections=sections)
    store = WatchlistStore(running.config.watchlist.database)
    try:
        Enroller(store, running.pipeline.embedder, show_progress=False).enroll(
            "anomaly", "Rocket launch", rocket_photos, actor="test"
        )
        registry = running.metrics.registry
        heads = lambda: registry.get_sample_value("vigil_adaptation_entries", {"kind": "anomaly"})  # noqa: E731
        assert wait_until(lambda: heads() == 1, timeout=180), "the background training never served a head"
        assert store.adaptation_version("anomaly", running.pipeline.embedder.version) is not None  # stored too
        opened = running.recorder.wait_for(
            lambda m: (
                m.topic == "vigil/alerts/pad/anomaly"
                and m.json()["event"] == "open"
                and m.json()["entry"]["label"] == "Rocket launch"
            ),
            timeout=60,
        ).json()
    finally:
        store.close()
    assert opened["score"] >= opened["threshold"] >= 0.5 and opened["score"] <= 1.0  # a head's probability
    trained = running.metrics.registry.get_sample_value(
        "vigil_adaptation_trainings_total", {"kind": "anomaly", "outcome": "trained"}
    )
    assert trained and trained >= 1


@pytest.fixture
def adapted_store(tmp_path: Path, scene_embedder: SceneEmbedder, rocket_photos) -> WatchlistStore:
    """A watchlist with one adapted entry: its adaptation stored and serving."""
    store = WatchlistStore(tmp_path / "watchlist.db")
    Enroller(store, scene_embedder, show_progress=False).enroll("anomaly", "Rocket", rocket_photos, actor="test")
    outcome = train_once(store, scene_embedder, AdaptationConfig(**FAST), actor="test")
    assert outcome.outcome == "trained"
    yield store
    store.close()


def test_a_failed_training_leaves_the_previous_adaptation_serving(adapted_store, scene_embedder, rocket_photos):
    slot = AdaptationSlot(adapted_store, "anomaly", scene_embedder.version)
    assert slot.sync()
    before = slot.current

    def broken_archive():
        raise OSError("keyframes.db: disk I/O error")

    metrics = VigilMetrics()
    worker = AdaptationWorker(
        adapted_store, scene_embedder, slot, AdaptationConfig(**FAST), metrics, background=broken_archive
    )
    worker.start()
    try:
        worker.request("test")
        assert wait_until(lambda: worker.last_outcome is not None, timeout=60)
    finally:
        worker.stop()
    assert worker.last_outcome.outcome == "failed" and "disk I/O error" in worker.status()["last_error"]
    assert slot.current is before  # still serving
    assert adapted_store.adaptation_version("anomaly", scene_embedder.version) == before.version
    outcomes = {"kind": "anomaly", "outcome": "failed"}
    assert metrics.registry.get_sample_value("vigil_adaptation_trainings_total", outcomes) == 1


@pytest.mark.parametrize("enrolled_ago_s", [3600, 0])
def test_a_node_started_after_an_enrollment_trains_at_once_and_one_started_amid_it_waits(
    tmp_path, scene_embedder, rocket_photos, enrolled_ago_s
):
    store = WatchlistStore(tmp_path / "watchlist.db")
    Enroller(store, scene_embedder, show_progress=False).enroll("anomaly", "Rocket", rocket_photos, actor="test")
    later = lambda: datetime.now(UTC) + timedelta(seconds=enrolled_ago_s)  # noqa: E731 (`vigil run` that much later)
    slot = AdaptationSlot(store, "anomaly", scene_embedder.version)
    settings = AdaptationConfig(views_per_reference=6, retrain_after_s=600)
    worker = AdaptationWorker(store, scene_embedder, slot, settings, VigilMetrics(), wall_clock=later)
    worker.start()
    try:
        trained = wait_until(lambda: worker.last_outcome is not None, timeout=90 if enrolled_ago_s else 5)
    finally:
        worker.stop()
    if enrolled_ago_s:  # quiet for an hour: no reason to match the new entry by cosine for 600 s more
        assert trained and worker.last_outcome.outcome == "trained" and slot.current is not None
    else:  # the enrollment may still be going on: wait for the watchlist to go quiet, as after any change
        assert not trained and slot.current is None


def test_a_cancelled_training_stores_nothing(adapted_store, scene_embedder):
    before = adapted_store.adaptation_version("anomaly", scene_embedder.version)
    cancel = threading.Event()
    cancel.set()
    started = time.monotonic()
    outcome = train_once(adapted_store, scene_embedder, AdaptationConfig(**FAST), actor="test", cancel=cancel)
    assert outcome.outcome == "cancelled" and time.monotonic() - started < 30
    assert adapted_store.adaptation_version("anomaly", scene_embedder.version) == before


def test_unchanged_inputs_are_not_trained_again(adapted_store, scene_embedder):
    serving = adapted_store.latest_adaptation("anomaly", scene_embedder.version)
    outcome = train_once(adapted_store, scene_embedder, AdaptationConfig(**FAST), actor="test", serving=serving)
    assert outcome.outcome == "unchanged" and outcome.adaptation is serving


def test_a_node_whose_slot_lags_the_store_takes_the_stored_adaptation_instead_of_training(
    adapted_store, scene_embedder
):
    """`vigil watchlist add` trained and stored it; the node's slot still serves the one before."""
    stored = adapted_store.latest_adaptation("anomaly", scene_embedder.version)
    older = dataclasses.replace(stored, version="0" * 12, data_digest="0" * 64)
    outcome = train_once(adapted_store, scene_embedder, AdaptationConfig(**FAST), actor="service", serving=older)
    assert outcome.outcome == "unchanged" and outcome.adaptation.version == stored.version
    assert _trainings(adapted_store) == ["test"]  # the fixture's: nothing trained, nothing stored


def test_a_training_stores_no_copy_when_another_trainer_stored_the_same_inputs_meanwhile(
    tmp_path, scene_embedder, rocket_photos
):
    """A node and `vigil watchlist add` train one enrollment at once: the later one serves the first's."""
    store = WatchlistStore(tmp_path / "watchlist.db")
    Enroller(store, scene_embedder, show_progress=False).enroll("anomaly", "Rocket", rocket_photos, actor="test")
    settings = AdaptationConfig(**FAST)
    stored_by_other: list = []

    def other_trainer_stores_first(stage: str, done: int, total: int) -> None:
        if not stored_by_other:  # the other process finishes while this training has only begun
            stored_by_other.append(train_once(store, scene_embedder, settings, actor="cli").adaptation)

    try:
        outcome = train_once(store, scene_embedder, settings, actor="service", progress=other_trainer_stores_first)
        assert stored_by_other[0] is not None
        assert outcome.outcome == "unchanged" and outcome.adaptation.version == stored_by_other[0].version
        assert _trainings(store) == ["cli"]  # no copy stored by the stopped training
    finally:
        store.close()


def _trainings(store: WatchlistStore) -> list[str]:
    """Who stored each adaptation, newest first (the audit's ``adaptation.trained`` rows)."""
    return [row.actor for row in store.audit() if row.action == "adaptation.trained"]


def test_a_camera_with_new_archived_background_is_learnt_without_waiting_for_the_daily_retraining(
    adapted_store, scene_embedder
):
    slot = AdaptationSlot(adapted_store, "anomaly", scene_embedder.version)
    assert slot.sync()
    cameras = {"lobby"}
    rows = {"lobby": scene_embedder.embed([photo("coffee")])}

    def background():
        import numpy as np

        return np.concatenate([rows[c] for c in sorted(cameras)])

    metrics = VigilMetrics()
    worker = AdaptationWorker(
        adapted_store,
        scene_embedder,
        slot,
        AdaptationConfig(**FAST),
        metrics,
        background=background,
        background_cameras=lambda: frozenset(cameras),
        camera_check_s=0.2,
    )
    worker.start()
    try:
        time.sleep(1.5)
        assert worker.last_outcome is None  # the cameras seen at start count as learnt
        rows["garage"] = scene_embedder.embed([photo("chelsea")])
        cameras.add("garage")
        assert wait_until(lambda: worker.last_outcome is not None, timeout=120), "the new camera was never learnt"
    finally:
        worker.stop()
    assert worker.last_outcome.outcome == "trained"
    assert slot.current.background >= 2
