"""Matches the faces in a batch of keyframes against the face watchlist.

Face search costs far more than the scene embedding (MTCNN alone is ~100 ms for a 720p frame on one CPU core), so
it runs only while the watchlist holds face entries: a node that watches for fire and smoke pays nothing for faces.
Each face found is aligned and embedded (``engines.faces``), all faces of a batch go to the embedder and the index
together, and an entry is reported once per frame, at its best-matching face's box.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from engines.faces import FacePipeline
from streamer.alerts.event import AlertKind
from streamer.alerts.policy import Sighting
from streamer.metrics import VigilMetrics
from streamer.sources.frame import Keyframe
from streamer.unknown.clusters import UnknownFaceClusterer
from watchlists.index import WatchlistIndex


class FaceMatcher:
    """Faces in frames -> face watchlist matches.

    Args:
        faces: detector + aligner + embedder (the same model enrollment used).
        index: the face index for ``faces.version``.
        metrics: ``inference_seconds``/``batch_size`` (model = the face embedder), ``search_seconds{kind="face"}``,
            ``matches_total{kind="face"}``.
        top_k: candidates per face before thresholds apply.
        unknown: when given, every good face (no quality problem) that matches nobody joins its stranger cluster
            and is reported as an ``unknown_face`` sighting of that cluster (entry id ``unknown-<n>``, label
            ``Unknown <n>``; score = its similarity to the cluster, threshold = the clustering threshold). ``None``
            (the default) reports no strangers: a busy lobby is full of them.
        near_margin: also report entries that score within this much below their threshold, as ``near``
            sightings (they ask for a confirmation burst and never vote); 0 reports none.
    """

    kind = AlertKind.FACE

    def __init__(
        self,
        faces: FacePipeline,
        index: WatchlistIndex,
        metrics: VigilMetrics,
        top_k: int = 5,
        *,
        unknown: UnknownFaceClusterer | None = None,
        near_margin: float = 0.0,
    ) -> None:
        self._faces = faces
        self._index = index
        self._metrics = metrics
        self._top_k = top_k
        self._unknown = unknown
        self._near_margin = near_margin
        self._model_name = faces.embedder.name

    @property
    def faces(self) -> FacePipeline:
        return self._faces

    def match(self, frames: list[Keyframe]) -> list[list[Sighting]]:
        """One list of sightings per frame (empty lists while no face entry is enrolled), near candidates included
        (``Sighting.near``) when a ``near_margin`` is set."""
        results: list[list[Sighting]] = [[] for _ in frames]
        if not frames or (self._index.entry_count == 0 and self._unknown is None):
            return results
        started = time.perf_counter()
        analysed = self._faces.analyse_many([frame.image for frame in frames])
        found = sum(len(faces) for faces in analysed)
        self._metrics.inference_seconds.labels(model=self._model_name).observe(time.perf_counter() - started)
        if not found:
            return results
        self._metrics.batch_size.labels(model=self._model_name).observe(found)
        by_camera: dict[str, list[int]] = defaultdict(list)
        for position, frame in enumerate(frames):
            if analysed[position]:
                by_camera[frame.camera].append(position)
        started = time.perf_counter()
        for camera, positions in by_camera.items():
            vectors = np.vstack([face.embedding for p in positions for face in analysed[p]])
            hits = iter(self._index.search(vectors, camera=camera, k=self._top_k, near_margin=self._near_margin))
            for position in positions:
                per_face = [(face, next(hits)) for face in analysed[position]]
                results[position] = self._best_per_entry(per_face) + self._strangers(per_face, frames[position])
        self._metrics.search_seconds.labels(kind=self.kind.value).observe(time.perf_counter() - started)
        for camera, positions in by_camera.items():
            if matched := sum(not s.near for p in positions for s in results[p]):
                self._metrics.matches.labels(kind=self.kind.value, camera=self._metrics.camera(camera)).inc(matched)
        return results

    def _best_per_entry(self, per_face: list) -> list[Sighting]:
        best: dict[str, Sighting] = {}
        for face, matches in per_face:
            for match in matches:
                if match.entry_id in best and best[match.entry_id].score >= match.score:
                    continue
                best[match.entry_id] = Sighting(
                    entry_id=match.entry_id, label=match.label, kind=self.kind, score=float(match.score),
                    threshold=float(match.threshold), bbox=tuple(int(v) for v in face.detection.bbox),
                    model=self._faces.version, near=match.near,
                )  # fmt: skip
        return sorted(best.values(), key=lambda s: s.score, reverse=True)

    def _strangers(self, per_face: list, frame: Keyframe) -> list[Sighting]:
        """One ``unknown_face`` sighting per good face that matched nobody, each under its cluster's id."""
        if self._unknown is None:
            return []
        sightings = []
        for face, matches in per_face:
            if any(not m.near for m in matches) or face.quality.problems():
                continue
            cluster = self._unknown.assign(face, frame.image, frame.camera, frame.frame_time)
            sightings.append(
                Sighting(
                    entry_id=cluster.id, label=cluster.label, kind=AlertKind.UNKNOWN_FACE,
                    score=cluster.similarity, threshold=self._unknown.threshold,
                    bbox=tuple(int(v) for v in face.detection.bbox), model=self._faces.version,
                )
            )  # fmt: skip
        return sightings
