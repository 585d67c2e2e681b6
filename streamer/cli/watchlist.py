"""``vigil watchlist``: add, list, show and remove watchlist entries.

Thin commands over ``watchlists``: the database path and the models come from the config (``-c``, else
``./vigil.yaml``, else defaults). ``add`` checks every image before it loads a model, and stores nothing when one is
bad: the error lists each refused file with its reason (exit 1). Read commands never create a database.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from streamer.config import VigilConfig, load_config
from streamer.errors import ConfigError
from watchlists.enroll import Enroller, EnrollReport
from watchlists.errors import EntryNotFoundError, FacesNotAvailableError
from watchlists.records import AuditRecord, Entry, StoredImage, check_entry_fields
from watchlists.sources import check_images
from watchlists.store import WatchlistStore

watchlist_app = typer.Typer(
    help="Manage the watchlist: the faces and anomaly references Vigil alerts on.", no_args_is_help=True
)


class KindChoice(StrEnum):
    """What an entry is: a person (``face``) or a scene (``anomaly``); an unknown kind is a usage error."""

    face = "face"
    anomaly = "anomaly"


ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (default ./vigil.yaml).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ActorOption = Annotated[str | None, typer.Option(help="Who makes the change, for the audit log (default cli:<user>).")]
EntryIdArgument = Annotated[str, typer.Argument(help="Entry id, or a unique prefix of it.", show_default=False)]


@watchlist_app.command("add")
def add(
    sources: Annotated[
        list[Path], typer.Argument(help="Image files and folders (searched recursively).", metavar="IMAGE|DIR...")
    ],
    kind: Annotated[KindChoice, typer.Option(help="face: a person; anomaly: a scene (fire, smoke ...).")],
    label: Annotated[str, typer.Option(help="Name shown in alerts.")],
    threshold: Annotated[float | None, typer.Option(help="Cosine similarity to match (default: per kind).")] = None,
    camera: Annotated[list[str] | None, typer.Option(help="Only alert on this camera (repeat; default all).")] = None,
    notes: Annotated[str, typer.Option(help="Free text for admins.")] = "",
    actor: ActorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an entry from reference images; nothing is stored if any image is bad."""
    if kind is KindChoice.face:
        raise FacesNotAvailableError(
            "face entries need the face pipeline, which this build does not include yet; "
            "use --kind anomaly for scene references"
        )
    settings = load_config(config)
    database = _database(settings)
    check_entry_fields(label, threshold, camera or ())
    checked = check_images(sources)  # before the database is opened (or created) and before a model loads
    with WatchlistStore(database) as store:
        enroller = Enroller(store, _DeferredSceneEmbedder(settings), show_progress=not as_json)
        options = {"threshold": threshold, "cameras": camera or (), "notes": notes}
        report = enroller.enroll(kind.value, label, checked, actor=actor or _default_actor(), **options)
    _print_report(report, settings, as_json)


