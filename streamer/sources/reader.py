"""The contract every camera reader keeps, and what readers share: the stall watchdog and safe failure text.

A reader turns one connection to one camera into ``Keyframe``s. It does no retrying and no bookkeeping: the
``CameraWorker`` that owns it decides what a failure means. So the contract is small:

* ``open()`` connects or raises ``CameraError``; ``frames()`` yields until the stream ends (returns) or fails
  (raises ``CameraError``), and returns early once the stop event is set; ``close()`` releases everything.
* No frame for ``stall_timeout_s`` is a failure (``camera_stalled``), whether packets still arrive or not.
* Every error message is safe to log and to publish: camera URLs are redacted and the URL's user and password are
  scrubbed from library messages (FFmpeg quotes the URL it failed on, credentials included).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Protocol, Self

from streamer.config import CameraConfig
from streamer.errors import CameraError
from streamer.redaction import scrub
from streamer.sources.burst import BurstSwitch
from streamer.sources.frame import Keyframe


class FrameReader(Protocol):
    """One connection to one camera; see the module docstring for the contract."""

    def open(self) -> None: ...

    def frames(self) -> Iterator[Keyframe]: ...

    def close(self) -> None: ...

    def __enter__(self) -> FrameReader: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None: ...


class ClosingReader:
    """What every reader does under ``with``: open on entry, close on exit, whatever happened inside."""

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def is_capture_device(url: str) -> bool:
    """``/dev/video0`` and friends: read through OpenCV (V4L2), every frame a whole picture."""
    return url.startswith("/dev/")


def open_reader(
    camera: str,
    config: CameraConfig,
    stop: threading.Event,
    on_decode_error: Callable[[], None],
    bursts: BurstSwitch | None = None,
) -> FrameReader:
    """The right reader for the camera's URL, not yet opened: OpenCV for capture devices, PyAV for the rest.

    Args:
        camera: the camera's name (for frames and messages).
        config: its URL, loop flag, sampling and reconnect settings.
        stop: set by ``CameraWorker.stop``; readers check it between packets and while pacing files.
        on_decode_error: called for each packet the decoder rejects (the worker counts them).
        bursts: the camera's confirmation-burst switch (PyAV keyframe-only network streams act on it; a capture
            device decodes every frame anyway).
    """
    # Imported here so that a machine without one of the two decoders can still run cameras of the other kind.
    if is_capture_device(config.url):
        from streamer.sources.opencv_reader import OpenCvReader

        return OpenCvReader(camera, config, stop, on_decode_error)
    from streamer.sources.pyav_reader import PyAvReader

    return PyAvReader(camera, config, stop, on_decode_error, bursts=bursts)


class StallWatchdog:
    """Raises ``CameraError`` when no frame has arrived for ``timeout_s``: a connection that is open but useless.

    Args:
        timeout_s: the camera's ``reconnect.stall_timeout_s``.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        self._last = clock()

    def feed(self) -> None:
        """A frame arrived."""
        self._last = self._clock()

    def check(self) -> None:
        """Raise if the camera has been silent too long.

        Raises:
            CameraError: code ``camera_stalled``.
        """
        if self._clock() - self._last > self.timeout_s:
            raise CameraError(f"stalled: no frame for {self.timeout_s:g} s", code="camera_stalled")


def describe_failure(exc: BaseException, url: str) -> str:
    """A one-line, credential-free description of a library error, for status reasons and logs."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return scrub(str(text), url)
