"""Matches a batch of frame embeddings against the watchlist index, camera by camera.

The index knows entries, thresholds and camera scopes; this stage only knows frames. It searches each camera's
frames in one batched query (so an entry scoped to one camera is never matched on another) and turns index
matches into ``Sighting``s located in the frame.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from streamer.alerts.event import AlertKind
from streamer.alerts.policy import Sighting
from streamer.metrics import VigilMetrics
from streamer.sources.frame import Keyframe
from watchlists.index import WatchlistIndex


class SceneMatcher:
    """Whole-frame scene embeddings against the anomaly watchlist.

    Args:
        index: the anomaly index for the scene model's version.
        metrics: ``search_seconds{kind}`` and ``matches_total{kind}``.
        top_k: candidates per query before thresholds apply.
    """

    kind = AlertKind.ANOMALY

    def __init__(self, index: WatchlistIndex, metrics: VigilMetrics, top_k: int = 5) -> None:
        self._index = index
        self._metrics = metrics
        self._top_k = top_k

    def match(self, frames: list[Keyframe], embeddings: np.ndarray) -> list[list[Sighting]]:
        """One list of sightings per frame, in the order of ``frames``."""
        if len(frames) != len(embeddings):
            raise ValueError(f"{len(frames)} frames but {len(embeddings)} embeddings")
        rows_by_camera: dict[str, list[int]] = defaultdict(list)
        for row, frame in enumerate(frames):
            rows_by_camera[frame.camera].append(row)
        results: list[list[Sighting]] = [[] for _ in frames]
        started = time.perf_counter()
        for camera, rows in rows_by_camera.items():
            hits = self._index.search(embeddings[rows], camera=camera, k=self._top_k)
            for row, matches in zip(rows, hits, strict=True):
                width, height = frames[row].size
                results[row] = [
                    Sighting(
                        entry_id=m.entry_id,
                        label=m.label,
                        kind=self.kind,
                        score=float(m.score),
                        threshold=float(m.threshold),
                        bbox=(0, 0, width, height),
                    )
                    for m in matches
                ]
        self._metrics.search_seconds.labels(kind=self.kind.value).observe(time.perf_counter() - started)
        found = sum(len(r) for r in results)
        if found:
            self._metrics.matches.labels(kind=self.kind.value).inc(found)
        return results
