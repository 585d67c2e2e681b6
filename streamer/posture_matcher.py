"""Matches anomaly entries that mean "a person lying down" (``posture.labels``, e.g. ``fall``) by posture.

A fall is a posture, not an appearance: reference photos of falls from one hospital teach a scene head "this
ward", which then scores every ward frame alike, falls or none (README, "Few-shot adaptation"). So entries with such
a label are not matched by their photos but by the person posture detector (``engines.posture``): a frame sights
the entry when a person in it lies within ``lying_within_deg`` of horizontal, scored by the detector's confidence
times how flat they lie, at the person's box. The scene matcher leaves these entries alone (``labels``).

A fall is also a change: someone who stood a moment ago lies where they stood. So a person lying at the lower
``after_standing_threshold`` is sighted too when the camera's previous keyframe (at most ``STOOD_WITHIN_S`` earlier)
showed a person standing (within ``STANDING_DEG`` of upright) whose hip lies within ``STOOD_REACH`` of their
body's length of this one's; the next keyframe is back on ``threshold``, so the alert vote still asks for a
confident sighting. Lying down on purpose is the same change, only slower; a 20 degree lean already reads as
not standing. Measured on ``../shared/devdata/`` with the vote simulated at ten keyframe phases (README, "Falls").

The detector runs only while such an entry may match on a frame's camera, so a node without one pays nothing.
"""

from __future__ import annotations

import math
import time
from datetime import datetime

import numpy as np

from engines.posture import Person, PersonPostureDetector
from streamer.alerts.event import AlertKind
from streamer.alerts.policy import Sighting
from streamer.config import PostureConfig
from streamer.metrics import VigilMetrics
from streamer.sources.frame import Keyframe
from watchlists.index import WatchlistIndex
from watchlists.records import label_key

STANDING_DEG = 20.0  # a body axis within this of upright is standing (30 degrees is a lean, on the way down)
STOOD_REACH = 1.0  # hips this many body lengths apart (hip to head, twice) are the same place
# The previous keyframe counts when it is at most this much older. Usually it is one keyframe interval old, but a
# keyframe like the last one that matched nothing is not matched (README, "Unchanged keyframes") until
# ``unchanged_refresh_s`` (10 s) has passed: a person standing still is remembered until they move.
STOOD_WITHIN_S = 12.0


class PostureMatcher:
    """People lying down in frames -> sightings of the posture-labelled anomaly entries.

    Args:
        detector: the person posture detector.
        index: the anomaly index (entries, labels, camera scopes and enabled flags).
        settings: which labels, the threshold and what counts as lying.
        metrics: ``inference_seconds{model}`` and ``matches_total{kind="anomaly"}``.
    """

    kind = AlertKind.ANOMALY

    def __init__(
        self, detector: PersonPostureDetector, index: WatchlistIndex, settings: PostureConfig, metrics: VigilMetrics
    ) -> None:
        self._detector = detector
        self._index = index
        self._settings = settings
        self._labels = frozenset(posture_labels(settings))
        self._metrics = metrics
        self._standing: dict[str, tuple[datetime, list[Person]]] = {}  # per camera: its previous keyframe's
        self._last_score: dict[str, float] = {}

    @property
    def labels(self) -> frozenset[str]:
        """The labels this matcher answers for (``label_key``): the scene matcher must skip them."""
        return self._labels

    def match(self, frames: list[Keyframe]) -> list[list[Sighting]]:
        """One list of sightings per frame, in the order of ``frames`` (one per posture entry at most)."""
        results: list[list[Sighting]] = []
        entries_of: dict[str, dict[str, str]] = {}
        for frame in frames:
            if frame.camera not in entries_of:
                allowed = self._index.allowed_entries(frame.camera)
                ours = {e: label for e, label in allowed.items() if label_key(label) in self._labels}
                entries_of[frame.camera] = ours
            entries = entries_of[frame.camera]
            results.append(self._sightings(frame, entries) if entries else [])
        for frame, sightings in zip(frames, results, strict=True):
            if sightings:
                self._metrics.matches.labels(kind=self.kind.value, camera=self._metrics.camera(frame.camera)).inc(
                    len(sightings)
                )
        return results

    def forget_camera(self, camera: str) -> None:
        """Drop what the camera's previous keyframe showed (``vigil eval`` replays each clip as a new camera)."""
        self._standing.pop(camera, None)
        self._last_score.pop(camera, None)

    def last_score(self, camera: str) -> float:
        """The posture score of the camera's latest matched keyframe, above its threshold or not (``vigil eval``'s
        score distributions, without running the detector twice); 0 before any."""
        return self._last_score.get(camera, 0.0)

    def _people(self, image: np.ndarray) -> list[Person]:
        started = time.perf_counter()
        people = self._detector.detect(image)
        self._metrics.inference_seconds.labels(model=self._detector.name).observe(time.perf_counter() - started)
        return people

    def _lying_person(self, people: list[Person]) -> tuple[float, Person | None]:
        """The person lying flattest, weighted by the detector's confidence, and that score (0 with nobody)."""
        scored = [(person.score * person.lying(self._settings.lying_within_deg), person) for person in people]
        return max(scored, key=lambda pair: pair[0], default=(0.0, None))

    def _sightings(self, frame: Keyframe, entries: dict[str, str]) -> list[Sighting]:
        people = self._people(frame.image)
        score, person = self._lying_person(people)
        self._last_score[frame.camera] = score
        threshold = self._settings.threshold
        if person is not None and score < threshold and self._stood_here(frame, person):
            threshold = self._settings.after_standing_threshold
        self._standing[frame.camera] = (frame.frame_time, [p for p in people if p.tilt_deg <= STANDING_DEG])
        if person is None or score < threshold:
            return []
        return [
            Sighting(
                entry_id=entry_id,
                label=label,
                kind=self.kind,
                score=score,
                threshold=threshold,
                bbox=person.box,
                model=self._detector.version,
            )
            for entry_id, label in entries.items()
        ]

    def _stood_here(self, frame: Keyframe, lying: Person) -> bool:
        """Whether the camera's previous keyframe, just before this one, showed a person standing where ``lying``
        lies (``after_standing_threshold`` 0: never asked)."""
        if self._settings.after_standing_threshold <= 0 or frame.camera not in self._standing:
            return False
        seen_at, standing = self._standing[frame.camera]
        if not 0 < (frame.frame_time - seen_at).total_seconds() <= STOOD_WITHIN_S:
            return False
        hip = _hip(lying)
        return any(math.dist(hip, _hip(person)) <= STOOD_REACH * max(person.box[2:]) for person in standing)


def _hip(person: Person) -> tuple[float, float]:
    """The centre of the person's box: their hip, unless the box was cut by the frame's edge."""
    x, y, width, height = person.box
    return x + width / 2, y + height / 2


def posture_labels(settings: PostureConfig) -> list[str]:
    """The labels matched by posture as ``label_key`` gives them (case and spacing aside); none when posture is off."""
    return [label_key(label) for label in settings.labels] if settings.enabled else []


def entry_posture(kind: str, label: str, settings: PostureConfig) -> dict[str, float] | None:
    """What an entry shown to an admin is matched by when it is matched by posture (its photos' trained head, if
    any, is then unused); ``None`` for every other entry."""
    if kind != "anomaly" or label_key(label) not in posture_labels(settings):
        return None
    return {
        "threshold": settings.threshold,
        "lying_within_deg": settings.lying_within_deg,
        "after_standing_threshold": settings.after_standing_threshold,
    }
