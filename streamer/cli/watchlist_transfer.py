"""``vigil watchlist export | import | reembed | match``: move a watchlist between nodes, follow a model change,
and ask what an image matches.

Merged into ``vigil watchlist`` (see ``streamer.cli.watchlist``); kept apart so each file stays one screenful of
commands. Like the others, these are thin: the work is in ``watchlists.export``, ``importer``, ``reembed`` and
``index``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streamer.cli.watchlist_options import (
    ActorOption,
    ConfigOption,
    JsonOption,
    KindChoice,
    default_actor,
    existing_store,
    kind_embedders,
    open_store,
)
from streamer.cli.watchlist_render import echo_json, match_json, print_matches
from streamer.config import load_config
from watchlists.export import export_watchlist
from watchlists.images import read_image_file
from watchlists.importer import ImportReport, import_watchlist
from watchlists.index import WatchlistIndex
from watchlists.reembed import reembed

transfer_app = typer.Typer()

ArchiveArgument = Annotated[Path, typer.Argument(help="The archive file (a zip).", metavar="FILE")]


@transfer_app.command("export")
def export(
    archive: ArchiveArgument,
    kind: Annotated[KindChoice | None, typer.Option(help="Only entries of this kind.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the watchlist (entries, original images, negatives) to one file that `import` reads on another node."""
    settings = load_config(config)
    with existing_store(settings) as store:
        summary = export_watchlist(store, archive, kind=kind.value if kind else None, node=settings.node_id)
    if as_json:
        echo_json({"path": str(summary.path), **{k: getattr(summary, k) for k in ("entries", "images", "negatives")}})
    else:
        typer.echo(
            f"exported {summary.entries} entries ({summary.images} images, {summary.negatives} negatives)"
            f" to {summary.path}"
        )


@transfer_app.command("import")
def import_(
    archive: ArchiveArgument,
    actor: ActorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import an exported watchlist, re-embedding its images with this node's models. Every image is checked
    (SHA-256, type, size) first: if any is bad, nothing is imported. Images already stored are reported."""
    settings = load_config(config)
    if not archive.is_file():
        raise typer.BadParameter(f"{archive}: file not found", param_hint="FILE")
    with open_store(settings) as store:
        embedders = kind_embedders(settings, show_progress=not as_json)
        report = import_watchlist(store, archive, embedders, actor=default_actor(actor), show_progress=not as_json)
    _print_import(report, as_json)


@transfer_app.command("reembed")
def reembed_command(
    kind: Annotated[KindChoice | None, typer.Option(help="Only entries of this kind (default: every kind).")] = None,
    actor: ActorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Embed every stored image that has no embedding by the configured model (after a model change). The
    service does this by itself at start; this command does it ahead of time."""
    settings = load_config(config)
    kinds = [kind] if kind else list(KindChoice)
    reports = []
    with existing_store(settings) as store:
        embedders = kind_embedders(settings, show_progress=not as_json)
        for choice in kinds:
            if choice is KindChoice.face and kind is None and not store.list_entries("face"):
                continue  # no face entries: do not require (or load) the face pipeline
            model = embedders.for_kind(choice.value)
            reports.append(reembed(store, choice.value, model, actor=default_actor(actor), show_progress=not as_json))
    if as_json:
        echo_json([{**vars(r), "refused": [vars(p) for p in r.refused]} for r in reports])
        return
    for r in reports:
        typer.echo(f"{r.kind}: {r.embedded} of {r.missing} images embedded with {r.model_version}")
        for problem in r.refused:
            typer.echo(f"  refused {problem.source}: {problem.reason} [{problem.code}]")


@transfer_app.command("match")
def match(
    image: Annotated[Path, typer.Argument(help="An image file.", metavar="IMAGE")],
    kind: Annotated[
        KindChoice | None,
        typer.Option(help="Which watchlist to search (default: face if a face is found, else anomaly)."),
    ] = None,
    top_k: Annotated[int | None, typer.Option(min=1, max=100, help="At most this many entries.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """What in the watchlist this image matches, with scores: check an entry or a threshold before going live."""
    from streamer.service import index_dir  # the service's imports load only for this command

    settings = load_config(config)
    pixels = read_image_file(image).pixels
    with existing_store(settings) as store:
        embedders = kind_embedders(settings, show_progress=not as_json)
        kind_name, model, vectors = embedders.embed_probe(pixels, kind.value if kind else None)
        threshold = settings.watchlist.default_threshold[kind_name]
        index = WatchlistIndex.from_store(
            store,
            kind_name,
            model.version,
            default_threshold=threshold,
            dim=model.dim,
            index_dir=index_dir(settings),
        )
        matches = index.search(vectors, k=top_k or settings.watchlist.top_k)[0]
    if as_json:
        echo_json({"kind": kind_name, "model_version": model.version, "matches": [match_json(m) for m in matches]})
    else:
        print_matches(matches, kind_name, model.version)


def _print_import(report: ImportReport, as_json: bool) -> None:
    if as_json:
        entries = [
            {
                "entry_id": e.entry_id,
                "label": e.label,
                "kind": e.kind,
                "status": e.status,
                "added": len(e.added),
                "negatives_added": len(e.negatives_added),
                "duplicates": [vars(d) for d in e.duplicates],
                "reason": e.reason,
            }
            for e in report.entries
        ]
        echo_json({"path": str(report.path), "model_versions": report.model_versions, "entries": entries})
        return
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("created", "updated", "unchanged", "skipped"))
    typer.echo(f"imported {report.path}: {counts}")
    for e in report.entries:
        typer.echo(
            f"  {e.status:9s} {e.entry_id} ({e.label}): {len(e.added)} images, {len(e.negatives_added)} negatives"
        )
        for d in e.duplicates:
            typer.echo(f"    skipped {d.source}: already stored (entry {d.entry_id}, image {d.image_id})")
        if e.reason:
            typer.echo(f"    {e.reason}")
