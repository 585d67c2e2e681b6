"""Small objects: finer windows propose, a close look at the window confirms.

A pistol on a table fills about 2% of a 720p frame. In a pooled 3x2 window (a tenth of the frame) the trained
handgun head scores it 0.6, under its threshold; pooled finer windows (4x3, 6x4) lift it to 0.84 but also lift warm
lights, haze and crowds of pedestrians over the fire, smoke and crowd thresholds (devdata: 6 more false alarms).
What tells them apart is what the heads were trained on: whole photos and crops of them, embedded as 224x224
images. So a finer window only *proposes*, when its score rose over what that window of that camera usually scores
(``ScoreBaseline``: something arrived), and the window is then cut from the frame and embedded on its own: the head
scores that crop as it scored its training views, and the crop's score against the head's own threshold decides.
On the development clips the pistol's crop scores 0.96 (threshold 0.87) and the phone in the same place 0.64.
Where an entry's ImageNet concepts alone pass in a finer window (``watchlists.concepts``: MobileNetV2's own
classifier names a revolver there), the window is a sighting as it is, history or not: the classifier does not
share the heads' lift on pooled finer windows (fire-, smoke-, fall- and crowd-free stills stayed under 0.3 of its
probability, threshold 0.5), while a crop loses the context its pooled window saw (held-out handguns whose windows
passed at 0.9 scored 0.1-0.4 as crops).

Cost: the finer windows are pooled from the keyframe's one backbone pass (43 rows instead of 7 for ``"4x3+6x4"``:
about a millisecond), and a crop is embedded only for a proposal, at most ``MAX_LOOKS`` a keyframe.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from engines.regions import RegionEmbeddings, RegionGrid
from engines.scene import SceneEmbedder
from streamer.alerts.event import AlertKind
from streamer.alerts.policy import Sighting
from streamer.config import VigilConfig
from streamer.matcher import adapted_model
from streamer.metrics import VigilMetrics
from streamer.score_baseline import BaselineSettings, ScoreBaseline
from streamer.sources.frame import Keyframe
from watchlists.adaptation import Adaptation
from watchlists.adaptation_slot import AdaptationSlot
from watchlists.index import WatchlistIndex
from watchlists.records import label_key

MAX_LOOKS = 2
"""Crops embedded per keyframe at most: the highest-scoring proposals of different entries."""


@dataclass(frozen=True)
class _Look:
    """A finer window worth a close look: whose head proposed it, how strongly, where."""

    frame: int
    head: int
    label: str
    score: float
    box: tuple[int, int, int, int]


def _best_per_frame(looks: list[_Look]) -> list[_Look]:
    """The ``MAX_LOOKS`` strongest proposals of each frame."""
    per_frame: dict[int, list[_Look]] = defaultdict(list)
    for look in sorted(looks, key=lambda look: -look.score):
        if len(per_frame[look.frame]) < MAX_LOOKS:
            per_frame[look.frame].append(look)
    return [look for chosen in per_frame.values() for look in chosen]


def _box(row: np.ndarray) -> tuple[int, int, int, int]:
    x, y, width, height = (int(v) for v in row)
    return x, y, width, height


def _window(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, width, height = box
    return image[y : y + height, x : x + width]


class SmallObjectFinder:
    """Sightings of adapted anomaly entries that only a finer window shows, confirmed on a crop of that window.

    Args:
        embedder: the scene model that embedded the frames (it embeds the crops, as the heads' training views).
        adaptation: the trained heads serving now; without any, nothing is proposed.
        index: the anomaly index, for camera scopes and enabled entries.
        regions: the matcher's grid (config ``models.scene_regions``; not ``none``).
        finer: the windows that propose (config ``adaptation.small_objects``).
        metrics: ``vigil_small_object_looks_total{result}``.
        baseline: the rise a window's score must show over its usual on this camera to propose.
        skip_labels: labels another matcher answers for (posture).
    """

    kind = AlertKind.ANOMALY

    def __init__(
        self,
        embedder: SceneEmbedder,
        adaptation: AdaptationSlot,
        index: WatchlistIndex,
        regions: RegionGrid,
        finer: RegionGrid,
        metrics: VigilMetrics,
        baseline: BaselineSettings | None = None,
        skip_labels: frozenset[str] = frozenset(),
    ) -> None:
        self._embedder = embedder
        self._adaptation = adaptation
        self._index = index
        self._first_row = regions.per_frame
        self.grid = RegionGrid(
            regions.columns, regions.rows, regions.overlap, (*regions.finer, (finer.columns, finer.rows), *finer.finer)
        )
        """What the scene model embeds: the matcher's rows first (``leading(regions.per_frame)``), then the finer."""
        self._metrics = metrics
        self._baseline = ScoreBaseline(baseline)
        self._skip_labels = skip_labels

    def find(
        self, frames: list[Keyframe], embeddings: RegionEmbeddings, sighted: list[list[Sighting]]
    ) -> list[list[Sighting]]:
        """Per frame, the further sightings its finer windows confirm (entries ``sighted`` already are left out).

        Args:
            frames: the batch's keyframes (their pixels are cropped).
            embeddings: every row of those frames, the matcher's first and then the finer ones.
            sighted: what the matcher found in each frame.
        """
        adaptation = self._adaptation.current
        found: list[list[Sighting]] = [[] for _ in frames]
        if adaptation is None or self._baseline.settings.rise <= 0:
            return found
        scope = {camera: self._index.allowed_entries(camera) for camera in {frame.camera for frame in frames}}
        looks: list[_Look] = []
        never = np.full(len(adaptation.entry_ids), np.inf, dtype=np.float32)  # no history: no rise, no proposal
        for position, frame in enumerate(frames):
            frame_rows = embeddings.rows(position)
            rows = embeddings.vectors[frame_rows]
            scores = adaptation.scores(rows[self._first_row :])
            rises = self._baseline.thresholds(frame.camera, adaptation.version, rows[0], scores, never)
            if frame.burst:
                continue  # a burst frame confirms what keyframes found; its windows only teach the baseline
            named = adaptation.concept_scores(rows[self._first_row :])
            boxes = embeddings.boxes[frame_rows][self._first_row :]
            already = {s.entry_id for s in sighted[position]}
            for head, entry_id in enumerate(adaptation.entry_ids):
                label = scope[frame.camera].get(entry_id)
                if label is None or entry_id in already or label_key(label) in self._skip_labels:
                    continue
                named_row = int(np.argmax(named[:, head]))
                risen_row = int(np.argmax(scores[:, head] - rises[:, head]))
                if named[named_row, head] >= adaptation.thresholds[head]:  # ImageNet names it here: no look needed
                    look = _Look(position, head, label, float(named[named_row, head]), _box(boxes[named_row]))
                    found[position].append(_sighting(look, adaptation))
                elif scores[risen_row, head] >= rises[risen_row, head]:
                    looks.append(_Look(position, head, label, float(scores[risen_row, head]), _box(boxes[risen_row])))
        chosen = _best_per_frame(looks)
        if not chosen:
            return found
        crops = [_window(frames[look.frame].image, look.box) for look in chosen]
        crop_scores = adaptation.scores(self._embedder.embed(crops))  # the batch's looks in one call
        for look, row in zip(chosen, crop_scores, strict=True):
            found[look.frame] += self._judged(look, float(row[look.head]), adaptation)
        return found

    def _judged(self, look: _Look, score: float, adaptation: Adaptation) -> list[Sighting]:
        """The head's verdict on the window's crop (``score``), at the head's own threshold."""
        confirmed = score >= adaptation.thresholds[look.head]
        self._metrics.small_object_looks.labels(result="confirmed" if confirmed else "rejected").inc()
        return [_sighting(dataclasses.replace(look, score=score), adaptation)] if confirmed else []

    def forget_camera(self, camera: str) -> None:
        """Forget what a camera's finer windows usually score (its stream was replaced)."""
        self._baseline.forget(camera)


def _sighting(look: _Look, adaptation: Adaptation) -> Sighting:
    return Sighting(
        entry_id=adaptation.entry_ids[look.head],
        label=look.label,
        kind=AlertKind.ANOMALY,
        score=look.score,
        threshold=float(adaptation.thresholds[look.head]),
        bbox=look.box,
        model=adapted_model(adaptation),
    )


def small_object_finder(
    config: VigilConfig,
    embedder: SceneEmbedder,
    adaptation: AdaptationSlot | None,
    index: WatchlistIndex,
    metrics: VigilMetrics,
    skip_labels: frozenset[str] = frozenset(),
) -> SmallObjectFinder | None:
    """The finder ``config`` asks for, or ``None``: no adaptation, no regions, or ``adaptation.small_objects: none``."""
    regions = RegionGrid.parse(config.models.scene_regions)
    finer = RegionGrid.parse(config.adaptation.small_objects)
    if adaptation is None or regions.columns == 0 or finer.columns == 0:
        return None
    settings = config.adaptation.baseline_settings()
    return SmallObjectFinder(embedder, adaptation, index, regions, finer, metrics, settings, skip_labels)
