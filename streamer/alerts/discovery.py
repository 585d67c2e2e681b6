"""Home Assistant MQTT discovery: each camera shows up as a device with a status sensor and one alert event per kind.

Home Assistant learns about entities from retained JSON documents under ``<discovery prefix>/<component>/...``
(https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery). Vigil announces, per camera:

* a ``sensor`` whose state is the camera's state (``up``/``down``/``reconnecting``), read from the retained camera
  status topic, with the rest of the status JSON as attributes;
* an ``event`` entity per alert kind, fed by ``<prefix>/alerts/<camera>/<kind>``; its ``event_type`` is the alert's
  ``open``/``update``/``close`` and the label, score, alert id and snapshot travel as event attributes.

All of them are unavailable while the node's Last Will says ``offline``. Nothing here changes the alert topics: the
entities read the same messages every other consumer reads. The documents are pure data (built, then published by
``MqttPublisher``), so tests can check them without a broker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from streamer import __version__
from streamer.alerts.event import AlertKind, AlertPhase
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

    def camera_messages(self, camera: str) -> list[DiscoveryMessage]:
        """The status sensor and the per-kind alert events of ``camera``."""
        messages = [self._status_sensor(camera)]
        messages += [self._alert_event(camera, kind) for kind in AlertKind]
        return messages

    def _topic(self, component: str, camera: str, what: str) -> str:
        object_id = f"{_slug(camera)}_{what}"
        return f"{self._config.ha_discovery_prefix}/{component}/vigil_{self._node_slug}/{object_id}/config"

    def _common(self, camera: str, what: str) -> dict[str, Any]:
        return {
            "unique_id": f"vigil_{self._node_slug}_{_slug(camera)}_{what}",
            "availability_topic": f"{self._config.topic_prefix}/status/{self._node_id}",
            "payload_available": "online",
            "payload_not_available": "offline",
            "qos": self._config.qos,
            "device": {
                "identifiers": [f"vigil_{self._node_slug}_{_slug(camera)}"],
                "name": f"Camera {camera}",
                "manufacturer": "Vigil",
                "model": f"camera on node {self._node_id}",
                "sw_version": __version__,
            },
            "origin": {"name": "Vigil", "sw_version": __version__},
        }

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
