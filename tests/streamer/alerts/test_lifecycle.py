"""An alert's whole life (open, update, close) goes policy -> snapshot -> outbox -> broker, and every message
validates against the published JSON Schema, with its snapshot on disk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import skimage.data

from streamer.alerts.event import AlertKind, alert_schema
from streamer.alerts.mqtt import MqttPublisher
from streamer.alerts.outbox import AlertOutbox
from streamer.alerts.policy import AlertPolicy, Sighting
from streamer.alerts.snapshots import SnapshotWriter, crop_path
from streamer.config import AlertPolicyConfig, MqttConfig
from streamer.metrics import VigilMetrics
from tests.fixtures.mqtt import Recorder
from tests.fixtures.rtsp import wait_until

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FRAME = np.ascontiguousarray(skimage.data.astronaut())  # 512x512


@pytest.mark.parametrize(
    ("kind", "bbox"),
    [
        (AlertKind.FACE, (170, 40, 110, 140)),
        (AlertKind.ANOMALY, (0, 0, 512, 512)),
        (AlertKind.UNKNOWN_FACE, (5, 5, 60, 60)),
    ],
)
def test_open_update_and_close_messages_all_validate_and_share_one_alert_id(
    mosquitto, mqtt_recorder: Recorder, tmp_path: Path, kind: AlertKind, bbox
):
    policy = AlertPolicy(AlertPolicyConfig(vote_hits=2, vote_window=3, close_after_s=5, cooldown_s=0), "node-1")
    snapshots = SnapshotWriter(tmp_path / "snapshots", keep_days=30)
    outbox = AlertOutbox(tmp_path / "outbox.db")
    metrics = VigilMetrics(cameras=["lobby"])
    publisher = MqttPublisher(MqttConfig(host=mosquitto.host, port=mosquitto.port), "node-1", outbox, metrics)
    publisher.start()
    events = []
    try:
        for second, score in enumerate((0.70, 0.72, 0.80, 0.79, 0.90)):  # open at 0.72, updates at 0.80 and 0.90
            sighting = Sighting("entry-1", "Eileen Collins", kind, score, 0.6, bbox)
            frame_time = T0 + timedelta(seconds=second)
            events += policy.observe("lobby", frame_time, (512, 512), second, [sighting], "dlib_resnet128@00ff")
        events += policy.expire(now=20)
        for produced in events:
            stamped = snapshots.attach(produced, None if produced.event.value == "close" else FRAME)
            outbox.put(stamped, stamped.topic("vigil"))
        publisher.notify()
        assert publisher.wait_idle(10)
        assert wait_until(lambda: len(mqtt_recorder.alerts()) >= len(events), timeout=10)
    finally:
        publisher.stop()
    delivered = mqtt_recorder.alerts()
    assert [a["event"] for a in delivered] == ["open", "update", "update", "close"]
    assert len({a["alert_id"] for a in delivered}) == 1
    for payload in delivered:
        jsonschema.validate(payload, alert_schema())
        assert payload["kind"] == kind.value and payload["bbox"] == list(bbox)
        assert (tmp_path / payload["snapshot"]).is_file()
    assert delivered[-1]["snapshot"] == delivered[-2]["snapshot"]  # the close shows the best picture
    assert delivered[-1]["score"] == pytest.approx(0.90)
    has_crop = (tmp_path / crop_path(delivered[0]["snapshot"])).is_file()
    assert has_crop is (bbox != (0, 0, 512, 512))
    for phase in ("open", "update", "close"):
        sample = metrics.registry.get_sample_value(
            "vigil_alerts_published_total", {"kind": kind.value, "event": phase, "camera": "lobby"}
        )
        assert sample == {"open": 1, "update": 2, "close": 1}[phase]
