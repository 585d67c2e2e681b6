"""Runs the selected benchmarks, prints their tables and saves them as JSON.

Each benchmark is one entry of ``BENCHMARKS``: a name and a function of ``quick`` that returns its tables. The soak
test runs only when asked for (``--only soak``): it takes 30 minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from streamer.bench.report import BenchTable, console, machine, save


def _adaptation(quick: bool) -> list[BenchTable]:
    from streamer.bench.adaptation import bench_adaptation

    if quick:
        return bench_adaptation(entries=5, photos=5, background=500, repeats=1)
    return bench_adaptation(entries=10, photos=10, background=2000, repeats=3)


def _decode(quick: bool) -> list[BenchTable]:
    from streamer.bench.decode import bench_decode

    return [bench_decode(seconds=10 if quick else 60)]


def _embedding(quick: bool) -> list[BenchTable]:
    from streamer.bench.embedding import bench_embedding

    return [bench_embedding((1, 8) if quick else (1, 4, 8, 16), seconds=2 if quick else 8)]


def _engines(quick: bool) -> list[BenchTable]:
    from streamer.bench.engines import bench_engines

    return [
        bench_engines((1, 8) if quick else (1, 8, 16, 32), seconds=1.0 if quick else 3.0, repeats=1 if quick else 3)
    ]


def _faces(quick: bool) -> list[BenchTable]:
    from streamer.bench.faces import bench_faces

    return [bench_faces(repeats=3 if quick else 10)]


def _latency(quick: bool) -> list[BenchTable]:
    from streamer.bench.latency import bench_latency

    return [bench_latency(cameras=4, seconds=15 if quick else 60)]


def _search(quick: bool) -> list[BenchTable]:
    from engines.scene import load_scene_embedder
    from streamer.bench.search import bench_enrollment, bench_search

    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000, 1_000_000)
    search = bench_search(sizes, queries=50 if quick else 200)
    enrollment = bench_enrollment(load_scene_embedder(), count=100 if quick else 1_000)
    return [search, enrollment]


def _node(quick: bool) -> list[BenchTable]:
    from streamer.bench.node import bench_node

    seconds, trials = (8, 4) if quick else (40, 7)
    # Worst case (every keyframe a new picture), and cameras where something moves in one keyframe in four.
    return [bench_node(seconds, trials, changing=changing) for changing in (1.0, 0.25)]


def _soak(quick: bool) -> list[BenchTable]:
    from streamer.bench.soak import bench_soak

    return [bench_soak(minutes=2 if quick else 30, cameras=4)]


BENCHMARKS: dict[str, Callable[[bool], list[BenchTable]]] = {
    "adaptation": _adaptation,
    "decode": _decode,
    "embedding": _embedding,
    "engines": _engines,
    "faces": _faces,
    "latency": _latency,
    "node": _node,
    "search": _search,
    "soak": _soak,
}
DEFAULT = ("adaptation", "decode", "embedding", "engines", "faces", "latency", "search")


def run_benchmarks(selected: list[str], quick: bool, output: Path) -> list[BenchTable]:
    """Run ``selected`` benchmarks (the default set when empty); ``quick`` shortens each for a smoke run."""
    unknown = set(selected) - set(BENCHMARKS)
    if unknown:
        raise ValueError(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}")
    chosen = selected or list(DEFAULT)
    for noisy in ("streamer", "engines", "watchlists"):  # per-alert log lines would bury the tables
        logging.getLogger(noisy).setLevel(logging.WARNING)
    console.print(f"[bold]vigil bench[/] on {machine()}: {', '.join(chosen)}{' (quick)' if quick else ''}")
    tables: list[BenchTable] = []
    for name in chosen:
        for table in BENCHMARKS[name](quick):
            table.show()
            tables.append(table)
        save(tables, output)  # after each benchmark, so an interrupted run keeps what it measured
    console.print(f"results saved to {output}")
    return tables
