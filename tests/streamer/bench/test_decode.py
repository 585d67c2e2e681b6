"""The decode benchmark reads a live RTSP stream with Vigil's reader and with ffmpeg in turns (the CPU figures
themselves are for ``vigil bench``, not for tests)."""

from __future__ import annotations

from streamer.bench.decode import bench_decode
from streamer.bench.report import median_of


def test_vigil_and_ffmpeg_both_read_keyframes_of_the_same_live_stream() -> None:
    table = bench_decode(seconds=2.5, repeats=2, sizes=("720p",))

    (row,) = table.rows
    assert row[0] == "720p"
    ours, theirs, ratio = (median_of(cell) for cell in row[1:4])
    assert ours > 0 and theirs > 0 and ratio > 0
    assert all("(" in cell for cell in row[1:4])  # median (min-max) of the turns
    vigil, _ = (int(n) for n in row[4].split("/"))  # ffmpeg's frame threads hold its last keyframes back
    assert vigil >= 2  # a keyframe every 2 s, 2 x 3.5 s of stream
