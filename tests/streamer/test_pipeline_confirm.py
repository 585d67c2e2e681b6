"""End to end on a real RTSP camera (1 s GOP): a watchlisted face alerts within about a second of appearing with
confirmation bursts (whose frames are matched for faces only), and later without them."""

from __future__ import annotations

import statistics
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from streamer.demo.scenes import letterbox, photo
from streamer.devservices.clips import ClipEncoding
from streamer.face_matcher import FaceMatcher
from streamer.matcher import SceneMatcher
from streamer.pipeline import Pipeline
from streamer.sources.frame import Keyframe
from tests.fixtures.rtsp import wait_until

SIZE = (640, 360)
ENCODING = ClipEncoding(fps=10, gop=10)  # a keyframe every second
APPEARS_AT_S, SHOWN_S, PERIOD_S = 3.5, 2.5, 6.0  # mid-GOP; the server restarts timestamps at each loop
APPEARANCES = 3  # every 6 s: far more often than a camera's default burst budget (6 a minute) is sized for


class FrameLog:
    """What the cameras delivered (a spy around ``Pipeline.submit``, which still does its work)."""

    def __init__(self) -> None:
        self.frames: list[Keyframe] = []
        self._lock = threading.Lock()

    def loop_start(self, before: datetime) -> datetime:
        """Wall time of pts 0 of the clip loop that was playing at ``before`` (from its last keyframe)."""
        with self._lock:
            keyframe = max(
                (f for f in self.frames if f.is_keyframe and f.pts is not None and f.frame_time <= before),
                key=lambda f: f.frame_time,
            )
        return keyframe.frame_time - timedelta(seconds=keyframe.pts)

    def record(self, frame: Keyframe) -> None:
        with self._lock:
            self.frames.append(frame)


def alert_delays(
    run_pipeline, monkeypatch, url: str, reference: Path, confirm: bool, database: Path
) -> tuple[list[float], object]:
    """Seconds from the face's appearance to each face alert's publication, over ``APPEARANCES`` appearances."""
    log = FrameLog()
    submit = Pipeline.submit

    def spy(pipeline: Pipeline, frame: Keyframe) -> None:
        log.record(frame)
        submit(pipeline, frame)

    monkeypatch.setattr(Pipeline, "submit", spy)
    running = run_pipeline(
        {"lobby": url},
        faces=[("Eileen Collins", reference)],
        database=str(database),
        sections={
            "confirm": {"enabled": confirm, "max_bursts_per_camera_per_min": 30},
            "alerts": {"close_after_s": 1.0, "cooldown_s": 0},
        },
    )
    monkeypatch.setattr(Pipeline, "submit", submit)

    def face_opens() -> list[dict]:
        return [a for a in running.recorder.alerts() if a["kind"] == "face" and a["event"] == "open"]

    assert wait_until(lambda: len(face_opens()) >= APPEARANCES, timeout=60 + APPEARANCES * PERIOD_S * 3)
    delays = []
    for alert in face_opens()[:APPEARANCES]:
        frame_time = datetime.fromisoformat(alert["frame_time"].replace("Z", "+00:00"))
        published = datetime.fromisoformat(alert["published_at"].replace("Z", "+00:00"))
        loop = log.loop_start(frame_time)
        seen_after = (frame_time - loop).total_seconds() - APPEARS_AT_S
        assert -0.05 <= seen_after <= SHOWN_S, "the alert's frame shows the astronaut"
        delays.append((published - loop).total_seconds() - APPEARS_AT_S)
    return delays, running


@pytest.mark.slow
def test_bursts_open_a_face_alert_within_about_a_second_of_its_appearance_and_faster_than_keyframes_alone(
    clip_factory, rtsp_server, run_pipeline, face_reference, face_photos, monkeypatch, tmp_path
):
    stranger = letterbox(face_photos["hopper"], SIZE, 1.0)
    person = letterbox(photo("astronaut"), SIZE, 1.4)
    clip = clip_factory.scenes("confirm", [(stranger, APPEARS_AT_S), (person, SHOWN_S)], ENCODING)
    server = rtsp_server({"lobby": clip})

    matched: dict[str, list[bool]] = {"scene": [], "face": []}  # each frame's ``burst`` flag, per matcher

    def spy(name: str, method):
        def match(matcher, frames, *args):
            matched[name] += [frame.burst for frame in frames]
            return method(matcher, frames, *args)

        return match

    monkeypatch.setattr(SceneMatcher, "match", spy("scene", SceneMatcher.match))
    monkeypatch.setattr(FaceMatcher, "match", spy("face", FaceMatcher.match))
    with_bursts, running = alert_delays(
        run_pipeline, monkeypatch, server.url("lobby"), face_reference, True, tmp_path / "bursts.db"
    )
    assert any(matched["face"]), "burst frames are matched for faces, the kind bursts confirm"
    assert matched["scene"] and not any(matched["scene"]), "no burst frame costs a scene embedding"
    bursts = running.metrics.registry.get_sample_value(
        "vigil_confirm_bursts_total", {"camera": "lobby", "outcome": "started"}
    )
    sample = running.metrics.registry.get_sample_value
    costs = {reason: sample("vigil_frames_decoded_by_reason_total", {"camera": "lobby", "reason": reason})
             for reason in ("keyframe", "burst")}  # fmt: skip
    print(f"\nbursts started {bursts}, frames decoded {costs}")
    for camera in running.pipeline.cameras:  # the first pipeline goes quiet: the second one gets the CPU
        camera.stop()
    keyframes_only, _ = alert_delays(
        run_pipeline, monkeypatch, server.url("lobby"), face_reference, False, tmp_path / "keyframes.db"
    )

    print(f"\nalert delay after appearance, with bursts: {with_bursts}, keyframes only: {keyframes_only}")
    assert bursts and bursts >= 1
    assert statistics.median(with_bursts) < 1.5  # about a second: the next keyframe (0.5 s here) + one burst frame
    assert statistics.median(with_bursts) < statistics.median(keyframes_only) - 0.3  # not after the next keyframe
