"""Read capture devices (``/dev/video0``: USB and CSI cameras through V4L2) with OpenCV; files work too.

A capture device hands over whole pictures (raw or MJPEG), so there are no keyframes to pick: every frame is one,
and the sampler's rate limit decides how many are embedded. PyAV reads network streams and files better (keyframe
-only decoding), so the worker sends only devices here; files are accepted because they make this reader testable
on machines without a camera, and then behave like ``PyAvReader``'s (native-rate pacing, ``loop``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import cv2
import numpy as np

from streamer.config import CameraConfig
from streamer.errors import CameraError
from streamer.redaction import redact_url
from streamer.sources.frame import Keyframe
from streamer.sources.pacing import NativeRatePacer
from streamer.sources.reader import ClosingReader, StallWatchdog, is_capture_device


class OpenCvReader(ClosingReader):
    """One open capture device, or one pass over a file (see ``streamer.sources.reader`` for the contract).

    Args:
        camera: the camera's name, stamped on every frame.
        config: URL (``/dev/videoN`` or a file), ``loop`` (files), reconnect timeouts.
        stop: set when the camera is stopping; checked between frames and while pacing.
        on_decode_error: unused by OpenCV (it reports no per-packet errors); kept for the common signature.
    """

    def __init__(
        self, camera: str, config: CameraConfig, stop: threading.Event, on_decode_error: Callable[[], None]
    ) -> None:
        self.camera = camera
        self.config = config
        self._stop = stop
        self._on_decode_error = on_decode_error
        self._device = is_capture_device(config.url)
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        """Open the device or file.

        Raises:
            CameraError: ``camera_unavailable``: missing device, busy device, unreadable file.
        """
        if self._device:
            # No timeout parameters: V4L2 consumes none, and OpenCV refuses to open with unconsumed ones. A silent
            # device blocks a read for OpenCV's select() timeout (10 s; OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT).
            capture = cv2.VideoCapture(self.config.url, cv2.CAP_V4L2)
        else:
            reconnect = self.config.reconnect
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(reconnect.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(reconnect.stall_timeout_s * 1000),
            ]  # fmt: skip
            capture = cv2.VideoCapture(self.config.url, cv2.CAP_FFMPEG, params)
        if not capture.isOpened():
            capture.release()
            raise CameraError(f"cannot open {redact_url(self.config.url)}", code="camera_unavailable")
        self._capture = capture

    def frames(self) -> Iterator[Keyframe]:
        """Frames until the device fails, the file ends (unless looping) or the camera stops.

        Raises:
            CameraError: ``camera_read_failed`` (the device stopped answering) or ``camera_stalled``.
        """
        capture = self._capture
        if capture is None:
            raise CameraError(f"camera {self.camera}: frames() before open()", code="camera_error")
        watchdog = StallWatchdog(self.config.reconnect.stall_timeout_s)
        pacer = None if self._device else NativeRatePacer(self._stop, watchdog.timeout_s)
        while not self._stop.is_set():
            watchdog.check()
            ok, bgr = capture.read()
            if not ok:
                if self._device:
                    raise CameraError(f"read failed on {redact_url(self.config.url)}", code="camera_read_failed")
                if not self.config.loop:
                    return
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                if pacer is not None:
                    pacer.restart()
                continue
            pts = None if self._device else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if pacer is not None and not pacer.wait_for(pts):
                return
            if self._stop.is_set():
                return
            watchdog.feed()
            yield self._keyframe(bgr, pts)

    def close(self) -> None:
        """Release the device; safe to call twice."""
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()

    def _keyframe(self, bgr: np.ndarray, pts: float | None) -> Keyframe:
        return Keyframe(
            camera=self.camera,
            image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
            frame_time=datetime.now(UTC),
            received_at=time.monotonic(),
            pts=pts,
            is_keyframe=True,  # a device frame is a whole picture; OpenCV does not tell a file's I-frames apart
        )
