"""Soak: a pipeline with several RTSP cameras runs for minutes while its memory is sampled; does it grow?

A service that watches cameras for months must not leak: per-camera or per-track state that is never dropped, a
queue that only grows, frames kept alive by a forgotten reference. This benchmark runs the real thing (GStreamer
RTSP server, PyAV, ONNX Runtime, FAISS, alert policy, snapshots, SQLite outbox, mosquitto) with every camera
alternating, once a second, between a watchlist photo and an unrelated one, so alerts open and close all the time,
and samples the process's resident memory (RSS) every few seconds. Growth is the slope of a least-squares line
through the samples after a warm-up (allocators, caches and the ONNX arena settle first), in MB per hour.

Not for CI: it runs for ``minutes``. ``python -m streamer.bench.soak --minutes 30 --cameras 4``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.bench.latency import alerting_config, alternating_clip
from streamer.bench.report import BenchTable, console
from streamer.demo.scenes import photo
from streamer.devservices.mosquitto import MosquittoBroker
from streamer.devservices.rtsp_server import RtspTestServer
from streamer.metrics import VigilMetrics
from streamer.service import build_pipeline
from watchlists.enroll import Enroller

SIZE = (1280, 720)
SAMPLE_EVERY_S = 5.0
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass(frozen=True)
class MemorySample:
    """The process at one moment: seconds since start, resident MB, threads, open file descriptors."""

    at_s: float
    rss_mb: float
    threads: int
    open_fds: int


def sample_process(started: float) -> MemorySample:
    """Read this process's RSS from ``/proc/self/statm`` (no extra dependency), its threads and open fds."""
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return MemorySample(
        at_s=time.monotonic() - started,
        rss_mb=resident_pages * PAGE_MB,
        threads=threading.active_count(),
        open_fds=len(os.listdir("/proc/self/fd")),
    )


def growth_per_hour(samples: list[MemorySample], warmup_s: float) -> float:
    """Least-squares slope of RSS over time after ``warmup_s``, in MB per hour (NaN with fewer than 3 samples)."""
    settled = [s for s in samples if s.at_s >= warmup_s]
    if len(settled) < 3:
        return float("nan")
    slope, _ = np.polyfit([s.at_s for s in settled], [s.rss_mb for s in settled], 1)
    return float(slope * 3600.0)


def bench_soak(minutes: float, cameras: int) -> BenchTable:
    """Run ``cameras`` RTSP cameras through a full pipeline for ``minutes``; report RSS start/end/max and growth."""
    warmup_s = min(120.0, minutes * 60 * 0.2)
    with tempfile.TemporaryDirectory(prefix="vigil-soak-") as tmp_name:
        tmp = Path(tmp_name)
        clip = alternating_clip(tmp / "alternating.mp4")
        reference = tmp / "astronaut-crop.png"
        cv2.imwrite(str(reference), cv2.cvtColor(photo("astronaut")[20:380, 80:440], cv2.COLOR_RGB2BGR))
        mounts = {f"cam{i}": clip for i in range(cameras)}
        with MosquittoBroker() as broker, RtspTestServer(mounts) as rtsp:
            metrics = VigilMetrics()
            config = alerting_config(tmp, broker, {name: rtsp.url(name) for name in mounts})
            pipeline, store = build_pipeline(config, metrics=metrics)
            Enroller(store, pipeline.embedder, show_progress=False).enroll(
                "anomaly", "Astronaut", [reference], actor="soak", threshold=0.72
            )
            started = time.monotonic()
            pipeline.start()
            try:
                samples = _sample_for(minutes * 60, started)
            finally:
                pipeline.stop()
                store.close()
    return _table(minutes, cameras, samples, warmup_s, metrics)


def _sample_for(seconds: float, started: float) -> list[MemorySample]:
    samples = [sample_process(started)]
    with console.status(f"soak running for {seconds / 60:.0f} min") as status:
        while (elapsed := time.monotonic() - started) < seconds:
            time.sleep(min(SAMPLE_EVERY_S, max(seconds - elapsed, 0.01)))
            samples.append(sample_process(started))
            status.update(f"soak: {elapsed / 60:.1f}/{seconds / 60:.0f} min, RSS {samples[-1].rss_mb:.0f} MB")
    return samples


def _table(
    minutes: float, cameras: int, samples: list[MemorySample], warmup_s: float, metrics: VigilMetrics
) -> BenchTable:
    settled = [s for s in samples if s.at_s >= warmup_s] or samples
    value = metrics.registry.get_sample_value
    acked = sum(
        value("vigil_alerts_published_total", {"kind": "anomaly", "event": e, "camera": camera}) or 0
        for e in ("open", "close")
        for camera in {metrics.camera(f"cam{i}") for i in range(cameras)}
    )
    decoded = sum(value("vigil_frames_decoded_total", {"camera": f"cam{i}"}) or 0 for i in range(cameras))
    rows = [
        ["RSS after warm-up (MB)", f"{settled[0].rss_mb:.1f}"],
        ["RSS at the end (MB)", f"{samples[-1].rss_mb:.1f}"],
        ["RSS max (MB)", f"{max(s.rss_mb for s in samples):.1f}"],
        ["RSS growth (MB/hour, fitted)", f"{growth_per_hour(samples, warmup_s):+.1f}"],
        ["threads after warm-up / end", f"{settled[0].threads} / {samples[-1].threads}"],
        ["open fds after warm-up / end", f"{settled[0].open_fds} / {samples[-1].open_fds}"],
        ["frames decoded", f"{decoded:.0f}"],
        ["alert messages acknowledged", f"{acked:.0f}"],
    ]
    return BenchTable(
        f"soak: {cameras} RTSP cameras ({SIZE[0]}x{SIZE[1]} H.264, 1 keyframe/s) for {minutes:g} min",
        ["measure", "value"],
        rows,
        notes=[
            f"RSS sampled every {SAMPLE_EVERY_S:g} s ({len(samples)} samples); warm-up {warmup_s:.0f} s excluded.",
            "each camera alternates watchlist photo / other photo every second: alerts open and close all the time.",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the soak benchmark and print its table.")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--cameras", type=int, default=4)
    args = parser.parse_args()
    bench_soak(args.minutes, args.cameras).show()


if __name__ == "__main__":
    main()
