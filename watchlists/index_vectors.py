"""The FAISS part of a watchlist index: one model's vectors keyed by image id, exact while small, IVF when large.

Below ``ivf_from(dim)`` vectors the index is ``IndexIDMap2(IndexFlatIP)``: exact, and a scan that costs little at
that size. From there a flat scan grows past the latency budget (100k x 1280-d: ~25 ms a query on 2 cores), so the
vectors move to an ``IndexIVFFlat`` (inner product, spherical k-means, ids kept by the inverted lists themselves:
``IndexIDMap2`` cannot wrap an IVF index and still remove by id). The IVF index scans ``nprobe`` of its ``nlist``
lists, measured per threshold when it is trained (``watchlists.index_probes``), so it finds what the exact scan
finds at the recall target. Both remove by id at once and answer range searches. Vectors are stored unquantised, so
the scores an IVF search reports are exact and the same vectors can be read back to retrain or change layout
without the store.

The object is mutable and not locked: ``WatchlistIndex`` serialises changes and searches around it.
"""

from __future__ import annotations

import logging
import math
import time

import faiss
import numpy as np

from watchlists.index_probes import ProbeTable, measure_probes

log = logging.getLogger(__name__)

IVF_FROM_FLOATS = 1 << 23
"""Vector floats (count x dimension: 32 MB) from which IVF replaces the flat scan: from 6,554 vectors at 1280-d,
65,536 at 128-d. Around there a flat scan stops fitting in cache and its cost jumps. Measured single-query p50 on
2 cores, flat vs tuned IVF: 1280-d 5k 0.78 vs 0.20 ms, 10k 2.5 vs 0.39, 20k 5.2 vs 0.66; 128-d 50k 1.0 vs 0.08."""

IVF_MIN_VECTORS = 5_000
"""Never IVF below this many vectors, whatever the dimension: too few to train lists on, and cheap to scan."""

FLAT_BELOW_SHARE = 0.5
"""An IVF index that shrinks below this share of the IVF size goes back to flat (apart, so it does not flip-flop)."""

RETRAIN_GROWTH = 2.0
"""An IVF index is retrained once it holds this many times the vectors it was trained on: its lists grow long."""

TRAIN_POINTS_PER_LIST = 40
"""k-means sample per list (FAISS warns below 39): enough for centroids, and training stays seconds, not minutes."""

KMEANS_ITERATIONS = 10


