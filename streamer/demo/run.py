"""Runs the demo end to end on this machine and prints each alert as the broker delivers it.

Everything is real: mosquitto on a free port, a GStreamer RTSP server streaming an H.264 clip made from bundled
photos, the watchlist enrolled from *other* crops of those photos, the ONNX scene model, the full pipeline.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import cv2
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table

from streamer.config import VigilConfig
from streamer.demo.scenes import FPS, REFERENCES, clip_seconds, demo_frames, reference_image
from streamer.devservices.clips import ClipEncoding, write_clip
from streamer.devservices.mosquitto import MosquittoBroker
from streamer.devservices.rtsp_server import RtspTestServer
from streamer.metrics import VigilMetrics
from streamer.service import build_pipeline
from watchlists.enroll import Enroller

console = Console()
CAMERA = "lobby"


class AlertPrinter:
    """An MQTT subscriber, like an operator's VMS: prints alerts and camera status as they arrive."""

    def __init__(self, broker: MosquittoBroker, prefix: str) -> None:
        self.alerts: list[dict] = []
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="vigil-demo-viewer")
        self._client.on_connect = lambda c, *_: c.subscribe(f"{prefix}/#", qos=1)
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        if "/alerts/" in message.topic:
            alert = json.loads(message.payload)
            self.alerts.append(alert)
            colour = {"open": "bold red", "update": "yellow", "close": "green"}[alert["event"]]
            console.print(
                f"[{colour}]ALERT {alert['event']:<6}[/] {alert['kind']:<7} camera=[cyan]{alert['camera']}[/] "
                f"label=[bold]{alert['entry']['label']}[/] score={alert['score']:.3f} "
                f"(threshold {alert['threshold']:g}) frame_time={alert['frame_time']} "
                f"snapshot={alert['snapshot']}",
                soft_wrap=True,
            )
        elif message.topic.endswith("/status"):
            console.print(f"[dim]status {message.topic}: {message.payload.decode()}[/]", soft_wrap=True)

    def closed_labels(self) -> set[str]:
        return {a["entry"]["label"] for a in self.alerts if a["event"] == "close"}

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def prepare(workdir: Path) -> tuple[Path, list[Path]]:
    """Write the demo clip (cached) and the reference images into ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    clip = workdir / "lobby.mp4"
    if not clip.exists():
        with console.status("encoding the demo clip (H.264, 1280x720, 10 fps, a keyframe per second)"):
            write_clip(clip, demo_frames(), ClipEncoding(fps=FPS, gop=FPS))
    references = []
    for reference in REFERENCES:
        path = workdir / "references" / f"{reference.kind}-{reference.photo}.png"
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(reference_image(reference), cv2.COLOR_RGB2BGR))
        references.append(path)
    return clip, references


def demo_config(workdir: Path, broker: MosquittoBroker, camera_url: str) -> VigilConfig:
    return VigilConfig.model_validate(
        {
            "node_id": "demo-node",
            "cameras": {CAMERA: {"url": camera_url, "sample": {"keyframes_only": True, "max_per_second": 1.0}}},
            "watchlist": {"database": str(workdir / "watchlist.db")},
            "mqtt": {"host": broker.host, "port": broker.port},
            "alerts": {"vote_hits": 2, "vote_window": 3, "close_after_s": 5, "cooldown_s": 60},
            "storage": {"snapshots": str(workdir / "snapshots")},
            "api": {"enabled": False},
            "metrics": {"enabled": False},
        }
    )


def run_demo(workdir: Path, timeout_s: float) -> int:
    """Returns the exit code: 0 when every demo reference alerted (open and close), else 1."""
    for stale in ("watchlist.db", "watchlist.db-wal", "watchlist.db-shm", "outbox.db", "snapshots"):
        path = workdir / stale
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    clip, reference_paths = prepare(workdir)
    with MosquittoBroker() as broker, RtspTestServer({CAMERA: clip}) as rtsp:
        config = demo_config(workdir, broker, rtsp.url(CAMERA))
        console.print(
            f"[bold]mosquitto[/] on {broker.host}:{broker.port}, [bold]RTSP camera[/] {rtsp.url(CAMERA)}"
            f" ({clip_seconds():.0f} s clip, looping)"
        )
        metrics = VigilMetrics()
        pipeline, store = build_pipeline(config, metrics=metrics)
        enrollers = {"anomaly": Enroller(store, pipeline.embedder, show_progress=False)}
        if pipeline.face_pipeline is not None:
            enrollers["face"] = Enroller(store, pipeline.face_pipeline, show_progress=False)
        for reference, path in zip(REFERENCES, reference_paths, strict=True):
            report = enrollers[reference.kind].enroll(
                reference.kind, reference.label, [path], threshold=reference.threshold, actor="demo"
            )
            console.print(
                f"enrolled {reference.kind} [bold]{reference.label}[/] from {path.name} -> entry {report.entry.id[:8]}"
            )
        printer = AlertPrinter(broker, config.mqtt.topic_prefix)
        pipeline.start()
        expected = {r.label for r in REFERENCES}
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline and not expected <= printer.closed_labels():
                time.sleep(0.5)
        finally:
            pipeline.stop()
            time.sleep(0.5)
            printer.close()
            store.close()
    _summary(metrics, printer, expected, pipeline.embedder.name)
    return 0 if expected <= printer.closed_labels() else 1


def _summary(metrics: VigilMetrics, printer: AlertPrinter, expected: set[str], scene_model: str) -> None:
    value = metrics.registry.get_sample_value
    table = Table(title="demo summary")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("frames decoded (keyframes only)", f"{value('vigil_frames_decoded_total', {'camera': CAMERA}):.0f}")
    table.add_row("keyframes embedded", f"{value('vigil_keyframes_sampled_total', {'camera': CAMERA}):.0f}")
    batches = value("vigil_inference_seconds_count", {"model": scene_model}) or 0
    seconds = value("vigil_inference_seconds_sum", {"model": scene_model}) or 0
    table.add_row("mean inference per batch", f"{1000 * seconds / max(batches, 1):.1f} ms")
    table.add_row("alerts received over MQTT", str(len(printer.alerts)))
    latency_n = value("vigil_alert_latency_seconds_count") or 0
    latency_sum = value("vigil_alert_latency_seconds_sum") or 0
    table.add_row("mean frame -> broker ack", f"{1000 * latency_sum / max(latency_n, 1):.0f} ms")
    missing = expected - printer.closed_labels()
    table.add_row("references that alerted", f"{len(expected) - len(missing)} of {len(expected)}")
    console.print(table)
    if missing:
        console.print(f"[red]no complete alert for: {', '.join(sorted(missing))}[/]")
