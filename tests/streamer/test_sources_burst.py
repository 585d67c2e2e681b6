"""Confirmation bursts on a real RTSP stream (and on a file replayed for ``vigil eval``): the frames after a keyframe,
decoded on demand, at their own times."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import av
import numpy as np
import pytest

from streamer.config import CameraConfig
from streamer.sources.burst import BurstRequest, BurstSwitch
from streamer.sources.frame import Keyframe
from streamer.sources.pyav_reader import PyAvReader

FPS, GOP, SECONDS = 10, 10, 4


def clip_frames(path) -> dict[int, np.ndarray]:
    """Every frame of the clip, fully decoded from the file, by frame number."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return {
            round(float(frame.pts * stream.time_base) * FPS): frame.to_ndarray(format="rgb24")
            for frame in container.decode(stream)
        }


def burst_after_second_keyframe(
    url: str, burst: BurstRequest, wait_s: float
) -> tuple[list[Keyframe], BurstSwitch, int]:
    """Read keyframes; at the second one, ask for a burst, stall ``wait_s`` (the keyframe being matched), read on
    until the keyframe after the burst. Returns the frames, the switch and how many frames bursts decoded."""
    decoded: list[int] = []
    switch = BurstSwitch(decoded.append)
    config = CameraConfig(url=url, reconnect={"open_timeout_s": 3, "stall_timeout_s": 3})
    frames: list[Keyframe] = []
    with PyAvReader("cam", config, threading.Event(), lambda: None, bursts=switch) as reader:
        stream: Iterator[Keyframe] = reader.frames()
        for frame in stream:
            frames.append(frame)
            keyframes = [f for f in frames if f.is_keyframe]
            if len(keyframes) == 2 and frame.is_keyframe:
                assert switch.request(burst)
                time.sleep(wait_s)
            if len(keyframes) == 3:
                break
    return frames, switch, sum(decoded)


@pytest.mark.parametrize("bframes", [True, False])
def test_a_burst_decodes_the_frames_after_a_keyframe_at_their_own_times(clip_factory, rtsp_server, bframes):
    clip = clip_factory(seconds=SECONDS, fps=FPS, gop=GOP, bframes=bframes)
    server = rtsp_server({"cam": clip})

    frames, switch, decoded = burst_after_second_keyframe(server.url("cam"), BurstRequest(4, 5.0, 2), wait_s=0.4)

    keyframe = [f for f in frames if f.is_keyframe][1]
    burst = [f for f in frames if f.burst]
    assert [round((f.pts - keyframe.pts) * FPS) for f in burst] == [2, 4, 6, 8]  # every 2nd frame after the keyframe
    assert not any(f.is_keyframe for f in burst)
    assert frames[-1].is_keyframe and round((frames[-1].pts - keyframe.pts) * FPS) == GOP  # then rest again
    for f in burst:  # stamped with their place on the camera's timeline, not with when the burst decoded them
        offset = (f.frame_time - keyframe.frame_time).total_seconds()
        assert offset == pytest.approx(f.pts - keyframe.pts, abs=0.05)  # live frames: never later than arrival
        assert f.received_at - keyframe.received_at == pytest.approx(offset, abs=0.01)
    # The frames are the clip's own frames, decoded right from the keyframe forward (not a repeated keyframe).
    truth = clip_frames(clip)
    for f in [keyframe, *burst]:
        number = round(f.pts * FPS) % (SECONDS * FPS)
        assert np.abs(f.image.astype(int) - truth[number]).mean() < 1.0, f"frame {number} differs from the clip"
    assert not switch.active
    assert 8 <= decoded <= GOP + 3  # the anchor again, 8 frames, and at most the reorder delay more


def test_a_burst_ends_at_its_time_limit_even_with_frames_left(clip_factory, rtsp_server):
    server = rtsp_server({"cam": clip_factory(seconds=SECONDS, fps=FPS, gop=GOP, bframes=False)})

    frames, switch, _ = burst_after_second_keyframe(server.url("cam"), BurstRequest(100, 0.3, 1), wait_s=0.0)

    burst = [f for f in frames if f.burst]
    assert 1 <= len(burst) <= 5  # about 0.3 s of a 10 fps stream, not the 100 frames asked for
    assert not switch.active


def test_a_file_camera_decodes_keyframes_only_even_when_asked_for_a_burst(clip_factory):
    switch = BurstSwitch()
    config = CameraConfig(url=str(clip_factory(seconds=1, fps=FPS, gop=5)))
    assert switch.request(BurstRequest(4, 1.0, 2))
    with PyAvReader("cam", config, threading.Event(), lambda: None, bursts=switch) as reader:
        frames = list(reader.frames())
    assert [(f.is_keyframe, f.burst) for f in frames] == [(True, False), (True, False)]


def test_an_unpaced_file_bursts_on_its_own_clock(clip_factory):
    """``vigil eval`` reads files as fast as it matches them: its bursts last the video's time, not the wall's."""
    switch = BurstSwitch()
    config = CameraConfig(url=str(clip_factory(seconds=SECONDS, fps=FPS, gop=GOP, bframes=False)))
    frames: list[Keyframe] = []
    with PyAvReader("cam", config, threading.Event(), lambda: None, paced=False, bursts=switch) as reader:
        for frame in reader.frames():
            frames.append(frame)
            if frame.is_keyframe and len(frames) == 1:
                assert switch.request(BurstRequest(100, 0.45, 1))
                time.sleep(1.0)  # matching is slow: a wall-clock burst would end at once
    burst = [round(f.pts * FPS) for f in frames if f.burst]
    assert burst == list(range(1, len(burst) + 1)) and 4 <= len(burst) <= 6, burst  # 0.45 s of video, from 0.1 s
    assert sum(f.is_keyframe for f in frames) == SECONDS * FPS // GOP and not switch.active


def test_a_camera_has_one_burst_at_a_time():
    switch = BurstSwitch()
    assert switch.request(BurstRequest(4, 1.0, 2)) and switch.active
    assert not switch.request(BurstRequest(4, 1.0, 2))  # pending
    assert switch.take() == BurstRequest(4, 1.0, 2) and switch.take() is None
    assert not switch.request(BurstRequest(4, 1.0, 2))  # running
    switch.finish()
    assert not switch.active and switch.request(BurstRequest(4, 1.0, 2))
