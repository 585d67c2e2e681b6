"""Online clustering of the faces that matched nobody: the same stranger across frames and cameras -> one cluster.

A face joins the cluster whose centroid is most similar to it when that cosine similarity reaches the same-person
threshold (the project's face threshold, ``watchlist.default_threshold.face``, measured on public photos: see
README "Face threshold"); otherwise it starts a new cluster. A centroid is the normalised mean of its faces, so it
settles as a stranger is seen more. Each cluster keeps its best few crops (the face with a margin, so that the
face detector finds it again when the cluster is promoted), ranked by face size times detector confidence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2
import numpy as np

from engines.faces import Face
from streamer.unknown.store import UnknownCrop, UnknownFaceStore, cluster_id, cluster_label

log = logging.getLogger(__name__)
CROP_MARGIN = 0.6  # of the face box's size, added on each side
CROP_JPEG_QUALITY = 90


@dataclass(frozen=True)
class ClusterMatch:
    """Where a stranger's face went: cluster ``n`` and its similarity to the cluster before it joined (1.0 for the
    face that started a cluster)."""

    n: int
    similarity: float

    @property
    def id(self) -> str:
        return cluster_id(self.n)

    @property
    def label(self) -> str:
        return cluster_label(self.n)


class UnknownFaceClusterer:
    """Assigns unmatched faces to persistent clusters. Not thread-safe: the pipeline's inference thread owns it.

    Args:
        store: where clusters and crops are kept (its clusters of ``model`` are loaded now).
        model: the face embedder's version: clusters of another model are left alone.
        threshold: cosine similarity at which a face joins a cluster.
        keep_crops: best crops kept per cluster.
        keep_days: ``prune`` removes clusters not seen for this long; 0 keeps them forever.
    """

    def __init__(
        self, store: UnknownFaceStore, model: str, threshold: float, *, keep_crops: int = 5, keep_days: int = 30
    ) -> None:
        if not 0 < threshold <= 1 or keep_crops < 1:
            raise ValueError(f"threshold must be in (0, 1] and keep_crops >= 1, got {threshold}, {keep_crops}")
        self.threshold = threshold
        self._store, self._model = store, model
        self._keep_crops, self._keep_days = keep_crops, keep_days
        self._load()

    @property
    def store(self) -> UnknownFaceStore:
        return self._store

    def assign(self, face: Face, image: np.ndarray, camera: str, seen_at: datetime) -> ClusterMatch:
        """Put ``face`` (found in ``image``) into its cluster, creating one when it is nobody seen before."""
        confidence = float(face.detection.score)
        similarity = self._centroids @ face.embedding if self._ids else np.zeros(0, np.float32)
        best = int(np.argmax(similarity)) if len(similarity) else -1
        if best >= 0 and similarity[best] >= self.threshold:
            n, count = self._ids[best], self._counts[best]
            centroid = self._centroids[best] * count + face.embedding
            self._centroids[best] = centroid / np.linalg.norm(centroid)
            self._counts[best] = count + 1
            self._store.record(n, self._centroids[best], camera, seen_at, confidence)
            match = ClusterMatch(n, float(similarity[best]))
        else:
            n = self._store.create(self._model, face.embedding, camera, seen_at, confidence)
            self._ids.append(n)
            self._counts.append(1)
            self._centroids = np.vstack([*self._centroids, face.embedding])
            match = ClusterMatch(n, 1.0)
            log.info("new unknown face %s on %s", match.id, camera)
        self._keep_crop(n, face, image, camera, seen_at)
        return match

    def prune(self, now: datetime) -> int:
        """Remove clusters not seen for ``keep_days`` (none when it is 0); returns how many went."""
        if self._keep_days == 0:
            return 0
        gone = self._store.prune(now - timedelta(days=self._keep_days))
        if gone:
            self._load()
            log.info("removed %d unknown face(s) not seen for %d days", len(gone), self._keep_days)
        return len(gone)

    def _load(self) -> None:
        rows = self._store.centroids(self._model)
        self._ids = [n for n, _c, _k in rows]
        self._counts = [count for _n, _c, count in rows]
        dim = rows[0][1].shape[0] if rows else 0
        self._centroids = np.vstack([c for _n, c, _k in rows]) if rows else np.zeros((0, dim), np.float32)

    def _keep_crop(self, n: int, face: Face, image: np.ndarray, camera: str, seen_at: datetime) -> None:
        """Save the face's crop when it ranks among the cluster's ``keep_crops`` best."""
        rank = float(face.quality.size_px * face.detection.score)
        ranks = self._store.crop_ranks(n)
        if len(ranks) >= self._keep_crops and rank <= ranks[-1]:
            return
        crop = UnknownCrop(0, rank, float(face.detection.score), camera, seen_at)
        self._store.add_crop(n, face_crop_jpeg(image, face.detection.bbox), crop, self._keep_crops)


def face_crop_jpeg(image: np.ndarray, bbox: tuple[float, float, float, float]) -> bytes:
    """The face box of an RGB frame widened by ``CROP_MARGIN`` on each side (clipped to the frame), as JPEG."""
    x, y, w, h = bbox
    height, width = image.shape[:2]
    left, top = max(0, int(x - CROP_MARGIN * w)), max(0, int(y - CROP_MARGIN * h))
    right, bottom = min(width, int(x + w + CROP_MARGIN * w)), min(height, int(y + h + CROP_MARGIN * h))
    bgr = cv2.cvtColor(np.ascontiguousarray(image[top:bottom, left:right]), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, CROP_JPEG_QUALITY])
    if not ok:
        raise ValueError(f"cannot encode a {right - left}x{bottom - top} face crop as JPEG")
    return encoded.tobytes()
