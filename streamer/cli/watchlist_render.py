"""How ``vigil watchlist`` shows things: JSON for scripts (``--json``), tables and lines for people.

The JSON shapes are what scripts depend on: entries carry their ``effective_threshold`` (their own, else the kind's
default), timestamps are ISO 8601, and images carry the model versions that have embedded them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from engines.registry import get_model_spec
from streamer.config import VigilConfig
from watchlists.enroll import EnrollReport
from watchlists.index import Match
from watchlists.reads import WatchlistReads
from watchlists.records import AuditRecord, Entry, StoredImage


def console() -> Console:
    """Stdout console; when piped, wide enough that ids and hashes stay on one line."""
    out = Console()
    if not out.is_terminal:
        out.width = 200
    return out


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    typer.echo(json.dumps(data, indent=2))


def threshold_text(entry: Entry, settings: VigilConfig) -> str:
    if entry.threshold is not None:
        return f"{entry.threshold:g}"
    return f"{settings.watchlist.default_threshold[entry.kind]:g} (default)"


def entry_json(entry: Entry, settings: VigilConfig) -> dict[str, Any]:
    default = settings.watchlist.default_threshold[entry.kind]
    return {
        **vars(entry),
        "effective_threshold": default if entry.threshold is None else entry.threshold,
        "created_at": entry.created_at.isoformat(timespec="seconds"),
        "updated_at": entry.updated_at.isoformat(timespec="seconds"),
    }


def entry_adaptation(store: WatchlistReads, entry: Entry, settings: VigilConfig) -> dict[str, Any] | None:
    """How an anomaly entry is matched now: its trained head (version, threshold, validation) or ``None`` (cosine:
    no adaptation yet, too few photos, enrolled since the last training, or adaptation off)."""
    if entry.kind != "anomaly" or not settings.adaptation.enabled:
        return None
    adaptation = store.latest_adaptation("anomaly", get_model_spec(settings.models.scene).version)
    return adaptation.entry_summary(entry.id) if adaptation else None


def image_json(image: StoredImage) -> dict[str, Any]:
    return {**vars(image), "added_at": image.added_at.isoformat(), "model_versions": list(image.model_versions)}


def audit_json(record: AuditRecord) -> dict[str, Any]:
    return {**vars(record), "at": record.at.isoformat(), "detail": dict(record.detail)}


def match_json(match: Match) -> dict[str, Any]:
    return vars(match)


def print_report(
    report: EnrollReport,
    settings: VigilConfig,
    as_json: bool,
    *,
    verb: str = "created",
    training: dict[str, Any] | None = None,
) -> None:
    """An enrollment's outcome: what was stored, what was skipped as already stored (and, as JSON, the training
    that followed it, if any: ``vigil adapt --json``'s document)."""
    if as_json:
        data = {
            "entry": entry_json(report.entry, settings),
            "added": [image_json(i) for i in report.added],
            "duplicates": [vars(d) for d in report.duplicates],
            "model_version": report.model_version,
        }
        if training is not None:
            data["training"] = training
        echo_json(data)
        return
    noun = "negatives" if verb == "negatives added to" else "images added"
    typer.echo(f"{verb} {report.entry.id} ({report.entry.label}): {len(report.added)} {noun}")
    for d in report.duplicates:
        typer.echo(f"  skipped {d.source}: already stored (entry {d.entry_id}, image {d.image_id})")


def print_entries(entries: Sequence[Entry], settings: VigilConfig) -> None:
    table = Table(title=f"Watchlist ({len(entries)} entries)")
    for column in ("id", "kind", "label", "threshold", "cameras", "enabled", "images", "created"):
        table.add_column(column, overflow="fold")
    for e in entries:
        cells = [e.id, e.kind, e.label, threshold_text(e, settings), ", ".join(e.cameras) or "all"]
        cells += ["yes" if e.enabled else "no", str(e.image_count), e.created_at.isoformat(timespec="seconds")]
        table.add_row(*cells)
    console().print(table)


