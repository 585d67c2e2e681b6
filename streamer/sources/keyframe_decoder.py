"""Keyframe-only decoding of one pass over a stream, with on-demand bursts of the frames in between.

At rest each keyframe packet is decoded alone, then the decoder is drained (``decode(None)``) and reset
(``flush_buffers()``): the keyframe comes out as soon as it arrives, even with B-frames (NOTES.md, "Video ingest
traps"), and the packets in between are never decoded. They are kept, though (the packets since the last keyframe:
a few hundred kB), because a P-frame cannot be decoded without the frames it refers to. When a burst is requested
(``BurstSwitch``), the kept packets are decoded from their keyframe forward, which catches up with the frames that
arrived while the keyframe was being matched, and decoding then goes on with live packets until the burst has
passed on its frames or run its time. Then the decoder is drained and reset, and rest resumes.

Every keyframe is delivered as a keyframe, during a burst too; the keyframe a burst starts from was delivered
already and is not delivered again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import av
from av.video.frame import VideoFrame

from streamer.sources.burst import BurstRequest, BurstSwitch

MAX_GOP_PACKETS = 600
"""Packets kept since the last keyframe (a minute at 10 fps); a longer GOP is not kept and cannot burst."""


class DecodedFrame(NamedTuple):
    """A frame out of the decoder and whether a burst decoded it (else it is a keyframe, or full decoding)."""

    frame: VideoFrame
    burst: bool


@dataclass
class _RunningBurst:
    request: BurstRequest
    ends_at: float  # monotonic
    anchor_pts: int | None  # the keyframe it started from, already delivered
    seen: int = 0  # frames between keyframes decoded so far
    passed: int = 0  # of which passed on
    closing: bool = False

    def over(self, now: float) -> bool:
        return self.passed >= self.request.frames or now >= self.ends_at


class KeyframeDecoder:
    """Feeds demuxed packets to the codec: keyframes only, plus the bursts its switch asks for.

    Args:
        decode: decodes one packet (``None`` drains) with the stream's codec; errors are the caller's business.
        flush: resets the codec after a drain.
        switch: the camera's burst switch; ``None`` decodes keyframes only and keeps no packets.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        decode: Callable[[av.Packet | None], list[VideoFrame]],
        flush: Callable[[], None],
        switch: BurstSwitch | None,
        *,
        max_gop_packets: int = MAX_GOP_PACKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._decode = decode
        self._flush = flush
        self._switch = switch
        self._max_gop_packets = max_gop_packets
        self._clock = clock
        self._gop: list[av.Packet] | None = None  # from the last keyframe on; None until one came or when too long
        self._burst: _RunningBurst | None = None

    @property
    def bursting(self) -> bool:
        return self._burst is not None

    def feed(self, packet: av.Packet) -> list[DecodedFrame]:
        """The frames this packet lets out, in presentation order."""
        out: list[DecodedFrame] = []
        if self._burst is None and self._switch is not None:
            request = self._switch.take()
            if request is not None:
                out += self._start(request)
        is_keyframe = bool(packet.is_keyframe and packet.size)
        if self._switch is not None:
            self._keep(packet, is_keyframe)
        if self._burst is not None:
            assert self._switch is not None
            out += self._pass_on(self._decode(packet))
            if self._burst.over(self._clock()) or self._switch.cancelled:
                out += self._end()
        elif is_keyframe:
            frames = self._decode(packet) + self._decode(None)  # drain: the keyframe comes out now, not frames later
            self._flush()  # and the decoder is ready for the next one
            out += [DecodedFrame(frame, False) for frame in frames]
        return out

    def close(self) -> None:
        """The pass is over: end a running burst and drop one that never started (the next connection starts
        without the packets it would need)."""
        if self._switch is not None:
            self._switch.take()
            self._switch.finish()
        self._burst = None
        self._gop = None

    def _keep(self, packet: av.Packet, is_keyframe: bool) -> None:
        if is_keyframe:
            self._gop = [packet]
        elif self._gop is not None and len(self._gop) < self._max_gop_packets:
            self._gop.append(packet)
        else:
            self._gop = None

    def _start(self, request: BurstRequest) -> list[DecodedFrame]:
        """Decode the kept packets from their keyframe on: the frames since the keyframe, in a moment."""
        assert self._switch is not None
        if not self._gop:  # no keyframe yet on this connection, or its GOP is too long to keep
            self._switch.finish()
            return []
        self._burst = _RunningBurst(request, self._clock() + request.max_s, self._gop[0].pts)
        frames = [frame for packet in self._gop for frame in self._decode(packet)]
        out = self._pass_on(frames)
        if self._burst.over(self._clock()):
            out += self._end()
        return out

    def _pass_on(self, frames: list[VideoFrame]) -> list[DecodedFrame]:
        """Keyframes (but the burst's own) always; every nth other frame while the burst has frames left."""
        burst = self._burst
        assert burst is not None and self._switch is not None
        self._switch.decoded(len(frames))
        out = []
        for frame in frames:
            if frame.key_frame:
                if frame.pts is None or frame.pts != burst.anchor_pts:
                    out.append(DecodedFrame(frame, False))
                continue
            burst.seen += 1
            if not burst.closing and burst.passed < burst.request.frames and burst.seen % burst.request.every_nth == 0:
                burst.passed += 1
                out.append(DecodedFrame(frame, True))
        return out

    def _end(self) -> list[DecodedFrame]:
        """Drain (a keyframe held for reordering still comes out), reset the codec, free the switch."""
        assert self._burst is not None and self._switch is not None
        self._burst.closing = True
        out = self._pass_on(self._decode(None))
        self._flush()
        self._burst = None
        self._switch.finish()
        return out
