"""TLS to the broker with a CA made in the test, username/password over it, and no secret ever in the logs."""

from __future__ import annotations

import json
import logging
import queue
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from streamer.alerts.event import alert_schema
from streamer.alerts.mqtt import MqttPublisher
from streamer.alerts.outbox import AlertOutbox
from streamer.config import load_config
from streamer.devservices.mosquitto import MosquittoBroker
from streamer.metrics import VigilMetrics
from tests.streamer.alerts.certificates import BrokerCertificates, make_certificates
from tests.streamer.alerts.test_outbox import event

USER, PASSWORD = "vigil", "tls-s3cret-do-not-log"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> BrokerCertificates:
    return make_certificates(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_broker(pki: BrokerCertificates) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(username=USER, password=PASSWORD, tls=pki.broker) as broker:
        yield broker


def config_file(tmp_path: Path, broker: MosquittoBroker, ca_file: Path, password: str) -> Path:
    """A vigil.yaml as an operator writes it: TLS CA file and a password file, nothing secret inline."""
    (tmp_path / "mqtt-password").write_text(password + "\n")
    path = tmp_path / "vigil.yaml"
    mqtt_section = {
        "host": broker.host,
        "port": broker.port,
        "username": USER,
        "password_file": str(tmp_path / "mqtt-password"),
        "tls": {"ca_file": str(ca_file)},
    }
    path.write_text(yaml.safe_dump({"node_id": "tls-node", "mqtt": mqtt_section}))
    return path


def tls_subscriber(broker: MosquittoBroker, ca_file: Path) -> tuple[mqtt.Client, queue.Queue[bytes]]:
    received: queue.Queue[bytes] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tls-subscriber")
    client.tls_set(ca_certs=str(ca_file))
    client.username_pw_set(USER, PASSWORD)
    client.on_connect = lambda c, *_: c.subscribe("vigil/alerts/#", qos=1)
    client.on_subscribe = lambda *_: subscribed.put(True)
    client.on_message = lambda _c, _u, message: received.put(bytes(message.payload))
    client.connect(broker.host, broker.port)
    client.loop_start()
    subscribed.get(timeout=10)
    return client, received


def test_alerts_reach_a_tls_broker_whose_ca_is_configured(
    tmp_path: Path, tls_broker: MosquittoBroker, pki: BrokerCertificates, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    config = load_config(config_file(tmp_path, tls_broker, pki.ca_file, PASSWORD), environ={})
    subscriber, received = tls_subscriber(tls_broker, pki.ca_file)
    outbox = AlertOutbox(tmp_path / "outbox.db")
    publisher = MqttPublisher(config.mqtt, config.node_id, outbox, VigilMetrics())
    publisher.start()
    try:
        outbox.put(event(1), "vigil/alerts/lobby/anomaly")
        publisher.notify()
        assert publisher.wait_idle(15), "the alert was never acknowledged over TLS"
        payload = json.loads(received.get(timeout=10))
    finally:
        publisher.stop()
        subscriber.disconnect()
        subscriber.loop_stop()
    jsonschema.validate(payload, alert_schema())
    assert payload["alert_id"].endswith("000000000001")
    assert "(TLS)" in caplog.text
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("trusted_ca", "password", "logged_reason"),
    [
        ("other", PASSWORD, "certificate verify failed"),  # a broker we cannot authenticate: no credentials sent
        ("right", "wrong-password-also-secret", "refused the connection"),
    ],
)
def test_a_broker_that_fails_verification_or_login_gets_nothing_and_the_reason_is_logged(
    tmp_path: Path,
    tls_broker: MosquittoBroker,
    pki: BrokerCertificates,
    caplog: pytest.LogCaptureFixture,
    trusted_ca: str,
    password: str,
    logged_reason: str,
):
    caplog.set_level(logging.DEBUG)
    ca_file = pki.ca_file if trusted_ca == "right" else pki.other_ca_file
    config = load_config(config_file(tmp_path, tls_broker, ca_file, password), environ={})
    outbox = AlertOutbox(tmp_path / "outbox.db")
    publisher = MqttPublisher(config.mqtt, config.node_id, outbox, VigilMetrics())
    publisher.start()
    try:
        outbox.put(event(2), "vigil/alerts/lobby/anomaly")
        publisher.notify()
        assert not publisher.wait_idle(2.5)
        assert not publisher.connected
    finally:
        publisher.stop(drain_timeout=0.5)
    assert outbox.depth() == 1  # kept for when the operator fixes the CA or the password
    assert logged_reason in caplog.text
    assert password not in caplog.text and PASSWORD not in caplog.text