@watchlist_app.command("list")
def list_entries(
    kind: Annotated[KindChoice | None, typer.Option(help="Only entries of this kind.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the entries, oldest first."""
    settings = load_config(config)
    entries: list[Entry] = []
    if Path(_database(settings)).exists():
        with WatchlistStore(_database(settings)) as store:
            entries = store.list_entries(kind.value if kind else None)
    if as_json:
        typer.echo(json.dumps([_entry_json(e, settings) for e in entries], indent=2))
        return
    table = Table(title=f"Watchlist ({len(entries)} entries)")
    for column in ("id", "kind", "label", "threshold", "cameras", "enabled", "images", "created"):
        table.add_column(column, overflow="fold")
    for e in entries:
        cells = [e.id, e.kind, e.label, _threshold_text(e, settings), ", ".join(e.cameras) or "all"]
        cells += ["yes" if e.enabled else "no", str(e.image_count), e.created_at.isoformat(timespec="seconds")]
        table.add_row(*cells)
    _console().print(table)


@watchlist_app.command("show")
def show(entry_id: EntryIdArgument, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show one entry with its images and its audit history."""
    settings = load_config(config)
    with _existing_store(settings) as store:
        entry = store.get_entry(store.resolve_entry_id(entry_id))
        images, audit = store.entry_images(entry.id), store.audit(entry.id)
    if as_json:
        data = {
            "entry": _entry_json(entry, settings),
            "images": [_image_json(i) for i in images],
            "audit": [_audit_json(a) for a in audit],
        }
        typer.echo(json.dumps(data, indent=2))
        return
    console = _console()
    console.print(
        f"[bold]{entry.label}[/bold]  {entry.id}  ({entry.kind}, {'enabled' if entry.enabled else 'disabled'})"
    )
    console.print(f"threshold {_threshold_text(entry, settings)}; cameras {', '.join(entry.cameras) or 'all'}")
    if entry.notes:
        console.print(f"notes: {entry.notes}")
    table = Table(title=f"{len(images)} images")
    for column in ("id", "sha256", "size", "source", "added by", "added", "models"):
        table.add_column(column, overflow="fold")
    for i in images:
        cells = [str(i.id), i.sha256[:16], f"{i.width}x{i.height}", i.source, i.added_by]
        table.add_row(*cells, i.added_at.isoformat(timespec="seconds"), ", ".join(i.model_versions))
    console.print(table)
    for a in audit:
        console.print(f"{a.at.isoformat(timespec='seconds')}  {a.actor}  {a.action}")


@watchlist_app.command("remove")
def remove(
    entry_id: EntryIdArgument, actor: ActorOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Remove an entry with its images and embeddings (the audit log keeps the record)."""
    settings = load_config(config)
    with _existing_store(settings) as store:
        entry = store.remove_entry(store.resolve_entry_id(entry_id), actor=actor or _default_actor())
    if as_json:
        typer.echo(json.dumps({"removed": _entry_json(entry, settings)}, indent=2))
    else:
        typer.echo(f"removed {entry.id} ({entry.label}, {entry.image_count} images)")


class _DeferredSceneEmbedder:
    """The configured scene model, loaded on first use: bad images are reported before any model loads."""

    def __init__(self, settings: VigilConfig) -> None:
        self._models = settings.models
        self._embedder: Any = None

    def _loaded(self) -> Any:
        if self._embedder is None:
            from engines.scene import load_scene_embedder  # onnxruntime and friends: only once images passed

            m = self._models
            self._embedder = load_scene_embedder(
                m.scene, backend=m.backend, cache_dir=m.cache_dir, threads=m.threads, show_progress=True
            )
        return self._embedder

    @property
    def version(self) -> str:
        """The model version (loads the model)."""
        return self._loaded().version

    @property
    def dim(self) -> int:
        """The embedding size (loads the model)."""
        return self._loaded().dim

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Embed with the configured scene model (loads it on the first call)."""
        return self._loaded().embed(images)


def _database(settings: VigilConfig) -> str:
    """The SQLite path; a server URL is a config error until the PostgreSQL store exists."""
    database = settings.watchlist.database
    if "://" in database:
        raise ConfigError(f"watchlist.database: {database.split('://')[0]} is not supported yet; give a SQLite path")
    return database


def _existing_store(settings: VigilConfig) -> WatchlistStore:
    """The store, or ``entry_not_found`` when there is no database yet (reading must not create one)."""
    if not Path(_database(settings)).exists():
        raise EntryNotFoundError(f"the watchlist is empty (no database at {_database(settings)})")
    return WatchlistStore(_database(settings))


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


def _console() -> Console:
    """Stdout console; when piped, wide enough that ids and hashes stay on one line."""
    console = Console()
    if not console.is_terminal:
        console.width = 200
    return console


def _threshold_text(entry: Entry, settings: VigilConfig) -> str:
    if entry.threshold is not None:
        return f"{entry.threshold:g}"
    return f"{settings.watchlist.default_threshold[entry.kind]:g} (default)"


def _print_report(report: EnrollReport, settings: VigilConfig, as_json: bool) -> None:
    if as_json:
        data = {
            "entry": _entry_json(report.entry, settings),
            "added": [_image_json(i) for i in report.added],
            "duplicates": [vars(d) for d in report.duplicates],
            "model_version": report.model_version,
        }
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"created {report.entry.id} ({report.entry.label}): {len(report.added)} images added")
    for d in report.duplicates:
        typer.echo(f"  skipped {d.source}: already stored (entry {d.entry_id}, image {d.image_id})")


def _entry_json(entry: Entry, settings: VigilConfig) -> dict[str, Any]:
    default = settings.watchlist.default_threshold[entry.kind]
    return {
        **vars(entry),
        "effective_threshold": default if entry.threshold is None else entry.threshold,
        "created_at": entry.created_at.isoformat(timespec="seconds"),
        "updated_at": entry.updated_at.isoformat(timespec="seconds"),
    }


def _image_json(image: StoredImage) -> dict[str, Any]:
    return {**vars(image), "added_at": image.added_at.isoformat(), "model_versions": list(image.model_versions)}


def _audit_json(record: AuditRecord) -> dict[str, Any]:
    return {**vars(record), "at": record.at.isoformat(), "detail": dict(record.detail)}
