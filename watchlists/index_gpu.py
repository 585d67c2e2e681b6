"""A GPU copy of a watchlist index, searched instead of the CPU one when FAISS has CUDA and a device is present.

The CPU index stays the master: it takes the removals (FAISS's GPU indexes cannot remove by id), it is what gets
saved, and after each change a fresh copy goes to the device with ``faiss.index_cpu_to_gpu`` (same layout, so an
IVF copy probes the same lists). GPU indexes have no range search, so the copy answers a k-nearest search with a
generous k, and the hits under the threshold floor are dropped exactly as a range search would never return them.
The one difference: a query with more than ``GPU_CANDIDATES`` images over the floor keeps only the best of them
(logged), which only a watchlist of near-identical images reaches.
"""

from __future__ import annotations

import logging

import faiss
import numpy as np

from watchlists.index_vectors import VectorIndex

log = logging.getLogger(__name__)

GPU_CANDIDATES = 1024
"""Neighbours asked per query (FAISS's GPU k-selection goes up to 2048)."""


def gpu_count() -> int:
    """CUDA devices FAISS can use: 0 with the faiss-cpu wheel (no GPU classes) or without a device."""
    if not hasattr(faiss, "StandardGpuResources"):
        return 0
    return int(faiss.get_num_gpus())


class GpuCopy:
    """A device copy of one ``VectorIndex``, with FAISS GPU resources of its own.

    Built in the syncing thread while searches use the previous copy, then handed over: FAISS GPU resources are
    not thread-safe, so each copy owns its resources and is searched by one thread at a time (callers lock).

    Args:
        vectors: the CPU master to copy.
        device: the CUDA device number.

    Raises:
        RuntimeError: FAISS has no GPU support here, or no such device.
    """

    def __init__(self, vectors: VectorIndex, device: int = 0) -> None:
        if gpu_count() <= device:
            raise RuntimeError(f"no CUDA device {device} for FAISS (faiss-cpu wheel, or no GPU visible)")
        self.device = device
        self._resources = faiss.StandardGpuResources()
        self._index = faiss.index_cpu_to_gpu(self._resources, device, vectors.index)
        self._probes = vectors.probes

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def range_search(self, queries: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lims, scores, ids) as ``VectorIndex.range_search`` gives them, from a k-nearest search on the device."""
        k = min(GPU_CANDIDATES, self.ntotal)
        params = (
            None if self._probes is None else faiss.SearchParametersIVF(nprobe=min(self._probes.nprobe(floor), 2048))
        )
        scores, ids = self._index.search(queries, k, params=params)
        keep = (ids >= 0) & (scores >= floor)
        counts = keep.sum(axis=1)
        if k == GPU_CANDIDATES and (counts == k).any():
            log.warning("a query had %d or more watchlist images over %.3f; only the best %d were grouped", k, floor, k)
        lims = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
        return lims, scores[keep], ids[keep]
