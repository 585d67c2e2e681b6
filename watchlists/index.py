"""Search the watchlist: which entries a batch of embeddings matches, per entry threshold and camera scope.

One ``WatchlistIndex`` serves one (kind, model version); FAISS ids are image ids. Search is a range search down to
the lowest threshold in play, then ``EntryTable`` groups the hits by entry and applies each entry's threshold,
camera scope, enabled flag and negative examples. The vectors sit in a ``VectorIndex`` (exact while small, IVF
when large), on the GPU when there is one (``index_gpu``: FAISS-GPU, else torch), and in a file when given a
folder (``index_saved``).

Following the store is incremental: when its revision moves, one read returns the ids that exist now, the small
entry metadata and only the vectors not held yet; what vanished is removed by id. A searcher never sees half of a
change. A lock guards what searches read (vectors and entry table, swapped together), held by a search for its
FAISS call only. A small change (an enrollment, a removal) is applied in place under it: a searcher waits a few
milliseconds at most. A large one (first build, an import, re-embedding, retraining, a layout change) is built
aside and swapped in under it, copy-on-write: a searcher keeps using the old index meanwhile instead of waiting seconds.
Copy-on-write for every change would copy every vector (500 MB at 100k x 1280-d) to add one image.

Example:
    >>> index = WatchlistIndex.from_store(store, "anomaly", embedder.version, default_threshold=0.75)
    >>> index.sync()  # before each batch: one small read when nothing changed
    >>> index.search(embedder.embed(frames), camera="lobby")
"""

from __future__ import annotations

import itertools
import logging
import threading
from pathlib import Path

import faiss
import numpy as np

from watchlists.embedding_changes import EmbeddingChanges
from watchlists.errors import EmbeddingMismatchError
from watchlists.index_entries import EntryTable, Match
from watchlists.index_gpu import DeviceSearcher, gpu_copy_kind, make_gpu_copy
from watchlists.index_saved import SavedIndex
from watchlists.index_vectors import VectorIndex
from watchlists.records import Kind, check_kind
from watchlists.store import WatchlistStore

__all__ = ["Match", "WatchlistIndex"]

log = logging.getLogger(__name__)

# FAISS scans with BLAS when (queries x dimension) reaches ``distance_compute_blas_threshold`` (FAISS 1.15; older
# releases compared the query count alone). BLAS pays a fixed ~10 ms per call and wins from about 4 queries; below
# that the plain scan is 5x faster (100k x 128, one thread: 2.4 ms vs 13 ms for one query; 12 ms vs 21 ms for 8).
# The threshold is a process-wide setting, so it is set for each search from that search's dimension.
BLAS_FROM_QUERIES = 4

# FAISS spreads a search over all cores with OpenMP. A live batch's search is a few dozen queries: on 2 cores with
# the scene network running beside it, 7 queries against 2,000 vectors took 25-31 ms (median) with 2 threads and
# 2.1-4.7 ms with one, as the second thread waits for a core the network holds. Larger searches (forensic search,
# imports) keep every core. Like the BLAS threshold it is process-wide, so it is set for each search.
ONE_THREAD_UP_TO_QUERIES = 256
_ALL_THREADS = faiss.omp_get_max_threads()

LARGE_CHANGE = 0.1
"""A change adding or removing more than this share of the vectors (and over ``LARGE_CHANGE_MIN``) is built aside."""

LARGE_CHANGE_MIN = 1_000


