"""Home Assistant MQTT discovery: retained announcements per camera, templates that read Vigil's real messages."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import paho.mqtt.publish
import pytest

from streamer.alerts.discovery import HomeAssistantDiscovery
from streamer.alerts.mqtt import MqttPublisher
from streamer.alerts.outbox import AlertOutbox
from streamer.config import MqttConfig
from streamer.devservices.mosquitto import MosquittoBroker
from streamer.metrics import VigilMetrics
from streamer.sources.status import CameraState, CameraStatus
from tests.fixtures.mqtt import Recorder
from tests.fixtures.rtsp import wait_until
from tests.streamer.alerts.test_outbox import event

CAMERAS = {"lobby": CameraState.UP, "gate.north": CameraState.RECONNECTING}


def render(template: str, payload: bytes) -> str:
    """Evaluate a discovery ``value_template`` the way Home Assistant does: Jinja with ``value_json``."""
    return jinja2.Environment(autoescape=False).from_string(template).render(value_json=json.loads(payload))


def start_publisher(broker: MosquittoBroker, tmp_path: Path, **mqtt: object) -> tuple[MqttPublisher, AlertOutbox]:
    outbox = AlertOutbox(tmp_path / "outbox.db")
    config = MqttConfig(host=broker.host, port=broker.port, **mqtt)
    publisher = MqttPublisher(config, "node-1", outbox, VigilMetrics())
    publisher.start()
    assert wait_until(lambda: publisher.connected, timeout=10)
    for camera, state in CAMERAS.items():
        publisher.publish_camera_status(CameraStatus(camera, state, datetime.now(UTC)))
    return publisher, outbox


def test_each_camera_is_announced_with_a_status_sensor_an_alert_sensor_and_an_event_per_alert_kind(
    mosquitto, mqtt_recorder: Recorder, tmp_path: Path
):
    publisher, _ = start_publisher(mosquitto, tmp_path, ha_discovery=True)
    try:  # once the broker has everything, Home Assistant subscribes (late) and must get it all as retained
        assert wait_until(lambda: sum(m.topic.startswith("homeassistant/") for m in mqtt_recorder.messages) == 10)
        assert wait_until(
            lambda: sum(m.topic.endswith("/status") and "/cameras/" in m.topic for m in mqtt_recorder.messages) == 2
        )
        late = Recorder(mosquitto.host, mosquitto.port, "#")
        assert wait_until(lambda: sum(m.topic.startswith("homeassistant/") for m in late.messages) == 10)
        late.close()
    finally:
        publisher.stop()
    configs = {m.topic: m for m in late.messages if m.topic.startswith("homeassistant/")}
    assert all(m.retain for m in configs.values())
    assert sorted(configs) == sorted(
        f"homeassistant/{component}/vigil_node-1/{camera}_{what}/config"
        for camera in ("lobby", "gate_north")
        for component, what in [("sensor", "status"), ("binary_sensor", "alert"), ("event", "face_alert"),
                                ("event", "anomaly_alert"), ("event", "unknown_face_alert")]
    )  # fmt: skip
    documents = [m.json() for m in configs.values()]
    assert len({d["unique_id"] for d in documents}) == 10
    retained = {m.topic: m.payload for m in late.messages if not m.topic.startswith("homeassistant/")}
    assert all(retained[d["availability_topic"]] == d["payload_available"].encode() for d in documents)
    for camera, state in CAMERAS.items():
        sensor = configs[f"homeassistant/sensor/vigil_node-1/{camera.replace('.', '_')}_status/config"].json()
        assert render(sensor["value_template"], retained[sensor["state_topic"]]) == state.value
        assert state.value in sensor["options"]
    lobby_anomaly = configs["homeassistant/event/vigil_node-1/lobby_anomaly_alert/config"].json()
    assert lobby_anomaly["state_topic"] == "vigil/alerts/lobby/anomaly"


def test_the_event_template_turns_a_real_alert_into_a_home_assistant_event(mosquitto, mqtt_recorder, tmp_path: Path):
    publisher, outbox = start_publisher(mosquitto, tmp_path, ha_discovery=True)
    try:
        outbox.put(event(3), "vigil/alerts/lobby/anomaly")
        publisher.notify()
        alert = mqtt_recorder.wait_for(lambda m: m.topic == "vigil/alerts/lobby/anomaly", timeout=10)
        config = mqtt_recorder.wait_for(lambda m: m.topic.endswith("/lobby_anomaly_alert/config"), timeout=10).json()
    finally:
        publisher.stop()
    fired = json.loads(render(config["value_template"], alert.payload))
    assert fired["event_type"] in config["event_types"]
    assert fired == {
        "event_type": "open",
        "alert_id": alert.json()["alert_id"],
        "label": "Fire",
        "score": 0.91,
        "threshold": 0.75,
        "snapshot": "snapshots/x.jpg",
        "frame_time": alert.json()["frame_time"],
    }


def test_nothing_is_announced_when_discovery_is_off(mosquitto, mqtt_recorder, tmp_path: Path):
    publisher, _ = start_publisher(mosquitto, tmp_path)
    try:
        mqtt_recorder.wait_for(lambda m: m.topic == "vigil/cameras/gate.north/status", timeout=10)
    finally:
        publisher.stop()
    assert [m.topic for m in mqtt_recorder.messages if m.topic.startswith("homeassistant/")] == []


def test_a_home_assistant_restart_gets_every_announcement_again(mosquitto, mqtt_recorder, tmp_path: Path):
    publisher, _ = start_publisher(mosquitto, tmp_path, ha_discovery=True)

    def announcements() -> int:
        return sum(m.topic.startswith("homeassistant/sensor/") for m in mqtt_recorder.messages)

    try:  # the connect announces each camera, maybe twice (status and reconnect race): wait until it is quiet
        assert wait_until(lambda: announcements() >= 2, timeout=10)
        before = -1
        while before != announcements():
            before = announcements()
            time.sleep(1.0)
        paho.mqtt.publish.single("homeassistant/status", "online", hostname=mosquitto.host, port=mosquitto.port)
        assert wait_until(lambda: announcements() == before + 2, timeout=10)
    finally:
        publisher.stop()


@pytest.mark.parametrize(
    ("camera", "object_id"),
    [("lobby", "lobby_status"), ("gate.north", "gate_north_status"), ("Hall-2", "Hall-2_status")],
)
def test_discovery_ids_keep_only_the_characters_home_assistant_allows(camera, object_id):
    sensor = HomeAssistantDiscovery(MqttConfig(ha_discovery=True), "node 1").camera_messages(camera)[0]
    assert sensor.topic == f"homeassistant/sensor/vigil_node_1/{object_id}/config"
    assert sensor.payload["state_topic"] == f"vigil/cameras/{camera}/status"
    assert sensor.payload["availability_topic"] == "vigil/status/node 1"
