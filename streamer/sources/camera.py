"""One thread per camera: connect, deliver frames, and get the camera back on its own when it fails.

The worker is the supervising loop around a ``FrameReader``. Failures are the normal life of a camera (power cuts,
Wi-Fi, a reboot at 3 am), so each kind has its answer:

* open fails, a read fails, a network stream ends, or no frame comes for ``stall_timeout_s`` (the readers' stall
  watchdog; a hung read is ended by FFmpeg's interrupt callback): close, wait with exponential backoff and jitter,
  try again; every attempt after a failure counts in ``vigil_camera_reconnects_total``;
* a file ends (without ``loop``): the camera is ``down`` for good and the thread ends;
* anything unexpected (a bug, a callback that raised): logged with its traceback and treated like a failure, so
  one camera never stops another or the process.

``on_frame`` runs on the camera's thread and must be cheap: the sampler decides, the batcher queues; neither
blocks. ``stop()`` returns within its timeout whether the thread is sleeping in backoff (the sleep is a wait on the
stop event), pacing a file, or reading a packet. One thing cannot be cut short from outside: a read or an open
that FFmpeg is blocked in (PyAV offers no way to interrupt it from another thread). It ends by itself at its
timeout (``stall_timeout_s`` or ``open_timeout_s``); the thread is a daemon, and its late reports are ignored
once ``stop()`` has returned (``stop`` then returns False).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from contextlib import closing

from streamer.config import CameraConfig
from streamer.errors import CameraError
from streamer.metrics import VigilMetrics
from streamer.redaction import redact_url, scrub
from streamer.sources.backoff import ReconnectBackoff
from streamer.sources.burst import BurstSwitch
from streamer.sources.frame import Keyframe
from streamer.sources.health import CameraHealth
from streamer.sources.open_slots import OpenSlots
from streamer.sources.reader import FrameReader, is_capture_device, open_reader
from streamer.sources.status import CameraStatus

logger = logging.getLogger(__name__)


class CameraWorker:
    """Runs one camera on its own thread and keeps it running (see the module docstring for the policy).

    Args:
        name: the camera's configured name (metric label, frame and status field).
        config: URL, sampling (``keyframes_only``), reconnect and stall settings.
        on_frame: receives every decoded frame on the camera's thread; must not block.
        on_status: receives every status change on the camera's thread (or on the caller's, from ``stop``).
        metrics: the pipeline's collectors (``frames_decoded``, ``camera_up``, ``camera_reconnects``).
        rng: randomness for the backoff jitter; seed it in tests.
        bursts: give the camera a ``BurstSwitch`` (``self.bursts``) so that confirmation bursts can be requested.
        open_slots: the node's limit on concurrent opens, shared by its cameras (``None``: no limit); the open
            timeout counts from when the camera has its slot.

    Example::

        worker = CameraWorker("lobby", config.cameras["lobby"], sampler.offer, publisher.camera_status, metrics)
        worker.start()
        ...
        worker.stop(timeout=3)
    """

    def __init__(
        self,
        name: str,
        config: CameraConfig,
        on_frame: Callable[[Keyframe], None],
        on_status: Callable[[CameraStatus], None],
        metrics: VigilMetrics,
        *,
        rng: random.Random | None = None,
        bursts: bool = False,
        open_slots: OpenSlots | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._on_frame = on_frame
        self._stop = threading.Event()
        self._backoff = ReconnectBackoff(config.reconnect, rng)
        self._open_slots = open_slots
        self._health = CameraHealth(name, on_status, metrics.camera_up.labels(camera=name))
        self._frames_decoded = metrics.frames_decoded.labels(camera=name)
        rest = "keyframe" if config.sample.keyframes_only else "stream"
        self._decoded_at_rest = metrics.frames_decoded_by_reason.labels(camera=name, reason=rest)
        self._decoded_for_bursts = metrics.frames_decoded_by_reason.labels(camera=name, reason="burst")
        self.bursts = BurstSwitch(self._count_burst_decodes) if bursts else None
        self._reconnects = metrics.camera_reconnects.labels(camera=name)
        self._decode_errors = metrics.frames_dropped.labels(camera=name, reason="decode_error")
        self._thread = threading.Thread(target=self._run, name=f"camera-{name}", daemon=True)
        self.unexpected_errors = 0

    @property
    def status(self) -> CameraStatus:
        """The camera's current status (state, since, last frame, reason, next retry)."""
        return self._health.status

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        """Start the camera's thread. A worker runs once: make a new one to run the camera again."""
        if self._stop.is_set():
            raise CameraError(f"camera {self.name}: a stopped worker cannot start again", code="camera_error")
        if not self._thread.is_alive():
            self._thread.start()

    def stop(self, timeout: float = 3.0) -> bool:
        """Ask the thread to stop, wait up to ``timeout`` seconds, publish ``down`` (reason ``stopped``).

        Returns:
            True if the thread has ended; False if it is still blocked in a read (it ends by itself within
            ``stall_timeout_s`` and reports nothing more).
        """
        self._stop.set()
        from_callback = threading.current_thread() is self._thread  # it ends as soon as the callback returns
        if self._thread.is_alive() and not from_callback:
            self._thread.join(timeout)
        ended = from_callback or not self._thread.is_alive()
        if not ended:
            logger.warning("camera %s: still blocked in a read after %.1f s; it will end by itself", self.name, timeout)
        self._supervised(self._health.close, "stopped")  # a status callback that raises must not break shutdown
        return ended

    def _run(self) -> None:
        """The supervising loop: nothing raised in here escapes the camera's thread."""
        self._supervised(self._health.starting)
        while not self._stop.is_set():
            reason = self._attempt()
            if reason is None or self._stop.is_set():
                return
            self._supervised(self._wait_before_retry, reason)

    def _attempt(self) -> str | None:
        """One connection; returns why it failed (safe to publish), or None when there is nothing to retry."""
        try:
            return self._stream_once()
        except CameraError as exc:
            return scrub(exc.message, self.config.url)
        except Exception as exc:  # supervising loop: log, count, carry on like any other failure
            self._unexpected()
            return f"unexpected error: {type(exc).__name__}"

    def _supervised(self, step: Callable[..., None], *args: object) -> None:
        try:
            step(*args)
        except Exception:  # supervising loop: a status callback that raised must not end the camera
            self._unexpected()

    def _unexpected(self) -> None:
        self.unexpected_errors += 1
        logger.exception("camera %s: unexpected error", self.name)

    def _stream_once(self) -> str | None:
        """One connection, from open to its end. Returns why it ended, or None when there is nothing to retry."""
        if self._backoff.failures:
            self._reconnects.inc()
        first = True
        reader = open_reader(self.name, self.config, self._stop, self._decode_errors.inc, self.bursts)
        if not self._open(reader):
            return None
        with closing(reader):
            for frame in reader.frames():
                if first:
                    first = False
                    self._backoff.reset()
                    logger.info("camera %s: up (%s)", self.name, redact_url(self.config.url))
                self._health.frame_arrived(frame.frame_time)
                if not frame.burst:  # burst frames were counted as they were decoded, passed on or not
                    self._frames_decoded.inc()
                    self._decoded_at_rest.inc()
                self._on_frame(frame)
        if self._stop.is_set():
            return None
        if not self.config.is_network and not is_capture_device(self.config.url):
            logger.info("camera %s: end of file %s", self.name, redact_url(self.config.url))
            self._health.ended("end of file")
            return None
        return "stream ended"

    def _open(self, reader: FrameReader) -> bool:
        """Open within one of the node's open slots; False when the camera was stopped while waiting for one."""
        if self._open_slots is None:
            reader.open()
            return True
        if not self._open_slots.acquire(self._stop):
            return False
        try:
            reader.open()
        finally:
            self._open_slots.release()
        return True

    def _count_burst_decodes(self, count: int) -> None:
        self._frames_decoded.inc(count)
        self._decoded_for_bursts.inc(count)

    def _wait_before_retry(self, reason: str) -> None:
        delay = self._backoff.next_delay()
        logger.warning("camera %s: %s; retrying in %.1f s", self.name, reason, delay)
        try:
            self._health.failed(reason, delay, persistent=self._backoff.at_cap)
        finally:
            self._stop.wait(delay)  # even when on_status raised: never retry in a hot loop
