"""``vigil calibrate``: genuine vs impostor scores of the enrolled images, and the threshold they suggest per kind.

The report reads in a terminal (percentiles, a histogram of both distributions, the false and true match rates at
the configured and at the suggested threshold) and is saved as JSON for later comparison. Thresholds are only
suggested: set them in ``watchlist.default_threshold`` (or per entry) once they look right.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from streamer.cli.watchlist_options import ConfigOption, JsonOption, KindChoice, existing_store, kind_embedders
from streamer.config import load_config
from watchlists.calibration import PERCENTILES, Calibration, calibrate

BINS = np.round(np.arange(-0.2, 1.0001, 0.05), 2)
BAR_WIDTH = 30


def calibrate_command(
    kind: Annotated[KindChoice | None, typer.Option(help="Only this kind (default: every kind with entries).")] = None,
    target_fpr: Annotated[
        float, typer.Option(min=1e-6, max=0.5, help="False match rate to aim at: share of impostor pairs matching.")
    ] = 0.001,
    output: Annotated[Path, typer.Option(help="Where to save the report as JSON.")] = Path("data/calibration.json"),
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score every enrolled image against the others (genuine: same entry; impostor: different entries or a
    negative) and suggest per-kind thresholds for a target false match rate."""
    settings = load_config(config)
    reports = []
    with existing_store(settings) as store:
        embedders = kind_embedders(settings, show_progress=not as_json)
        for choice in [kind] if kind else list(KindChoice):
            if kind is None and not store.list_entries(choice.value):
                continue
            model = embedders.for_kind(choice.value)
            result = calibrate(store, choice.value, model.version, target_fpr=target_fpr)
            reports.append((result, settings.watchlist.default_threshold[choice.value]))
    document = [result.to_json(current) for result, current in reports]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2))
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    console = Console()
    for result, current in reports:
        _print(console, result, current)
    console.print(f"saved to {output}")


def _print(console: Console, result: Calibration, current: float) -> None:
    console.rule(f"{result.kind}: {result.entries} entries, {result.images} images, model {result.model_version}")
    table = Table(title="cosine similarity percentiles")
    table.add_column("pairs")
    table.add_column("count", justify="right")
    for p in PERCENTILES:
        table.add_column(f"p{p}", justify="right")
    for name, scores in (("genuine", result.genuine), ("impostor", result.impostor)):
        cells = [f"{v:.3f}" for v in np.percentile(scores, PERCENTILES)] if len(scores) else ["-"] * len(PERCENTILES)
        table.add_row(name, str(len(scores)), *cells)
    console.print(table)
    _histogram(console, result)
    console.print(result.recommendation(current), highlight=False)
    if not len(result.genuine):
        console.print("[yellow]no genuine pairs: enroll entries with two or more images to measure misses[/yellow]")


def _histogram(console: Console, result: Calibration) -> None:
    """Both distributions side by side, one line per 0.05 of similarity; bars scaled to each distribution's peak."""
    counts = {
        name: np.histogram(np.clip(s, -0.2, 1.0), bins=BINS)[0]
        for name, s in (("g", result.genuine), ("i", result.impostor))
    }
    peak = {name: max(int(c.max()), 1) for name, c in counts.items()}
    console.print(f"{'score':>6}  {'genuine':<{BAR_WIDTH}}  impostor")
    for low, g, i in zip(BINS[:-1], counts["g"], counts["i"], strict=True):
        if g or i:
            bars = ("#" * round(BAR_WIDTH * g / peak["g"]), "#" * round(BAR_WIDTH * i / peak["i"]))
            console.print(f"{low:>6.2f}  [green]{bars[0]:<{BAR_WIDTH}}[/green]  [red]{bars[1]}[/red]", highlight=False)
