"""``vigil unknown``: list the strangers the node has clustered, show one, promote one to a watchlist entry.

Thin commands over ``streamer.unknown``; the clusters are read from ``data/unknown.db`` (beside
``storage.snapshots``), which reading never creates. ``promote`` enrolls the cluster's best crops with the configured
face model, as a new entry (``--label``) or into an existing one (``--entry``), audited like ``vigil watchlist add``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from streamer.cli.watchlist_options import ActorOption, ConfigOption, JsonOption, default_actor, kind_embedders
from streamer.cli.watchlist_options import open_store as open_watchlist
from streamer.cli.watchlist_render import console, echo_json, print_report
from streamer.config import VigilConfig, load_config
from streamer.unknown.promote import promote_cluster
from streamer.unknown.store import UnknownCluster, UnknownFaceError, UnknownFaceStore, unknown_db_path

unknown_app = typer.Typer(
    help="Strangers seen by the cameras (unknown-<n>): list, show, promote.", no_args_is_help=True
)

ClusterArgument = Annotated[str, typer.Argument(help="Cluster id, unknown-<n>.", show_default=False)]


@unknown_app.command("list")
def list_clusters(
    show_all: Annotated[bool, typer.Option("--all", help="Include promoted clusters.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every stranger cluster, most recently seen first."""
    settings = load_config(config)
    clusters = []
    if unknown_db_path(settings.storage).exists():
        with UnknownFaceStore(unknown_db_path(settings.storage)) as store:
            clusters = store.clusters(include_promoted=show_all)
    if as_json:
        echo_json([cluster_json(c) for c in clusters])
        return
    table = Table(title=f"Unknown faces ({len(clusters)})")
    for column in ("id", "seen", "first seen", "last seen", "cameras", "crops", "promoted to"):
        table.add_column(column, overflow="fold")
    for c in clusters:
        first, last = c.first_seen.isoformat(timespec="seconds"), c.last_seen.isoformat(timespec="seconds")
        row = (c.id, str(c.count), first, last, ", ".join(c.cameras), str(len(c.crops)), c.promoted_entry or "")
        table.add_row(*row)
    console().print(table)


@unknown_app.command("show")
def show(cluster_id: ClusterArgument, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """One cluster: sightings, cameras, and the files of its best crops."""
    settings = load_config(config)
    with _existing(settings) as store:
        cluster = store.get(cluster_id)
        paths = [store.crop_path(cluster.id, crop.id) for crop in cluster.crops]
    if as_json:
        echo_json(cluster_json(cluster) | {"crop_files": [str(p) for p in paths]})
        return
    typer.echo(f"{cluster.id} ({cluster.label}): seen {cluster.count} times on {', '.join(cluster.cameras)}")
    typer.echo(f"  first seen {cluster.first_seen.isoformat()}, last seen {cluster.last_seen.isoformat()}")
    if cluster.promoted_entry:
        typer.echo(f"  promoted to {cluster.promoted_entry} by {cluster.promoted_by} at {cluster.promoted_at}")
    for crop, path in zip(cluster.crops, paths, strict=True):
        typer.echo(f"  crop {crop.id}: {path} ({crop.camera}, {crop.seen_at.isoformat()}, rank {crop.rank:.0f})")


@unknown_app.command("promote")
def promote(
    cluster_id: ClusterArgument,
    label: Annotated[str | None, typer.Option(help="Name of the new face entry.")] = None,
    entry: Annotated[str | None, typer.Option(help="Add the crops to this existing face entry instead.")] = None,
    actor: ActorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Turn a cluster into a face entry from its best crops (or add them to --entry); it is then marked promoted."""
    if (label is None) == (entry is None):
        raise typer.BadParameter("give --label NAME for a new entry, or --entry ID to add to one (not both)")
    settings = load_config(config)
    with _existing(settings) as unknown:
        unknown.get(cluster_id)  # a bad id fails before a model loads
        faces = kind_embedders(settings, show_progress=not as_json).for_kind("face")
        with open_watchlist(settings) as store:
            report = promote_cluster(
                unknown, store, faces, cluster_id, label=label, entry_id=entry, actor=default_actor(actor)
            )
    print_report(report, settings, as_json, verb="created" if entry is None else "images added to")


def cluster_json(cluster: UnknownCluster) -> dict[str, Any]:
    """A cluster as JSON-ready data (times in ISO 8601), with its id and label."""
    data = dataclasses.asdict(cluster) | {"id": cluster.id, "label": cluster.label}
    return _plain(data)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value.isoformat() if isinstance(value, datetime) else value


def _existing(settings: VigilConfig) -> UnknownFaceStore:
    """The clusters, or ``unknown_not_found`` when the node never kept any (reading must not create a database)."""
    path = unknown_db_path(settings.storage)
    if not path.exists():
        raise UnknownFaceError(f"no unknown faces kept yet (no database at {path})")
    return UnknownFaceStore(path)
