"""The MQTT publisher against a real mosquitto: QoS 1 delivery, retained status, Last Will, broker outages."""

from __future__ import annotations

import logging
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from streamer.alerts.event import alert_schema, iso_utc
from streamer.alerts.mqtt import MqttPublisher
from streamer.alerts.outbox import AlertOutbox
from streamer.config import MqttConfig
from streamer.devservices.mosquitto import MosquittoBroker
from streamer.free_space import FreeSpaceGuard
from streamer.metrics import VigilMetrics
from streamer.sources.status import CameraState, CameraStatus
from tests.fixtures.mqtt import Recorder
from tests.streamer.alerts.test_outbox import event


def publisher_for(broker: MosquittoBroker, tmp_path: Path, **mqtt) -> tuple[MqttPublisher, AlertOutbox, VigilMetrics]:
    outbox = AlertOutbox(tmp_path / "outbox.db")
    metrics = VigilMetrics(cameras=["lobby"])
    config = MqttConfig(host=broker.host, port=broker.port, **mqtt)
    return MqttPublisher(config, "node-1", outbox, metrics), outbox, metrics


def test_alerts_are_delivered_with_qos1_and_validate(mosquitto, mqtt_recorder: Recorder, tmp_path: Path):
    publisher, outbox, metrics = publisher_for(mosquitto, tmp_path)
    publisher.start()
    try:
        for n in range(3):
            outbox.put(event(n), "vigil/alerts/lobby/anomaly")
        publisher.notify()
        assert publisher.wait_idle(10)
        for n in range(3):
            mqtt_recorder.wait_for(
                lambda m, n=n: m.topic.endswith("/anomaly") and m.json()["alert_id"].endswith(f"{n:012d}"), timeout=10
            )
    finally:
        publisher.stop()
    for payload in mqtt_recorder.alerts():
        jsonschema.validate(payload, alert_schema())
    assert (
        metrics.registry.get_sample_value(
            "vigil_alerts_published_total", {"kind": "anomaly", "event": "open", "camera": "lobby"}
        )
        == 3
    )
    assert metrics.registry.get_sample_value("vigil_alert_latency_seconds_count") == 3


def test_node_status_is_retained_online_then_offline(mosquitto, tmp_path: Path):
    publisher, _outbox, _ = publisher_for(mosquitto, tmp_path)
    publisher.start()
    late = None
    try:
        time.sleep(0.5)
        late = Recorder(mosquitto.host, mosquitto.port, "vigil/status/#")
        online = late.wait_for(lambda m: m.topic == "vigil/status/node-1", timeout=10)
        assert (online.payload, online.retain) == (b"online", True)
    finally:
        publisher.stop()
    late.wait_for(lambda m: m.payload == b"offline", timeout=10)
    late.close()


def test_camera_status_is_retained_for_late_subscribers(mosquitto, tmp_path: Path):
    publisher, _outbox, _ = publisher_for(mosquitto, tmp_path)
    publisher.start()
    try:
        publisher.publish_camera_status(CameraStatus("gate", CameraState.DOWN, datetime.now(UTC), reason="refused"))
        time.sleep(0.5)
        late = Recorder(mosquitto.host, mosquitto.port, "vigil/cameras/#")
        status = late.wait_for(lambda m: m.topic == "vigil/cameras/gate/status", timeout=10)
        assert status.retain and status.json()["state"] == "down"
        late.close()
    finally:
        publisher.stop()


def test_alerts_produced_during_a_broker_outage_arrive_once_it_returns(tmp_path: Path):
    with MosquittoBroker() as broker:
        publisher, outbox, _ = publisher_for(broker, tmp_path)
        publisher.start()
        recorder = Recorder(broker.host, broker.port, "vigil/alerts/#")
        outbox.put(event(0), "vigil/alerts/lobby/anomaly")
        publisher.notify()
        assert publisher.wait_idle(10)
        recorder.close()
        broker.stop()
        for n in range(1, 6):
            outbox.put(event(n), "vigil/alerts/lobby/anomaly")
            publisher.notify()
        time.sleep(1.5)
        assert outbox.depth() == 5  # nothing is lost or marked sent while the broker is away
        broker.start()
        recorder = Recorder(broker.host, broker.port, "vigil/alerts/#")  # the broker has no persistence
        assert publisher.wait_idle(40)
        publisher.stop()
        recorder.close()
    # Delivered while the recorder listened again: all five, in order (de-duplicated on alert_id + event).
    seen = []
    for payload in recorder.alerts():
        key = (payload["alert_id"], payload["event"])
        if key not in seen:
            seen.append(key)
    assert [k[0][-1] for k in seen] == ["1", "2", "3", "4", "5"]


