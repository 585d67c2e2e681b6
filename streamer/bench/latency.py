"""Alert latency at 16 cameras with staggered keyframes: packet arrival -> alert seen by an MQTT subscriber.

Every camera streams, over a real GStreamer RTSP server, a 1280x720 H.264 clip with a keyframe every 2 s that
alternates, keyframe by keyframe, between a watchlisted photo and an unrelated one; the alert policy opens on a
single match and closes half a second later, so each camera opens an alert every 4 s. Each camera's clip starts
with a different lead-in (camera i's first GOP is 0.6 + i/16 GOPs long), so the cameras' keyframes arrive spread over
the 2 s, as real cameras' do, instead of all at once.

The clock starts when the demuxer hands over the keyframe's packet (the reader stamps ``frame_time`` there, before
decoding) and stops when a separate MQTT client subscribed to the alert topics receives the alert (QoS 1): decode,
queueing, embedding, faces, search, policy, snapshot, outbox and broker are all inside. Alerts are attributed to
consecutive windows of the run by their frame time; cells are median (min-max) over the windows, and alerts that a
shed keyframe never produced are counted (seen / expected), so an overloaded run cannot look fast by losing its
slow alerts.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from streamer.bench.report import BenchTable, console, percentiles, spread
from streamer.config import VigilConfig
from streamer.demo.scenes import REFERENCES, letterbox, photo, reference_image
from streamer.devservices.clips import ClipEncoding, write_clip, write_scenes
from streamer.devservices.mosquitto import MosquittoBroker
from streamer.devservices.rtsp_server import RtspTestServer
from streamer.metrics import VigilMetrics
from streamer.service import build_pipeline
from watchlists.enroll import Enroller

SIZE = (1280, 720)
FPS = 5
GOP = 10
"""A keyframe every 2 s at 5 fps (frames between keyframes cost the reader a demux, no decode)."""
WARMUP_S = 6.0
"""Not measured: cameras connecting, the first batches warming the models."""
GRACE_S = 10.0
"""How long after the last window late alerts are still waited for."""


@dataclass(frozen=True)
class _StaggeredEncoding(ClipEncoding):
    """``ClipEncoding`` whose keyframes fall at 0, then ``first_gop`` and every ``gop`` frames after it."""

    first_gop: int = 0

    def x264_args(self) -> list[str]:
        args = super().x264_args()
        args[args.index("-g") + 1] = str(2 * self.gop)  # the longest GOP (the first) must not get a keyframe of its own
        args[args.index("-keyint_min") + 1] = "1"
        first, gop = self.first_gop, self.gop
        return [*args, "-force_key_frames", f"expr:gte(n,{first})*eq(mod(n-{first},{gop}),0)"]


def lead_in(camera: int, cameras: int) -> int:
    """Camera ``camera``'s first GOP in frames: between 0.6 and 1.5 GOPs, so the cameras' keyframe phases cover the
    whole GOP while no GOP, at the start or where the server loops the clip, is so short that the sampler's
    ``max_per_second`` (1 by default) sheds a keyframe."""
    return GOP // 2 + 1 + round(camera * GOP / cameras)


def bench_latency(
    cameras: int = 16, seconds: float = 15.0, windows: int = 3, variants: dict[str, dict[str, Any]] | None = None
) -> BenchTable:
    """``cameras`` staggered cameras for ``WARMUP_S + seconds``, per variant (config overrides on the defaults)."""
    variants = variants or {"shipped defaults": {}}
    table = BenchTable(
        f"alert latency, {cameras} RTSP cameras with staggered keyframes (1280x720 H.264, a keyframe every "
        f"{GOP / FPS:.0f} s each), packet arrival -> MQTT subscriber, ms; median (min-max) of {windows} windows",
        ["config", "keyframes/s offered", "processed/s", "dropped", "alerts seen/expected", "p50", "p95", "p95 all"],
        notes=[
            "from the moment the demuxer hands over a keyframe's packet (before decoding) to the alert's arrival at",
            "a separate MQTT subscriber (QoS 1, local mosquitto); every stage of Vigil is inside.",
            "alerts seen: matching keyframes (every other one) with an alert (scene, and face when it matches too);",
            "expected = cameras x run / 4 s; a shed keyframe never alerts; late alerts are waited for "
            f"{GRACE_S:.0f} s after the run.",
            "p50/p95: per window, median (min-max) over windows; p95 all: over every alert of the run.",
            "processed/s: frames the scene model embedded per second (keyframes, and confirmation-burst frames).",
        ],
    )
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with console.status(f"encoding {cameras} staggered clips"):
            mounts = staggered_clips(tmp, cameras)
        references = _reference_files(tmp)
        for name, overrides in variants.items():
            with console.status(f"{name}: {cameras} cameras, {WARMUP_S + seconds:.0f} s"):
                table.rows.append(_run(name, overrides, tmp / name, mounts, references, seconds, windows))
    return table


def staggered_clips(folder: Path, cameras: int) -> dict[str, Path]:
    """One clip per camera: a lead-in of ``lead_in`` frames, then the match and the other photo a GOP each, twice."""
    match, other = letterbox(photo("astronaut"), SIZE, 1.0), letterbox(photo("coffee"), SIZE, 1.0)
    mounts = {}
    for camera in range(cameras):
        lead = lead_in(camera, cameras)
        frames = [other] * lead + ([match] * GOP + [other] * GOP) * 2
        encoding = _StaggeredEncoding(fps=FPS, gop=GOP, first_gop=lead)
        mounts[f"cam{camera:02d}"] = write_clip(folder / f"cam{camera:02d}.mp4", frames, encoding)
    return mounts


def _reference_files(folder: Path) -> dict[str, tuple[Path, str, float | None]]:
    """The astronaut as a scene entry (the whole watchlisted photo) and as a face entry, written to ``folder``."""
    files = {}
    for reference in REFERENCES:
        if reference.photo != "astronaut" or reference.kind in files:
            continue
        path = folder / f"reference-{reference.kind}.png"
        cv2.imwrite(str(path), cv2.cvtColor(reference_image(reference), cv2.COLOR_RGB2BGR))
        files[reference.kind] = (path, reference.label, reference.threshold)
    return files


def _run(
    name: str, overrides: dict[str, Any], folder: Path, mounts: dict[str, Path],
    references: dict[str, tuple[Path, str, float | None]], seconds: float, windows: int,
) -> list[str]:  # fmt: skip
    folder.mkdir()
    with MosquittoBroker() as broker, RtspTestServer(mounts) as rtsp:
        config = alerting_config(folder, broker, {camera: rtsp.url(camera) for camera in mounts}, overrides=overrides)
        metrics = VigilMetrics()
        pipeline, store = build_pipeline(config, metrics=metrics)
        models = {"anomaly": pipeline.embedder, "face": pipeline.face_pipeline}
        for kind, (path, label, threshold) in references.items():
            if models[kind] is not None:
                Enroller(store, models[kind], show_progress=False).enroll(  # type: ignore[arg-type]
                    kind, label, [path], actor="bench", threshold=threshold
                )
        subscriber = _Subscriber(broker, f"{config.mqtt.topic_prefix}/alerts/#")
        try:
            pipeline.start()
            start = time.time() + WARMUP_S
            time.sleep(WARMUP_S)
            processed0, dropped0 = _processed(metrics, pipeline.embedder.name), _dropped(metrics)
            time.sleep(seconds)
            processed, dropped = _processed(metrics, pipeline.embedder.name) - processed0, _dropped(metrics) - dropped0
            end = time.time()
            subscriber.wait_quiet(until=end + GRACE_S)
        finally:
            pipeline.stop()
            store.close()
            subscriber.close()
    span = seconds / windows
    bounds = [(start + i * span, start + (i + 1) * span) for i in range(windows)]
    alerts = subscriber.latencies()
    per_window = [[ms for _, at, ms in alerts if low <= at < high] for low, high in bounds]
    everything = [ms for window in per_window for ms in window]
    keyframes = {(camera, at) for camera, at, _ in alerts if bounds[0][0] <= at < bounds[-1][1]}
    expected = len(mounts) * seconds / (2 * GOP / FPS)
    p50 = [percentiles(w, (50,))[50] for w in per_window if w]
    p95 = [percentiles(w, (95,))[95] for w in per_window if w]
    return [
        name,
        f"{len(mounts) * FPS / GOP:.1f}",
        f"{processed / seconds:.1f}",
        _by_reason(dropped),
        f"{len(keyframes)}/{expected:.0f}",
        spread(p50, 0),
        spread(p95, 0),
        f"{percentiles(everything, (95,))[95]:.0f}",
    ]


class _Subscriber:
    """A separate MQTT client on the alert topics: when each ``open`` alert arrived, and its frame time."""

    def __init__(self, broker: MosquittoBroker, topic: str) -> None:
        self._arrived: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()
        ready = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="vigil-bench-latency")
        self._client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *_: ready.set()
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        if not ready.wait(10):
            raise TimeoutError("the latency subscriber could not subscribe")

    def _on_message(self, _client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        arrived = time.time()
        alert = json.loads(message.payload)
        if alert.get("event") == "open":
            with self._lock:
                self._arrived.append((arrived, alert))

    def wait_quiet(self, until: float, quiet_s: float = 2.0) -> None:
        """Wait for late alerts until none came for ``quiet_s`` or ``until`` (epoch seconds) passed."""
        seen = -1
        while time.time() < until:
            with self._lock:
                count = len(self._arrived)
            if count == seen:
                return
            seen = count
            time.sleep(quiet_s)

    def latencies(self) -> list[tuple[str, float, float]]:
        """(camera, frame time, ms from frame time to arrival here) per ``open`` alert, both on this machine's
        clock."""
        with self._lock:
            arrived = list(self._arrived)
        result = []
        for at, alert in arrived:
            frame = datetime.fromisoformat(alert["frame_time"].replace("Z", "+00:00")).timestamp()
            result.append((alert["camera"], frame, (at - frame) * 1000))
        return result

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _processed(metrics: VigilMetrics, model: str) -> float:
    return metrics.registry.get_sample_value("vigil_batch_size_sum", {"model": model}) or 0.0


def _dropped(metrics: VigilMetrics) -> Counter[str]:
    """Keyframes dropped on every camera, by reason (backpressure, rate, errors, ...)."""
    dropped: Counter[str] = Counter()
    for family in metrics.registry.collect():
        if family.name == "vigil_frames_dropped":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    dropped[sample.labels["reason"]] += int(sample.value)
    return dropped


def _by_reason(dropped: Counter[str]) -> str:
    """``16 (backpressure 6, rate 10)``, or ``0``."""
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(dropped.items()))
    return f"{dropped.total()} ({reasons})" if reasons else "0"


def alternating_clip(path: Path) -> Path:
    """A clip that alternates the watchlisted photo with another every second: an alert opens and closes each 2 s."""
    match, other = letterbox(photo("astronaut"), SIZE, 1.0), letterbox(photo("coffee"), SIZE, 1.0)
    return write_scenes(path, [(match, 1.0), (other, 1.0)] * 10, ClipEncoding(fps=10, gop=10))


def alerting_config(
    tmp: Path,
    broker: MosquittoBroker,
    urls: dict[str, str],
    batch: dict[str, int] | None = None,
    overrides: dict[str, Any] | None = None,
) -> VigilConfig:
    """A service for ``urls`` that alerts on every match (no voting, no cooldown), data under ``tmp``; ``overrides``
    are merged over the result section by section (e.g. ``{"models": {"scene_regions": "none"}}``)."""
    settings: dict[str, Any] = {
        "cameras": {name: {"url": url} for name, url in urls.items()},
        "mqtt": {"host": broker.host, "port": broker.port},
        "watchlist": {"database": str(tmp / "watchlist.db")},
        "storage": {"snapshots": str(tmp / "snapshots")},
        "alerts": {"vote_hits": 1, "vote_window": 1, "close_after_s": 0.5, "cooldown_s": 0},
    }
    if batch:
        settings["batch"] = batch
    for section, values in (overrides or {}).items():
        settings[section] = {**settings.get(section, {}), **values}
    return VigilConfig.model_validate(settings)
