"""The pipeline archives a real RTSP camera's keyframes (skipping near-duplicates) and a failing archive costs no
alert: a real GStreamer RTSP server, the real model, a real broker."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from streamer.demo.scenes import letterbox, photo
from streamer.devservices.clips import ClipEncoding
from tests.fixtures.rtsp import wait_until

SIZE = (640, 360)
ENCODING = ClipEncoding(fps=10, gop=10)  # a keyframe a second: each second of a scene is a sampled keyframe
SCENES = ("coffee", "astronaut", "chelsea")


@pytest.fixture
def clip(clip_factory):
    """Still scenes: coffee 3 s, the astronaut 5 s, the cat 4 s (looping), like ``test_pipeline``'s camera."""
    seconds = {"coffee": 3, "astronaut": 5, "chelsea": 4}
    scenes = [(letterbox(photo(name), SIZE, 1.05 if name == "astronaut" else 1.0), seconds[name]) for name in SCENES]
    return clip_factory.scenes("archive-astronaut-appears", scenes, ENCODING)


def is_open(message) -> bool:
    return message.topic == "vigil/alerts/lobby/anomaly" and message.json()["event"] == "open"


def test_the_pipeline_archives_changed_keyframes_and_a_crop_finds_the_astronaut_first(
    clip, rtsp_server, run_pipeline, astronaut_reference
) -> None:
    server = rtsp_server({"lobby": clip})
    running = run_pipeline({"lobby": server.url("lobby")})
    archive = running.pipeline.archive
    assert archive is not None, "archive.enabled is on by default"
    assert wait_until(lambda: running.sampled("lobby") >= 14, timeout=60), "the camera never delivered 14 keyframes"
    sampled, rows = running.sampled("lobby"), archive.count("lobby")
    assert 3 <= rows <= sampled / 2, f"{rows} rows for {sampled} keyframes of 3 still scenes"

    crop = cv2.cvtColor(cv2.imread(str(astronaut_reference)), cv2.COLOR_BGR2RGB)
    scene_embedder = running.pipeline.embedder  # the model the keyframes were archived by (the default: pooled)
    found = archive.search(scene_embedder.embed([crop])[0], scene_embedder.version, top_k=50)
    assert len(found) >= 3
    shown = [_scene_of(cv2.cvtColor(cv2.imread(str(k.thumbnail)), cv2.COLOR_BGR2RGB), scene_embedder) for k in found]
    assert "astronaut" in shown and {"coffee", "chelsea"} & set(shown), shown
    first_other = next(i for i, name in enumerate(shown) if name != "astronaut")
    assert shown[:first_other] == ["astronaut"] * first_other and "astronaut" not in shown[first_other:], shown
    assert archive.search(scene_embedder.embed([crop])[0], scene_embedder.version, camera="gate") == []
    assert archive.search(scene_embedder.embed([crop])[0], scene_embedder.version, since=datetime.now(UTC)) == []


def test_an_archive_that_cannot_be_written_costs_no_alert(clip, rtsp_server, run_pipeline, tmp_path) -> None:
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "lobby").write_text("a file where the camera's thumbnail folder should be")
    server = rtsp_server({"lobby": clip})
    running = run_pipeline({"lobby": server.url("lobby")})
    running.recorder.wait_for(is_open, timeout=60)
    archive = running.pipeline.archive
    assert archive is not None and archive.write_failures >= 1 and archive.count() == 0


def _scene_of(image: np.ndarray, embedder) -> str:
    """Which of the clip's scenes a thumbnail shows: the nearest by the scene model."""
    vectors = embedder.embed([image] + [letterbox(photo(name), SIZE, 1.0) for name in SCENES])
    return SCENES[int(np.argmax(vectors[1:] @ vectors[0]))]
