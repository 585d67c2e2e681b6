"""Matches anomaly entries that mean "a person lying down" (``posture.labels``, e.g. ``fall``) by posture.

A fall is a posture, not an appearance: reference photos of falls from one hospital teach a scene head "this
ward", which then scores every ward frame alike, falls or none (README, "Few-shot adaptation"). So entries with such
a label are not matched by their photos but by the person posture detector (``engines.posture``): a frame sights
the entry when a person in it lies within ``lying_within_deg`` of horizontal, scored by the detector's confidence
times how flat they lie, at the person's box. The scene matcher leaves these entries alone (``labels``).

The detector runs only while such an entry may match on a frame's camera, so a node without one pays nothing.
"""

from __future__ import annotations

import time

import numpy as np

from engines.posture import Person, PersonPostureDetector
from streamer.alerts.event import AlertKind
from streamer.alerts.policy import Sighting
from streamer.config import PostureConfig
from streamer.metrics import VigilMetrics
from streamer.sources.frame import Keyframe
from watchlists.index import WatchlistIndex


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

    @property
    def labels(self) -> frozenset[str]:
        """The labels this matcher answers for (lower case): the scene matcher must skip them."""
        return self._labels

    def match(self, frames: list[Keyframe]) -> list[list[Sighting]]:
        """One list of sightings per frame, in the order of ``frames`` (one per posture entry at most)."""
        results: list[list[Sighting]] = []
        entries_of: dict[str, dict[str, str]] = {}
        for frame in frames:
            if frame.camera not in entries_of:
                allowed = self._index.allowed_entries(frame.camera)
                entries_of[frame.camera] = {e: label for e, label in allowed.items() if label.lower() in self._labels}
            entries = entries_of[frame.camera]
            results.append(self._sightings(frame, entries) if entries else [])
        for frame, sightings in zip(frames, results, strict=True):
            if sightings:
                self._metrics.matches.labels(kind=self.kind.value, camera=self._metrics.camera(frame.camera)).inc(
                    len(sightings)
                )
        return results

    def score(self, image: np.ndarray) -> float:
        """The frame's posture score, above its threshold or not (``vigil eval``'s score distributions)."""
        return self._lying_person(image)[0]

    def _lying_person(self, image: np.ndarray) -> tuple[float, Person | None]:
        """The person lying flattest, weighted by the detector's confidence, and that score (0 with nobody)."""
        started = time.perf_counter()
        people = self._detector.detect(image)
        self._metrics.inference_seconds.labels(model=self._detector.name).observe(time.perf_counter() - started)
        scored = [(person.score * person.lying(self._settings.lying_within_deg), person) for person in people]
        return max(scored, key=lambda pair: pair[0], default=(0.0, None))

    def _sightings(self, frame: Keyframe, entries: dict[str, str]) -> list[Sighting]:
        score, person = self._lying_person(frame.image)
        if person is None or score < self._settings.threshold:
            return []
        return [
            Sighting(
                entry_id=entry_id,
                label=label,
                kind=self.kind,
                score=score,
                threshold=self._settings.threshold,
                bbox=person.box,
                model=self._detector.version,
            )
            for entry_id, label in entries.items()
        ]


def posture_labels(settings: PostureConfig) -> list[str]:
    """The labels matched by posture, lower case (labels compare case-insensitively); none when posture is off."""
    return [label.strip().lower() for label in settings.labels] if settings.enabled else []


def entry_posture(kind: str, label: str, settings: PostureConfig) -> dict[str, float] | None:
    """What an entry shown to an admin is matched by when it is matched by posture (its photos' trained head, if
    any, is then unused); ``None`` for every other entry."""
    if kind != "anomaly" or label.strip().lower() not in posture_labels(settings):
        return None
    return {"threshold": settings.threshold, "lying_within_deg": settings.lying_within_deg}
