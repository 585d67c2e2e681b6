"""Search the watchlist: which entries a batch of embeddings matches, per entry threshold and camera scope.

One ``WatchlistIndex`` serves one (kind, model version); FAISS ids are image ids. The index is an immutable
snapshot of the store that ``sync()`` replaces whole when the store's revision moves, so a searcher thread never
waits for a rebuild and never sees half of one. Search is a range search down to the lowest threshold in play,
then hits are grouped by entry (its best image wins) and each entry's own threshold, camera scope and enabled flag
decide: exact whatever the number of images per entry, and cheap for watchlists of thousands of images. Last, an
entry's negative examples veto it: a query closer to one of them than to the entry's best reference does not match.

Example:
    >>> index = WatchlistIndex.from_store(store, "anomaly", embedder.version, default_threshold=0.75)
    >>> index.sync()  # before each batch: one small read when nothing changed
    >>> index.search(embedder.embed(frames), camera="lobby")
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field

import faiss
import numpy as np

from watchlists.errors import EmbeddingMismatchError
from watchlists.records import EmbeddingSet, Entry, Kind, check_kind
from watchlists.store import WatchlistStore

log = logging.getLogger(__name__)

# FAISS scans with BLAS when (queries x dimension) reaches ``distance_compute_blas_threshold`` (FAISS 1.15; older
# releases compared the query count alone). BLAS pays a fixed ~10 ms per call and wins from about 4 queries; below
# that the plain scan is 5x faster (100k x 128, one thread: 2.4 ms vs 13 ms for one query; 12 ms vs 21 ms for 8).
# The threshold is a process-wide setting, so it is set for each search from that search's dimension.
BLAS_FROM_QUERIES = 4


@dataclass(frozen=True)
class Match:
    """An entry a query embedding matched: its best image scored at least the entry's threshold."""

    entry_id: str
    label: str
    kind: Kind
    score: float
    threshold: float
    image_id: int

    def __post_init__(self) -> None:
        if not -1.0 <= self.score <= 1.0 or self.score < self.threshold:
            raise ValueError(f"Match.score must be in [threshold={self.threshold}, 1], got {self.score}")


@dataclass(frozen=True, eq=False)
class _Snapshot:
    """One revision of the store, ready to search; never changed after it is built."""

    revision: int
    dim: int | None
    entries: tuple[Entry, ...]
    thresholds: np.ndarray = field(repr=False)  # (E,) per entry, the default filled in
    image_ids: np.ndarray = field(repr=False)  # (N,) ascending
    entry_of_image: np.ndarray = field(repr=False)  # (N,) position in ``entries``
    index: faiss.Index = field(repr=False)
    negatives: np.ndarray = field(repr=False)  # (M, dim) negative examples, grouped by entry position
    negatives_from: np.ndarray = field(repr=False)  # (E + 1,) entry i's negatives are rows [from[i], from[i + 1])

    @classmethod
    def build(cls, data: EmbeddingSet, default_threshold: float, dim: int | None) -> _Snapshot:
        """A FAISS index over ``data`` plus the per-entry arrays the search filters with."""
        if dim is not None and data.dim is not None and data.dim != dim:
            raise EmbeddingMismatchError(f"model {data.model_version} has {data.dim}-d embeddings stored, not {dim}")
        dim = data.dim or dim
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim or 1))
        if len(data.image_ids):
            index.add_with_ids(data.vectors, data.image_ids)
        position = {entry.id: i for i, entry in enumerate(data.entries)}
        thresholds = [default_threshold if e.threshold is None else e.threshold for e in data.entries]
        negative_owner = np.array([position[e] for e in data.negative_entry_ids], dtype=np.int64)
        order = np.argsort(negative_owner, kind="stable")
        return cls(
            revision=data.revision,
            dim=dim,
            entries=data.entries,
            thresholds=np.array(thresholds, dtype=np.float64),
            image_ids=data.image_ids,
            entry_of_image=np.array([position[e] for e in data.entry_ids], dtype=np.int64),
            index=index,
            negatives=np.ascontiguousarray(data.negative_vectors[order]),
            negatives_from=np.searchsorted(negative_owner[order], np.arange(len(data.entries) + 1)),
        )

    def allowed(self, camera: str | None) -> np.ndarray:
        """(E,) which entries may match on this camera (all when no camera is named)."""
        if camera is None:
            return np.ones(len(self.entries), dtype=bool)
        return np.fromiter((not e.cameras or camera in e.cameras for e in self.entries), bool, len(self.entries))


