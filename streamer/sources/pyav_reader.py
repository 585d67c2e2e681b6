"""Read RTSP streams and video files with PyAV (FFmpeg), decoding only keyframes when that is all we need.

Keyframe-only decoding is where most of Vigil's CPU budget is won (10x+ cheaper than decoding every frame), and it
has a trap: ``codec_context.skip_frame = "NONKEY"`` on a live stream with B-frames holds keyframes back for seconds.
What works (NOTES.md, "Video ingest traps") is to demux, keep only packets marked as keyframes, decode each one, then
drain the decoder with ``decode(None)`` and reset it with ``flush_buffers()``: every keyframe comes out as soon as it
arrives and no reference frames linger.

Network streams are opened over TCP with small probing (open in ~0.05-0.5 s instead of ~5 s) and with FFmpeg
timeouts, so a dead server fails an open or a read instead of hanging the camera's thread: the read timeout is the
stall timeout, and FFmpeg's interrupt callback is what ends a read that hangs. Files are paced at their native frame
rate and, with ``loop: true``, start again at the end, so a file camera behaves like a live one. Each camera
decodes on its own thread only (``DECODE_THREADS``).

Given a ``BurstSwitch``, a keyframe-only reader also decodes confirmation bursts on request
(``streamer.sources.keyframe_decoder``): a live stream's bursts last on the wall clock; an unpaced file's (``vigil
eval``, whose caller matches each frame before the next packet is read) on the file's own clock, so a burst covers
the same stretch of video it would cover live, however long matching takes. A burst frame is stamped with its own
time on the camera's timeline: the last keyframe's arrival plus the difference in presentation time, never later
than now. Every other frame is stamped with the moment its packet came out of the demuxer (so decoding counts toward
latency), or, from a paced file, with the moment the pacer lets it go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import av
import av.error
import numpy as np
from av.container import InputContainer
from av.video.codeccontext import VideoCodecContext
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from streamer.config import CameraConfig
from streamer.errors import CameraError
from streamer.redaction import redact_url
from streamer.sources.burst import BurstSwitch
from streamer.sources.frame import Keyframe
from streamer.sources.keyframe_decoder import DecodedFrame, KeyframeDecoder
from streamer.sources.pacing import NativeRatePacer
from streamer.sources.reader import ClosingReader, StallWatchdog, describe_failure

NETWORK_OPTIONS = {"analyzeduration": "500000", "probesize": "100000"}
DECODE_THREADS = 1
"""FFmpeg's own threads per camera, for decoding and for the conversion to RGB. Its default (one per core each: slice
threads in the decoder, and swscale's own pool) starts ~3 idle helper threads in every camera for nothing: a node's
parallelism is its cameras, and one 720p keyframe's conversion costs ~0.6 ms on one thread."""
RTSP_OPTIONS = {"rtsp_transport": "tcp", "allowed_media_types": "video"}


