"""``vigil run`` as an operator starts it: config checked first (exit 2 naming the field), clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.mqtt import Recorder

VIGIL = Path(sys.executable).with_name("vigil")


def vigil(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VIGIL), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("config_text", "expected"),
    [
        ("mqtt:\n  port: eighty\n", "mqtt.port"),
        ("cameras:\n  lobby:\n    url: rtsp://h/s\n    smaple: {}\n", "cameras.lobby.smaple: unknown field"),
        ("cameras:\n  lobby:\n    url: /nowhere/clip.mp4\n", "file not found: /nowhere/clip.mp4"),
        ("watchlist: {database: 3}\n", "watchlist.database"),
    ],
)
def test_a_bad_config_exits_2_naming_the_field_and_writes_nothing(tmp_path: Path, config_text: str, expected: str):
    (tmp_path / "vigil.yaml").write_text(config_text)
    result = vigil("run", "-c", "vigil.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_missing_config_file_exits_2(tmp_path: Path):
    result = vigil("run", "-c", "absent.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "config file not found: absent.yaml" in result.stderr


def test_help_explains_every_command(tmp_path: Path):
    result = vigil("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "demo", "bench", "watchlist", "models"):
        assert command in result.stdout


def test_the_service_runs_announces_itself_and_stops_cleanly_on_sigterm(
    tmp_path: Path, mosquitto, clip_factory, rtsp_server, model_cache_dir: Path
):
    server = rtsp_server({"lobby": clip_factory(seconds=4)}, user="viewer", password="cam-secret-42")
    (tmp_path / "vigil.yaml").write_text(
        f"node_id: cli-node\n"
        f"cameras:\n  lobby:\n    url: {server.url('lobby')}\n"
        f"mqtt: {{host: {mosquitto.host}, port: {mosquitto.port}}}\n"
        f"models: {{cache_dir: {model_cache_dir}, threads: 1}}\n"
        f"metrics: {{bind: 127.0.0.1, port: 0}}\n"
        f"api: {{bind: 127.0.0.1, port: 0}}\n"
    )
    recorder = Recorder(mosquitto.host, mosquitto.port, "vigil/#")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [str(VIGIL), "run", "-c", "vigil.yaml"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        recorder.wait_for(lambda m: m.topic == "vigil/status/cli-node" and m.payload == b"online", timeout=60)
        recorder.wait_for(lambda m: m.topic == "vigil/cameras/lobby/status" and m.json()["state"] == "up", timeout=30)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        recorder.close()
    assert process.returncode == 0, output
    assert any(m.topic == "vigil/status/cli-node" and m.payload == b"offline" for m in recorder.messages)
    assert "cam-secret-42" not in output  # the camera password never reaches the logs
    assert "pipeline stopped" in output
