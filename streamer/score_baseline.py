"""What each region of a camera usually scores on each anomaly head, so that a rise can alert below the threshold.

A head's absolute threshold has to hold across every scene it will ever see, so it sits high (0.8 or more): on the
development clips, a pistol laid on a table lifted its region's handgun score from 0.39 to 0.71, and a fire growing in
a living room lifted the fire score from 0.55 to 0.75 before it reached 0.85, both below their thresholds, while
other, static scenes score 0.7 to 0.8 all day (a lamp, a hospital bed). What tells the two apart is the camera's own
past: anomalies are events. ``ScoreBaseline`` keeps, per camera, region and head, a running mean of the scores, and
gives each region of the next frame an effective threshold: the head's own, or lower, ``max(floor, usual + rise)``,
once the camera has a history. A score that has always been high never rises, so it never alerts by this path.

The mean follows quickly while nothing is hot (``settle``: lighting, people walking by), and only slowly while a
region is over its threshold (``absorb``), so an object that arrives stays an alert for a while and becomes part of
the camera's normal after about a minute instead of at once. A cut (the whole frame no longer resembles the previous
one: a PTZ move, a new scene) forgets the history: the new view starts cold, on absolute thresholds only.

Measured on ``../shared/devdata/`` (MobileNetV2 3x2 regions, heads trained with the hard negatives, the alert
policy's 2-of-3 vote simulated on the clips' keyframes): 3/9 events and 2 false alarms with absolute thresholds only,
5/9 and 2 with a rise of 0.25 over a floor of 0.6 (the handgun and the slowly growing fire were found; no new false
alarm). A smaller rise (0.2) or floor (0.5) found no more and added false alarms on a drone shot of pedestrians.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BaselineSettings:
    """How far a score must rise over the camera's usual, and how the usual is learnt (config ``adaptation.onset``).

    Attributes:
        rise: a region alerts when its score is this much above its usual score (and over ``floor``); 0: never.
        floor: never alert below this score, however large the rise (a probability-like score under it means "more
            likely not").
        scene_cut: whole-frame cosine to the previous keyframe below which the view counts as new (history dropped).
        settle: weight of each new score in the usual while the region is not hot.
        absorb: the same while the region is over its threshold.
        min_history: keyframes a camera must have shown since its last cut before rises count.
    """

    rise: float = 0.25
    floor: float = 0.6
    scene_cut: float = 0.75
    settle: float = 0.3
    absorb: float = 0.01
    min_history: int = 2


@dataclass
class _CameraHistory:
    key: tuple[str, int, int]  # adaptation version, regions, heads: history of other heads means nothing
    whole: np.ndarray
    usual: np.ndarray  # (regions, heads)
    seen: int


class ScoreBaseline:
    """Per camera: each region's usual score on each head. Not thread-safe: one matcher calls it, frame by frame."""

    def __init__(self, settings: BaselineSettings | None = None) -> None:
        self.settings = settings or BaselineSettings()
        self._cameras: dict[str, _CameraHistory] = {}

    def thresholds(
        self, camera: str, version: str, whole: np.ndarray, scores: np.ndarray, absolute: np.ndarray
    ) -> np.ndarray:
        """The effective ``(regions, heads)`` thresholds for this frame, then learn from its scores.

        Args:
            camera: the frame's camera.
            version: the adaptation the scores come from.
            whole: the frame's whole-frame embedding (unit vector), to notice cuts.
            scores: ``(regions, heads)`` head scores of this frame's regions.
            absolute: ``(heads,)`` the heads' calibrated thresholds.
        """
        settings = self.settings
        if settings.rise <= 0:  # turned off: absolute thresholds, nothing to learn
            return np.broadcast_to(absolute, scores.shape).copy()
        key = (version, *scores.shape)
        history = self._cameras.get(camera)
        if history is None or history.key != key or float(whole @ history.whole) < settings.scene_cut:
            self._cameras[camera] = _CameraHistory(key, whole.copy(), scores.astype(np.float32), 1)
            return np.broadcast_to(absolute, scores.shape).copy()
        effective = np.broadcast_to(absolute, scores.shape).copy()
        if history.seen >= settings.min_history:
            lowered = np.maximum(settings.floor, history.usual + settings.rise)
            effective = np.minimum(effective, lowered)
        hot = scores >= effective
        weight = np.where(hot, settings.absorb, settings.settle).astype(np.float32)
        history.usual += weight * (scores - history.usual)
        history.whole = whole.copy()
        history.seen += 1
        return effective

    def forget(self, camera: str) -> None:
        """Drop a camera's history (its stream restarted, or it was removed)."""
        self._cameras.pop(camera, None)
