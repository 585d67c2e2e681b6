"""Clips made with ffmpeg have exactly the structure tests rely on: size, frame count, periodic keyframes, B-frames."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from av.video.frame import PictureType

from streamer.devservices.clips import (
    ClipEncoding,
    keyframe_interval_s,
    moving_pattern,
    write_clip,
    write_keyframe_phase,
    write_scenes,
    write_test_pattern_clip,
)


def probe(path: Path) -> tuple[tuple[int, int], list[str], list[bool]]:
    """(width, height), picture types in display order, keyframe flags in display order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    return (
        (stream.codec_context.width, stream.codec_context.height),
        [PictureType(f.pict_type).name for f in frames],
        [bool(f.key_frame) for f in frames],
    )


@pytest.mark.parametrize(("gop", "bframes"), [(10, True), (10, False), (5, True)])
def test_keyframes_come_exactly_every_gop_frames_and_b_frames_only_when_asked(tmp_path, gop, bframes):
    path = write_clip(
        tmp_path / "clip.mp4", moving_pattern(320, 240, 30), ClipEncoding(fps=10, gop=gop, bframes=bframes)
    )

    size, types, keys = probe(path)

    assert size == (320, 240)
    assert len(types) == 30
    assert [i for i, key in enumerate(keys) if key] == list(range(0, 30, gop))
    assert ("B" in types) is bframes


def test_scenes_last_their_seconds_and_keep_their_colours(tmp_path):
    red = np.zeros((240, 320, 3), np.uint8)
    red[..., 0] = 220
    blue = np.zeros((240, 320, 3), np.uint8)
    blue[..., 2] = 220
    path = write_scenes(tmp_path / "scenes.mp4", [(red, 1.0), (blue, 0.5)], ClipEncoding(fps=10, gop=5))

    with av.open(str(path)) as container:
        means = [f.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0) for f in container.decode(video=0)]

    assert len(means) == 15
    assert all(m[0] > 180 and m[2] < 40 for m in means[:10])
    assert all(m[2] > 180 and m[0] < 40 for m in means[10:])


def test_a_clip_re_encoded_at_another_keyframe_phase_keeps_its_frames_and_interval(tmp_path):
    source = write_clip(tmp_path / "clip.mp4", moving_pattern(320, 240, 40), ClipEncoding(fps=10, gop=10))
    assert keyframe_interval_s(source) == pytest.approx(1.0)

    moved = write_keyframe_phase(tmp_path / "moved.mp4", source, 0.3, keyframe_interval_s(source))

    with av.open(str(moved)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 40
    assert [round(float(f.time), 2) for f in frames if f.key_frame] == [0.0, 0.3, 1.3, 2.3, 3.3]


def test_the_benchmark_pattern_clip_has_the_asked_size_and_length(tmp_path):
    path = write_test_pattern_clip(tmp_path / "bench.mp4", 640, 360, 1.0, ClipEncoding(fps=25, gop=25))

    size, types, keys = probe(path)

    assert size == (640, 360)
    assert len(types) == 25
    assert keys.count(True) == 1


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([], "at least one frame"),
        ([np.zeros((241, 320, 3), np.uint8)], "even sizes"),
        ([np.zeros((240, 320, 3), np.float32)], "uint8 RGB"),
        ([np.zeros((240, 320), np.uint8)], "uint8 RGB"),
        ([np.zeros((240, 320, 3), np.uint8), np.zeros((120, 160, 3), np.uint8)], "all frames must be 320x240"),
    ],
)
def test_bad_frames_are_refused_and_leave_no_file(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message):
        write_clip(tmp_path / "bad.mp4", frames)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"fps": 0}, "fps"), ({"gop": 0}, "gop"), ({"crf": 60}, "crf")],
)
def test_an_impossible_encoding_is_refused_when_built(settings, message):
    with pytest.raises(ValueError, match=message):
        ClipEncoding(**settings)
