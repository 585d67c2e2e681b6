"""PyAV reads real RTSP streams and files: keyframes only or every frame, paced files, loud failures."""

from __future__ import annotations

import os
import threading
import time
from itertools import islice, pairwise

import pytest

from streamer.config import CameraConfig
from streamer.errors import CameraError
from streamer.sources.frame import Keyframe
from streamer.sources.pyav_reader import PyAvReader

FAST = {"open_timeout_s": 2.0, "stall_timeout_s": 2.0}


def camera(url: str, *, keyframes_only: bool = True, loop: bool = False, **reconnect: float) -> CameraConfig:
    return CameraConfig(url=url, loop=loop, sample={"keyframes_only": keyframes_only}, reconnect={**FAST, **reconnect})


def collect(config: CameraConfig, count: int | None = None) -> list[Keyframe]:
    with PyAvReader("cam", config, threading.Event(), lambda: None) as reader:
        return list(islice(reader.frames(), count))


def steps(frames: list[Keyframe]) -> list[float]:
    """Differences between successive known pts, rounded to the millisecond."""
    known = [f.pts for f in frames if f.pts is not None]
    return [round(b - a, 3) for a, b in pairwise(known)]


@pytest.mark.parametrize("bframes", [True, False])
def test_keyframe_only_decoding_over_rtsp_delivers_one_keyframe_per_gop(clip_factory, rtsp_server, bframes):
    server = rtsp_server({"cam": clip_factory(seconds=4, fps=10, gop=5, bframes=bframes)})

    frames = collect(camera(server.url("cam")), count=4)

    assert all(f.is_keyframe for f in frames)
    assert steps(frames) and set(steps(frames)) == {0.5}  # gop 5 at 10 fps: a keyframe every half second
    assert {f.image.shape for f in frames} == {(240, 320, 3)}
    assert all(f.camera == "cam" and f.frame_time.tzinfo is not None for f in frames)


def test_a_live_keyframe_is_stamped_when_its_packet_arrived_so_latency_includes_its_decoding(clip_factory, rtsp_server):
    server = rtsp_server({"cam": clip_factory(width=1280, height=720, seconds=3, fps=10, gop=10)})
    handed_over = []

    with PyAvReader("cam", camera(server.url("cam")), threading.Event(), lambda: None) as reader:
        for frame in islice(reader.frames(), 3):
            handed_over.append(time.monotonic() - frame.received_at)

    # decoding a 720p keyframe and converting it to RGB takes milliseconds; a stamp taken after them would be ~0
    assert min(handed_over) > 0.001


@pytest.mark.parametrize("bframes", [True, False])
def test_full_decoding_over_rtsp_delivers_every_frame(clip_factory, rtsp_server, bframes):
    server = rtsp_server({"cam": clip_factory(seconds=4, fps=10, gop=5, bframes=bframes)})

    frames = collect(camera(server.url("cam"), keyframes_only=False), count=15)

    assert len(steps(frames)) >= 13 and set(steps(frames)) == {0.1}
    keyframe_pts = [round(f.pts, 3) for f in frames if f.is_keyframe and f.pts is not None]
    assert keyframe_pts == [0.5, 1.0]


@pytest.mark.parametrize(("keyframes_only", "expected"), [(True, 2), (False, 10)])
def test_a_file_yields_its_keyframes_or_all_its_frames_at_its_own_pace(clip_factory, keyframes_only, expected):
    clip = clip_factory(seconds=1, fps=10, gop=5)

    frames = collect(camera(str(clip), keyframes_only=keyframes_only))

    assert len(frames) == expected
    pts_span = frames[-1].pts - frames[0].pts
    assert frames[-1].received_at - frames[0].received_at >= 0.8 * pts_span  # replayed, not decoded in a burst


def test_a_looping_file_starts_again_at_its_end(clip_factory):
    clip = clip_factory(seconds=1, fps=10, gop=5)

    frames = collect(camera(str(clip), loop=True), count=5)

    assert [round(f.pts, 3) for f in frames] == [0.0, 0.5, 0.0, 0.5, 0.0]


@pytest.mark.parametrize(
    ("password", "code"),
    [("wrong-pass", "camera_unauthorized"), (None, "camera_unauthorized"), ("s3cret-pass", None)],
)
def test_rtsp_credentials_open_the_stream_and_never_leak_into_errors(clip_factory, rtsp_server, password, code):
    server = rtsp_server({"cam": clip_factory()}, user="viewer", password="s3cret-pass")
    userinfo = f"viewer:{password}@" if password else ""
    config = camera(f"rtsp://{userinfo}127.0.0.1:{server.port}/cam")

    if code is None:
        assert len(collect(config, count=1)) == 1
        return
    with pytest.raises(CameraError) as caught:
        collect(config, count=1)
    assert caught.value.code == code
    assert "401" in caught.value.message
    assert "pass" not in caught.value.message and "viewer" not in caught.value.message


def test_a_closed_port_fails_the_open_at_once(closed_port):
    with pytest.raises(CameraError, match="Connection refused") as caught:
        collect(camera(f"rtsp://127.0.0.1:{closed_port}/cam"), count=1)
    assert caught.value.code == "camera_unavailable"


def test_a_server_that_never_answers_fails_the_open_after_the_open_timeout(clip_factory, rtsp_server):
    server = rtsp_server({"cam": clip_factory()})
    server.freeze()

    with pytest.raises(CameraError, match="no answer within 1 s") as caught:
        collect(camera(server.url("cam"), open_timeout_s=1.0), count=1)
    assert caught.value.code == "camera_timeout"


def test_a_stream_that_hangs_after_opening_is_declared_stalled(clip_factory, rtsp_server):
    server = rtsp_server({"cam": clip_factory()})
    config = camera(server.url("cam"), stall_timeout_s=1.0)
    delivered = []

    with PyAvReader("cam", config, threading.Event(), lambda: None) as reader:
        with pytest.raises(CameraError, match="stalled") as caught:
            for frame in reader.frames():
                delivered.append(frame)
                server.freeze()  # the server goes silent with the connection open: the read hangs

    assert caught.value.code == "camera_stalled"
    assert delivered


def test_a_missing_file_fails_the_open(tmp_path):
    with pytest.raises(CameraError, match="cannot open") as caught:
        collect(camera(str(tmp_path / "missing.mp4")), count=1)
    assert caught.value.code == "camera_unavailable"


def test_a_set_stop_event_ends_the_frames(clip_factory):
    stop = threading.Event()
    with PyAvReader("cam", camera(str(clip_factory()), loop=True), stop, lambda: None) as reader:
        frames = reader.frames()
        next(frames)
        stop.set()

        assert list(frames) == []


def test_a_camera_decodes_on_its_own_thread_without_ffmpeg_helper_threads(clip_factory):
    """FFmpeg's defaults start slice threads in every camera's decoder and a swscale pool for its RGB conversion (per
    thread that converts: each camera's); a node runs 32 cameras. Run as a camera does, on a thread of its own."""

    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    clip = clip_factory(seconds=1, fps=10, gop=5)
    seen: list[tuple[int, int]] = []

    def read(keyframes_only: bool) -> None:
        config = camera(str(clip), keyframes_only=keyframes_only)
        with PyAvReader("cam", config, threading.Event(), lambda: None, paced=False) as reader:
            before = threads()
            frames = list(reader.frames())
            seen.append((before, threads()))
            assert frames

    for keyframes_only in (True, False):
        worker = threading.Thread(target=read, args=(keyframes_only,))
        worker.start()
        worker.join(timeout=30)
    assert len(seen) == 2 and all(after <= before for before, after in seen), seen
