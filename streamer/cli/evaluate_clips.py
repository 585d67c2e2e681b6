"""``vigil eval truth.json``: event recall, detection delay and false alarms per hour on labelled clips.

The table compares, side by side in one run, matching with trained heads (adaptation) and by cosine alone when
``--compare`` is given; otherwise it runs what the configuration says (``adaptation.enabled``) or ``--no-adapt``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streamer.cli.watchlist_options import scene_model
from streamer.clip_evaluation import ClipEvaluator, read_truth, score_runs
from streamer.config import VigilConfig
from watchlists.sources import expand_sources


def evaluate_clips(
    truth: Path,
    settings: VigilConfig,
    *,
    modes: list[bool],
    negatives: Path | None,
    output: Path,
    as_json: bool,
) -> None:
    """Run every clip of ``truth`` once per mode (``True``: trained heads, ``False``: cosine) and report."""
    cases = read_truth(truth)  # a bad file fails before any model loads
    negative_files = expand_sources([negatives])[0] if negatives else []
    console = Console(stderr=True)
    embedder = scene_model(settings, show_progress=not as_json)
    reports: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="vigil-eval-") as scratch:
        for adapt in modes:
            mode = "adapted" if adapt else "cosine"
            evaluator = ClipEvaluator(
                settings,
                embedder,
                Path(scratch) / mode,
                adapt=adapt,
                negatives=negative_files,
                progress=None if as_json else lambda line, mode=mode: console.print(f"[{mode}] {line}"),
            )
            (Path(scratch) / mode).mkdir()
            runs = []
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console, transient=True, disable=as_json) as progress:
                task = progress.add_task(f"[{mode}] clips", total=len(cases))
                for case in cases:
                    progress.update(task, description=f"[{mode}] {case.name}")
                    runs.append(evaluator.run(case))
                    progress.advance(task)
            evaluator.close()
            reports[mode] = score_runs(runs)
    document = {"truth": str(truth), "model": embedder.version, "negatives": len(negative_files), "modes": reports}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2))
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    out = Console()
    out.print(_table(reports))
    for mode, report in reports.items():
        overall = report["overall"]
        out.print(
            f"{mode}: {overall['detected']}/{overall['events']} events, {overall['false_alarms']} false alarm(s) in "
            f"{overall['negative_s']:.0f} s of negative footage; missed {', '.join(overall['missed']) or 'none'}; "
            f"false {', '.join(overall['false']) or 'none'}; {report['keyframes']} keyframes and "
            f"{report['burst_frames']} confirmation burst frames",
            highlight=False,
        )
    out.print(f"saved to {output}")


def _table(reports: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="clips: events found, delay from onset, false alarms, best-region score percentiles")
    for name in (
        "mode",
        "category",
        "found",
        "median delay",
        "false alarms",
        "per hour",
        "in truth p5/p50",
        "else p95",
    ):
        table.add_column(name, justify="left" if name in ("mode", "category") else "right")
    for mode, report in reports.items():
        for label, row in [*report["categories"].items(), ("all", report["overall"])]:
            truth_scores, other_scores = row.get("scores_in_truth"), row.get("scores_elsewhere")
            table.add_row(
                mode,
                label,
                f"{row['detected']}/{row['events']}",
                "-" if row["median_delay_s"] is None else f"{row['median_delay_s']:.1f} s",
                str(row["false_alarms"]),
                "-" if row["false_alarms_per_hour"] is None else f"{row['false_alarms_per_hour']:.0f}",
                f"{truth_scores['p5']:.2f}/{truth_scores['p50']:.2f}" if truth_scores else "-",
                f"{other_scores['p95']:.2f}" if other_scores else "-",
            )
    return table
