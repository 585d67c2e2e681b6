"""A GPU copy of a watchlist index, searched instead of the CPU one when a CUDA device is present.

Two kinds of copy answer the same ``range_search``: ``GpuCopy`` where FAISS was built with CUDA (``faiss-gpu``),
else ``TorchGpuCopy``, an exact inner-product scan with PyTorch, which ships with CUDA where FAISS-GPU often does
not (the lent H200 image has torch-CUDA and no FAISS at all). ``gpu_copy_kind`` says which this machine gets.

The CPU index stays the master: it takes the removals (FAISS's GPU indexes cannot remove by id), it is what gets
saved, and after each change a fresh copy goes to the device with ``faiss.index_cpu_to_gpu`` (same layout, so an
IVF copy probes the same lists). GPU indexes have no range search, so the copy answers a k-nearest search with a
generous k, and the hits under the threshold floor are dropped exactly as a range search would never return them.
The one difference: a query with more than ``GPU_CANDIDATES`` images over the floor keeps only the best of them
(logged), which only a watchlist of near-identical images reaches.

The torch copy scans every stored vector in IEEE fp32 (TF32 off), so it returns what a flat CPU index returns: the
same ids, the same float32 scores up to summation order (~1e-7); over an IVF master it is exact where IVF probes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    from watchlists.index_vectors import VectorIndex

log = logging.getLogger(__name__)

GPU_CANDIDATES = 1024
"""Neighbours asked per query (FAISS's GPU k-selection goes up to 2048)."""

SCORES_PER_PASS = 1 << 26
"""Largest query x vector score matrix the torch scan holds at once (256 MiB of float32); more queries run in turns."""


class DeviceSearcher(Protocol):
    """What ``WatchlistIndex.search`` reads from a device copy (and from ``VectorIndex``)."""

    @property
    def ntotal(self) -> int: ...

    def range_search(self, queries: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def gpu_count() -> int:
    """CUDA devices FAISS can use: 0 without FAISS (the GPU image), with the faiss-cpu wheel (no GPU classes) or
    without a device."""
    try:
        import faiss  # here, not at the top: the torch copy must import where FAISS is not installed
    except ImportError:
        return 0

    if not hasattr(faiss, "StandardGpuResources"):
        return 0
    return int(faiss.get_num_gpus())


def gpu_copy_kind() -> Literal["faiss", "torch"] | None:
    """Which device copy this machine searches: FAISS-GPU first, else torch on CUDA, else none (CPU index)."""
    if gpu_count() > 0:
        return "faiss"
    from engines.backends.devices import cuda_available  # imports torch only where an NVIDIA driver is loaded

    return "torch" if cuda_available() else None


def make_gpu_copy(vectors: VectorIndex) -> DeviceSearcher:
    """A device copy of ``vectors`` of the kind ``gpu_copy_kind`` names.

    Raises:
        RuntimeError: no GPU here, or the copy does not fit on the device.
    """
    kind = gpu_copy_kind()
    if kind is None:
        raise RuntimeError("no CUDA device for FAISS or PyTorch")
    return GpuCopy(vectors) if kind == "faiss" else TorchGpuCopy(vectors)


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
        import faiss

        self.device = device
        self._resources = faiss.StandardGpuResources()
        self._index = faiss.index_cpu_to_gpu(self._resources, device, vectors.index)
        self._probes = vectors.probes

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def range_search(self, queries: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lims, scores, ids) as ``VectorIndex.range_search`` gives them, from a k-nearest search on the device."""
        import faiss

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


class TorchGpuCopy:
    """An exact inner-product scan of one ``VectorIndex``'s vectors with PyTorch on ``device``.

    Searches only read the device tensors, so concurrent searches are safe; a change makes a new copy.

    Args:
        vectors: the CPU master to copy, or its ``(ids, float32 rows)`` where FAISS is not installed.
        device: ``cuda``, ``cuda:N``, or ``cpu`` (what the tests compare with FAISS here).

    Raises:
        RuntimeError: the vectors do not fit on the device (torch's out-of-memory error is one).
    """

    def __init__(self, vectors: VectorIndex | tuple[np.ndarray, np.ndarray], device: str = "cuda") -> None:
        import torch

        from engines.backends.torch import use_ieee_fp32

        use_ieee_fp32()  # a TF32 product would move scores by ~1e-3 and flip matches at the threshold
        ids, rows = vectors if isinstance(vectors, tuple) else vectors.contents()
        self.device = torch.device(device)
        self._ids = ids
        self._rows = torch.from_numpy(rows).to(self.device)

    @property
    def ntotal(self) -> int:
        return len(self._ids)

    def range_search(self, queries: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lims, scores, ids) of every stored vector scoring at least ``floor``, in FAISS's range-search layout."""
        import torch

        step = max(1, SCORES_PER_PASS // max(self.ntotal, 1))
        counts, scores, columns = [], [], []
        with torch.inference_mode():
            for start in range(0, len(queries), step):
                chunk = torch.from_numpy(np.ascontiguousarray(queries[start : start + step], dtype=np.float32))
                product = chunk.to(self.device) @ self._rows.T
                keep = product >= floor
                counts.append(keep.sum(dim=1).cpu())
                scores.append(product[keep].cpu())  # row-major: grouped by query, as the lims say
                columns.append(keep.nonzero()[:, 1].cpu())
        count = torch.cat(counts).numpy() if counts else np.zeros(0, np.int64)
        lims = np.concatenate([[0], np.cumsum(count)]).astype(np.uint64)
        found = torch.cat(columns).numpy() if columns else np.zeros(0, np.int64)
        values = torch.cat(scores).numpy() if scores else np.zeros(0, np.float32)
        return lims, values, self._ids[found]