def ivf_from(dim: int) -> int:
    """Vectors of ``dim`` dimensions from which the IVF layout is used."""
    return max(IVF_MIN_VECTORS, -(-IVF_FROM_FLOATS // dim))


def nlist_for(count: int) -> int:
    """Lists for ``count`` vectors: about 4 * sqrt(N), as FAISS advises, capped so that at most half the vectors
    train the lists and the other half, unseen by training, measure the probe counts (``index_probes``)."""
    return max(1, min(int(4 * math.sqrt(count)), count // (2 * TRAIN_POINTS_PER_LIST)))


class VectorIndex:
    """Unit vectors keyed by image id, searched by inner product (cosine).

    Args:
        index: a FAISS index holding them (``IndexIDMap2`` over a flat index, or an ``IndexIVFFlat``).
        trained_on: how many vectors an IVF index was trained with (0 for flat).
        probes: an IVF index's lists to probe per threshold (``None`` for flat).
    """

    def __init__(self, index: faiss.Index, *, trained_on: int = 0, probes: ProbeTable | None = None) -> None:
        self.index = index
        self.trained_on = trained_on
        self.probes = probes
        self._ivf = faiss.try_extract_index_ivf(index) if probes is not None else None

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vectors: np.ndarray, *, seed: int = 0) -> VectorIndex:
        """A new index over ``vectors`` (rows of ``ids``), in the layout its size calls for."""
        if len(ids) < ivf_from(dim):
            flat = cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))
            flat.add(ids, vectors)
            return flat
        began = time.perf_counter()
        nlist = nlist_for(len(ids))
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.niter = KMEANS_ITERATIONS
        ivf.cp.seed = seed
        training = np.zeros(len(ids), dtype=bool)
        training[np.random.default_rng(seed).choice(len(ids), nlist * TRAIN_POINTS_PER_LIST, replace=False)] = True
        ivf.train(vectors[training])
        probes = measure_probes(ivf, vectors[~training], vectors, seed=seed)
        ivf.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
        log.info(
            "IVF index: %d vectors, %d lists, built in %.1f s; lists probed per threshold %s",
            len(ids),
            nlist,
            time.perf_counter() - began,
            probes.describe(),
        )
        return cls(ivf, trained_on=len(ids), probes=probes)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def layout(self) -> str:
        """``flat`` or ``ivf<nlist>``, for logs and the benchmark."""
        return "flat" if self._ivf is None else f"ivf{self._ivf.nlist}"

    def needs_rebuild(self, count: int) -> bool:
        """Whether ``count`` vectors leave this layout's range: flat grown to IVF size, IVF grown 2x or shrunk."""
        if self._ivf is None:
            return count >= ivf_from(self.dim)
        return count >= RETRAIN_GROWTH * self.trained_on or count < FLAT_BELOW_SHARE * ivf_from(self.dim)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under their image ids (ids not yet present)."""
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))

    def remove(self, ids: np.ndarray) -> int:
        """Remove these ids (absent ones are ignored); returns how many were removed."""
        if not len(ids):
            return 0
        return int(self.index.remove_ids(faiss.IDSelectorBatch(ids.astype(np.int64))))

    def nprobe(self, floor: float) -> int | None:
        """Lists an IVF search down to ``floor`` probes (``None`` for flat: it scans everything)."""
        return None if self.probes is None else self.probes.nprobe(floor)

    def range_search(self, queries: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lims, scores, ids) of every stored vector scoring at least ``floor`` with each query (FAISS layout)."""
        nprobe = self.nprobe(floor)
        if self._ivf is None or nprobe is None:
            return self.index.range_search(queries, floor)
        # FAISS splits the queries among its threads (parallel_mode 0), so one query scans on one core. Splitting
        # its lists instead (mode 1) halves the median on 2 idle cores (2.0 vs 3.0 ms at 100k x 1280-d) but waits
        # for the slowest thread: with another process busy, p99 went from 4-8 ms to 27-43 ms. p99 is the goal.
        return self.index.range_search(queries, floor, params=faiss.SearchParametersIVF(nprobe=nprobe))

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids ascending, their vectors): what a rebuild in another layout starts from, without the store."""
        if self._ivf is not None:
            return _ivf_contents(self._ivf)
        ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        vectors = self.index.index.reconstruct_n(0, self.ntotal) if self.ntotal else np.empty((0, self.dim))
        order = np.argsort(ids, kind="stable")
        return ids[order], np.ascontiguousarray(vectors[order], dtype=np.float32)

    def ids(self) -> np.ndarray:
        """The image ids held, ascending."""
        if self._ivf is None:
            return np.sort(faiss.vector_to_array(self.index.id_map).astype(np.int64))
        lists = self._ivf.invlists
        found = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)) for i in range(self._ivf.nlist)]
        return np.sort(np.concatenate([np.empty(0, np.int64), *found]).astype(np.int64))

    def clone(self) -> VectorIndex:
        """An independent copy (same layout, lists and probe counts) to change while searches use this one."""
        return VectorIndex(faiss.clone_index(self.index), trained_on=self.trained_on, probes=self.probes)

    def rebuilt(self) -> VectorIndex:
        """A new index over the same vectors in the layout the current size calls for (retrained when IVF)."""
        ids, vectors = self.contents()
        return VectorIndex.build(self.dim, ids, vectors)


def _ivf_contents(ivf: faiss.IndexIVF) -> tuple[np.ndarray, np.ndarray]:
    """Ids and raw vectors straight from an IVF-Flat index's inverted lists (its codes are the float32 vectors).

    Rows land in ascending id order in one pass: a gather after the fact would copy every vector twice.
    """
    lists, dim = ivf.invlists, int(ivf.d)
    sizes = [lists.list_size(i) for i in range(ivf.nlist)]
    ids = np.concatenate(
        [np.empty(0, np.int64)] + [faiss.rev_swig_ptr(lists.get_ids(i), n) for i, n in enumerate(sizes) if n]
    ).astype(np.int64)
    row = np.empty(len(ids), dtype=np.int64)
    row[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    vectors = np.empty((len(ids), dim), dtype=np.float32)
    start = 0
    for i, n in enumerate(sizes):
        if n:
            codes = faiss.rev_swig_ptr(lists.get_codes(i), n * lists.code_size).view(np.float32)
            vectors[row[start : start + n]] = codes.reshape(n, dim)
            start += n
    return np.sort(ids), vectors
