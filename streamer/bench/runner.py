"""Runs the selected benchmarks, prints their tables and saves them as JSON."""

from __future__ import annotations

import logging
from pathlib import Path

from streamer.bench.report import BenchTable, console, machine, save

BENCHMARKS = ("decode", "embedding", "latency")


def run_benchmarks(selected: list[str], quick: bool, output: Path) -> list[BenchTable]:
    """Run ``selected`` benchmarks (all when empty); ``quick`` shortens every measurement for a smoke run."""
    unknown = set(selected) - set(BENCHMARKS)
    if unknown:
        raise ValueError(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}")
    chosen = selected or list(BENCHMARKS)
    for noisy in ("streamer", "engines", "watchlists"):  # per-alert log lines would bury the tables
        logging.getLogger(noisy).setLevel(logging.WARNING)
    console.print(f"[bold]vigil bench[/] on {machine()}: {', '.join(chosen)}{' (quick)' if quick else ''}")
    tables: list[BenchTable] = []
    if "decode" in chosen:
        from streamer.bench.decode import bench_decode

        tables.append(bench_decode(seconds=10 if quick else 60))
        tables[-1].show()
    if "embedding" in chosen:
        from streamer.bench.embedding import bench_embedding

        tables.append(bench_embedding((1, 8) if quick else (1, 4, 8, 16), seconds=2 if quick else 8))
        tables[-1].show()
    if "latency" in chosen:
        from streamer.bench.latency import bench_latency

        tables.append(bench_latency(cameras=4, seconds=15 if quick else 60))
        tables[-1].show()
    save(tables, output)
    console.print(f"results saved to {output}")
    return tables
