"""Delivers alerts and status to the MQTT broker (DESIGN.md, "MQTT").

Alerts are read from the persistent outbox in order and handed to paho with QoS 1; paho keeps unacknowledged
messages across broker reconnects and re-sends them, and the outbox keeps them across restarts of Vigil. A row is
marked acknowledged only when the broker's PUBACK arrives, which is also when ``alert_latency_seconds`` is observed.
The node's ``online``/``offline`` status is retained with a Last Will; beside it, ``<status topic>/health`` (retained
JSON) says ``online`` or ``degraded`` with reasons (the outbox cannot write to disk, the data volume is low), so the
plain status stays what Home Assistant and older consumers expect. Each camera's status is retained too, names its
node (stale once that node is ``offline``), and is re-sent after every (re)connect by the drain thread, after paho
has re-sent what it queued, so the latest status is the last one the broker retains. With ``ha_discovery`` on, each
camera is also announced to Home Assistant (``streamer.alerts.discovery``) once per connection (a status published
while disconnected, or before the connection's republish, waits for it) and again whenever Home Assistant says it
has (re)started (a live birth message, not a retained one, which only says it started once); the retained documents
of cameras no longer configured are cleared, and each camera's and entry's "alert active" state
(``streamer.alerts.activity``) is kept retained.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from streamer.alerts.activity import AlertActivity
from streamer.alerts.discovery import DiscoveryMessage, HomeAssistantDiscovery
from streamer.alerts.event import iso_utc
from streamer.alerts.node_health import NodeHealth
from streamer.alerts.outbox import AlertOutbox, OutboxItem
from streamer.alerts.snapshot_topic import snapshot_topic
from streamer.config import MqttConfig
from streamer.free_space import FreeSpaceGuard
from streamer.metrics import VigilMetrics
from streamer.sources.status import CameraStatus

log = logging.getLogger(__name__)
IN_FLIGHT_LIMIT = 1000  # alerts held in paho's memory at once; the rest wait on disk


class MqttPublisher:
    """Owns the MQTT connection and the thread that drains the outbox.

    Args:
        config: broker address, credentials, TLS, topic prefix, QoS.
        node_id: this node's name in ``<prefix>/status/<node_id>``.
        outbox: where alerts wait for their acknowledgement.
        metrics: alerts_published, alert_latency_seconds, mqtt_outbox_depth.
        free_space: the data volume's guard; while it is low the node reports ``degraded``.
        cameras: the configured cameras: announced to Home Assistant at connect; the retained discovery documents
            of any other camera of this node are cleared.
    """

    def __init__(
        self,
        config: MqttConfig,
        node_id: str,
        outbox: AlertOutbox,
        metrics: VigilMetrics,
        free_space: FreeSpaceGuard | None = None,
        cameras: Iterable[str] = (),
    ) -> None:
        self._config = config
        self._free_space = free_space
        self._health: NodeHealth | None = None  # last sent; touched only by the drain thread
        self._republish_due = threading.Event()
        self._node_id = node_id
        self._outbox = outbox
        self._metrics = metrics
        self._status_topic = f"{config.topic_prefix}/status/{node_id}"
        self._camera_status: dict[str, CameraStatus] = {}
        self._discovery = HomeAssistantDiscovery(config, node_id) if config.ha_discovery else None
        self._cameras = list(cameras)
        self._activity = AlertActivity(config.topic_prefix) if config.ha_discovery else None
        self._status_lock = threading.Lock()
        self._announce_lock = threading.Lock()
        self._acks: queue.Queue[int] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._failed_connects = 0  # in a row; touched only by paho's thread
        self._in_flight: dict[int, OutboxItem] = {}  # paho mid -> item; touched only by the drain thread
        self._client = self._make_client()
        self._thread = threading.Thread(target=self._drain_loop, name="mqtt-outbox", daemon=True)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Connect in the background (retrying with backoff) and start draining the outbox."""
        log.info(
            "connecting to MQTT broker %s:%d%s",
            self._config.host,
            self._config.port,
            " (TLS)" if self._config.tls else "",
        )
        self._client.connect_async(self._config.host, self._config.port, keepalive=self._config.keepalive_s)
        self._client.loop_start()
        self._thread.start()

    def notify(self) -> None:
        """Tell the drain thread that the outbox has something new."""
        self._wake.set()

    def publish_camera_status(self, status: CameraStatus) -> None:
        """Retained ``<prefix>/cameras/<camera>/status``; remembered and re-sent after reconnects."""
        with self._announce_lock, self._status_lock:  # statuses reach paho in the order they happened
            first = status.camera not in self._camera_status
            self._camera_status[status.camera] = status
            if not self._connected.is_set() or self._republish_due.is_set():
                return  # the (re)connect's republish sends every camera's latest status, and announces this one
            if first and status.camera not in self._cameras:
                self._announce([status.camera])  # configured cameras are announced at (re)connect
            self._send_status(status)

    def publish_snapshot(self, camera: str, kind: str, jpeg: bytes) -> None:
        """Retained ``<prefix>/cameras/<camera>/<kind>/snapshot``: the latest alert picture (best effort: a newer
        one replaces it, so it does not wait in the outbox)."""
        self._client.publish(
            snapshot_topic(self._config.topic_prefix, camera, kind), jpeg, qos=self._config.qos, retain=True
        )

    def wait_idle(self, timeout: float) -> bool:
        """Block until every alert in the outbox is acknowledged (or ``timeout``); True when idle."""
        deadline = time.monotonic() + timeout
        while self._outbox.depth() > 0:
            if time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.05)
        return True

    def stop(self, drain_timeout: float = 5.0) -> None:
        """Try to deliver what is pending, announce ``offline`` (retained), disconnect."""
        if self._connected.is_set():
            self.wait_idle(drain_timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        if self._connected.is_set():
            info = self._client.publish(self._status_topic, "offline", qos=1, retain=True)
            info.wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"vigil-{self._node_id}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
        )
        client.max_inflight_messages_set(20)
        client.reconnect_delay_set(min_delay=1, max_delay=self._config.reconnect_max_s)
        client.will_set(self._status_topic, "offline", qos=1, retain=True)
        if self._config.username:
            client.username_pw_set(self._config.username, self._config.password())
        tls = self._config.tls
        if tls is not None:
            client.tls_set(
                ca_certs=str(tls.ca_file) if tls.ca_file else None,
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
            )
            client.tls_insecure_set(tls.insecure)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            self._failed_connects += 1  # paho retries on its own: one ERROR per outage, the retries at DEBUG
            level = logging.ERROR if self._failed_connects == 1 else logging.DEBUG
            log.log(
                level, "MQTT broker %s:%d refused the connection: %s", self._config.host, self._config.port, reason_code
            )
            return
        log.info("connected to MQTT broker %s:%d", self._config.host, self._config.port)
        self._failed_connects = 0
        # Due before connected: a status published in between waits for this republish instead of being announced
        # and sent twice. By the drain thread: paho re-sends its queue after this callback returns.
        self._republish_due.set()
        self._connected.set()
        client.publish(self._status_topic, "online", qos=1, retain=True)
        if self._discovery is not None:
            client.subscribe([(self._discovery.birth_topic, 1), (self._discovery.camera_config_filter, 1)])
        self._wake.set()

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        if self._discovery is None:
            return
        if message.topic == self._discovery.birth_topic:
            if message.payload == b"online" and not message.retain:
                log.info("Home Assistant (re)started; announcing cameras again")
                self._republish_due.set()  # by the drain thread, like after a reconnect
                self._wake.set()
        elif message.retain and message.payload and message.topic not in self._announced_topics():
            log.info(
                "clearing the Home Assistant discovery document %s: its camera is no longer configured", message.topic
            )
            self._client.publish(message.topic, b"", qos=1, retain=True)

    def _on_connect_fail(self, _client, _userdata) -> None:
        # paho calls this inside its ``except OSError`` block, so the reason (refused, TLS verification) is at hand.
        reason = sys.exc_info()[1]
        self._failed_connects += 1
        level = logging.WARNING if self._failed_connects == 1 else logging.DEBUG  # one line per outage, not per retry
        log.log(
            level,
            "cannot connect to MQTT broker %s:%d (%s); retrying, alerts wait in the outbox",
            self._config.host,
            self._config.port,
            reason or "unknown reason",
        )

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        if self._connected.is_set() and not self._stop.is_set():
            log.warning("disconnected from MQTT broker (%s); alerts wait in the outbox", reason_code)
        self._connected.clear()

    def _on_publish(self, _client, _userdata, mid: int, _reason_code, _properties) -> None:
        # Runs on paho's thread while it holds its own lock: hand over, never block here.
        self._acks.put(mid)
        self._wake.set()

    def _known_cameras(self) -> list[str]:
        with self._status_lock:
            return list(dict.fromkeys([*self._cameras, *self._camera_status]))

    def _announced_topics(self) -> set[str]:
        assert self._discovery is not None
        return {m.topic for camera in self._known_cameras() for m in self._discovery.camera_messages(camera)}

    def _republish_cameras(self) -> bool:
        """Discovery documents and alert states (when on), then each camera's last status, when a (re)connect or a
        Home Assistant restart made that due: a broker or consumer may have lost them. Whether it was due."""
        with self._announce_lock, self._status_lock:
            if not self._republish_due.is_set():
                return False
            self._republish_due.clear()  # under the lock ``publish_camera_status`` checks it with
            statuses = list(self._camera_status.values())
            self._announce(list(dict.fromkeys([*self._cameras, *self._camera_status])))
            if self._activity is not None and self._discovery is not None:
                for entry_id, label in self._activity.entries().items():
                    self._publish_discovery(self._discovery.entry_messages(entry_id, label))
            for status in statuses:
                self._send_status(status)
        return True

    def _announce(self, cameras: list[str]) -> None:
        """Retained Home Assistant discovery documents and alert states of ``cameras`` (nothing when discovery is off),
        and the states of the entries seen."""
        if self._discovery is None or self._activity is None:
            return
        for camera in cameras:
            self._publish_discovery(self._discovery.camera_messages(camera))
        for change in self._activity.states(cameras):
            self._client.publish(change.topic, change.state, qos=1, retain=True)

    def _publish_discovery(self, messages: list[DiscoveryMessage]) -> None:
        for message in messages:
            self._client.publish(message.topic, json.dumps(message.payload), qos=1, retain=True)

    def _track_activity(self, alert: dict) -> None:
        """Publish the camera's and entry's changed "alert active" states; announce an entry on its first alert."""
        if self._activity is None or self._discovery is None:
            return
        first = alert["entry"]["id"] not in self._activity.entries()
        changes = self._activity.observe(alert)
        if first:
            self._publish_discovery(self._discovery.entry_messages(alert["entry"]["id"], alert["entry"]["label"]))
        for change in changes:
            self._client.publish(change.topic, change.state, qos=1, retain=True)

    def _send_status(self, status: CameraStatus) -> None:
        topic = f"{self._config.topic_prefix}/cameras/{status.camera}/status"
        self._client.publish(topic, json.dumps(dict(status.to_payload(), node_id=self._node_id)), qos=1, retain=True)

    def _report_health(self, force: bool) -> None:
        """Send ``<status topic>/health`` when the node's health changed (or after a reconnect, ``force``)."""
        health = NodeHealth.of(self._outbox.write_error, self._free_space is not None and self._free_space.low)
        if health.reasons and (self._health is None or not self._health.reasons):
            log.warning("node degraded: %s", "; ".join(health.details))
        elif self._health is not None and self._health.reasons and not health.reasons:
            log.info("node healthy again")
        changed = self._health is None or health.reasons != self._health.reasons
        if changed:
            self._health = health
        if (changed or force) and self._connected.is_set():
            payload = self._health.to_payload(self._node_id)
            self._client.publish(f"{self._status_topic}/health", json.dumps(payload), qos=1, retain=True)

    def _drain_loop(self) -> None:
        last_seq = 0
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            try:
                self._outbox.flush()  # retry writes the disk refused
                republish = self._connected.is_set() and self._republish_cameras()
                self._report_health(force=republish)
                self._take_acks()
                room = IN_FLIGHT_LIMIT - len(self._in_flight)
                if room > 0:
                    for item in self._outbox.pending(after_seq=last_seq, limit=room):
                        self._send_alert(item)
                        last_seq = item.seq
                self._metrics.mqtt_outbox_depth.set(self._outbox.depth())
            except Exception:  # the supervising loop of this stage: log, keep delivering
                log.exception("MQTT outbox drain failed; retrying")
                self._stop.wait(1.0)

    def _send_alert(self, item: OutboxItem) -> None:
        item = replace(item, payload=dict(item.payload, published_at=iso_utc(datetime.now(UTC))))
        info = self._client.publish(item.topic, json.dumps(item.payload), qos=self._config.qos)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"paho refused alert seq {item.seq}: {mqtt.error_string(info.rc)}")
        self._in_flight[info.mid] = item
        if self._config.qos == 0:
            self._acks.put(info.mid)

    def _take_acks(self) -> None:
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                return
            item = self._in_flight.pop(mid, None)
            if item is None:
                continue  # a status message, or an ack for a message of an earlier connection
            self._outbox.ack(item.seq, item.payload["published_at"])
            self._track_activity(item.payload)
            camera = self._metrics.camera(item.payload["camera"])
            self._metrics.alerts_published.labels(kind=item.kind, event=item.event, camera=camera).inc()
            if item.event != "close":  # a close is sent close_after_s after its last frame, by design
                latency = (datetime.now(UTC) - item.frame_time).total_seconds()
                self._metrics.alert_latency_seconds.observe(max(latency, 0.0))
