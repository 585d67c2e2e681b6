"""Decode cost over RTSP: Vigil's keyframe-only reader beside ``ffmpeg -skip_frame nokey`` on the same live stream.

A camera costs what reading its stream costs, network stack and demuxer included, so both readers pull the same
mount of a real RTSP server (GStreamer, RTP over TCP, a separate process whose CPU is not counted) in real time:
Vigil's ``PyAvReader`` with ``keyframes_only`` (demux, decode each keyframe, RGB conversion of what it yields) in
this process, timed with ``time.process_time`` (all threads, FFmpeg's included, while nothing else runs here), and
Debian's ``ffmpeg -skip_frame nokey -i URL -f null -`` as a child, timed from ``/proc/<pid>/stat``. Each is timed
over the same wall time once connected (its first second left out: connecting, and ffmpeg loading its libraries);
the two take turns within each repeat, so the machine's load moves both alike. CPU-s per stream-minute = CPU
seconds / wall seconds x 60. The clips look like a camera's: 25 fps, a keyframe every 2 s, B-frames, temporal noise.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from streamer.bench.report import BenchTable, console, spread
from streamer.config import CameraConfig, SampleConfig
from streamer.devservices.clips import ClipEncoding, write_test_pattern_clip
from streamer.devservices.rtsp_server import RtspTestServer
from streamer.sources.pyav_reader import NETWORK_OPTIONS, RTSP_OPTIONS, PyAvReader

ENCODING = ClipEncoding(fps=25, gop=50, bframes=True, preset="veryfast")
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
WARMUP_S = 1.0
"""Left out of both readers' timing: connection set-up and ffmpeg's start-up (loading its libraries)."""
LEAD_S = 4.0
"""Clip seconds beyond a read: each client starts at the clip's beginning, so no read spans the server's loop."""


def bench_decode(seconds: float, repeats: int = 3, sizes: tuple[str, ...] = ("720p", "1080p")) -> BenchTable:
    """Per size: Vigil's reader and ffmpeg each read the live stream for ``seconds``, ``repeats`` turns each."""
    ffmpeg = shutil.which("ffmpeg")
    table = BenchTable(
        f"decode CPU per stream-minute over RTSP, keyframes only (25 fps, GOP 2 s, B-frames; "
        f"{seconds:.0f} s reads, median (min-max) of {repeats} interleaved repeats)",
        ["stream", "Vigil CPU-s/min", "ffmpeg CPU-s/min", "Vigil / ffmpeg", "keyframes (Vigil/ffmpeg)"],
        notes=[
            "Vigil: PyAvReader(keyframes_only) in this process, RGB conversion of each keyframe included;",
            "ffmpeg: `ffmpeg -skip_frame nokey -i URL -f null -` (no RGB conversion), a child, with the reader's",
            "RTSP options (TCP, video only, analyzeduration 0.5 s, probesize 100 kB).",
            "Both read the same GStreamer RTSP mount in real time, taking turns; the server's CPU is not counted.",
            "keyframes: delivered; ffmpeg's frame-threaded decoder still holds its last ones back when it is stopped.",
        ],
    )
    if ffmpeg is None:
        table.notes.append("no ffmpeg on PATH: install Debian's ffmpeg (deploy/bootstrap.sh)")
        return table
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        clips = {}
        for name in sizes:
            width, height = SIZES[name]
            length = WARMUP_S + seconds + LEAD_S
            with console.status(f"encoding a {length:.0f} s {name} clip"):
                clips[name] = write_test_pattern_clip(Path(tmp) / f"{name}.mp4", width, height, length, ENCODING)
        with RtspTestServer(clips) as server:
            for name in sizes:
                url = server.url(name)
                ours: list[float] = []
                theirs: list[float] = []
                frames = [0, 0]
                with console.status(f"{name}: Vigil and ffmpeg read the stream in turns, {repeats} x {seconds:.0f} s"):
                    for _ in range(repeats):
                        cpu, wall, count = _vigil_cpu(url, seconds)
                        ours.append(cpu / wall * 60)
                        frames[0] += count
                        cpu, wall, count = _ffmpeg_cpu(ffmpeg, url, seconds)
                        theirs.append(cpu / wall * 60)
                        frames[1] += count
                ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
                table.rows.append(
                    [name, spread(ours), spread(theirs), spread(ratios, suffix="x"), f"{frames[0]}/{frames[1]}"]
                )
    return table


def _vigil_cpu(url: str, seconds: float) -> tuple[float, float, int]:
    """CPU seconds, wall seconds and keyframes of Vigil's reader on ``url``, over ``seconds`` after ``WARMUP_S``."""
    stop = threading.Event()
    config = CameraConfig(url=url, sample=SampleConfig(keyframes_only=True))
    reader = PyAvReader("bench", config, stop, on_decode_error=lambda: None)
    marks: list[tuple[float, float]] = []

    def mark(last: bool) -> None:
        marks.append((time.process_time(), time.perf_counter()))
        if last:
            stop.set()

    timers = [threading.Timer(WARMUP_S, mark, (False,)), threading.Timer(WARMUP_S + seconds, mark, (True,))]
    for timer in timers:
        timer.start()
    frames = 0
    try:
        with reader:
            for _ in reader.frames():
                frames += 1
    finally:
        for timer in timers:
            timer.cancel()
    (cpu0, wall0), (cpu1, wall1) = marks
    return cpu1 - cpu0, wall1 - wall0, frames


def _ffmpeg_cpu(ffmpeg: str, url: str, seconds: float) -> tuple[float, float, int]:
    """CPU seconds (user + system), wall seconds and keyframes of ffmpeg on ``url``, over ``seconds`` after
    ``WARMUP_S`` (its start-up, loading libraries and connecting, is left out as it is for Vigil's reader)."""
    command = [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-progress", "pipe:1", "-skip_frame", "nokey",
        *(arg for key, value in {**NETWORK_OPTIONS, **RTSP_OPTIONS}.items() for arg in (f"-{key}", value)),
        "-i", url, "-an", "-f", "null", "-",
    ]  # fmt: skip
    with tempfile.TemporaryFile() as progress:
        process = subprocess.Popen(command, stdout=progress, stderr=subprocess.DEVNULL)
        time.sleep(WARMUP_S)
        cpu0, wall0 = _proc_cpu(process.pid), time.perf_counter()
        time.sleep(seconds)
        cpu1, wall1 = _proc_cpu(process.pid), time.perf_counter()
        process.send_signal(signal.SIGINT)  # ffmpeg ends its output and exits on the first SIGINT
        process.wait(timeout=10)
        progress.seek(0)
        found = re.findall(rb"frame=\s*(\d+)", progress.read())
    return cpu1 - cpu0, wall1 - wall0, int(found[-1]) if found else 0


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process, all its threads (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
