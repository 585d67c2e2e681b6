"""The torch device copy of a watchlist index answers range searches exactly as the FAISS CPU index does.

Here it runs on the CPU device (the same code, without CUDA); the CUDA rows run where a GPU is. Where FAISS is not
installed (the lent GPU image), the reference is an exact NumPy scan, which is what a flat FAISS index computes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engines.backends.devices import cuda_unavailable_reason
from watchlists import index_gpu
from watchlists.index_gpu import TorchGpuCopy, gpu_copy_kind

try:
    from watchlists.index_vectors import VectorIndex
except ImportError:  # no FAISS (the GPU image): ``ExactScan`` stands in for the flat index
    VectorIndex = None

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(cuda_unavailable_reason() is not None, reason=f"{cuda_unavailable_reason()}"),
    ),
]


class ExactScan:
    """A flat inner-product index in NumPy (float64 products, float32 scores), answering as ``VectorIndex`` does."""

    layout = "flat"

    def __init__(self, ids: np.ndarray, rows: np.ndarray) -> None:
        self._ids, self._rows = ids, rows

    @property
    def ntotal(self) -> int:
        return len(self._ids)

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        return self._ids, self._rows

    def range_search(self, queries: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scores = (queries.astype(np.float64) @ self._rows.astype(np.float64).T).astype(np.float32)
        keep = scores >= floor
        lims = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.uint64)
        return lims, scores[keep], self._ids[np.nonzero(keep)[1]]


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def flat() -> tuple[VectorIndex | ExactScan, np.ndarray]:
    """A flat index of 1,500 unit vectors (128-d) under scattered ids, and 60 queries: 40 near stored vectors (so
    several hits each), 20 random (no hits)."""
    rng = np.random.default_rng(5)
    stored = _unit(rng.standard_normal((1_500, 128)))
    ids = np.arange(1_500, dtype=np.int64) * 7 + 3
    index = VectorIndex.build(128, ids, stored) if VectorIndex is not None else ExactScan(ids, stored)
    near = _unit(stored[rng.integers(0, 1_500, 40)] + 0.4 * _unit(rng.standard_normal((40, 128))))
    queries = np.concatenate([near, _unit(rng.standard_normal((20, 128)))])
    return index, queries


def _by_query(lims: np.ndarray, scores: np.ndarray, ids: np.ndarray) -> list[dict[int, float]]:
    return [dict(zip(ids[a:b].tolist(), scores[a:b].tolist(), strict=True)) for a, b in itertools.pairwise(lims)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("floor", [0.3, 0.85, 1.01])
def test_the_torch_copy_finds_the_same_images_with_the_same_scores_as_faiss(
    flat: tuple[VectorIndex | ExactScan, np.ndarray], device: str, floor: float
) -> None:
    index, queries = flat
    assert index.layout == "flat"
    want = _by_query(*index.range_search(queries, floor))

    got = _by_query(*TorchGpuCopy(index, device=device).range_search(queries, floor))

    assert [row.keys() for row in got] == [row.keys() for row in want]
    for got_row, want_row in zip(got, want, strict=True):
        np.testing.assert_allclose(list(got_row.values()), [want_row[i] for i in got_row], rtol=0, atol=1e-6)
    assert floor > 1 or sum(map(len, want)) >= 40  # every near query finds its source: the check is not empty


def test_many_queries_scanned_in_several_passes_give_the_one_pass_answer(
    flat: tuple[VectorIndex | ExactScan, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    index, queries = flat
    copy = TorchGpuCopy(index, device="cpu")
    one_pass = copy.range_search(queries, 0.3)
    monkeypatch.setattr(index_gpu, "SCORES_PER_PASS", 7 * index.ntotal)  # 7 queries per pass, 9 passes

    passes = copy.range_search(queries, 0.3)

    np.testing.assert_array_equal(one_pass[0], passes[0])  # the same hits per query
    np.testing.assert_array_equal(one_pass[2], passes[2])  # of the same images
    # BLAS may sum a product in another order for another batch shape: scores agree to float32 rounding
    np.testing.assert_allclose(one_pass[1], passes[1], rtol=0, atol=1e-6)


def test_no_queries_give_an_empty_faiss_layout(flat: tuple[VectorIndex | ExactScan, np.ndarray]) -> None:
    lims, scores, ids = TorchGpuCopy(flat[0], device="cpu").range_search(np.zeros((0, 128), np.float32), 0.5)

    assert lims.tolist() == [0] and len(scores) == len(ids) == 0


@pytest.mark.skipif(VectorIndex is None, reason="FAISS is not installed: nothing to check the stand-in against")
def test_the_numpy_stand_in_answers_as_the_flat_faiss_index(flat: tuple[VectorIndex | ExactScan, np.ndarray]) -> None:
    index, queries = flat
    want = _by_query(*index.range_search(queries, 0.3))
    got = _by_query(*ExactScan(*index.contents()).range_search(queries, 0.3))
    assert [row.keys() for row in got] == [row.keys() for row in want] and sum(map(len, want)) >= 40
    for got_row, want_row in zip(got, want, strict=True):
        np.testing.assert_allclose(list(got_row.values()), [want_row[i] for i in got_row], rtol=0, atol=1e-6)


@pytest.mark.skipif(cuda_unavailable_reason() is None, reason="a CUDA device is present")
def test_without_faiss_gpu_or_cuda_the_index_stays_on_the_cpu() -> None:
    assert gpu_copy_kind() is None
