"""Camera ingest: RTSP streams, files and capture devices in, ``Keyframe``s and ``CameraStatus``es out.

``CameraWorker`` runs one camera on its own thread (reconnects with backoff and jitter, stall watchdog); the readers
(``PyAvReader`` for RTSP and files, ``OpenCvReader`` for ``/dev/video*``) do the decoding.
"""

from __future__ import annotations

from streamer.sources.backoff import ReconnectBackoff
from streamer.sources.camera import CameraWorker
from streamer.sources.frame import Keyframe
from streamer.sources.status import CameraState, CameraStatus

__all__ = ["CameraState", "CameraStatus", "CameraWorker", "Keyframe", "ReconnectBackoff"]
