"""ScoreBaseline: a region whose head score rises over what the camera usually shows alerts below the head's
threshold; a score that was always high, a fresh camera and a cut view keep the absolute threshold. The matcher test
uses a real trained head on real photos."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from engines.regions import RegionGrid
from engines.scene import SceneEmbedder
from streamer.demo.scenes import photo
from streamer.matcher import SceneMatcher
from streamer.metrics import VigilMetrics
from streamer.score_baseline import BaselineSettings, ScoreBaseline
from streamer.sources.frame import Keyframe
from tests.fixtures.rocket_head import ROCKET_CROP, rocket_head
from watchlists.index import WatchlistIndex

ABSOLUTE = np.array([0.85, 0.9], np.float32)
VIEW = np.eye(4, dtype=np.float32)[0]  # a camera's whole-frame embedding
OTHER_VIEW = np.eye(4, dtype=np.float32)[1]


def scores(*rows: tuple[float, float]) -> np.ndarray:
    return np.array(rows, np.float32)


def test_a_rise_over_the_usual_score_lowers_the_threshold_of_that_region_only():
    baseline = ScoreBaseline(BaselineSettings(rise=0.25, floor=0.6))
    for _ in range(3):
        baseline.thresholds("cam", "v1", VIEW, scores((0.40, 0.30), (0.40, 0.30)), ABSOLUTE)
    effective = baseline.thresholds("cam", "v1", VIEW, scores((0.71, 0.30), (0.40, 0.30)), ABSOLUTE)
    assert effective[0, 0] == pytest.approx(0.65, abs=0.01)  # usual 0.40 + 0.25
    assert 0.71 >= effective[0, 0]
    assert effective[1, 0] == pytest.approx(0.65, abs=0.01)
    assert effective[0, 1] == pytest.approx(0.6)  # 0.30 + 0.25 is under the floor


def test_a_score_that_was_always_high_never_rises():
    baseline = ScoreBaseline(BaselineSettings(rise=0.25, floor=0.6))
    for _ in range(20):
        effective = baseline.thresholds("cam", "v1", VIEW, scores((0.80, 0.1)), ABSOLUTE)
        assert effective[0, 0] > 0.80


def test_a_fresh_camera_and_a_cut_view_use_the_absolute_thresholds():
    baseline = ScoreBaseline(BaselineSettings(rise=0.25, floor=0.6, min_history=2))
    first = baseline.thresholds("cam", "v1", VIEW, scores((0.7, 0.7)), ABSOLUTE)
    assert first.tolist() == [ABSOLUTE.tolist()]
    baseline.thresholds("cam", "v1", VIEW, scores((0.3, 0.3)), ABSOLUTE)
    assert baseline.thresholds("cam", "v1", VIEW, scores((0.3, 0.3)), ABSOLUTE)[0, 0] < 0.85
    assert baseline.thresholds("cam", "v1", OTHER_VIEW, scores((0.7, 0.7)), ABSOLUTE).tolist() == [ABSOLUTE.tolist()]
    assert baseline.thresholds("other", "v1", VIEW, scores((0.3, 0.3)), ABSOLUTE).tolist() == [ABSOLUTE.tolist()]


def test_new_heads_forget_the_history_and_rise_zero_turns_it_off():
    baseline = ScoreBaseline(BaselineSettings(rise=0.25, floor=0.6))
    for _ in range(3):
        baseline.thresholds("cam", "v1", VIEW, scores((0.3, 0.3)), ABSOLUTE)
    assert baseline.thresholds("cam", "v2", VIEW, scores((0.3, 0.3)), ABSOLUTE).tolist() == [ABSOLUTE.tolist()]
    off = ScoreBaseline(BaselineSettings(rise=0))
    for _ in range(3):
        assert off.thresholds("cam", "v1", VIEW, scores((0.3, 0.3)), ABSOLUTE).tolist() == [ABSOLUTE.tolist()]


def test_an_object_that_stays_is_an_alert_for_a_while_then_part_of_the_normal():
    baseline = ScoreBaseline(BaselineSettings(rise=0.25, floor=0.6, absorb=0.05))
    for _ in range(3):
        baseline.thresholds("cam", "v1", VIEW, scores((0.4, 0.1)), ABSOLUTE)
    hot = [bool(0.75 >= baseline.thresholds("cam", "v1", VIEW, scores((0.75, 0.1)), ABSOLUTE)[0, 0]) for _ in range(60)]
    assert all(hot[:5])
    assert not hot[-1]


SIZE = (1280, 720)


@pytest.fixture(scope="module")
def adapted_matcher(tmp_path_factory: pytest.TempPathFactory, scene_embedder: SceneEmbedder) -> Iterator[SceneMatcher]:
    """A real rocket head; its absolute threshold raised to 0.99 so that only a rise can alert."""
    store, slot = rocket_head(tmp_path_factory.mktemp("rise"), scene_embedder, threshold=0.99)
    index = WatchlistIndex.from_store(store, "anomaly", scene_embedder.version, default_threshold=0.99)
    matcher = SceneMatcher(index, VigilMetrics(), adaptation=slot, baseline=ScoreBaseline(BaselineSettings()))
    yield matcher
    store.close()


def keyframe(camera: str, *, rocket: bool) -> Keyframe:
    """The cat photo as the camera's view; a 400-pixel rocket in its corner when ``rocket``."""
    image = cv2.resize(photo("chelsea"), SIZE, interpolation=cv2.INTER_AREA)
    if rocket:
        image[310:710, 870:1270] = cv2.resize(photo("rocket")[ROCKET_CROP], (400, 400))
    return Keyframe(camera=camera, image=image, frame_time=datetime.now(UTC), received_at=time.monotonic())


def test_the_matcher_alerts_on_a_rise_below_the_heads_threshold_but_not_at_a_cameras_start(
    adapted_matcher: SceneMatcher, scene_embedder: SceneEmbedder
):
    grid = RegionGrid.parse("3x2")

    def sightings(frame: Keyframe):
        return adapted_matcher.match([frame], scene_embedder.embed_regions([frame.image], grid))[0]

    assert sightings(keyframe("fresh", rocket=True)) == []  # no past: 0.99 stands
    for _ in range(3):
        assert sightings(keyframe("table", rocket=False)) == []
    found = sightings(keyframe("table", rocket=True))
    assert [s.label for s in found] == ["Rocket"]
    assert found[0].threshold < 0.99 and found[0].score >= found[0].threshold
    assert found[0].bbox != (0, 0, *SIZE)  # the rise is in the window that shows the rocket
    adapted_matcher.forget_camera("table")
    assert sightings(keyframe("table", rocket=True)) == []
