"""Runs the selected benchmarks, prints their tables and saves them as JSON.

Each benchmark is one entry of ``BENCHMARKS``: a name and a function of ``quick`` that returns its tables. The soak
test runs only when asked for (``--only soak``): it takes 30 minutes. The node benchmark also takes the scene model
and region grid (``models.scene``, ``models.scene_regions``; ``None``: the config's defaults).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

from streamer.bench.report import BenchTable, console, machine, save


def _adaptation(quick: bool) -> list[BenchTable]:
    from streamer.bench.adaptation import bench_adaptation

    if quick:
        return bench_adaptation(entries=5, photos=5, background=500, repeats=1)
    return bench_adaptation(entries=10, photos=10, background=2000, repeats=3)


def _decode(quick: bool) -> list[BenchTable]:
    from streamer.bench.decode import bench_decode

    if quick:
        return [bench_decode(seconds=5, repeats=3, sizes=("1080p",))]
    return [bench_decode(seconds=20, repeats=3)]


def _embedding(quick: bool) -> list[BenchTable]:
    from streamer.bench.embedding import bench_embedding

    return [bench_embedding(seconds=3 if quick else 15, repeats=3 if quick else 5)]


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

    if quick:
        return [bench_latency(cameras=16, seconds=15, windows=3)]
    regions_off = {"models": {"scene_regions": "none"}}
    return [
        bench_latency(cameras=16, seconds=60, windows=5, variants={"shipped defaults": {}, "regions none": regions_off})
    ]


def _regions(quick: bool) -> list[BenchTable]:
    from streamer.bench.regions import bench_regions

    return [bench_regions(rounds=3 if quick else 9)]


def _search(quick: bool) -> list[BenchTable]:
    from engines.scene import load_scene_embedder
    from streamer.bench.search import bench_enrollment, bench_search

    if quick:
        dims = (("face", 128, 100_000), ("scene", 1280, 10_000))
        search = bench_search((10_000, 100_000), dims=dims, queries=100, repeats=3)
    else:
        search = bench_search((1_000, 10_000, 100_000, 1_000_000), queries=300, repeats=5)
    enrollment = bench_enrollment(load_scene_embedder(), count=100 if quick else 1_000)
    return [search, enrollment]


def _node(quick: bool, scene: str | None = None, regions: str | None = None) -> list[BenchTable]:
    from streamer.bench.node import bench_node

    seconds, trials = (8, 4) if quick else (40, 7)
    # Worst case (every keyframe a new picture), and cameras where something moves in one keyframe in four.
    return [bench_node(seconds, trials, changing=changing, scene=scene, regions=regions) for changing in (1.0, 0.25)]


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
    "regions": _regions,
    "search": _search,
    "soak": _soak,
}
DEFAULT = ("adaptation", "decode", "embedding", "engines", "faces", "latency", "regions", "search")


def run_benchmarks(
    selected: list[str], quick: bool, output: Path, *, scene: str | None = None, regions: str | None = None
) -> list[BenchTable]:
    """Run ``selected`` benchmarks (the default set when empty); ``quick`` shortens each for a smoke run; ``scene``
    and ``regions`` choose the node benchmark's scene model and region grid.

    Raises:
        ValueError: an unknown benchmark, or ``scene``/``regions`` without the node benchmark.
    """
    unknown = set(selected) - set(BENCHMARKS)
    if unknown:
        raise ValueError(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}")
    chosen = selected or list(DEFAULT)
    if (scene or regions) and "node" not in chosen:
        raise ValueError("--scene and --scene-regions choose the node benchmark's model: add --only node")
    benchmarks = {**BENCHMARKS, "node": partial(_node, scene=scene, regions=regions)}
    for noisy in ("streamer", "engines", "watchlists"):  # per-alert log lines would bury the tables
        logging.getLogger(noisy).setLevel(logging.WARNING)
    console.print(f"[bold]vigil bench[/] on {machine()}: {', '.join(chosen)}{' (quick)' if quick else ''}")
    tables: list[BenchTable] = []
    for name in chosen:
        for table in benchmarks[name](quick):
            table.show()
            tables.append(table)
        save(tables, output)  # after each benchmark, so an interrupted run keeps what it measured
    console.print(f"results saved to {output}")
    return tables
