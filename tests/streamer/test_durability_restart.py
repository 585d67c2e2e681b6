"""Clean state after a crash: ``vigil run`` killed with SIGKILL while an alert is open, then started again.

A real subprocess, a real RTSP camera showing a watchlist photo without end (so the alert stays open), real mosquitto.
After the kill the broker's Last Will says the node is ``offline``, and the camera's retained status names that node,
so a consumer knows it is stale. The restarted node closes the orphaned alert (``reason: node_restarted``, valid
against the shipped schema) and publishes fresh camera statuses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest

import streamer
from streamer.alerts.event import alert_schema
from streamer.demo.scenes import letterbox, photo
from streamer.devservices.clips import ClipEncoding
from streamer.devservices.mosquitto import MosquittoBroker
from tests.fixtures.mqtt import Received, Recorder
from tests.streamer.test_reliability import FAST_RECONNECT, SIZE, reference  # noqa: F401  (fixture)

NODE = "crash-node"
WORKTREE = Path(streamer.__file__).resolve().parents[1]


def vigil(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``vigil ARGS`` as a subprocess running this checkout's code."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(WORKTREE))
    env = {key: value for key, value in env.items() if not key.startswith("VIGIL_")}
    command = [sys.executable, "-c", "from streamer.cli import main; main()", *args]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def write_config(folder: Path, broker: MosquittoBroker, camera_url: str, model_cache_dir: Path) -> Path:
    reconnect = ", ".join(f"{key}: {value}" for key, value in FAST_RECONNECT.items())
    path = folder / "vigil.yaml"
    path.write_text(
        f"node_id: {NODE}\n"
        f"cameras:\n  lobby:\n    url: {camera_url}\n    reconnect: {{{reconnect}}}\n"
        f"models: {{cache_dir: {model_cache_dir}, threads: 1}}\n"
        f"watchlist: {{database: {folder / 'watchlist.db'}}}\n"
        f"mqtt: {{host: {broker.host}, port: {broker.port}, reconnect_max_s: 2}}\n"
        "alerts: {vote_hits: 1, vote_window: 1, close_after_s: 600, cooldown_s: 0}\n"
        f"storage: {{snapshots: {folder / 'data' / 'snapshots'}}}\n"
        "metrics: {enabled: false}\napi: {enabled: false}\narchive: {enabled: false}\n"
    )
    return path


def camera_status(message: Received) -> bool:
    return message.topic == "vigil/cameras/lobby/status"


def test_after_kill_9_the_open_alert_is_closed_at_restart_and_camera_status_is_fresh_and_names_its_node(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    rtsp_server,
    clip_factory,
    reference: Path,  # noqa: F811
    model_cache_dir: Path,
):
    astronaut = letterbox(photo("astronaut"), SIZE, 1.0)
    clip = clip_factory.scenes("astronaut-only-640", [(astronaut, 3.0)], ClipEncoding(fps=10, gop=10))
    server = rtsp_server({"lobby": clip})
    config = write_config(tmp_path, mosquitto, server.url("lobby"), model_cache_dir)
    enrolled = vigil("watchlist", "add", "-c", str(config), "--kind", "anomaly", "--label", "Astronaut",
                     "--threshold", "0.72", str(reference), cwd=tmp_path)  # fmt: skip
    assert enrolled.wait(timeout=180) == 0, enrolled.stdout.read() if enrolled.stdout else ""
    recorder = Recorder(mosquitto.host, mosquitto.port, "vigil/#")
    first = second = None
    try:
        first = vigil("run", "-c", str(config), cwd=tmp_path)
        opened = recorder.wait_for(lambda m: "/alerts/" in m.topic and m.json()["event"] == "open", timeout=120)
        up = recorder.wait_for(lambda m: camera_status(m) and m.json()["state"] == "up", timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.time()
        recorder.wait_for(lambda m: m.topic == f"vigil/status/{NODE}" and m.payload == b"offline", timeout=30)

        late = Recorder(mosquitto.host, mosquitto.port, "vigil/cameras/#")  # what a consumer sees after the crash
        retained = late.wait_for(camera_status, timeout=10)
        late.close()

        second = vigil("run", "-c", str(config), cwd=tmp_path)
        alert_id = opened.json()["alert_id"]
        closed = recorder.wait_for(
            lambda m: "/alerts/" in m.topic and m.json()["alert_id"] == alert_id and m.json()["event"] == "close",
            timeout=120,
        )
        fresh = recorder.wait_for(
            lambda m: camera_status(m) and _time(m.json()["since"]) > killed_at and m.json()["state"] == "up",
            timeout=60,
        )
        second.send_signal(signal.SIGTERM)
        output, _ = second.communicate(timeout=60)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        recorder.close()
    assert second.returncode == 0, output
    assert up.json()["node_id"] == NODE
    assert retained.retain and retained.json()["node_id"] == NODE and retained.json()["state"] == "up"
    payload = closed.json()
    jsonschema.validate(payload, alert_schema())
    assert payload["reason"] == "node_restarted" and payload["schema_version"] == 2
    assert payload["camera"] == "lobby" and payload["entry"] == opened.json()["entry"]
    assert "closed 1 alert(s) left open" in output
    assert fresh.json()["node_id"] == NODE and _time(fresh.json()["last_frame_at"]) > killed_at
    closes = [m for m in recorder.messages if "/alerts/" in m.topic and m.json()["alert_id"] == alert_id]
    assert [m.json()["event"] for m in closes].count("close") == 1  # closed once, by the restarted node only


NO_PICTURES = {"snapshot_url": None, "crop_url": None}


def _time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize(
    ("payload", "valid"),
    [
        ({"schema_version": 2, "event": "close", "reason": "node_restarted", **NO_PICTURES}, True),
        ({"schema_version": 1, "event": "close", "reason": "node_restarted"}, False),  # a reason needs version 2
        ({"schema_version": 2, "event": "open", "reason": "node_restarted", **NO_PICTURES}, False),  # a close only
        ({"schema_version": 2, "event": "close", "reason": "crashed", **NO_PICTURES}, False),  # a known reason only
        ({"schema_version": 2, "event": "close", **NO_PICTURES}, True),
        ({"schema_version": 1, "event": "close"}, True),
    ],
)
def test_the_alert_schema_allows_a_reason_only_on_a_version_2_close(payload: dict, valid: bool):
    alert = {
        "alert_id": "5b0c7e9e-1b7e-4f3e-9a55-0c5b2f4b1a11", "camera": "lobby", "kind": "anomaly",
        "entry": {"id": "e1", "label": "Rocket"}, "score": 0.9, "threshold": 0.8,
        "frame_time": "2026-11-25T13:14:45.622Z", "published_at": "2026-11-25T13:14:45.701Z",
        "bbox": [0, 0, 10, 10], "frame_size": [10, 10], "snapshot": None, "node_id": "n", "model": "m@ab", **payload,
    }  # fmt: skip
    if valid:
        jsonschema.validate(alert, alert_schema())
    else:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(alert, alert_schema())
