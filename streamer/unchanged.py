"""Keyframes that show the same empty picture as their camera's last matched one are not matched again.

Most of a surveillance camera's keyframes show a scene where nothing moved, and matching one costs the scene network
on the frame and its regions plus MTCNN over the whole frame (~300-400 ms of CPU at 720p with faces on): the same
picture gives the same sightings. So each keyframe is first reduced to a signature, the mean colour of every
16x16-pixel cell (one area resize, ~0.7 ms at 720p), and when no cell moved by more than ``sample.change_threshold``
levels since the camera's last *matched* keyframe, and that one yielded no sighting (not even a near candidate),
the keyframe is not matched: its (empty) sightings go to the alert policy as before, without embedding or detecting
anything. A camera with something in view is matched at every keyframe: the vote and the confirmation bursts
were designed around fresh evidence from each frame (a borderline score is a new draw on each keyframe), and an
open alert is kept alive or closed by what each keyframe really shows. So the saving is on what most cameras show
most of the time: an empty scene. Comparing with the last matched keyframe, not the previous one, means a slow
change (a shadow, a door opening slowly) adds up until it counts.

Reuse is bounded three ways: ``sample.unchanged_refresh_s`` after the last match a keyframe is matched anyway;
a change of the watchlist (any index's revision) or of the adaptation heads served invalidates every camera's
sightings (they were found against the old watchlist); frames of a confirmation burst are always matched (they are
there to be looked at again). A 16x16 cell is smaller than the smallest face MTCNN looks for, so a face that
appears changes at least one whole cell; a colour change of the same brightness counts too (channels apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer.alerts.policy import Sighting
from streamer.config import SampleConfig
from streamer.metrics import VigilMetrics
from streamer.sources.frame import Keyframe

CELL_PX = 16
"""Side of a signature cell in pixels: at most the smallest face MTCNN finds (its ``min_face_px``)."""


def signature(image: np.ndarray) -> np.ndarray:
    """Mean colour of each ``CELL_PX`` x ``CELL_PX`` cell, as float32 ``(rows, cols, 3)``."""
    height, width = image.shape[:2]
    size = (max(1, width // CELL_PX), max(1, height // CELL_PX))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32)


@dataclass(frozen=True, eq=False)
class MatchContext:
    """What sightings were found against: the watchlist indexes' revisions and the adaptation heads served."""

    revisions: tuple[int, ...]
    adaptation: object | None = None

    def same_as(self, other: MatchContext) -> bool:
        return self.revisions == other.revisions and self.adaptation is other.adaptation


@dataclass(frozen=True)
class Verdict:
    """What ``UnchangedKeyframes.check`` decided for one frame.

    Attributes:
        reused: the sightings of the camera's last matched keyframe, when this frame shows the same picture;
            ``None``: match this frame (then ``remember`` what it yielded).
        signature: the frame's signature, ``None`` when the frame is not judged (bursts, cameras with it off).
    """

    reused: list[Sighting] | None
    signature: np.ndarray | None = None


@dataclass
class _Matched:
    signature: np.ndarray
    received_at: float
    context: MatchContext
    sightings: list[Sighting]


class UnchangedKeyframes:
    """Per camera, the last matched keyframe's signature and sightings; used by the inference thread only.

    Args:
        configs: each camera's ``SampleConfig`` (``skip_unchanged``, ``change_threshold``, ``unchanged_refresh_s``);
            a camera missing here uses the defaults.
        metrics: counts ``vigil_keyframes_unchanged_total{camera}``.
    """

    def __init__(self, configs: dict[str, SampleConfig], metrics: VigilMetrics) -> None:
        self._configs = dict(configs)
        self._default = SampleConfig()
        self._metrics = metrics
        self._last: dict[str, _Matched] = {}  # one per camera that sent frames: bounded by the configured cameras

    def check(self, frame: Keyframe, context: MatchContext) -> Verdict:
        """Whether ``frame`` shows what its camera's last matched keyframe showed, under the same ``context``
        (what the sightings were found against: watchlist revisions, adaptation served)."""
        config = self._configs.get(frame.camera, self._default)
        if frame.burst or not config.skip_unchanged:
            return Verdict(None)
        current = signature(frame.image)
        last = self._last.get(frame.camera)
        if (
            last is None
            or not last.context.same_as(context)
            or last.signature.shape != current.shape
            or frame.received_at - last.received_at >= config.unchanged_refresh_s
            or float(np.abs(current - last.signature).max()) > config.change_threshold
        ):
            return Verdict(None, current)
        self._metrics.keyframes_unchanged.labels(camera=self._metrics.camera(frame.camera)).inc()
        return Verdict(list(last.sightings), current)

    def remember(self, frame: Keyframe, verdict: Verdict, context: MatchContext, sightings: list[Sighting]) -> None:
        """Keep a matched frame that yielded nothing as its camera's reference; one that yielded sightings (near
        candidates included) is no reference: a camera with something in view is matched at every keyframe."""
        if verdict.reused is not None or verdict.signature is None:
            return
        if sightings:  # something is in view: its next keyframes are matched, each one fresh evidence for the vote
            self._last.pop(frame.camera, None)
        else:
            self._last[frame.camera] = _Matched(verdict.signature, frame.received_at, context, [])
