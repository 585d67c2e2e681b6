"""The latency benchmark: cameras' keyframes are staggered, and a short run over real RTSP and MQTT fills its row
(the timings themselves are for ``vigil bench``, not for tests)."""

from __future__ import annotations

from pathlib import Path

import av

from streamer.bench.latency import FPS, GOP, bench_latency, lead_in, staggered_clips
from streamer.bench.report import median_of


def keyframe_indices(clip: Path) -> list[int]:
    with av.open(str(clip)) as container:
        packets = [p for p in container.demux(container.streams.video[0]) if p.size]
        packets.sort(key=lambda p: p.pts)
        return [i for i, p in enumerate(packets) if p.is_keyframe]


def test_each_camera_keyframes_at_its_own_phase_a_gop_apart_with_no_short_gop() -> None:
    leads = [lead_in(camera, 16) for camera in range(16)]

    assert sorted({lead % GOP for lead in leads}) == list(range(GOP))  # the phases cover the whole GOP
    assert min(leads) / FPS > 1.0 and max(leads) < 2 * GOP  # the sampler (1 per s) sheds none; x264 adds none


def test_the_clips_have_keyframes_where_the_lead_in_says(tmp_path: Path) -> None:
    clips = staggered_clips(tmp_path, cameras=4)

    for camera, clip in enumerate(clips.values()):
        lead = lead_in(camera, 4)
        assert keyframe_indices(clip) == [0, lead, lead + GOP, lead + 2 * GOP, lead + 3 * GOP]


def test_a_short_run_reports_latency_from_a_real_subscriber() -> None:
    table = bench_latency(cameras=2, seconds=6.0, windows=2)

    (row,) = table.rows
    assert row[0] == "shipped defaults" and row[1] == "1.0"
    seen, expected = (int(n) for n in row[4].split("/"))
    assert expected == 3 and 1 <= seen <= 4  # one matching keyframe per camera every 4 s
    assert 0 < median_of(row[5]) <= median_of(row[6]) and float(row[7]) > 0
