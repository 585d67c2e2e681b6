"""``vigil adapt``: train the anomaly entries' heads now, instead of waiting for the service's background training.

The result is stored with the watchlist (every running node serves it within its next sync) and audited. The
training reads the cameras' archived keyframes as background when this node has an archive (``archive.enabled``).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from engines.scene import SceneEmbedder
from streamer.adaptation_worker import TrainingOutcome, train_once
from streamer.archive.keyframes import KeyframeArchive, archive_folder
from streamer.cli.watchlist_options import (
    ActorOption,
    ConfigOption,
    JsonOption,
    default_actor,
    existing_store,
    scene_model,
)
from streamer.config import VigilConfig, load_config
from streamer.errors import ConfigError
from streamer.posture_matcher import posture_labels
from watchlists.adaptation import Adaptation
from watchlists.generic_view_cache import GenericViewCache
from watchlists.store import WatchlistStore


def adapt_command(
    kind: Annotated[str, typer.Option(help="The kind whose entries get trained heads (only anomaly has them).")] = (
        "anomaly"
    ),
    force: Annotated[bool, typer.Option(help="Train even when nothing changed since the stored adaptation.")] = False,
    actor: ActorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a few-shot head for every anomaly entry (augmented views of its photos against its negatives, the
    other entries, generic scenes and the cameras' archived background), calibrate its threshold on held-back
    examples, and store the result. Exit 1 when no entry has enough photos."""
    if kind != "anomaly":
        raise ConfigError(f"--kind {kind}: only anomaly entries are adapted (faces are matched by cosine)")
    settings = load_config(config)
    with existing_store(settings) as store:
        embedder = scene_model(settings, show_progress=not as_json)
        outcome = train_now(store, embedder, settings, actor=default_actor(actor), force=force, quiet=as_json)
    if as_json:
        typer.echo(json.dumps(outcome_json(outcome), indent=2))
    else:
        print_outcome(outcome)
    if outcome.outcome not in ("trained", "unchanged"):
        raise typer.Exit(1)


def train_now(
    store: WatchlistStore, embedder: SceneEmbedder, settings: VigilConfig, *, actor: str, force: bool, quiet: bool
) -> TrainingOutcome:
    """Train the anomaly heads in this process (both cores, a progress bar unless ``quiet``) and store them, with the
    node's archived background when it has an archive; unchanged inputs are not trained again unless ``force``."""
    serving = None if force else store.latest_adaptation("anomaly", embedder.version)
    archive = None
    if settings.archive.enabled and (archive_folder(settings.storage) / "keyframes.db").exists():
        archive = KeyframeArchive(archive_folder(settings.storage), settings.archive)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=Console(stderr=True), transient=True, disable=quiet) as progress:
            tasks: dict[str, int] = {}

            def advance(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done, total=total)

            return train_once(
                store,
                embedder,
                settings.adaptation,
                actor=actor,
                kind="anomaly",
                background=None
                if archive is None
                else lambda: archive.background(
                    embedder.version,
                    limit=settings.adaptation.max_background,
                    older_than_s=settings.adaptation.background_min_age_s,
                ),
                serving=serving,
                progress=advance,
                view_cache=GenericViewCache(settings.models.cache_dir),
                posture_labels=posture_labels(settings.posture),
            )
    finally:
        if archive is not None:
            archive.close()


def outcome_json(outcome: TrainingOutcome) -> dict[str, object]:
    """What ``--json`` prints of a training."""
    return {
        "outcome": outcome.outcome,
        "detail": outcome.detail or None,
        "adaptation": outcome.adaptation.summary() if outcome.adaptation else None,
    }


def print_outcome(outcome: TrainingOutcome) -> None:
    """A training for a person: what was stored and each head's validation."""
    if outcome.adaptation is None:
        typer.echo(f"{outcome.outcome}: {outcome.detail}")
    else:
        _print(Console(), outcome.adaptation, outcome.outcome)


def _print(console: Console, adaptation: Adaptation, outcome: str) -> None:
    verb = "trained and stored" if outcome == "trained" else "unchanged (same inputs as the stored one)"
    console.print(
        f"adaptation {adaptation.version} {verb}: {len(adaptation.heads)} heads, {adaptation.background} background "
        f"regions, {adaptation.training_s:.1f} s, model {adaptation.model_version}",
        highlight=False,
    )
    table = Table(title="heads (validation on held-back photos and negatives)")
    for name in ("entry", "label", "photos", "negatives", "threshold", "recall", "false pos.", "ImageNet concepts"):
        table.add_column(name, justify="left" if name in ("entry", "label", "ImageNet concepts") else "right")
    for head in adaptation.heads:
        table.add_row(
            head.entry_id[:8],
            head.label,
            str(head.references),
            str(head.negatives),
            f"{head.threshold:.3f}",
            "n/a" if head.validation_recall != head.validation_recall else f"{head.validation_recall:.1%}",
            "n/a" if head.validation_fpr != head.validation_fpr else f"{head.validation_fpr:.2%}",
            f"{', '.join(head.concepts)} >= {head.concept_threshold:.2f}" if head.concepts else "-",
        )
    console.print(table)
    for head in adaptation.heads:
        if head.advice:
            console.print(f"{head.label} ({head.entry_id[:8]}): {head.advice}", highlight=False)
