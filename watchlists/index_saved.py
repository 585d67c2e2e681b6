"""When a watchlist index uses its saved file, and when it writes it: the policy around ``index_file``.

At start the file is loaded only if it was saved for this kind, model and store at a revision the store has
reached, and if the newest vectors it shares with the store are the store's own: a database restored from a backup
and written again reuses image ids for other images, and only their vectors tell. After that the store decides
what the index holds (the caller applies the difference). A changed index is saved at once the first time, then
at most every ``SAVE_EVERY_S``: a save of 100k x 1280-d writes 500 MB (0.7 s here), cheap once, wasteful on every
enrollment of a busy admin. A save that fails is logged and retried later; matching never depends on the file.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from watchlists.embedding_changes import EmbeddingChanges
from watchlists.index_file import IndexFileError, IndexFileHeader, index_path, load_index, save_index
from watchlists.index_vectors import VectorIndex
from watchlists.records import Kind
from watchlists.store import WatchlistStore

log = logging.getLogger("watchlists.index")

SAVE_EVERY_S = 30.0
"""Least time between two saves of a changing index; the first save after a start or a rebuild is at once."""

SPOT_CHECKS = 8
"""Vectors of a loaded file compared with the store's: the newest ids, the first to differ if ids were reused."""


class SavedIndex:
    """The file of one (kind, model version) index in ``folder``, and whether the index changed since it was saved.

    Not thread-safe: ``WatchlistIndex`` calls it from its syncing thread only.
    """

    def __init__(self, folder: Path, kind: Kind, model_version: str) -> None:
        self.path = index_path(folder, kind, model_version)
        self.kind = kind
        self.model_version = model_version
        self.changed = False
        self._saved_at = -math.inf

    def load(self, store: WatchlistStore, dim: int | None) -> VectorIndex | None:
        """The saved vectors when the file fits this store and model, else ``None`` (and a log line saying why)."""
        expected = IndexFileHeader(self.kind, self.model_version, store.identity(), store.revision(), dim or 0, 0)
        try:
            header, vectors = load_index(self.path, expected)
        except IndexFileError as exc:
            missing = not self.path.exists()
            (log.info if missing else log.warning)("%s; building the %s index from the store", exc, self.kind)
            return None
        log.info("loaded %s index %s (revision %d, %d vectors)", self.kind, self.path, header.revision, header.count)
        return vectors

    def agrees_with(
        self, store: WatchlistStore, loaded: VectorIndex, held: np.ndarray, changes: EmbeddingChanges
    ) -> bool:
        """Whether the newest vectors the file shares with the store are the store's: each must find itself at
        score ~1. Logs why not."""
        common = np.intersect1d(held, changes.image_ids, assume_unique=True)[-SPOT_CHECKS:]
        ids, vectors = store.embeddings_for(self.model_version, common.tolist())
        if not len(ids):
            return True
        if vectors.shape[1] != loaded.dim:
            log.warning(
                "saved %s index has %d-d vectors, the store %d-d; rebuilding", self.kind, loaded.dim, vectors.shape[1]
            )
            return False
        lims, _, found = loaded.range_search(vectors, 0.9999)
        for row, image_id in enumerate(ids):
            if image_id not in found[lims[row] : lims[row + 1]]:
                log.warning(
                    "saved %s index %s disagrees with the store on image %d (a restored database?); rebuilding",
                    self.kind,
                    self.path,
                    image_id,
                )
                return False
        return True

    def save_if_due(self, store: WatchlistStore, vectors: VectorIndex, revision: int, *, force: bool = False) -> None:
        """Save ``vectors`` (the store at ``revision``) if they changed since the last save and the last save is
        ``SAVE_EVERY_S`` old (or ``force``). An empty index needs no file. Only reads ``vectors``: searches go on."""
        if not self.changed or not vectors.ntotal:
            return
        if not force and time.monotonic() - self._saved_at < SAVE_EVERY_S:
            return
        probes = vectors.probes
        header = IndexFileHeader(
            kind=self.kind,
            model_version=self.model_version,
            store_identity=store.identity(),
            revision=revision,
            dim=vectors.dim,
            count=vectors.ntotal,
            trained_on=vectors.trained_on,
            probe_thresholds=probes.thresholds if probes else (),
            probes=probes.probes if probes else (),
        )
        began = time.perf_counter()
        try:
            size = save_index(self.path, header, vectors)
        except OSError as exc:
            log.warning("cannot save the %s index to %s: %s (it stays in memory)", self.kind, self.path, exc)
        else:
            self.changed = False
            log.info(
                "saved %s index %s: %.0f MB in %.2f s", self.kind, self.path, size / 1e6, time.perf_counter() - began
            )
        self._saved_at = time.monotonic()
