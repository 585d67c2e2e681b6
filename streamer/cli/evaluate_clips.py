"""``vigil eval truth.json``: event recall, detection delay and false alarms per hour on labelled clips.

The table compares, side by side in one run, matching with trained heads (adaptation) and by cosine alone when
``--compare`` is given; otherwise it runs what the configuration says (``adaptation.enabled``) or ``--no-adapt``.
A clip samples a brief event at the moments its keyframes fall, so one run's count is partly luck: ``--phases N``
replays each clip N times with its keyframes moved by a further 1/N of its keyframe interval, and reports the spread.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from streamer.cli.watchlist_options import scene_model
from streamer.clip_evaluation import ClipCase, ClipEvaluator, read_truth, score_runs
from streamer.config import VigilConfig
from streamer.devservices.clips import keyframe_interval_s, write_keyframe_phase
from watchlists.sources import expand_sources


def evaluate_clips(
    truth: Path,
    settings: VigilConfig,
    *,
    modes: list[bool],
    negatives: Path | None,
    output: Path,
    as_json: bool,
    phases: int = 1,
) -> None:
    """Run every clip of ``truth`` once per mode (``True``: trained heads, ``False``: cosine) and report; with
    ``phases`` > 1, again with the clips' keyframes moved by each further share of their keyframe interval."""
    cases = read_truth(truth)  # a bad file fails before any model loads
    negative_files = expand_sources([negatives])[0] if negatives else []
    console = Console(stderr=True)
    embedder = scene_model(settings, show_progress=not as_json)
    reports: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="vigil-eval-") as scratch:
        shifted = _phase_cases(cases, phases, Path(scratch) / "phases", console, quiet=as_json)
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
            per_phase = []
            with Progress(*_columns(), console=console, transient=True, disable=as_json) as progress:
                task = progress.add_task(f"[{mode}] clips", total=len(cases) * phases)
                for phase, phase_cases in enumerate(shifted):
                    runs = []
                    for case in phase_cases:
                        progress.update(task, description=f"[{mode}] {case.name} (phase {phase}/{phases})")
                        runs.append(evaluator.run(case))
                        progress.advance(task)
                    per_phase.append(score_runs(runs))
            evaluator.close()
            reports[mode] = per_phase[0]
            if phases > 1:
                reports[mode]["phases"] = [{"phase": phase / phases} | report for phase, report in enumerate(per_phase)]
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
    if phases > 1:
        out.print(_phase_table(reports))
        for mode, report in reports.items():
            found = [r["overall"]["detected"] for r in report["phases"]]
            false = [r["overall"]["false_alarms"] for r in report["phases"]]
            out.print(
                f"{mode} over {phases} keyframe phases: {min(found)}-{max(found)} of {report['overall']['events']} "
                f"events (median {statistics.median(found):g}), {min(false)}-{max(false)} false alarm(s)",
                highlight=False,
            )
    out.print(f"saved to {output}")


def _phase_cases(
    cases: list[ClipCase], phases: int, folder: Path, console: Console, *, quiet: bool
) -> list[list[ClipCase]]:
    """The clips as recorded (phase 0), then re-encoded with their keyframes a further ``1 / phases`` of their
    keyframe interval later for each next phase."""
    shifted = [cases]
    intervals = [keyframe_interval_s(case.video) for case in cases] if phases > 1 else []
    with Progress(*_columns(), console=console, transient=True, disable=quiet or phases == 1) as progress:
        task = progress.add_task("moving keyframes", total=len(cases) * (phases - 1))
        for phase in range(1, phases):
            moved = []
            for number, (case, interval) in enumerate(zip(cases, intervals, strict=True)):
                video = folder / f"{phase}" / f"{number}-{case.video.stem}.mp4"
                moved.append(
                    replace(case, video=write_keyframe_phase(video, case.video, interval * phase / phases, interval))
                )
                progress.advance(task)
            shifted.append(moved)
    return shifted


def _columns() -> tuple[ProgressColumn, ...]:
    return TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()


def _phase_table(reports: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="keyframe phases: keyframes moved by a share of each clip's keyframe interval (0: as recorded)")
    labels = sorted({label for report in reports.values() for label in report["categories"]})
    for name in ("mode", "phase", *labels, "found", "false alarms"):
        table.add_column(name, justify="left" if name == "mode" else "right")
    for mode, report in reports.items():
        for row in report["phases"]:
            shares = [row["categories"].get(label) for label in labels]
            cells = ["-" if c is None else f"{c['detected']}/{c['events']}" for c in shares]
            overall = row["overall"]
            table.add_row(
                mode, f"{row['phase']:.2f}", *cells, f"{overall['detected']}/{overall['events']}",
                str(overall["false_alarms"]),
            )  # fmt: skip
    return table


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