def test_alerts_left_in_the_outbox_are_sent_after_a_restart_of_vigil(mosquitto, mqtt_recorder, tmp_path: Path):
    outbox = AlertOutbox(tmp_path / "outbox.db")
    outbox.put(event(7), "vigil/alerts/lobby/anomaly")
    outbox.close()
    publisher, outbox, _ = publisher_for(mosquitto, tmp_path)  # the "restarted" process
    publisher.start()
    try:
        assert publisher.wait_idle(10)
    finally:
        publisher.stop()
    assert [a["alert_id"][-1] for a in mqtt_recorder.alerts()] == ["7"]


def test_credentials_are_used_and_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    secret = tmp_path / "pass"
    secret.write_text("hunter2-very-secret")
    caplog.set_level(logging.DEBUG)
    with MosquittoBroker(username="vigil", password="hunter2-very-secret") as broker:
        publisher, outbox, _ = publisher_for(broker, tmp_path, username="vigil", password_file=secret)
        publisher.start()
        try:
            outbox.put(event(1), "vigil/alerts/lobby/anomaly")
            publisher.notify()
            assert publisher.wait_idle(10)
        finally:
            publisher.stop()
    assert "hunter2" not in caplog.text


def test_a_wrong_password_is_reported_and_nothing_is_lost(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    secret = tmp_path / "pass"
    secret.write_text("wrong-password")
    with MosquittoBroker(username="vigil", password="right-password") as broker:
        publisher, outbox, _ = publisher_for(broker, tmp_path, username="vigil", password_file=secret)
        publisher.start()
        try:
            outbox.put(event(1), "vigil/alerts/lobby/anomaly")
            publisher.notify()
            assert not publisher.wait_idle(2)
        finally:
            publisher.stop(drain_timeout=0.5)
    assert outbox.depth() == 1
    assert "refused the connection" in caplog.text
    assert "wrong-password" not in caplog.text


def test_a_refused_login_is_an_error_once_and_its_retries_are_debug(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """paho retries a refused login every second or so: one ERROR says so, the retries must not flood the log."""
    secret = tmp_path / "pass"
    secret.write_text("wrong-password")
    caplog.set_level(logging.DEBUG, logger="streamer.alerts.mqtt")
    with MosquittoBroker(username="vigil", password="right-password") as broker:
        publisher, _outbox, _ = publisher_for(
            broker, tmp_path, username="vigil", password_file=secret, reconnect_max_s=1
        )
        publisher.start()
        try:
            deadline = time.monotonic() + 15
            while len(refusals := _refusals(caplog)) < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            publisher.stop(drain_timeout=0.5)
    levels = [record.levelno for record in refusals]
    assert len(levels) >= 3, f"paho tried {len(levels)} times in 15 s"
    assert levels[0] == logging.ERROR and set(levels[1:]) == {logging.DEBUG}, levels
    assert "not authori" in refusals[0].getMessage().lower() and not publisher.connected


def _refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if "refused the connection" in record.getMessage()]


def test_the_history_says_when_the_broker_got_each_alert(mosquitto, mqtt_recorder: Recorder, tmp_path: Path):
    publisher, outbox, _ = publisher_for(mosquitto, tmp_path)
    publisher.start()
    try:
        outbox.put(event(1), "vigil/alerts/lobby/anomaly")
        publisher.notify()
        assert publisher.wait_idle(10)
        delivered = mqtt_recorder.wait_for(lambda m: m.topic == "vigil/alerts/lobby/anomaly", timeout=10).json()
    finally:
        publisher.stop()
    (stored,) = outbox.history()
    assert delivered["published_at"] is not None
    assert stored.payload == delivered  # the row the API serves is the message the broker got, published_at included


def test_an_alert_picture_is_retained_on_the_camera_snapshot_topic(mosquitto, tmp_path: Path):
    publisher, _outbox, _ = publisher_for(mosquitto, tmp_path)
    publisher.start()
    try:
        publisher.publish_snapshot("lobby", "face", b"\xff\xd8first")
        publisher.publish_snapshot("lobby", "face", b"\xff\xd8second")
        time.sleep(0.5)
        late = Recorder(mosquitto.host, mosquitto.port, "vigil/cameras/+/+/snapshot")
        picture = late.wait_for(lambda m: m.topic == "vigil/cameras/lobby/face/snapshot", timeout=10)
        late.close()
    finally:
        publisher.stop()
    assert (picture.payload, picture.retain) == (b"\xff\xd8second", True)  # the latest one, for late subscribers


def test_camera_statuses_changed_during_an_outage_arrive_in_order_after_the_reconnect(tmp_path: Path):
    with MosquittoBroker() as broker:
        publisher, _outbox, _ = publisher_for(broker, tmp_path, reconnect_max_s=1)
        publisher.start()
        start = datetime.now(UTC)
        statuses = [
            CameraStatus("gate", state, start + timedelta(seconds=n), reason=reason)
            for n, (state, reason) in enumerate([(CameraState.UP, None), (CameraState.RECONNECTING, "stalled"),
                                                 (CameraState.DOWN, "refused"), (CameraState.UP, None)])
        ]  # fmt: skip
        try:
            publisher.publish_camera_status(statuses[0])
            time.sleep(0.5)
            broker.stop()
            for status in statuses[1:]:  # while the node cannot reach the broker
                publisher.publish_camera_status(status)
            broker.start()
            recorder = Recorder(broker.host, broker.port, "vigil/cameras/#")
            recorder.wait_for(lambda m: m.json()["since"] == iso_utc(statuses[-1].since), timeout=20)
            time.sleep(2.0)  # anything paho queued during the outage would arrive now
            recorder.close()
        finally:
            publisher.stop()
    sent = [m.json() for m in recorder.messages]
    assert [s["since"] for s in sent] == sorted(s["since"] for s in sent)  # never an older status after a newer one
    assert sent[-1]["state"] == "up" and sent[-1]["node_id"] == "node-1"


def test_the_node_reports_degraded_with_a_reason_while_its_disk_is_low_and_online_after(mosquitto, tmp_path: Path):
    outbox = AlertOutbox(tmp_path / "outbox.db")
    metrics = VigilMetrics()
    free_mb = shutil.disk_usage(tmp_path).free // (1024 * 1024)
    guard = FreeSpaceGuard(tmp_path, free_mb + 1024, metrics)  # the volume is "low" until the threshold drops
    config = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    publisher = MqttPublisher(config, "node-1", outbox, metrics, guard)
    recorder = Recorder(mosquitto.host, mosquitto.port, "vigil/status/#")
    publisher.start()
    try:
        recorder.wait_for(lambda m: m.topic == "vigil/status/node-1/health", timeout=10)
        late = Recorder(mosquitto.host, mosquitto.port, "vigil/status/node-1/health")
        degraded = late.wait_for(lambda m: True, timeout=10)  # retained: what a consumer that joins now sees
        late.close()
        guard._min_free = 0  # space returns
        online = recorder.wait_for(lambda m: m.topic.endswith("/health") and m.json()["state"] == "online", timeout=10)
        status = recorder.wait_for(lambda m: m.topic == "vigil/status/node-1", timeout=10)
    finally:
        publisher.stop()
        recorder.close()
    assert degraded.retain and degraded.json()["state"] == "degraded"
    assert degraded.json()["reasons"] == ["low_disk_space"] and "min_free_mb" in degraded.json()["reason"]
    assert online.json() == {"state": "online", "node_id": "node-1", "since": online.json()["since"]}
    assert status.payload == b"online"  # the plain status stays online/offline for existing consumers