class PyAvReader(ClosingReader):
    """One connection to an RTSP stream or one pass over a file (see ``streamer.sources.reader`` for the contract).

    Args:
        camera: the camera's name, stamped on every frame.
        config: URL, ``loop`` (files), ``sample.keyframes_only``, reconnect timeouts.
        stop: set when the camera is stopping; checked between packets and while pacing.
        on_decode_error: called once per packet the decoder rejects; the stream goes on.
        paced: replay files at their native rate (off only for benchmarks that decode as fast as possible).
        bursts: the camera's burst switch; with ``keyframes_only``, bursts of the frames in between are decoded
            when it asks (network streams and unpaced files: a paced file is demuxed ahead of its pace, so its kept
            packets lag behind).
    """

    def __init__(
        self,
        camera: str,
        config: CameraConfig,
        stop: threading.Event,
        on_decode_error: Callable[[], None],
        *,
        paced: bool = True,
        bursts: BurstSwitch | None = None,
    ) -> None:
        self.camera = camera
        self.config = config
        self._paced = paced
        self._stop = stop
        self._on_decode_error = on_decode_error
        self._container: InputContainer | None = None
        self._bursts = bursts if config.is_network or not paced else None
        self._stream_s = 0.0  # the last demuxed packet's presentation time: an unpaced file's bursts' clock
        self._anchor: tuple[float, datetime, float] | None = None  # last keyframe's (pts, frame_time, received_at)
        self._arrival: tuple[datetime, float] | None = None  # when the demuxer handed over the last packet

    def open(self) -> None:
        """Connect (or open the file) and find the video stream.

        Raises:
            CameraError: ``camera_unauthorized`` (401/403), ``camera_timeout`` (no answer within open_timeout_s),
                ``camera_unavailable`` (refused, not found, not a video, ...). The message holds no credentials.
        """
        url = self.config.url
        options: dict[str, str] = {}
        if self.config.is_network:
            options.update(NETWORK_OPTIONS)
            if url.lower().startswith(("rtsp://", "rtsps://")):
                options.update(RTSP_OPTIONS)
        reconnect = self.config.reconnect
        started = time.monotonic()
        try:
            container = av.open(url, options=options, timeout=(reconnect.open_timeout_s, reconnect.stall_timeout_s))
        except (av.FFmpegError, OSError) as exc:
            # FFmpeg reports an interrupted open as whatever the half-read answer looked like ("Invalid data ...").
            timed_out = isinstance(exc, av.error.ExitError) or time.monotonic() - started >= reconnect.open_timeout_s
            if timed_out:
                message, code = f"no answer within {reconnect.open_timeout_s:g} s", "camera_timeout"
            else:
                message, code = describe_failure(exc, url), _open_error_code(exc)
            # "from None": the original message quotes the URL, credentials included.
            raise CameraError(f"cannot open {redact_url(url)}: {message}", code=code) from None
        if not container.streams.video:
            container.close()
            raise CameraError(f"no video stream in {redact_url(url)}", code="camera_unavailable")
        codec = container.streams.video[0].codec_context  # not opened yet: it opens on the first decode
        codec.thread_count = DECODE_THREADS
        codec.thread_type = "NONE"
        self._container = container

    def frames(self) -> Iterator[Keyframe]:
        """Decoded frames (keyframes only when configured) until the stream ends, fails or the camera stops.

        Raises:
            CameraError: ``camera_stalled`` (no frame for stall_timeout_s, including a read that hung that long) or
                ``camera_read_failed``.
        """
        container = self._container
        if container is None:
            raise CameraError(f"camera {self.camera}: frames() before open()", code="camera_error")
        stream = container.streams.video[0]
        watchdog = StallWatchdog(self.config.reconnect.stall_timeout_s)
        pacer = None if self.config.is_network or not self._paced else NativeRatePacer(self._stop, watchdog.timeout_s)
        while not self._stop.is_set():
            for frame, burst in self._decoded(container, stream, watchdog):
                # The stream's time base, not the frame's: frames drained by decode(None) carry none.
                pts = float(frame.pts * stream.time_base) if frame.pts is not None and stream.time_base else None
                if pacer is not None and not pacer.wait_for(pts):
                    return
                if self._stop.is_set():
                    return
                watchdog.feed()
                # A live stream's frame was received when its packet arrived, before decoding; a paced file's when
                # the pacer let it go.
                arrival = self._arrival if pacer is None and self._arrival is not None else _now()
                yield self._keyframe(frame, pts, burst, arrival)
            if self.config.is_network or not self.config.loop:
                return  # end of stream: the worker decides whether that is the end
            container.seek(0)
            stream.codec_context.flush_buffers()
            if pacer is not None:
                pacer.restart()

    def close(self) -> None:
        """Release the connection; safe to call twice."""
        container, self._container = self._container, None
        if container is not None:
            container.close()

    def _decoded(
        self, container: InputContainer, stream: VideoStream, watchdog: StallWatchdog
    ) -> Iterator[DecodedFrame]:
        """Frames of one pass over the stream, with library errors turned into ``CameraError``."""
        codec = stream.codec_context
        keyframes = None
        if self.config.sample.keyframes_only:
            clock = time.monotonic if self.config.is_network else lambda: self._stream_s
            keyframes = KeyframeDecoder(
                lambda packet: self._decode(codec, packet), codec.flush_buffers, self._bursts, clock=clock
            )
        url = self.config.url
        try:
            for packet in container.demux(stream):
                if self._stop.is_set():
                    return
                watchdog.check()
                self._arrival = _now()
                if packet.pts is not None and stream.time_base:
                    self._stream_s = max(self._stream_s, float(packet.pts * stream.time_base))
                if keyframes is None:
                    yield from (DecodedFrame(frame, False) for frame in self._decode(codec, packet))
                else:
                    yield from keyframes.feed(packet)
        except av.error.ExitError:  # FFmpeg's interrupt callback ended a read that hung for the read timeout
            raise CameraError(f"stalled: no data for {watchdog.timeout_s:g} s", code="camera_stalled") from None
        except av.FFmpegError as exc:
            raise CameraError(f"read failed: {describe_failure(exc, url)}", code="camera_read_failed") from None
        finally:
            if keyframes is not None:
                keyframes.close()

    def _decode(self, codec: VideoCodecContext, packet: av.Packet | None) -> list[VideoFrame]:
        try:
            return codec.decode(packet)
        except (av.error.InvalidDataError, av.error.UndefinedError):  # one damaged packet; the next keyframe heals
            self._on_decode_error()
            return []

    def _keyframe(self, frame: VideoFrame, pts: float | None, burst: bool, arrival: tuple[datetime, float]) -> Keyframe:
        image = np.ascontiguousarray(frame.to_ndarray(format="rgb24", threads=DECODE_THREADS))
        frame_time, received_at = arrival
        if not burst:
            self._anchor = None if pts is None else (pts, frame_time, received_at)
        elif self._anchor is not None and pts is not None:
            anchor_pts, anchor_time, anchor_received = self._anchor
            offset = max(0.0, pts - anchor_pts)
            frame_time = min(frame_time, anchor_time + timedelta(seconds=offset))
            received_at = min(received_at, anchor_received + offset)
        return Keyframe(
            camera=self.camera,
            image=image,
            frame_time=frame_time,
            received_at=received_at,
            pts=pts,
            is_keyframe=bool(frame.key_frame) and not burst,
            burst=burst,
        )


def _now() -> tuple[datetime, float]:
    """(UTC wall clock, ``time.monotonic()``): what a ``Keyframe`` is stamped with."""
    return datetime.now(UTC), time.monotonic()


def _open_error_code(exc: BaseException) -> str:
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return "camera_unauthorized"
    return "camera_unavailable"
