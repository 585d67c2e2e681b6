"""Matches a batch of frame embeddings (whole frames and their regions) against the watchlist index, camera by camera.

The index knows entries, thresholds and camera scopes; this stage only knows frames. It searches each camera's rows
in one batched query (so an entry scoped to one camera is never matched on another) and turns index matches into
``Sighting``s located in the frame: when a frame was embedded with regions (``SceneEmbedder.embed_regions``), an
entry that matches several regions of one frame is reported once, for its best-scoring region, with that region's
box. One sighting per entry per frame keeps the alert policy's vote a vote per frame, and the box tells an operator
where to look.

Entries with a trained head (``watchlists.adaptation``, served by an ``AdaptationSlot``) are judged by it instead of
by cosine: the head scores every region, the best region is the frame's score (a probability-like value in [0, 1])
and the head's calibrated threshold decides, or a rise over what that region of that camera usually scores
(``streamer.score_baseline``). Entries without one (too few photos, enrolled since the last training,
adaptation off) keep cosine matching. Camera scopes and the enabled flag apply to both alike.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from engines.regions import RegionEmbeddings
from streamer.alerts.event import AlertKind
from streamer.alerts.policy import Sighting
from streamer.metrics import VigilMetrics
from streamer.score_baseline import ScoreBaseline
from streamer.sources.frame import Keyframe
from watchlists.adaptation import Adaptation
from watchlists.adaptation_slot import AdaptationSlot
from watchlists.index import Match, WatchlistIndex
from watchlists.records import label_key


class SceneMatcher:
    """Scene embeddings (whole frame, and regions when given) against the anomaly watchlist.

    Args:
        index: the anomaly index for the scene model's version.
        metrics: ``search_seconds{kind}`` and ``matches_total{kind}`` (one per sighting, after per-frame merging).
        top_k: candidates per query row before thresholds apply.
        adaptation: the trained heads serving now; ``None``: cosine for every entry.
        baseline: each camera's usual head scores, which let a rise alert below a head's threshold.
        skip_labels: labels (as ``label_key`` gives them) another matcher answers for (``PostureMatcher``): never
            sighted here.
    """

    kind = AlertKind.ANOMALY

    def __init__(
        self,
        index: WatchlistIndex,
        metrics: VigilMetrics,
        top_k: int = 5,
        adaptation: AdaptationSlot | None = None,
        baseline: ScoreBaseline | None = None,
        skip_labels: frozenset[str] = frozenset(),
    ) -> None:
        self._index = index
        self._skip_labels = skip_labels
        self._baseline = baseline or ScoreBaseline()
        self._metrics = metrics
        self._top_k = top_k
        self._adaptation = adaptation

    def match(self, frames: list[Keyframe], embeddings: RegionEmbeddings | np.ndarray) -> list[list[Sighting]]:
        """One list of sightings per frame, in the order of ``frames``, best score first.

        Args:
            frames: the batch's keyframes.
            embeddings: ``RegionEmbeddings`` of those frames, or a plain ``(frames, dim)`` array of whole-frame
                embeddings (then every bbox is the whole frame).

        Raises:
            ValueError: when the embeddings do not belong to ``len(frames)`` frames.
        """
        if isinstance(embeddings, np.ndarray):
            embeddings = RegionEmbeddings.whole_frames(embeddings, [frame.size for frame in frames])
        if embeddings.frames != len(frames):
            raise ValueError(f"{len(frames)} frames but embeddings of {embeddings.frames} frames")
        frames_by_camera: dict[str, list[int]] = defaultdict(list)
        for position, frame in enumerate(frames):
            frames_by_camera[frame.camera].append(position)
        results: list[list[Sighting]] = [[] for _ in frames]
        adaptation = self._adaptation.current if self._adaptation is not None else None
        started = time.perf_counter()
        for camera, positions in frames_by_camera.items():
            per_frame = embeddings.per_frame
            rows = np.concatenate([np.arange(p * per_frame, (p + 1) * per_frame) for p in positions])
            hits = self._index.search(embeddings.vectors[rows], camera=camera, k=self._top_k)
            if adaptation is not None:
                hits = self._with_heads(adaptation, embeddings.vectors[rows], per_frame, hits, camera)
            for offset, position in enumerate(positions):
                frame_hits = hits[offset * per_frame : (offset + 1) * per_frame]
                frame_boxes = embeddings.boxes[embeddings.rows(position)]
                results[position] = self._best_per_entry(frame_hits, frame_boxes, adaptation)
        self._metrics.search_seconds.labels(kind=self.kind.value).observe(time.perf_counter() - started)
        for camera, positions in frames_by_camera.items():
            if found := sum(len(results[p]) for p in positions):
                self._metrics.matches.labels(kind=self.kind.value, camera=self._metrics.camera(camera)).inc(found)
        return results

    def _with_heads(
        self, adaptation: Adaptation, vectors: np.ndarray, per_frame: int, hits: list[list[Match]], camera: str
    ) -> list[list[Match]]:
        """Replace the cosine matches of adapted entries by their heads' verdicts, row by row: a row matches where its
        score reaches the head's threshold, or rose by enough over what this camera's region usually scores."""
        adapted = set(adaptation.entry_ids)
        allowed = self._index.allowed_entries(camera)
        columns = [i for i, entry_id in enumerate(adaptation.entry_ids) if entry_id in allowed]
        scores = adaptation.scores(vectors)
        merged = []
        for start in range(0, len(vectors), per_frame):
            thresholds = self._baseline.thresholds(
                camera, adaptation.version, vectors[start], scores[start : start + per_frame], adaptation.thresholds
            )
            for row in range(start, start + per_frame):
                kept = [m for m in hits[row] if m.entry_id not in adapted]
                for column in columns:
                    score, threshold = float(scores[row, column]), float(thresholds[row - start, column])
                    if score >= threshold:
                        entry_id = adaptation.entry_ids[column]
                        kept.append(Match(entry_id, allowed[entry_id], "anomaly", score, threshold, -1))
                merged.append(kept)
        return merged

    def forget_camera(self, camera: str) -> None:
        """Forget what a camera's regions usually score (its stream was replaced: a restart, a new clip)."""
        self._baseline.forget(camera)

    def _best_per_entry(
        self, region_hits: list[list[Match]], boxes: np.ndarray, adaptation: Adaptation | None = None
    ) -> list[Sighting]:
        """Merge one frame's per-region matches: each entry once, at its best region (the earlier row on a tie,
        so the whole frame wins a tie with a window)."""
        best: dict[str, tuple[Match, int]] = {}
        for region, matches in enumerate(region_hits):
            for match in matches:
                if label_key(match.label) in self._skip_labels:
                    continue
                if match.entry_id not in best or match.score > best[match.entry_id][0].score:
                    best[match.entry_id] = (match, region)
        sightings = []
        for match, region in best.values():
            x, y, width, height = (int(v) for v in boxes[region])
            sightings.append(
                Sighting(
                    entry_id=match.entry_id,
                    label=match.label,
                    kind=self.kind,
                    score=float(match.score),
                    threshold=float(match.threshold),
                    bbox=(x, y, width, height),
                    model=adapted_model(adaptation) if match.image_id < 0 and adaptation is not None else "",
                )
            )
        return sorted(sightings, key=lambda sighting: sighting.score, reverse=True)


def adapted_model(adaptation: Adaptation) -> str:
    """The alert's ``model`` when a head decided: the scene model and the adaptation that read its features."""
    return f"{adaptation.model_version}+adapt-{adaptation.version}"
