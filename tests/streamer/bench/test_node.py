"""The node benchmark: a replay of a few cameras runs every stage without drops; a slow inference thread drops; the
scene model and region grid are the configured ones, embedded by the service's ``SceneEmbedder``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from streamer.bench.node import STAGES, NodeReplay, TrialResult, _table
from streamer.bench.node_stages import StageClock, keyframe_clip, scene_settings


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> NodeReplay:
    return NodeReplay(keyframe_clip(tmp_path_factory.mktemp("node") / "keyframes.avi"), distractors=200)


def test_two_cameras_are_served_by_every_stage_without_drops(replay: NodeReplay) -> None:
    result = replay.trial(2, seconds=4.0)

    assert (result.keyframes, result.drops) == (4, 0) and result.sustained
    assert len(result.latencies_ms) == 4
    assert set(STAGES) - {"policy"} <= set(result.busy)


def test_an_inference_thread_slower_than_the_cameras_drops_keyframes(
    replay: NodeReplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "_infer", lambda *args: time.sleep(8.0))

    result = replay.trial(3, seconds=4.0)

    assert result.drops > 0 and not result.sustained


@pytest.mark.parametrize(
    ("drops", "latencies", "sustained"),
    [(0, [100.0] * 20, True), (1, [100.0] * 20, False), (0, [100.0] * 18 + [2500.0] * 2, False), (0, [], False)],
)
def test_a_trial_is_sustained_only_without_drops_and_with_p95_under_the_period(
    drops: int, latencies: list[float], sustained: bool
) -> None:
    assert TrialResult(1, 20, drops, 1.0, {}, latencies).sustained is sustained


def test_the_keyframe_clip_holds_one_decodable_frame_per_scene(tmp_path: Path) -> None:
    import cv2

    capture = cv2.VideoCapture(str(keyframe_clip(tmp_path / "k.avi")))
    frames = 0
    while (ok := capture.read()[0]) and ok:
        frames += 1
    assert frames == 5


def test_cameras_whose_empty_picture_does_not_change_are_matched_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    clip = keyframe_clip(tmp_path_factory.mktemp("still") / "keyframes.avi")
    still = NodeReplay(clip, distractors=200, faces=False, changing=0.0)

    result = still.trial(2, seconds=6.0)

    seeing = [camera for camera, scores in still._last_scores.items() if any(scores)]  # the astronaut photo
    assert (result.keyframes, result.drops) == (6, 0)
    assert result.matched == 3 * len(seeing) + 1 * (2 - len(seeing))  # once each, and every keyframe of the seeing
    assert result.sustained and "change" in result.busy


def test_the_pooled_scene_model_is_replayed_with_its_grid_and_named_in_the_table(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    clip = keyframe_clip(tmp_path_factory.mktemp("pooled") / "keyframes.avi")
    pooled = NodeReplay(clip, distractors=200, faces=False, scene="mobilenet_v2_pooled", regions="3x2+4x3")
    frames = [pooled.decoder.next_frame() for _ in range(2)]

    vectors = pooled.scene.embed(frames, StageClock())
    expected = pooled.scene.embedder.embed_regions(frames, "3x2+4x3").vectors
    result = pooled.trial(2, seconds=4.0)
    title = _table([result], 2, pooled, 0.01, 0.1).title

    assert pooled.scene.embedder.pooled and vectors.shape == (2 * 19, 1280)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)  # the service's embedder, not a copy of it
    assert result.sustained and {"preprocess", "engine"} <= set(result.busy)
    assert "mobilenet_v2_pooled, regions 3x2+4x3" in title


def test_the_default_scene_model_and_grid_are_the_configs() -> None:
    from streamer.config import ModelsConfig

    defaults = ModelsConfig()

    assert scene_settings() == (defaults.scene, defaults.scene_regions)
    assert scene_settings("mobilenet_v2_pooled") == ("mobilenet_v2_pooled", defaults.scene_regions)
    with pytest.raises(ValueError, match="scene"):
        scene_settings("resnet50")
    with pytest.raises(ValueError, match="scene_regions"):
        scene_settings(regions="3x")


def test_scene_options_without_the_node_benchmark_are_refused(tmp_path: Path) -> None:
    from streamer.bench.runner import run_benchmarks

    with pytest.raises(ValueError, match="--only node"):
        run_benchmarks(["regions"], quick=True, output=tmp_path / "r.json", scene="mobilenet_v2_pooled")