class WatchlistIndex:
    """Nearest-neighbour search over one kind's embeddings by one model, following the store.

    Args:
        store: where entries and embeddings live; only read, from whichever thread calls ``sync``.
        kind: ``face`` or ``anomaly``.
        model_version: embeddings of other models are ignored (they are re-embedded after a model change).
        default_threshold: cosine similarity for entries without their own threshold.
        dim: the model's embedding size, when known, so a mismatch is caught before the first search.
    """

    def __init__(
        self, store: WatchlistStore, kind: str, model_version: str, *, default_threshold: float, dim: int | None = None
    ) -> None:
        self.kind: Kind = check_kind(kind)
        self.model_version = model_version
        self._store = store
        self._default_threshold = default_threshold
        self._sync_lock = threading.Lock()
        self._snapshot = _Snapshot.build(store.embeddings(kind, model_version), default_threshold, dim)
        self._report(self._snapshot)

    @classmethod
    def from_store(
        cls, store: WatchlistStore, kind: str, model_version: str, *, default_threshold: float, dim: int | None = None
    ) -> WatchlistIndex:
        """Build the index from what the store holds now."""
        return cls(store, kind, model_version, default_threshold=default_threshold, dim=dim)

    @property
    def revision(self) -> int:
        """The store revision the index reflects."""
        return self._snapshot.revision

    @property
    def entry_count(self) -> int:
        """Enabled entries of this kind (including any without embeddings for this model)."""
        return len(self._snapshot.entries)

    @property
    def image_count(self) -> int:
        """Embedded images in the index."""
        return int(self._snapshot.index.ntotal)

    def sync(self) -> bool:
        """Follow the store: one cheap read when nothing changed, else a rebuild swapped in whole.

        Returns:
            Whether the index changed.
        """
        with self._sync_lock:
            if self._store.revision() == self._snapshot.revision:
                return False
            data = self._store.embeddings(self.kind, self.model_version)
            self._snapshot = _Snapshot.build(data, self._default_threshold, self._snapshot.dim)
        self._report(self._snapshot)
        return True

    def search(self, embeddings: np.ndarray, *, camera: str | None = None, k: int = 5) -> list[list[Match]]:
        """The entries each embedding matches, best first.

        Args:
            embeddings: (N, dim) float32 query rows (normalised here, so raw model outputs are fine).
            camera: the camera the frames came from; entries scoped to other cameras are skipped. ``None``
                (an image an admin uploads) ignores scopes.
            k: at most this many entries per query.

        Returns:
            One list per query row of matches at or above their entry's threshold, highest score first.
        """
        snap = self._snapshot
        queries = self._check_queries(embeddings, snap)
        allowed = snap.allowed(camera)
        if queries is None or not allowed.any():
            return [[] for _ in range(len(embeddings))]
        floor = float(snap.thresholds[allowed].min())
        faiss.cvar.distance_compute_blas_threshold = BLAS_FROM_QUERIES * queries.shape[1]  # see BLAS_FROM_QUERIES
        lims, scores, ids = snap.index.range_search(queries, floor - 1e-6)
        negative_scores = queries @ snap.negatives.T if len(snap.negatives) else None  # (N, M)
        return [
            self._matches(
                snap, allowed, scores[a:b], ids[a:b], k, None if negative_scores is None else negative_scores[row]
            )
            for row, (a, b) in enumerate(itertools.pairwise(lims))
        ]

    def _check_queries(self, embeddings: np.ndarray, snap: _Snapshot) -> np.ndarray | None:
        """Unit-length float32 copies of the queries, or ``None`` when nothing could match."""
        if embeddings.ndim != 2 or (snap.dim is not None and embeddings.shape[1] != snap.dim):
            raise EmbeddingMismatchError(f"queries must be (N, {snap.dim}) embeddings, got shape {embeddings.shape}")
        if snap.index.ntotal == 0 or len(embeddings) == 0:
            return None
        queries = np.array(embeddings, dtype=np.float32, order="C", copy=True)
        if not np.isfinite(queries).all():
            raise EmbeddingMismatchError("query embeddings have NaN or infinite values")
        faiss.normalize_L2(queries)
        return queries

    @staticmethod
    def _matches(
        snap: _Snapshot, allowed: np.ndarray, scores: np.ndarray, ids: np.ndarray, k: int, negatives: np.ndarray | None
    ) -> list[Match]:
        """Group one query's hits by entry (best image wins); keep the allowed, over threshold, not vetoed."""
        owner = snap.entry_of_image[np.searchsorted(snap.image_ids, ids)]
        keep = allowed[owner] & (scores >= snap.thresholds[owner])
        scores, ids, owner = scores[keep], ids[keep], owner[keep]
        order = np.argsort(-scores, kind="stable")
        _, first = np.unique(owner[order], return_index=True)
        best = order[first]
        best = best[np.argsort(-scores[best], kind="stable")]
        if negatives is not None:
            best = best[[not _vetoed(snap, negatives, owner[i], scores[i]) for i in best]]
        best = best[:k]
        return [
            Match(
                entry_id=snap.entries[owner[i]].id,
                label=snap.entries[owner[i]].label,
                kind=snap.entries[owner[i]].kind,
                score=min(float(scores[i]), 1.0),
                threshold=float(snap.thresholds[owner[i]]),
                image_id=int(ids[i]),
            )
            for i in best
        ]

    def _report(self, snap: _Snapshot) -> None:
        embedded = {snap.entries[i].id for i in np.unique(snap.entry_of_image)}
        missing = sum(1 for e in snap.entries if e.id not in embedded)
        log.info(
            "watchlist index %s/%s at revision %d: %d entries, %d images",
            self.kind,
            self.model_version,
            snap.revision,
            len(snap.entries),
            snap.index.ntotal,
        )
        if missing:
            log.warning(
                "%d %s entries have no embeddings by model %s: they cannot match until re-embedded",
                missing,
                self.kind,
                self.model_version,
            )


def _vetoed(snap: _Snapshot, negative_scores: np.ndarray, entry: int, score: float) -> bool:
    """Whether the query is closer to one of the entry's negatives than to the entry's best reference."""
    start, end = snap.negatives_from[entry], snap.negatives_from[entry + 1]
    return bool(end > start and negative_scores[start:end].max() > score)
