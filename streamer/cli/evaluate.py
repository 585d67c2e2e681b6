"""``vigil eval DATASET``: how well the live model tells the labels of a photo folder apart, before going live.

The first images of each label are embedded in memory as references (the watchlist database is never opened), the
rest are searched against them at the configured threshold. The report reads in a terminal (overall rates, a row per
label with its misidentified probes, score percentiles, the threshold for a target false-accept rate) and is saved
as JSON, as ``vigil calibrate`` does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streamer.cli.evaluate_clips import evaluate_clips
from streamer.cli.watchlist_options import ConfigOption, JsonOption, KindChoice, kind_embedders
from streamer.config import load_config
from watchlists.calibration import PERCENTILES
from watchlists.evaluation import evaluate
from watchlists.evaluation_dataset import EvaluationDataset
from watchlists.evaluation_report import Evaluation

MAX_LISTED = 10


def eval_command(
    dataset: Annotated[
        Path,
        typer.Argument(
            help="Folder with one subfolder of images per label, plus an optional _unknown/ of images that must "
            "match nobody; or a clip truth file (truth.json: clips, references, when each category shows), whose "
            "clips are streamed through the pipeline and scored by events.",
            show_default=False,
            metavar="DATASET",
        ),
    ],
    kind: Annotated[
        KindChoice | None,
        typer.Option(
            help="Photo folders: face (detect, align, embed) or anomaly (the scene model). Clips: from the file."
        ),
    ] = None,
    references: Annotated[
        int, typer.Option(min=1, help="Images per label (first by name) used as references; the rest are probes.")
    ] = 1,
    threshold: Annotated[
        float | None, typer.Option(min=-1.0, max=1.0, help="Cosine similarity to match (default: the configured one).")
    ] = None,
    target_fpr: Annotated[
        float, typer.Option(min=1e-6, max=0.5, help="False-accept rate (per image) the suggested threshold aims at.")
    ] = 0.001,
    output: Annotated[Path, typer.Option(help="Where to save the report as JSON.")] = Path("data/evaluation.json"),
    adapt: Annotated[
        bool | None,
        typer.Option(
            "--adapt/--no-adapt", help="Clips: match with trained heads or by cosine (default: adaptation.enabled)."
        ),
    ] = None,
    compare: Annotated[
        bool, typer.Option(help="Clips: run with and without adaptation, side by side in one report.")
    ] = False,
    negatives: Annotated[
        Path | None,
        typer.Option(help="Clips: a folder of 'not this' images enrolled as negatives of every entry.", exists=True),
    ] = None,
    phases: Annotated[
        int,
        typer.Option(
            min=1,
            max=20,
            help="Clips: also replay each clip with its keyframes moved by 1/N, 2/N ... of its keyframe interval"
            " (re-encoded with ffmpeg) and report events found and false alarms per phase; 1: as recorded only.",
        ),
    ] = 1,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score every probe and _unknown image of DATASET against each label's references: top-1 accuracy,
    true and false accept rates at the threshold, per-label rows, and the threshold for a target false-accept rate."""
    settings = load_config(config)
    if dataset.suffix == ".json" or (dataset / "truth.json").is_file():
        truth = dataset if dataset.suffix == ".json" else dataset / "truth.json"
        modes = [True, False] if compare else [settings.adaptation.enabled if adapt is None else adapt]
        evaluate_clips(truth, settings, modes=modes, negatives=negatives, output=output, as_json=as_json, phases=phases)
        return
    if kind is None:
        raise typer.BadParameter("--kind is required for a photo folder (face or anomaly)", param_hint="--kind")
    folder = EvaluationDataset.read(dataset, references=references)  # a bad layout fails before any model loads
    embedder = kind_embedders(settings, show_progress=not as_json).for_kind(kind.value)
    at = settings.watchlist.default_threshold[kind.value] if threshold is None else threshold
    total = sum(len(g.references) + len(g.probes) for g in folder.per_label) + len(folder.unknown)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=as_json) as progress:
        task = progress.add_task("embedding", total=total)
        report = evaluate(
            folder,
            embedder,
            kind=kind.value,
            threshold=at,
            target_fpr=target_fpr,
            advance=lambda n: progress.advance(task, n),
        )
    document = report.to_json(str(dataset))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2))
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    console = Console()
    _print(console, report, str(dataset))
    console.print(f"saved to {output}")


def _print(console: Console, report: Evaluation, dataset: str) -> None:
    console.rule(f"{dataset}: {report.kind}, model {report.model_version}, threshold {report.threshold:.4f}")
    reasons = ", ".join(f"{code} {count}" for code, count in report.rejected_by_reason().items())
    console.print(
        f"probes {report.probes}, unknown {report.unknown}, rejected {len(report.rejected)}"
        + (f" ({reasons})" if reasons else ""),
        highlight=False,
    )
    console.print(
        f"top-1 accuracy {_rate(report.top1_accuracy)}, true accepts {_rate(report.true_accept_rate)}, "
        f"false accepts {_rate(report.false_accept_rate)} (unknown images matched: {report.unknown_false_accepts})"
    )
    console.print(_label_table(report))
    errors = [f"{e.source} -> {e.predicted} ({e.score:.3f})" for row in report.labels for e in row.errors]
    _listed(console, "misidentified probes (best label is another one):", errors)
    _listed(console, "rejected images:", [f"{p.source}: {p.reason} [{p.code}]" for p in report.rejected])
    console.print(_score_table(report))
    console.print(report.scores.recommendation(report.threshold), highlight=False)


def _label_table(report: Evaluation) -> Table:
    table = Table(title="per label", caption="drawn: images of other labels or _unknown that matched this label")
    table.add_column("label")
    for name in ("refs", "probes", "rejected", "top-1", "true acc.", "false acc.", "drawn"):
        table.add_column(name, justify="right")
    for row in report.labels:
        table.add_row(
            row.label,
            str(row.references),
            str(row.probes),
            str(row.rejected),
            f"{row.top1_correct}/{row.probes}",
            f"{row.true_accepts}/{row.probes}",
            str(row.false_accepts),
            str(row.matched_by_others),
        )
    return table


def _listed(console: Console, title: str, lines: list[str]) -> None:
    """A few lines under a title, the rest counted (the JSON has them all)."""
    if not lines:
        return
    console.print(title, highlight=False)
    for line in lines[:MAX_LISTED]:
        console.print(f"  {line}", highlight=False, markup=False)
    if len(lines) > MAX_LISTED:
        console.print(f"  ... {len(lines) - MAX_LISTED} more in the JSON report")


def _score_table(report: Evaluation) -> Table:
    table = Table(title="similarity percentiles (genuine: own label; impostor: best wrong label)")
    table.add_column("scores")
    table.add_column("count", justify="right")
    for p in PERCENTILES:
        table.add_column(f"p{p}", justify="right")
    for name, scores in (("genuine", report.scores.genuine), ("impostor", report.scores.impostor)):
        cells = [f"{v:.3f}" for v in np.percentile(scores, PERCENTILES)] if len(scores) else ["-"] * len(PERCENTILES)
        table.add_row(name, str(len(scores)), *cells)
    return table


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"
