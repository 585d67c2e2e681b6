"""OpenCV reads capture devices; with a file (no camera on a build machine) it behaves like a paced file camera."""

from __future__ import annotations

import threading
from itertools import islice

import numpy as np
import pytest

from streamer.config import CameraConfig
from streamer.devservices.clips import ClipEncoding
from streamer.errors import CameraError
from streamer.sources.opencv_reader import OpenCvReader
from streamer.sources.pyav_reader import PyAvReader


def collect(reader_type, config: CameraConfig, count: int | None = None):
    with reader_type("cam", config, threading.Event(), lambda: None) as reader:
        return list(islice(reader.frames(), count))


def test_a_file_yields_every_frame_in_order_at_its_own_pace(clip_factory):
    frames = collect(OpenCvReader, CameraConfig(url=str(clip_factory(seconds=1, fps=10, gop=5))))

    assert len(frames) == 10
    assert [round(f.pts, 3) for f in frames] == [round(0.1 * i, 3) for i in range(10)]
    assert {f.image.shape for f in frames} == {(240, 320, 3)}
    assert frames[-1].received_at - frames[0].received_at >= 0.8 * 0.9  # replayed, not decoded in a burst


def test_a_looping_file_starts_again_at_its_end(clip_factory):
    frames = collect(OpenCvReader, CameraConfig(url=str(clip_factory(seconds=1, fps=10, gop=5)), loop=True), 15)

    pts = [round(f.pts, 3) for f in frames]
    assert pts[:10] == [round(0.1 * i, 3) for i in range(10)]
    assert pts[10:] == pts[:5]


@pytest.mark.parametrize("reader_type", [OpenCvReader, PyAvReader])
def test_both_readers_deliver_rgb_not_bgr(clip_factory, reader_type):
    red = np.zeros((240, 320, 3), np.uint8)
    red[..., 0] = 220
    clip = clip_factory.scenes("red", [(red, 0.5)], ClipEncoding(fps=10, gop=5))

    frames = collect(reader_type, CameraConfig(url=str(clip), sample={"keyframes_only": False}), count=2)

    red_mean, green_mean, blue_mean = frames[0].image.reshape(-1, 3).mean(axis=0)
    assert red_mean > 180 and green_mean < 40 and blue_mean < 40


def test_a_missing_device_fails_the_open(tmp_path):
    config = CameraConfig(url="/dev/video-vigil-missing", reconnect={"open_timeout_s": 1.0})

    with pytest.raises(CameraError, match="cannot open /dev/video-vigil-missing") as caught:
        collect(OpenCvReader, config, count=1)
    assert caught.value.code == "camera_unavailable"
