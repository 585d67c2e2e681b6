"""Watchlist benchmarks: search latency by watchlist size (single and batched queries) and enrollment throughput.

Search runs the real ``WatchlistIndex`` (FAISS range search, grouping by entry, per-entry thresholds) over synthetic
unit vectors held in memory, so a million entries need no million-row database: face-sized (128-d) vectors up to
1M entries, scene-sized (1280-d) up to 100k (1M of those would need 10 GB). Each query is a noisy copy of one
entry's vector, so every search finds its entry among impostors, as a live match would. Enrollment runs the real
``Enroller`` with the real scene model on a folder of distinct JPEG photos, into a fresh SQLite store.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np
import skimage.data
from PIL import Image

from streamer.bench.report import BenchTable, console, percentiles
from watchlists.enroll import Enroller
from watchlists.index import WatchlistIndex
from watchlists.records import EmbeddingSet, Entry
from watchlists.store import WatchlistStore

MODEL = "bench@000000000000"


@dataclass(frozen=True, eq=False)
class _SyntheticWatchlist:
    """What ``WatchlistIndex`` reads from a store (``embeddings``, ``revision``), made of random unit vectors."""

    data: EmbeddingSet

    def revision(self) -> int:
        return self.data.revision

    def embeddings(self, kind: str, model_version: str, *, enabled_only: bool = True) -> EmbeddingSet:
        return self.data


def synthetic_watchlist(entries: int, dim: int, seed: int = 0) -> _SyntheticWatchlist:
    """``entries`` entries of one random unit vector each (the shape of a real watchlist, minus the database)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((entries, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    now = datetime.now(UTC)
    ids = [f"{i:032x}" for i in range(entries)]
    records = tuple(Entry(i, "face", "x", "", None, (), True, now, now, 1) for i in ids)
    image_ids = np.arange(1, entries + 1, dtype=np.int64)
    return _SyntheticWatchlist(EmbeddingSet("face", MODEL, 1, records, image_ids, tuple(ids), vectors))


def _queries(watchlist: _SyntheticWatchlist, count: int, seed: int = 1) -> np.ndarray:
    """Noisy copies of random entries' vectors (cosine ~0.9 to their entry)."""
    rng = np.random.default_rng(seed)
    source = watchlist.data.vectors[rng.integers(0, len(watchlist.data.vectors), count)]
    noisy = source + rng.standard_normal(source.shape, dtype=np.float32) * (0.5 / np.sqrt(source.shape[1]))
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def _latencies_ms(index: WatchlistIndex, queries: np.ndarray, batch: int) -> list[float]:
    index.search(queries[:batch])  # warm-up
    times = []
    for start in range(0, len(queries) - batch + 1, batch):
        began = time.perf_counter()
        found = index.search(queries[start : start + batch])
        times.append((time.perf_counter() - began) * 1000)
        assert all(found), "every query should find its entry"
    return times


def bench_search(
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000),
    *,
    dims: tuple[tuple[str, int, int], ...] = (("face", 128, 1_000_000), ("scene", 1280, 100_000)),
    batch: int = 8,
    queries: int = 200,
    faiss_threads: int | None = None,
) -> BenchTable:
    """p50/p99 search latency per watchlist size, one query at a time and in batches of ``batch``.

    Args:
        dims: (name, dimension, largest size to run) per embedding kind.
        queries: searches timed per row (single) and ``queries // batch`` batches.
        faiss_threads: FAISS's OpenMP threads for the run (default: as configured, all cores); restored after.
    """
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(faiss_threads or previous)
    try:
        return _bench_search(sizes, dims, batch, queries)
    finally:
        faiss.omp_set_num_threads(previous)


def _bench_search(
    sizes: tuple[int, ...], dims: tuple[tuple[str, int, int], ...], batch: int, queries: int
) -> BenchTable:
    table = BenchTable(
        title=f"Watchlist search (WatchlistIndex, FAISS IndexFlatIP, {faiss.omp_get_max_threads()} FAISS threads)",
        columns=[
            "vectors",
            "entries",
            "single p50 ms",
            "single p99 ms",
            "batch p50 ms",
            "batch p99 ms",
            "per query ms",
        ],
        notes=[
            "goal: p99 <= 5 ms at 100k entries on CPU (single query)",
            "per query = batch p50 / batch size: what the pipeline pays per keyframe in a cross-camera batch",
        ],
    )
    for name, dim, largest in dims:
        for size in (s for s in sizes if s <= largest):
            console.print(f"  search: {size} x {dim}-d ...")
            watchlist = synthetic_watchlist(size, dim)
            index = WatchlistIndex(watchlist, "face", MODEL, default_threshold=0.6, dim=dim)  # type: ignore[arg-type]
            asked = _queries(watchlist, max(queries, batch * 20))
            single = percentiles(_latencies_ms(index, asked[:queries], 1), (50, 99))
            batched = percentiles(_latencies_ms(index, asked, batch), (50, 99))
            table.rows.append(
                [
                    f"{name} {dim}-d",
                    f"{size:,}",
                    f"{single[50]:.2f}",
                    f"{single[99]:.2f}",
                    f"{batched[50]:.2f}",
                    f"{batched[99]:.2f}",
                    f"{batched[50] / batch:.2f}",
                ]
            )
            del index, watchlist
    return table


def _photo_folder(folder: Path, count: int) -> list[Path]:
    """``count`` distinct 640x480 JPEGs: crops, flips and exposures of scikit-image's public-domain photos."""
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        photo = photos[i % len(photos)]
        big = np.asarray(Image.fromarray(photo).resize((800, 600)))
        y, x = rng.integers(0, 120), rng.integers(0, 160)
        crop = (big[y : y + 480, x : x + 640] * rng.uniform(0.6, 1.0)).astype(np.uint8)
        path = folder / f"{i:04d}.jpg"
        Image.fromarray(crop[:, ::-1] if i % 2 else crop).save(path, quality=90)
        paths.append(path)
    return paths


def bench_enrollment(embedder: object, count: int = 1_000, batch_size: int = 16) -> BenchTable:
    """Images per second enrolling a folder of ``count`` photos with the given (real) model, end to end: read,
    sniff, decode, hash, embed, and one SQLite transaction."""
    table = BenchTable(
        title=f"Enrollment throughput (a folder of {count} JPEG photos, 640x480)",
        columns=["model", "images", "seconds", "images/s"],
        notes=["end to end: checks (read, sniff, decode, SHA-256), decode again + embed in batches, one transaction"],
    )
    with tempfile.TemporaryDirectory(prefix="vigil-bench-enroll-") as scratch:
        folder = Path(scratch) / "photos"
        folder.mkdir()
        _photo_folder(folder, count)
        with WatchlistStore(Path(scratch) / "watchlist.db") as store:
            enroller = Enroller(store, embedder, show_progress=False, batch_size=batch_size)  # type: ignore[arg-type]
            began = time.perf_counter()
            report = enroller.enroll("anomaly", "bench", [folder], actor="bench")
            elapsed = time.perf_counter() - began
    version = getattr(embedder, "version", "?")
    table.rows.append([version, str(len(report.added)), f"{elapsed:.1f}", f"{len(report.added) / elapsed:.1f}"])
    return table