def print_entry(
    entry: Entry,
    images: Sequence[StoredImage],
    audit: Sequence[AuditRecord],
    settings: VigilConfig,
    adaptation: dict[str, Any] | None = None,
    posture: dict[str, float] | None = None,
) -> None:
    """One entry for a person: its fields, its images and negatives in one table, then its audit history."""
    out = console()
    out.print(f"[bold]{entry.label}[/bold]  {entry.id}  ({entry.kind}, {'enabled' if entry.enabled else 'disabled'})")
    shown = threshold_text(entry, settings)
    if posture is not None or adaptation is not None:
        shown += f" (cosine; not used: matched by {'posture' if posture is not None else 'its trained head'})"
    out.print(f"threshold {shown}; cameras {', '.join(entry.cameras) or 'all'}")
    if posture is not None:
        out.print(
            f"matched by posture, not by its photos: a person lying down (within {posture['lying_within_deg']:g}"
            f" degrees of flat), person score >= {posture['threshold']:g}"
            + (
                f" ({posture['after_standing_threshold']:g} where someone stood a keyframe before)"
                if posture["after_standing_threshold"] > 0
                else ""
            )
            + " (config posture)",
            highlight=False,
        )
    elif adaptation is not None:
        out.print(
            f"matched by trained head (adaptation {adaptation['version']}, {adaptation['trained_at']}): threshold "
            f"{adaptation['threshold']:.3f}, held-back recall {_share(adaptation['validation_recall'])}, false "
            f"positives {_share(adaptation['validation_fpr'])}"
            + _concepts(adaptation.get("concepts"), adaptation.get("concept_threshold")),
            highlight=False,
        )
        if adaptation.get("advice"):
            out.print(f"advice: {adaptation['advice']}", highlight=False)
    elif entry.kind == "anomaly":
        out.print("matched by cosine similarity (no trained head yet: see `vigil adapt`)")
    if entry.notes:
        out.print(f"notes: {entry.notes}")
    negatives = sum(1 for i in images if i.negative)
    table = Table(title=f"{len(images) - negatives} images, {negatives} negatives")
    for column in ("id", "role", "sha256", "size", "source", "added by", "added", "models"):
        table.add_column(column, overflow="fold")
    for i in images:
        cells = [str(i.id), "negative" if i.negative else "reference", i.sha256[:16], f"{i.width}x{i.height}"]
        cells += [i.source, i.added_by, i.added_at.isoformat(timespec="seconds"), ", ".join(i.model_versions)]
        table.add_row(*cells)
    out.print(table)
    for a in audit:
        out.print(f"{a.at.isoformat(timespec='seconds')}  {a.actor}  {audit_text(a)}", markup=False, soft_wrap=True)


def audit_text(record: AuditRecord) -> str:
    """An audit row's action; for an update, each changed field's old and new value, as the web page shows them
    (``entry.updated: threshold 0.9 → default; cameras lobby → all``)."""
    changes = record.detail.get("changes")
    if not changes:
        return record.action
    parts = [f"{name} {_shown(before)} → {_shown(after)}" for name, (before, after) in changes.items()]
    return f"{record.action}: {'; '.join(parts)}"


def _shown(value: Any) -> str:
    if value is None:
        return "default"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "all"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "—" if value == "" else str(value)


def print_matches(matches: Sequence[Match], kind: str, model_version: str) -> None:
    if not matches:
        typer.echo(f"no {kind} entry matches (model {model_version})")
        return
    table = Table(title=f"{len(matches)} {kind} matches (model {model_version})")
    for column in ("entry", "label", "score", "threshold", "image"):
        table.add_column(column, overflow="fold")
    for m in matches:
        table.add_row(m.entry_id, m.label, f"{m.score:.3f}", f"{m.threshold:g}", str(m.image_id))
    console().print(table)


def _concepts(names: list[str] | None, threshold: float | None) -> str:
    """Nothing, or the ImageNet classes that also pass the entry (``watchlists.concepts``)."""
    return f"; or ImageNet: {', '.join(names)} at {threshold:g} or more" if names else ""


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
