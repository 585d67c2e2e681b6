"""What every ``vigil watchlist`` command shares: its options, the store it opens and the models it may load.

The database (a SQLite path, or a ``postgresql://`` URL shared by several nodes) and the models come from the
config (``-c``, else ``./vigil.yaml``, else defaults). Reading commands never create a SQLite file; writing ones
create it only after every given file passed its checks. A PostgreSQL database is the server's to create: the
commands connect to it, migrating its schema when needed.
"""

from __future__ import annotations

import getpass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from engines.scene import SceneEmbedder, load_scene_embedder
from streamer.config import VigilConfig
from streamer.errors import ConfigError
from watchlists.database import is_postgres_url
from watchlists.embedders import KindEmbedders
from watchlists.errors import EntryNotFoundError
from watchlists.postgres_url import PostgresUrl
from watchlists.store import WatchlistStore


class KindChoice(StrEnum):
    """What an entry is: a person (``face``) or a scene (``anomaly``); an unknown kind is a usage error."""

    face = "face"
    anomaly = "anomaly"


ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (default ./vigil.yaml).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ActorOption = Annotated[str | None, typer.Option(help="Who makes the change, for the audit log (default cli:<user>).")]
EntryIdArgument = Annotated[str, typer.Argument(help="Entry id, or a unique prefix of it.", show_default=False)]
ImagesArgument = Annotated[
    list[Path], typer.Argument(help="Image files and folders (searched recursively).", metavar="IMAGE|DIR...")
]


def database(settings: VigilConfig) -> str:
    """The SQLite path or the ``postgresql://`` URL; a URL that is malformed or names another engine is a config
    error (exit 2), told without the URL's password."""
    target = settings.watchlist.database
    if is_postgres_url(target):
        try:
            PostgresUrl.parse(target)
        except ValueError as exc:
            raise ConfigError(f"watchlist.database: {exc}") from None
    elif "://" in target:
        scheme = target.split("://", 1)[0]
        raise ConfigError(f"watchlist.database: {scheme}:// is not supported; give a SQLite path or postgresql://...")
    return target


def database_exists(settings: VigilConfig) -> bool:
    """Whether there is a watchlist to read: a SQLite file that exists, or any server (which may be unreachable:
    opening the store then says so)."""
    target = database(settings)
    return is_postgres_url(target) or Path(target).exists()


def open_store(settings: VigilConfig) -> WatchlistStore:
    """The configured store, created (SQLite) or migrated when needed."""
    return WatchlistStore(database(settings), password_file=settings.watchlist.password_file)


def existing_store(settings: VigilConfig) -> WatchlistStore:
    """The store, or ``entry_not_found`` when there is no database yet (reading must not create one)."""
    if not database_exists(settings):
        raise EntryNotFoundError(f"the watchlist is empty (no database at {database(settings)})")
    return open_store(settings)


def kind_embedders(settings: VigilConfig, *, show_progress: bool = True) -> KindEmbedders:
    """The configured model of each kind, loaded on first use."""
    return KindEmbedders.from_models(settings.models, show_progress=show_progress)


def scene_model(settings: VigilConfig, *, show_progress: bool = True) -> SceneEmbedder:
    """The configured scene model, loaded now (exported first if the cache lacks it)."""
    models = settings.models
    return load_scene_embedder(
        models.scene,
        backend=models.backend,
        cache_dir=models.cache_dir,
        show_progress=show_progress,
        options=models.backend_options(),
    )


def default_actor(actor: str | None = None) -> str:
    """``actor`` when given, else ``cli:<login name>`` for the audit log."""
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"
