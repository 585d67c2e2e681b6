"""Alert latency with several cameras: keyframe received -> alert acknowledged by the MQTT broker, p50/p95/p99.

Every camera streams (over a real GStreamer RTSP server) a clip that alternates, one keyframe per second, between a
watchlist photo and an unrelated one; the alert policy is set to open on a single match and close half a second
later, so each camera produces an alert every two seconds. The timestamps come from the outbox, which records when
each alert was produced and when the broker acknowledged it.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import datetime
from pathlib import Path

import cv2

from streamer.bench.report import BenchTable, console, percentiles
from streamer.config import VigilConfig
from streamer.demo.scenes import letterbox, photo
from streamer.devservices.clips import ClipEncoding, write_scenes
from streamer.devservices.mosquitto import MosquittoBroker
from streamer.devservices.rtsp_server import RtspTestServer
from streamer.metrics import VigilMetrics
from streamer.service import build_pipeline, outbox_path
from watchlists.enroll import Enroller

SIZE = (1280, 720)


def bench_latency(cameras: int, seconds: float) -> BenchTable:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp_name:
        tmp = Path(tmp_name)
        clip = alternating_clip(tmp / "alternating.mp4")
        reference = tmp / "astronaut-crop.png"
        cv2.imwrite(str(reference), cv2.cvtColor(photo("astronaut")[20:380, 80:440], cv2.COLOR_RGB2BGR))
        mounts = {f"cam{i}": clip for i in range(cameras)}
        with MosquittoBroker() as broker, RtspTestServer(mounts) as rtsp:
            urls = {name: rtsp.url(name) for name in mounts}
            config = alerting_config(tmp, broker, urls, batch={"max_batch": 8, "max_wait_ms": 20})
            metrics = VigilMetrics()
            pipeline, store = build_pipeline(config, metrics=metrics)
            Enroller(store, pipeline.embedder, show_progress=False).enroll(
                "anomaly", "Astronaut", [reference], actor="bench", threshold=0.8
            )
            pipeline.start()
            with console.status(f"{cameras} cameras streaming for {seconds:.0f} s"):
                time.sleep(seconds)
            pipeline.stop()
            store.close()
        produced, delivered, total = _latencies(outbox_path(config))
    table = BenchTable(
        f"alert latency, {cameras} RTSP cameras (1280x720 H.264, 1 keyframe/s each), ms",
        ["stage", "n", "p50", "p95", "p99"],
        notes=[
            "keyframe received -> alert in the outbox (queue, embed, FAISS, policy, snapshot, SQLite), then",
            "outbox -> PUBACK from a local mosquitto (QoS 1).",
        ],
    )
    for name, values in (
        ("received -> outbox", produced),
        ("outbox -> broker ack", delivered),
        ("received -> broker ack", total),
    ):
        p = percentiles(values)
        table.rows.append([name, str(len(values)), f"{p[50]:.1f}", f"{p[95]:.1f}", f"{p[99]:.1f}"])
    return table


def alternating_clip(path: Path) -> Path:
    """A clip that alternates the watchlisted photo with another every second: an alert opens and closes each 2 s."""
    match, other = letterbox(photo("astronaut"), SIZE, 1.0), letterbox(photo("coffee"), SIZE, 1.0)
    return write_scenes(path, [(match, 1.0), (other, 1.0)] * 10, ClipEncoding(fps=10, gop=10))


def alerting_config(
    tmp: Path, broker: MosquittoBroker, urls: dict[str, str], batch: dict[str, int] | None = None
) -> VigilConfig:
    """A service for ``urls`` that alerts on every match (no voting, no cooldown), data under ``tmp``."""
    settings = {
        "cameras": {name: {"url": url} for name, url in urls.items()},
        "mqtt": {"host": broker.host, "port": broker.port},
        "watchlist": {"database": str(tmp / "watchlist.db")},
        "storage": {"snapshots": str(tmp / "snapshots")},
        "alerts": {"vote_hits": 1, "vote_window": 1, "close_after_s": 0.5, "cooldown_s": 0},
    }
    return VigilConfig.model_validate(settings | ({"batch": batch} if batch else {}))


def _latencies(path: Path) -> tuple[list[float], list[float], list[float]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT frame_time, created_at, acked_at FROM outbox WHERE event = 'open' AND acked_at IS NOT NULL"
        ).fetchall()
    produced, delivered, total = [], [], []
    for frame_time, created_at, acked_at in rows:
        frame, created, acked = (
            datetime.fromisoformat(v.replace("Z", "+00:00")) for v in (frame_time, created_at, acked_at)
        )
        produced.append((created - frame).total_seconds() * 1000)
        delivered.append((acked - created).total_seconds() * 1000)
        total.append((acked - frame).total_seconds() * 1000)
    return produced, delivered, total
