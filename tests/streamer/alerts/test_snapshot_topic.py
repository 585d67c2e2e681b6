"""The retained snapshot topic's JPEG: the matched region (or the frame), no larger than max_px, at the quality set."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamer.alerts.snapshot_topic import SnapshotJpegEncoder, snapshot_topic
from streamer.config import MqttSnapshotsConfig
from tests.streamer.alerts.test_snapshots import FRAME, alert


def decoded(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


@pytest.mark.parametrize(
    ("settings", "bbox", "size"),
    [
        ({}, (170, 50, 110, 130), (110, 130)),  # a face region, small enough: as is
        ({"crop": False}, (170, 50, 110, 130), (480, 360)),  # the whole frame when crop is off
        ({}, (0, 0, 480, 360), (480, 360)),  # a whole-frame match has no region to crop
        ({"max_px": 120}, (0, 0, 480, 360), (120, 90)),  # longest side scaled to max_px, aspect kept
        ({"max_px": 65}, (170, 50, 110, 130), (55, 65)),
    ],
)
def test_the_picture_is_the_region_or_the_frame_scaled_to_max_px(settings, bbox, size):
    jpeg = SnapshotJpegEncoder(MqttSnapshotsConfig(enabled=True, **settings)).encode(alert(bbox), FRAME)
    image = decoded(jpeg)
    assert (image.shape[1], image.shape[0]) == size


def test_a_lower_quality_makes_a_smaller_jpeg():
    sizes = [
        len(SnapshotJpegEncoder(MqttSnapshotsConfig(quality=q, crop=False)).encode(alert((0, 0, 480, 360)), FRAME))
        for q in (30, 95)
    ]
    assert sizes[0] < sizes[1] / 2


def test_the_topic_is_per_camera_and_kind():
    assert snapshot_topic("vigil", "gate.north", "unknown_face") == "vigil/cameras/gate.north/unknown_face/snapshot"
