"""Home Assistant discovery over a node's life: announced once per connection, cleared for cameras no longer
configured, alert states for cameras and entries, snapshot images; against a real mosquitto."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.publish

from streamer.alerts.event import AlertPhase
from streamer.alerts.mqtt import MqttPublisher
from streamer.alerts.outbox import AlertOutbox
from streamer.config import MqttConfig, MqttSnapshotsConfig
from streamer.devservices.mosquitto import MosquittoBroker
from streamer.metrics import VigilMetrics
from streamer.sources.status import CameraState, CameraStatus
from tests.fixtures.mqtt import Recorder
from tests.fixtures.rtsp import wait_until
from tests.streamer.alerts.test_outbox import event


def publisher_for(broker: MosquittoBroker, tmp_path: Path, cameras: list[str], **mqtt: object) -> MqttPublisher:
    config = MqttConfig(host=broker.host, port=broker.port, ha_discovery=True, **mqtt)
    return MqttPublisher(config, "node-1", AlertOutbox(tmp_path / "outbox.db"), VigilMetrics(), cameras=cameras)


def discovery_topics(recorder: Recorder) -> list[str]:
    """Discovery documents received (an empty payload clears one and is not counted)."""
    return [m.topic for m in recorder.messages if m.topic.endswith("/config") and m.payload]


def test_discovery_is_published_once_per_connect(mosquitto: MosquittoBroker, mqtt_recorder: Recorder, tmp_path: Path):
    # Home Assistant's birth message retained on the broker (a common setup), and a camera status that comes before
    # the connection: each used to trigger a second announcement.
    paho.mqtt.publish.single(
        "homeassistant/status", "online", retain=True, hostname=mosquitto.host, port=mosquitto.port
    )
    publisher = publisher_for(mosquitto, tmp_path, ["lobby"])
    publisher.publish_camera_status(CameraStatus("lobby", CameraState.UP, datetime.now(UTC)))
    publisher.start()
    try:
        assert wait_until(lambda: publisher.connected, timeout=10)
        mqtt_recorder.wait_for(lambda m: m.topic == "vigil/cameras/lobby/status", timeout=10)
        time.sleep(1.0)  # time for any second round to arrive
    finally:
        publisher.stop()
    topics = discovery_topics(mqtt_recorder)
    assert len(topics) == 5 and len(set(topics)) == 5, topics


def test_a_live_home_assistant_birth_announces_again(mosquitto, mqtt_recorder: Recorder, tmp_path: Path):
    publisher = publisher_for(mosquitto, tmp_path, ["lobby"])
    publisher.start()
    try:
        assert wait_until(lambda: len(discovery_topics(mqtt_recorder)) == 5, timeout=10)
        paho.mqtt.publish.single("homeassistant/status", "online", hostname=mosquitto.host, port=mosquitto.port)
        assert wait_until(lambda: len(discovery_topics(mqtt_recorder)) == 10, timeout=10)
    finally:
        publisher.stop()


def test_the_documents_of_a_camera_no_longer_configured_are_cleared(mosquitto: MosquittoBroker, tmp_path: Path):
    before = publisher_for(mosquitto, tmp_path / "before", ["lobby", "gate.north"])
    before.start()
    watcher = Recorder(mosquitto.host, mosquitto.port, "homeassistant/#")
    try:
        assert wait_until(lambda: len(discovery_topics(watcher)) == 10, timeout=10)
    finally:
        before.stop()
        watcher.close()
    after = publisher_for(mosquitto, tmp_path / "after", ["lobby"])  # gate.north removed from the config
    after.start()
    try:
        assert wait_until(lambda: after.connected, timeout=10)
        time.sleep(1.0)  # the retained documents arrive at connect; the stale ones are cleared then
        late = Recorder(mosquitto.host, mosquitto.port, "homeassistant/#")  # what Home Assistant would load now
        assert wait_until(lambda: len(discovery_topics(late)) >= 5, timeout=10)
        time.sleep(0.5)
        late.close()
    finally:
        after.stop()
    retained = sorted(discovery_topics(late))
    assert retained == sorted(t for t in discovery_topics(watcher) if "/lobby_" in t)
    assert all("gate_north" not in t for t in retained)


def test_alert_states_follow_open_and_close_for_the_camera_and_the_entry(mosquitto, tmp_path: Path):
    publisher = publisher_for(mosquitto, tmp_path, ["lobby", "gate"])
    outbox = publisher._outbox
    states = Recorder(mosquitto.host, mosquitto.port, "vigil/+/+/alert")
    configs = Recorder(mosquitto.host, mosquitto.port, "homeassistant/binary_sensor/#")
    publisher.start()
    try:
        assert wait_until(lambda: len(states.messages) == 2, timeout=10)  # both cameras OFF at connect
        outbox.put(event(1), "vigil/alerts/lobby/anomaly")
        publisher.notify()
        assert wait_until(lambda: len(states.messages) == 4, timeout=10)
        outbox.put(replace(event(1), event=AlertPhase.CLOSE), "vigil/alerts/lobby/anomaly")
        publisher.notify()
        assert wait_until(lambda: len(states.messages) == 6, timeout=10)
        entry = configs.wait_for(lambda m: "_watchlist/" in m.topic, timeout=10)
    finally:
        publisher.stop()
        states.close()
        configs.close()
    sequence = [(m.topic, m.payload.decode()) for m in states.messages]
    assert sorted(sequence[:2]) == [("vigil/cameras/gate/alert", "OFF"), ("vigil/cameras/lobby/alert", "OFF")]
    assert sorted(sequence[2:4]) == [("vigil/cameras/lobby/alert", "ON"), ("vigil/entries/e1/alert", "ON")]
    assert sorted(sequence[4:]) == [("vigil/cameras/lobby/alert", "OFF"), ("vigil/entries/e1/alert", "OFF")]
    document = entry.json()
    assert entry.topic == "homeassistant/binary_sensor/vigil_node-1_watchlist/e1/config"
    assert document["state_topic"] == "vigil/entries/e1/alert" and document["name"] == "Fire alert"
    assert (document["payload_on"], document["payload_off"]) == ("ON", "OFF")
    assert document["availability_topic"] == "vigil/status/node-1"


def test_each_camera_has_an_image_of_its_last_snapshot_per_kind(mosquitto, tmp_path: Path):
    publisher = publisher_for(mosquitto, tmp_path, ["lobby"], snapshots=MqttSnapshotsConfig(enabled=True))
    publisher.start()
    try:
        assert wait_until(lambda: publisher.connected, timeout=10)
        publisher.publish_snapshot("lobby", "anomaly", b"\xff\xd8jpeg")
        images = Recorder(mosquitto.host, mosquitto.port, "homeassistant/image/#")
        image = images.wait_for(lambda m: m.topic.endswith("/lobby_anomaly_snapshot/config"), timeout=10).json()
        picture = Recorder(mosquitto.host, mosquitto.port, image["image_topic"]).wait_for(lambda m: True, timeout=10)
        time.sleep(0.3)
        kinds = sorted(m.topic for m in images.messages)
        images.close()
    finally:
        publisher.stop()
    assert kinds == [
        f"homeassistant/image/vigil_node-1/lobby_{k}_snapshot/config" for k in ("anomaly", "face", "unknown_face")
    ]
    assert image["content_type"] == "image/jpeg" and image["availability_topic"] == "vigil/status/node-1"
    assert picture.payload == b"\xff\xd8jpeg" and picture.retain
