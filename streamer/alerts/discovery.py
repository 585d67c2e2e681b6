"""Home Assistant MQTT discovery: each camera shows up as a device with a status sensor, an "alert active" binary
sensor, one alert event per kind and (with ``mqtt.snapshots``) one image per kind; each watchlist entry that alerts
gets an "alert active" binary sensor.

Home Assistant learns about entities from retained JSON documents under ``<discovery prefix>/<component>/...``
(https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery). Vigil announces, per camera:

* a ``sensor`` whose state is the camera's state (``up``/``down``/``reconnecting``), read from the retained camera
  status topic, with the rest of the status JSON as attributes;
* an ``event`` entity per alert kind, fed by ``<prefix>/alerts/<camera>/<kind>``; its ``event_type`` is the alert's
  ``open``/``update``/``close`` and the label, score, alert id and snapshot travel as event attributes;
* a ``binary_sensor`` "Alert", ``ON`` while an alert of the camera is open (``<prefix>/cameras/<camera>/alert``,
  kept by ``streamer.alerts.activity``);
* an ``image`` entity per alert kind showing the retained ``<prefix>/cameras/<camera>/<kind>/snapshot`` JPEG, when
  ``mqtt.snapshots.enabled``.

Watchlist entries are announced when they first alert (the publisher knows them from their alerts): a
``binary_sensor`` on ``<prefix>/entries/<entry_id>/alert``, under one "watchlist" device per node. Camera documents
live under ``<discovery prefix>/<component>/vigil_<node>/...``, entries under ``.../vigil_<node>_watchlist/...``, so
that the retained camera documents of cameras no longer configured can be found and cleared at connect.

All of them are unavailable while the node's Last Will says ``offline``. Nothing here changes the alert topics: the
entities read the same messages every other consumer reads. The documents are pure data (built, then published by
``MqttPublisher``), so tests can check them without a broker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from streamer import __version__
from streamer.alerts.activity import OFF, ON, camera_alert_topic, entry_alert_topic
from streamer.alerts.event import AlertKind, AlertPhase
from streamer.alerts.snapshot_topic import snapshot_topic
from streamer.config import MqttConfig
from streamer.sources.status import CameraState

_UNSAFE_ID = re.compile(r"[^a-zA-Z0-9_-]")
ALERT_ICONS = {
    AlertKind.FACE: "mdi:face-recognition",
    AlertKind.ANOMALY: "mdi:alert",
    AlertKind.UNKNOWN_FACE: "mdi:account-question",
}
EVENT_TEMPLATE = (
    "{{ {'event_type': value_json.event, 'alert_id': value_json.alert_id, 'label': value_json.entry.label,"
    " 'score': value_json.score, 'threshold': value_json.threshold, 'snapshot': value_json.snapshot,"
    " 'frame_time': value_json.frame_time} | tojson }}"
)


@dataclass(frozen=True)
class DiscoveryMessage:
    """One retained discovery document and the topic it goes to."""

    topic: str
    payload: dict[str, Any]


class HomeAssistantDiscovery:
    """Builds the discovery documents of a node's cameras.

    Args:
        config: the MQTT section (topic prefix, discovery prefix, QoS).
        node_id: this node; part of every unique id so several nodes never collide.
    """

    def __init__(self, config: MqttConfig, node_id: str) -> None:
        self._config = config
        self._node_id = node_id
        self._node_slug = _slug(node_id)

    @property
    def birth_topic(self) -> str:
        """Home Assistant says ``online`` here when it starts: the moment to announce everything again."""
        return f"{self._config.ha_discovery_prefix}/status"

    @property
    def camera_config_filter(self) -> str:
        """Subscription matching every camera document of this node (not its entries'): retained ones seen at
        connect that belong to no configured camera are cleared."""
        return f"{self._config.ha_discovery_prefix}/+/vigil_{self._node_slug}/+/config"

    def camera_messages(self, camera: str) -> list[DiscoveryMessage]:
        """The status sensor, the alert binary sensor, the per-kind alert events and snapshot images of ``camera``."""
        messages = [self._status_sensor(camera), self._alert_sensor(camera)]
        messages += [self._alert_event(camera, kind) for kind in AlertKind]
        if self._config.snapshots.enabled:
            messages += [self._snapshot_image(camera, kind) for kind in AlertKind]
        return messages

    def entry_messages(self, entry_id: str, label: str) -> list[DiscoveryMessage]:
        """The "alert active" binary sensor of one watchlist entry."""
        payload = self._availability() | {
            "unique_id": f"vigil_{self._node_slug}_entry_{_slug(entry_id)}",
            "name": f"{label} alert",
            "state_topic": entry_alert_topic(self._config.topic_prefix, entry_id),
            "payload_on": ON,
            "payload_off": OFF,
            "device_class": "problem",
            "device": {
                "identifiers": [f"vigil_{self._node_slug}_watchlist"],
                "name": f"Vigil watchlist ({self._node_id})",
                "manufacturer": "Vigil",
                "model": "watchlist",
                "sw_version": __version__,
            },
        }
        node = f"vigil_{self._node_slug}_watchlist"
        topic = f"{self._config.ha_discovery_prefix}/binary_sensor/{node}/{_slug(entry_id)}/config"
        return [DiscoveryMessage(topic, payload)]

    def _topic(self, component: str, camera: str, what: str) -> str:
        object_id = f"{_slug(camera)}_{what}"
        return f"{self._config.ha_discovery_prefix}/{component}/vigil_{self._node_slug}/{object_id}/config"

    def _availability(self) -> dict[str, Any]:
        return {
            "availability_topic": f"{self._config.topic_prefix}/status/{self._node_id}",
            "payload_available": "online",
            "payload_not_available": "offline",
            "qos": self._config.qos,
            "origin": {"name": "Vigil", "sw_version": __version__},
        }

    def _common(self, camera: str, what: str) -> dict[str, Any]:
        return self._availability() | {
            "unique_id": f"vigil_{self._node_slug}_{_slug(camera)}_{what}",
            "device": {
                "identifiers": [f"vigil_{self._node_slug}_{_slug(camera)}"],
                "name": f"Camera {camera}",
                "manufacturer": "Vigil",
                "model": f"camera on node {self._node_id}",
                "sw_version": __version__,
            },
        }

    def _alert_sensor(self, camera: str) -> DiscoveryMessage:
        payload = self._common(camera, "alert") | {
            "name": "Alert",
            "state_topic": camera_alert_topic(self._config.topic_prefix, camera),
            "payload_on": ON,
            "payload_off": OFF,
            "device_class": "problem",
        }
        return DiscoveryMessage(self._topic("binary_sensor", camera, "alert"), payload)

    def _snapshot_image(self, camera: str, kind: AlertKind) -> DiscoveryMessage:
        payload = self._common(camera, f"{kind.value}_snapshot") | {
            "name": f"{kind.value.replace('_', ' ').capitalize()} snapshot",
            "image_topic": snapshot_topic(self._config.topic_prefix, camera, kind.value),
            "content_type": "image/jpeg",
        }
        return DiscoveryMessage(self._topic("image", camera, f"{kind.value}_snapshot"), payload)

    def _status_sensor(self, camera: str) -> DiscoveryMessage:
        state_topic = f"{self._config.topic_prefix}/cameras/{camera}/status"
        payload = self._common(camera, "status") | {
            "name": "Status",
            "state_topic": state_topic,
            "value_template": "{{ value_json.state }}",
            "json_attributes_topic": state_topic,
            "device_class": "enum",
            "options": [state.value for state in CameraState],
            "icon": "mdi:cctv",
        }
        return DiscoveryMessage(self._topic("sensor", camera, "status"), payload)

    def _alert_event(self, camera: str, kind: AlertKind) -> DiscoveryMessage:
        payload = self._common(camera, f"{kind.value}_alert") | {
            "name": f"{kind.value.replace('_', ' ').capitalize()} alert",
            "state_topic": f"{self._config.topic_prefix}/alerts/{camera}/{kind.value}",
            "event_types": [phase.value for phase in AlertPhase],
            "value_template": EVENT_TEMPLATE,
            "icon": ALERT_ICONS[kind],
        }
        return DiscoveryMessage(self._topic("event", camera, f"{kind.value}_alert"), payload)


def _slug(name: str) -> str:
    """Discovery ids allow only letters, digits, ``_`` and ``-``; camera names may hold more (``gate.north``)."""
    return _UNSAFE_ID.sub("_", name)
