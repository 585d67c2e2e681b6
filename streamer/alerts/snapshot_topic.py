"""The retained MQTT snapshot topic: each camera's latest alert picture per kind, as JPEG bytes (like Frigate's).

Alert JSON carries paths to pictures that a consumer must fetch from the API with a token; a dashboard (Home
Assistant's ``image`` entity, a phone notification) wants the picture itself, where it already listens. The picture is
made from the frame in memory, scaled so its longest side is at most ``max_px``: the full-size snapshot stays on disk.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamer.alerts.event import AlertEvent
from streamer.alerts.snapshots import crop_box
from streamer.config import MqttSnapshotsConfig


def snapshot_topic(prefix: str, camera: str, kind: str) -> str:
    """``<prefix>/cameras/<camera>/<kind>/snapshot``."""
    return f"{prefix}/cameras/{camera}/{kind}/snapshot"


class SnapshotJpegEncoder:
    """Encodes an alerting frame (RGB) for the snapshot topic.

    Args:
        config: ``mqtt.snapshots``: size cap, JPEG quality, whether to send the matched region.
    """

    def __init__(self, config: MqttSnapshotsConfig) -> None:
        self._config = config

    def encode(self, event: AlertEvent, image: np.ndarray) -> bytes:
        """The JPEG of ``image`` (RGB, the alert's frame): the matched region when ``crop`` is on and the box is one,
        scaled down to ``max_px``."""
        if self._config.crop and (box := crop_box(event.bbox, (image.shape[1], image.shape[0]))) is not None:
            x0, y0, x1, y1 = box
            image = image[y0:y1, x0:x1]
        scale = self._config.max_px / max(image.shape[:2])
        if scale < 1:
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self._config.quality])
        if not ok:
            raise ValueError(f"cv2 could not encode a {image.shape} snapshot")
        return jpeg.tobytes()
