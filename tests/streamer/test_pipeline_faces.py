"""End to end with faces: a person on the watchlist walks past a real RTSP camera; a stranger does not alert."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import numpy as np
import pytest

from streamer.alerts.event import alert_schema
from streamer.demo.scenes import letterbox, photo
from streamer.devservices.clips import ClipEncoding
from streamer.unknown.store import UnknownFaceStore
from tests.fixtures.rtsp import wait_until

SIZE = (640, 360)
ENCODING = ClipEncoding(fps=10, gop=10)


def test_a_watchlisted_face_alerts_with_its_box_and_a_stranger_does_not(
    clip_factory, rtsp_server, run_pipeline, face_reference, face_photos
):
    stranger = letterbox(face_photos["hopper"], SIZE, 1.0)
    clip = clip_factory.scenes(
        "faces", [(stranger, 4), (letterbox(photo("astronaut"), SIZE, 1.4), 5), (stranger, 3)], ENCODING
    )
    server = rtsp_server({"lobby": clip})
    running = run_pipeline({"lobby": server.url("lobby")}, faces=[("Eileen Collins", face_reference)])
    opened = running.recorder.wait_for(
        lambda m: m.topic == "vigil/alerts/lobby/face" and m.json()["event"] == "open", timeout=90
    ).json()
    assert opened["entry"]["label"] == "Eileen Collins"
    assert opened["model"].startswith("dlib_resnet128@")
    x, _y, w, h = opened["bbox"]
    assert 20 <= w <= 200 and 20 <= h <= 250, "the box is a face, not the frame"
    assert 0.3 * SIZE[0] < x + w / 2 < 0.7 * SIZE[0], "the face is in the middle of the frame"
    jsonschema.validate(opened, alert_schema())
    faces = [a for a in running.recorder.alerts() if a["kind"] == "face"]
    assert {a["entry"]["label"] for a in faces} == {"Eileen Collins"}  # Grace Hopper never matched
    matched = running.metrics.registry.get_sample_value("vigil_matches_total", {"kind": "face", "camera": "lobby"})
    assert matched and matched >= 1  # counted under the camera it was seen on


@pytest.mark.parametrize("unknown_faces", [True, False])
def test_a_stranger_raises_an_unknown_face_alert_only_when_asked(
    clip_factory, rtsp_server, run_pipeline, face_photos, unknown_faces: bool
):
    stranger = letterbox(face_photos["hopper"], SIZE, 1.0)
    clip = clip_factory.scenes("stranger", [(stranger, 6)], ENCODING)
    server = rtsp_server({"lobby": clip})
    running = run_pipeline({"lobby": server.url("lobby")}, unknown_faces=unknown_faces)
    if unknown_faces:
        alert = running.recorder.wait_for(lambda m: m.topic == "vigil/alerts/lobby/unknown_face", timeout=60).json()
        assert (alert["event"], alert["kind"], alert["entry"]) == (
            "open", "unknown_face", {"id": "unknown-1", "label": "Unknown 1"}
        )  # fmt: skip
        assert 0.945 == alert["threshold"] <= alert["score"] <= 1, "similarity to its cluster vs the face threshold"
        jsonschema.validate(alert, alert_schema())
    else:
        assert wait_until(lambda: running.sampled("lobby") >= 5, timeout=60)
        assert running.recorder.alerts() == []


def test_a_stranger_who_comes_back_is_one_cluster_and_two_strangers_at_once_are_two_alerts(
    clip_factory, rtsp_server, run_pipeline, face_photos
):
    hopper = letterbox(face_photos["hopper"], SIZE, 1.0)
    side = (SIZE[0] // 2, SIZE[1])
    pair = np.hstack(
        [letterbox(face_photos["hopper"], side, 1.0), letterbox(face_photos["astronaut"][0:300, 110:370], side, 1.0)]
    )
    empty = np.full((SIZE[1], SIZE[0], 3), 32, np.uint8)
    clip = clip_factory.scenes("strangers", [(hopper, 4), (empty, 4), (pair, 6)], ENCODING)
    server = rtsp_server({"lobby": clip})
    running = run_pipeline({"lobby": server.url("lobby")}, unknown_faces=True, sections={"alerts": {"cooldown_s": 0}})

    def strangers() -> list[dict]:  # the fixture's anomaly entry (the astronaut photo) may alert too
        return [a for a in running.recorder.alerts() if a["kind"] == "unknown_face"]

    def opened() -> list[str]:
        return [a["entry"]["id"] for a in strangers() if a["event"] == "open"]

    # Grace Hopper alone (opens unknown-1), gone long enough to close, back beside Eileen Collins: both open at once.
    assert wait_until(lambda: opened().count("unknown-1") >= 2 and "unknown-2" in opened(), timeout=120), opened()
    labels = {a["entry"]["id"]: a["entry"]["label"] for a in strangers()}
    assert labels == {"unknown-1": "Unknown 1", "unknown-2": "Unknown 2"}
    with UnknownFaceStore(Path(running.config.storage.snapshots).parent / "unknown.db") as store:
        clusters = {c.id: c for c in store.clusters()}
    assert sorted(clusters) == ["unknown-1", "unknown-2"], "Grace Hopper came back as herself, not a new stranger"
    assert clusters["unknown-1"].last_seen >= clusters["unknown-2"].first_seen, "seen again beside Eileen Collins"
    assert all(c.crops and c.cameras == ("lobby",) for c in clusters.values())