class WatchlistIndex:
    """Nearest-neighbour search over one kind's embeddings by one model, following the store.

    Args:
        store: where entries and embeddings live; only read, from whichever thread calls ``sync``.
        kind: ``face`` or ``anomaly``.
        model_version: embeddings of other models are ignored (they are re-embedded after a model change).
        default_threshold: cosine similarity for entries without their own threshold.
        dim: the model's embedding size, when known, so a mismatch is caught before the first search.
        index_dir: folder to save the index in and load it from at start; ``None`` keeps it in memory only.
    """

    def __init__(
        self,
        store: WatchlistStore,
        kind: str,
        model_version: str,
        *,
        default_threshold: float,
        dim: int | None = None,
        index_dir: Path | str | None = None,
    ) -> None:
        self.kind: Kind = check_kind(kind)
        self.model_version = model_version
        self._store = store
        self._default_threshold = default_threshold
        self._dim = dim
        self._saved = None if index_dir is None else SavedIndex(Path(index_dir), self.kind, model_version)
        self._gpu_kind = gpu_copy_kind()
        self._on_gpu = self._gpu_kind is not None
        self._sync_lock = threading.Lock()  # one sync at a time; the only thread that changes the vectors
        self._guard = threading.Lock()  # what searches read: _vectors (when on CPU), _gpu, _table
        self._vectors: VectorIndex | None = None
        self._gpu: DeviceSearcher | None = None
        self._table = EntryTable.empty(self.kind)
        with self._sync_lock:
            self._start()
        where = "CPU" if self._gpu_kind is None else f"GPU ({self._gpu_kind})"
        log.info("watchlist index %s/%s searches on %s", self.kind, model_version, where)
        self._report()

    @classmethod
    def from_store(
        cls,
        store: WatchlistStore,
        kind: str,
        model_version: str,
        *,
        default_threshold: float,
        dim: int | None = None,
        index_dir: Path | str | None = None,
    ) -> WatchlistIndex:
        """The index of what the store holds now: loaded from ``index_dir`` and caught up when saved there before,
        else built from the store."""
        return cls(store, kind, model_version, default_threshold=default_threshold, dim=dim, index_dir=index_dir)

    @property
    def revision(self) -> int:
        """The store revision the index reflects."""
        return self._table.revision

    @property
    def entry_count(self) -> int:
        """Enabled entries of this kind (including any without embeddings for this model)."""
        return self._table.enabled_count

    @property
    def image_count(self) -> int:
        """Embedded images of enabled entries: the ones a search can match."""
        return self._table.enabled_image_count

    @property
    def layout(self) -> str:
        """``flat`` (exact) or ``ivf<lists>``, plus ``+gpu`` when searched on the GPU."""
        layout = "flat" if self._vectors is None else self._vectors.layout
        return layout + ("+gpu" if self._gpu is not None else "")

    def lists_probed(self, threshold: float) -> tuple[int, int]:
        """(lists a search down to ``threshold`` scans, lists in all); (0, 0) while the index is exact (flat)."""
        vectors = self._vectors
        nprobe = None if vectors is None else vectors.nprobe(threshold)
        return (0, 0) if vectors is None or vectors.probes is None or nprobe is None else (nprobe, vectors.probes.nlist)

    def sync(self) -> bool:
        """Follow the store: one cheap read when nothing changed, else only what changed is read and applied.

        Returns:
            Whether the index changed.
        """
        with self._sync_lock:
            if self._store.revision() == self._table.revision:
                self._save_if_due()
                return False
            changes = self._store.embedding_changes(self.kind, self.model_version, known=self._table.image_ids)
            self._apply(changes, self._vectors, self._table.image_ids)
            self._save_if_due()
        self._report()
        return True

    def save(self) -> None:
        """Save now if anything changed since the last save (``sync`` saves at most every ``SAVE_EVERY_S``); a
        no-op without an ``index_dir``."""
        with self._sync_lock:
            self._save_if_due(force=True)

    def search(
        self, embeddings: np.ndarray, *, camera: str | None = None, k: int = 5, near_margin: float = 0.0
    ) -> list[list[Match]]:
        """The entries each embedding matches, best first.

        Args:
            embeddings: (N, dim) float32 query rows (normalised here, so raw model outputs are fine).
            camera: the camera the frames came from; entries scoped to other cameras are skipped. ``None``
                (an image an admin uploads) ignores scopes.
            k: at most this many entries per query.
            near_margin: also return entries within this much below their threshold, as ``Match.near``
                candidates (the live matchers use them to ask for a confirmation burst).

        Returns:
            One list per query row of matches at or above their entry's threshold (and near candidates when asked),
            highest score first.
        """
        queries = self._check_queries(embeddings)
        with self._guard:
            table, searcher = self._table, self._gpu or self._vectors
            allowed = table.allowed(camera)
            if queries is None or searcher is None or not len(table.image_ids) or not allowed.any():
                return [[] for _ in range(len(embeddings))]
            floor = float(table.thresholds[allowed].min()) - near_margin
            faiss.cvar.distance_compute_blas_threshold = BLAS_FROM_QUERIES * queries.shape[1]  # see BLAS_FROM_QUERIES
            faiss.omp_set_num_threads(1 if len(queries) <= ONE_THREAD_UP_TO_QUERIES else _ALL_THREADS)
            lims, scores, ids = searcher.range_search(queries, floor - 1e-6)
        negative_scores = queries @ table.negatives.T if len(table.negatives) else None  # (N, M)
        return [
            table.matches(
                allowed,
                scores[a:b],
                ids[a:b],
                k,
                None if negative_scores is None else negative_scores[row],
                near_margin,
            )
            for row, (a, b) in enumerate(itertools.pairwise(lims))
        ]

    def allowed_entries(self, camera: str | None) -> dict[str, str]:
        """The entries that may match on ``camera`` (enabled and scoped to it), id to label: what a trained head
        may report there, under the same rules as a search."""
        with self._guard:
            table = self._table
        entries = table.entries
        return {entries.ids[i]: entries.labels[i] for i in np.flatnonzero(table.allowed(camera))}

    def _check_queries(self, embeddings: np.ndarray) -> np.ndarray | None:
        """Unit-length float32 copies of the queries, or ``None`` when there are none."""
        if embeddings.ndim != 2 or (self._dim is not None and embeddings.shape[1] != self._dim):
            raise EmbeddingMismatchError(f"queries must be (N, {self._dim}) embeddings, got shape {embeddings.shape}")
        if len(embeddings) == 0:
            return None
        queries = np.array(embeddings, dtype=np.float32, order="C", copy=True)
        if not np.isfinite(queries).all():
            raise EmbeddingMismatchError("query embeddings have NaN or infinite values")
        faiss.normalize_L2(queries)
        return queries

    def _start(self) -> None:
        """Load the saved index and catch up from it; build from the store when there is none or it is unusable."""
        loaded = None if self._saved is None else self._saved.load(self._store, self._dim)
        if self._saved is not None and loaded is not None:
            held = loaded.ids()
            changes = self._store.embedding_changes(self.kind, self.model_version, known=held)
            if self._saved.agrees_with(self._store, loaded, held, changes):
                self._apply(changes, loaded, held)
                self._save_if_due()
                return
        self._apply(self._store.embedding_changes(self.kind, self.model_version), None, np.empty(0, np.int64))
        if self._saved is not None:
            self._saved.changed = True  # a build from the store is worth saving even when nothing in it is new
        self._save_if_due()

    def _apply(self, changes: EmbeddingChanges, vectors: VectorIndex | None, held: np.ndarray) -> None:
        """Make the index what ``changes`` describe, given ``vectors`` holding ``held``; all or nothing for searches."""
        if changes.dim is not None and self._dim is not None and changes.dim != self._dim:
            raise EmbeddingMismatchError(
                f"model {self.model_version} has {changes.dim}-d embeddings stored, not {self._dim}"
            )
        self._dim = changes.dim or self._dim
        table = EntryTable.from_changes(changes, self._default_threshold)
        removed = changes.removed_from(held)
        count = len(held) - len(removed) + len(changes.new_ids)
        if vectors is None or vectors.ntotal == 0 or self._is_large(vectors, count, len(removed), changes):
            vectors = self._rebuilt(vectors, removed, changes)
            self._publish(vectors, table)
        elif self._on_gpu:  # searches read the GPU copy: the CPU master may change without the guard
            vectors.remove(removed)
            vectors.add(changes.new_ids, changes.new_vectors)
            self._publish(vectors, table)
        else:
            with self._guard:
                vectors.remove(removed)
                vectors.add(changes.new_ids, changes.new_vectors)
                self._vectors, self._table = vectors, table
        if self._saved is not None and (len(removed) or len(changes.new_ids)):
            self._saved.changed = True

    @staticmethod
    def _is_large(vectors: VectorIndex, count: int, removed: int, changes: EmbeddingChanges) -> bool:
        moved = removed + len(changes.new_ids)
        return vectors.needs_rebuild(count) or moved > max(LARGE_CHANGE_MIN, LARGE_CHANGE * vectors.ntotal)

    def _rebuilt(self, vectors: VectorIndex | None, removed: np.ndarray, changes: EmbeddingChanges) -> VectorIndex:
        """A new ``VectorIndex``: the vectors kept from ``vectors`` plus the new ones. Retrained (or in another
        layout) when the count calls for it, else a copy with the change applied (no k-means for an import).
        Runs beside searches, which keep using the current index until ``_publish``."""
        if vectors is None or vectors.ntotal == 0:
            return VectorIndex.build(self._dim or 1, changes.new_ids, changes.new_vectors)
        count = vectors.ntotal - len(removed) + len(changes.new_ids)
        if not vectors.needs_rebuild(count):
            copy = vectors.clone()
            copy.remove(removed)
            copy.add(changes.new_ids, changes.new_vectors)
            return copy
        kept_ids, kept_rows = vectors.contents()
        keep = ~np.isin(kept_ids, removed)
        ids = np.concatenate([kept_ids[keep], changes.new_ids])
        rows = np.concatenate([kept_rows[keep], changes.new_vectors.reshape(-1, kept_rows.shape[1])])
        return VectorIndex.build(self._dim or 1, ids, rows)

    def _publish(self, vectors: VectorIndex, table: EntryTable) -> None:
        """Swap in new vectors and table together (with a fresh GPU copy when on the GPU)."""
        copy = None
        if self._on_gpu and vectors.ntotal:
            try:
                copy = make_gpu_copy(vectors)
            except RuntimeError as exc:  # FAISS raises RuntimeError for CUDA errors (out of device memory ...)
                log.warning("%s index cannot go to the GPU (%s): searching on the CPU from now on", self.kind, exc)
                self._on_gpu = False
        with self._guard:
            self._vectors, self._gpu, self._table = vectors, copy, table

    def _save_if_due(self, *, force: bool = False) -> None:
        """Save through ``SavedIndex`` when given a folder (under the sync lock: nothing changes the vectors)."""
        if self._saved is not None and self._vectors is not None:
            self._saved.save_if_due(self._store, self._vectors, self._table.revision, force=force)

    def _report(self) -> None:
        table = self._table
        log.info(
            "watchlist index %s/%s at revision %d: %d entries, %d images (%s)",
            self.kind,
            self.model_version,
            table.revision,
            table.enabled_count,
            table.enabled_image_count,
            self.layout,
        )
        missing = table.unembedded_enabled()
        if missing:
            log.warning(
                "%d %s entries have no embeddings by model %s: they cannot match until re-embedded",
                missing,
                self.kind,
                self.model_version,
            )
