"""Timing loops and result tables shared by the benchmarks."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 160)  # piped output (make bench | tee) keeps whole tables


@dataclass
class BenchTable:
    """One result table: a title, column names, rows, and notes (what was compared with what)."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def show(self) -> None:
        table = Table(title=self.title, title_justify="left")
        for i, column in enumerate(self.columns):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in self.rows:
            table.add_row(*row)
        console.print(table)
        for note in self.notes:
            console.print(f"  [dim]{note}[/]")


def rate(fn: Callable[[], object], items_per_call: int, seconds: float, warmup: int = 2) -> float:
    """Items per second of ``fn`` over about ``seconds`` of wall time (after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    calls = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or calls < 3:
        fn()
        calls += 1
    return calls * items_per_call / elapsed


def percentiles(values: list[float], points: tuple[int, ...] = (50, 95, 99)) -> dict[int, float]:
    if not values:
        return {p: float("nan") for p in points}
    return {p: float(np.percentile(values, p)) for p in points}


def spread(values: list[float], digits: int = 2, suffix: str = "") -> str:
    """``median (min-max)`` of interleaved repeats: one number to quote and how far the shared machine moved it."""
    if not values:
        return "n/a"
    median, low, high = float(np.median(values)), min(values), max(values)
    if len(values) == 1:
        return f"{median:.{digits}f}{suffix}"
    return f"{median:.{digits}f}{suffix} ({low:.{digits}f}-{high:.{digits}f})"


def median_of(cell: str) -> float:
    """The median back out of a ``spread`` cell (for tests and comparisons)."""
    return float(cell.split(" ", 1)[0].rstrip("x%"))


def machine() -> str:
    """What the absolute numbers were measured on."""
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"


def save(tables: list[BenchTable], path: Path) -> None:
    """Keep the numbers as JSON beside the printed tables (for closing notes and comparisons)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": machine(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tables": [asdict(t) for t in tables],
    }
    path.write_text(json.dumps(document, indent=2))
