"""Decode cost: CPU seconds per stream-minute, keyframe-only vs full decode, on the same H.264 clips.

Both modes run Vigil's own ``PyAvReader`` (demux, decode, RGB conversion of what it yields) on the same file, as
fast as it can (no pacing), and are timed with ``time.process_time`` (all threads, FFmpeg's decoder threads included).
The clips look like a camera's: 25 fps, a keyframe every 2 s, B-frames, temporal noise.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from streamer.bench.report import BenchTable, console
from streamer.config import CameraConfig, SampleConfig
from streamer.devservices.clips import ClipEncoding, write_test_pattern_clip
from streamer.sources.pyav_reader import PyAvReader

ENCODING = ClipEncoding(fps=25, gop=50, bframes=True, preset="veryfast")
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def bench_decode(seconds: float) -> BenchTable:
    table = BenchTable(
        f"decode CPU per stream-minute ({seconds:.0f} s clips, 25 fps, GOP 2 s, B-frames)",
        ["clip", "keyframe-only CPU-s/min", "full decode CPU-s/min", "full / keyframe-only", "frames (key/full)"],
        notes=["Vigil's PyAvReader in both modes, including RGB conversion of every frame it yields."],
    )
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        for name, (width, height) in SIZES.items():
            clip = Path(tmp) / f"{name}.mp4"
            with console.status(f"encoding a {seconds:.0f} s {name} clip"):
                write_test_pattern_clip(clip, width, height, seconds, ENCODING)
            with console.status(f"decoding {name}"):
                key_cpu, key_frames = _decode_cpu(clip, keyframes_only=True)
                full_cpu, full_frames = _decode_cpu(clip, keyframes_only=False)
            per_minute = 60.0 / seconds
            table.rows.append(
                [
                    name,
                    f"{key_cpu * per_minute:.2f}",
                    f"{full_cpu * per_minute:.2f}",
                    f"{full_cpu / key_cpu:.1f}x",
                    f"{key_frames}/{full_frames}",
                ]
            )
    return table


def _decode_cpu(clip: Path, keyframes_only: bool) -> tuple[float, int]:
    config = CameraConfig(url=str(clip), sample=SampleConfig(keyframes_only=keyframes_only))
    reader = PyAvReader("bench", config, threading.Event(), on_decode_error=lambda: None, paced=False)
    started = time.process_time()
    frames = 0
    with reader:
        for _ in reader.frames():
            frames += 1
    return time.process_time() - started, frames
