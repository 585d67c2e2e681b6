"""A keyframe showing its camera's last matched, empty picture is not matched again; any face MTCNN can find is a
change, and a camera with something in view is matched at every keyframe."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
import skimage.data

from streamer.alerts.event import AlertKind
from streamer.alerts.policy import Sighting
from streamer.config import SampleConfig
from streamer.metrics import VigilMetrics
from streamer.sources.frame import Keyframe
from streamer.unchanged import MatchContext, UnchangedKeyframes

CONTEXT = MatchContext((1, 1))
FIRE = Sighting("e1", "fire", AlertKind.ANOMALY, 0.9, 0.8, (0, 0, 1280, 720))


@pytest.fixture(scope="module")
def background() -> np.ndarray:
    return cv2.resize(skimage.data.coffee(), (1280, 720), interpolation=cv2.INTER_LINEAR)


def keyframe(image: np.ndarray, at: float, *, camera: str = "lobby", burst: bool = False) -> Keyframe:
    return Keyframe(
        camera=camera,
        image=np.ascontiguousarray(image),
        frame_time=datetime.now(UTC),
        received_at=at,
        is_keyframe=not burst,
        burst=burst,
    )


def noisy(image: np.ndarray, seed: int, sigma: float = 3.0) -> np.ndarray:
    """Sensor noise and a re-encoded keyframe: the same scene, not the same pixels."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def matched_once(gate: UnchangedKeyframes, frame: Keyframe, sightings: list[Sighting]) -> None:
    verdict = gate.check(frame, CONTEXT)
    assert verdict.reused is None
    gate.remember(frame, verdict, CONTEXT, sightings)


def test_the_same_empty_scene_with_noise_is_not_matched_again_and_is_counted(background):
    metrics = VigilMetrics(cameras=["lobby"])
    gate = UnchangedKeyframes({}, metrics)
    matched_once(gate, keyframe(noisy(background, 0), 0.0), [])

    reused = [gate.check(keyframe(noisy(background, seed), 2.0 * seed), CONTEXT).reused for seed in (1, 2, 3, 4)]

    assert reused == [[]] * 4
    assert metrics.registry.get_sample_value("vigil_keyframes_unchanged_total", {"camera": "lobby"}) == 4


def test_the_smallest_face_mtcnn_finds_is_a_change_wherever_it_appears(background, face_photos, mtcnn_detector):
    """Face recall: a 40 px face (MTCNN's smallest at 720p) pasted anywhere on a static scene is always matched."""
    gate = UnchangedKeyframes({}, VigilMetrics())
    matched_once(gate, keyframe(background, 0.0), [])
    face = cv2.resize(face_photos["astronaut"][40:250, 140:300], (48, 63), interpolation=cv2.INTER_AREA)
    positions = [(x, y) for x in range(0, 1280 - 48, 137) for y in range(0, 720 - 63, 97)]
    found = 0
    for x, y in positions:
        frame = background.copy()
        frame[y : y + 63, x : x + 48] = face
        assert gate.check(keyframe(noisy(frame, x + y), 1.0), CONTEXT).reused is None, (x, y)
        found += bool(mtcnn_detector.detect(frame)) if (x, y) == positions[len(positions) // 2] else 0
    assert found == 1  # the face is one MTCNN finds at that size: the gate is not looser than the detector


def test_a_camera_with_something_in_view_is_matched_at_every_keyframe(background):
    """Sightings and near candidates are fresh evidence on each keyframe (the vote, bursts, an open alert's life)."""
    gate = UnchangedKeyframes({}, VigilMetrics())
    for at, sightings in enumerate([[FIRE], [FIRE], [dataclasses.replace(FIRE, near=True)], [FIRE]]):
        matched_once(gate, keyframe(background, float(at)), sightings)
    matched_once(gate, keyframe(background, 4.0), [])  # it left (or the alert's scene is empty again)
    assert gate.check(keyframe(background, 5.0), CONTEXT).reused == []


def test_a_slow_change_adds_up_against_the_last_matched_keyframe(background):
    gate = UnchangedKeyframes({}, VigilMetrics())
    matched_once(gate, keyframe(background, 0.0), [])
    verdicts = []
    for step in range(1, 6):  # 2 levels brighter per keyframe: each one alone is well under the threshold
        brighter = np.clip(background.astype(np.int16) + 2 * step, 0, 255).astype(np.uint8)
        verdicts.append(gate.check(keyframe(brighter, step * 0.5), CONTEXT).reused is None)
    assert verdicts == [False, False, False, True, True]


def test_bursts_a_changed_watchlist_the_refresh_interval_and_a_camera_with_it_off_are_matched(background):
    gate = UnchangedKeyframes({"off": SampleConfig(skip_unchanged=False)}, VigilMetrics())
    matched_once(gate, keyframe(background, 0.0), [])
    matched_once(gate, keyframe(background, 0.0, camera="off"), [])

    assert gate.check(keyframe(background, 1.0, burst=True), CONTEXT).reused is None
    assert gate.check(keyframe(background, 1.0), MatchContext((1, 2))).reused is None
    assert gate.check(keyframe(background, 1.0), MatchContext((1, 1), adaptation=object())).reused is None
    assert gate.check(keyframe(background, 10.0), CONTEXT).reused is None
    assert gate.check(keyframe(background, 1.0, camera="off"), CONTEXT).reused is None
    assert gate.check(keyframe(background, 9.9), CONTEXT).reused == []


def test_cameras_are_judged_against_their_own_last_keyframe(background):
    gate = UnchangedKeyframes({}, VigilMetrics())
    matched_once(gate, keyframe(background, 0.0, camera="a"), [])
    assert gate.check(keyframe(background, 1.0, camera="b"), CONTEXT).reused is None
    assert gate.check(keyframe(background, 1.0, camera="a"), CONTEXT).reused == []
