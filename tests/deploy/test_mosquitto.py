"""The shipped broker setup, run for real: deploy/mosquitto's config and ACL started by its own entrypoint script
(which builds the password file from secret files) in Debian's mosquitto, with only paths and port moved."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from streamer.alerts.mqtt import MqttPublisher
from streamer.alerts.outbox import AlertOutbox
from streamer.config import load_config
from streamer.devservices.mosquitto import free_port
from streamer.metrics import VigilMetrics
from tests.deploy.shipped import DEPLOY, load_yaml
from tests.fixtures.mqtt import Recorder
from tests.streamer.alerts.test_outbox import event

VIGIL_PASSWORD, OPERATOR_PASSWORD = "vigil-secret-from-docker", "operator-secret-from-docker"


@dataclass(frozen=True)
class ShippedBroker:
    host: str
    port: int
    secrets: Path


def shipped_config(folder: Path, port: int) -> Path:
    """deploy/mosquitto/mosquitto.conf with its container paths moved into ``folder`` and a loopback port."""
    text = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    text = text.replace("/mosquitto/config/", f"{folder}/config/").replace("/mosquitto/data/", f"{folder}/data/")
    text = text.replace("listener 1883", f"listener {port} 127.0.0.1")
    if os.geteuid() == 0:
        text += "user root\n"  # the files are root's here; in the image mosquitto owns them
    (folder / "config").mkdir()
    (folder / "data").mkdir()
    shutil.copy(DEPLOY / "mosquitto" / "acl", folder / "config" / "acl")
    (folder / "config" / "mosquitto.conf").write_text(text)
    return folder / "config" / "mosquitto.conf"


@pytest.fixture
def shipped_broker(tmp_path: Path) -> Iterator[ShippedBroker]:
    port = free_port()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "mqtt_password").write_text(VIGIL_PASSWORD)
    (secrets / "mqtt_operator_password").write_text(OPERATOR_PASSWORD)
    env = dict(
        os.environ,
        PATH=f"/usr/sbin:/usr/bin:{os.environ.get('PATH', '')}",
        MOSQUITTO_CONFIG=str(shipped_config(tmp_path, port)),
        PASSWD_FILE=str(tmp_path / "data" / "passwd"),
        MQTT_PASSWORD_FILE=str(secrets / "mqtt_password"),
        MQTT_OPERATOR_PASSWORD_FILE=str(secrets / "mqtt_operator_password"),
    )
    script = DEPLOY / "mosquitto" / "docker-entrypoint.sh"
    broker = subprocess.Popen(["/bin/sh", str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert broker.poll() is None, broker.stdout.read().decode() if broker.stdout else "exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the shipped broker never listened"
                time.sleep(0.05)
        yield ShippedBroker("127.0.0.1", port, secrets)
    finally:
        broker.terminate()
        broker.wait(10)


def connect_result(broker: ShippedBroker, username: str | None, password: str | None) -> str:
    """How the broker answers a CONNECT with these credentials (the CONNACK reason)."""
    answered: list[str] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{username}")
    if username is not None:
        client.username_pw_set(username, password)
    client.on_connect = lambda _c, _u, _f, reason, _p: answered.append(str(reason))
    client.connect(broker.host, broker.port)
    deadline = time.monotonic() + 10
    while not answered and time.monotonic() < deadline:
        client.loop(timeout=0.1)
    client.disconnect()
    return answered[0] if answered else "no answer"


@pytest.mark.parametrize(
    ("username", "password", "answer"),
    [
        (None, None, "Not authorized"),
        ("vigil", "guess", "Not authorized"),
        ("vigil", VIGIL_PASSWORD, "Success"),
        ("operator", OPERATOR_PASSWORD, "Success"),
    ],
)
def test_the_broker_admits_only_the_users_made_from_the_secrets(
    shipped_broker: ShippedBroker, username, password, answer
):
    assert connect_result(shipped_broker, username, password) == answer


def test_vigil_with_the_compose_config_delivers_alerts_an_operator_can_read(
    shipped_broker: ShippedBroker, tmp_path: Path
):
    environ = {
        "VIGIL_MQTT__HOST": shipped_broker.host,
        "VIGIL_MQTT__PORT": str(shipped_broker.port),
        "VIGIL_MQTT__PASSWORD_FILE": str(shipped_broker.secrets / "mqtt_password"),
        "VIGIL_WATCHLIST__DATABASE": str(tmp_path / "watchlist.db"),
        "VIGIL_API__BOOTSTRAP_TOKEN_FILE": str(shipped_broker.secrets / "mqtt_password"),  # a file that exists
    }
    config = load_config(DEPLOY / "vigil" / "vigil.yaml", environ=environ)
    operator = Recorder(
        shipped_broker.host, shipped_broker.port, "vigil/#", username="operator", password=OPERATOR_PASSWORD
    )
    outbox = AlertOutbox(tmp_path / "outbox.db")
    publisher = MqttPublisher(config.mqtt, config.node_id, outbox, VigilMetrics())
    publisher.start()
    try:
        outbox.put(event(4), "vigil/alerts/lobby/anomaly")
        publisher.notify()
        assert publisher.wait_idle(10)
        alert = operator.wait_for(lambda m: m.topic == "vigil/alerts/lobby/anomaly", timeout=10)
        status = operator.wait_for(lambda m: m.topic == f"vigil/status/{config.node_id}", timeout=10)
    finally:
        publisher.stop()
        operator.close()
    assert alert.json()["alert_id"].endswith("000000000004")
    assert status.payload == b"online"


def test_the_operator_cannot_forge_alerts(shipped_broker: ShippedBroker):
    watcher = Recorder(shipped_broker.host, shipped_broker.port, "vigil/#", username="vigil", password=VIGIL_PASSWORD)
    clients = []
    for user, password in (("operator", OPERATOR_PASSWORD), ("vigil", VIGIL_PASSWORD)):
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-publisher")
        client.username_pw_set(user, password)
        client.connect(shipped_broker.host, shipped_broker.port)
        client.loop_start()
        clients.append(client)
    forger, vigil = clients
    try:
        forger.publish("vigil/alerts/lobby/face", b'{"forged": true}', qos=1).wait_for_publish(5)
        vigil.publish("vigil/alerts/lobby/face", b'{"marker": true}', qos=1).wait_for_publish(5)
        watcher.wait_for(lambda m: m.json() == {"marker": True}, timeout=10)  # sent after the forgery
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()
        watcher.close()
    assert [m.json() for m in watcher.messages] == [{"marker": True}]


def compose_healthcheck() -> str:
    """The broker's healthcheck shell command as docker-compose runs it (``$$`` is compose's escaped ``$``)."""
    test = load_yaml(DEPLOY / "docker-compose.yml")["services"]["mosquitto"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL", test
    return test[1].replace("$$", "$")


def test_the_compose_healthcheck_passes_against_the_shipped_broker_and_acl(shipped_broker: ShippedBroker, tmp_path):
    # The command runs unchanged but for the secret's folder; mosquitto_sub takes the test broker's host and port from
    # its options file ($XDG_CONFIG_HOME/mosquitto_sub), as in the container it would use localhost:1883.
    command = compose_healthcheck().replace("/run/secrets/", f"{shipped_broker.secrets}/")
    (tmp_path / "xdg").mkdir()
    (tmp_path / "xdg" / "mosquitto_sub").write_text(f"-h {shipped_broker.host}\n-p {shipped_broker.port}\n")
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    checked = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, timeout=20)
    assert checked.returncode == 0, f"healthcheck failed ({checked.returncode}): {checked.stdout}{checked.stderr}"
    assert checked.stdout.startswith("mosquitto version")
