"""What every ``vigil watchlist`` command shares: its options, the store it opens and the models it may load.

The database path and the models come from the config (``-c``, else ``./vigil.yaml``, else defaults). Reading
commands never create a database; writing ones create it only after every given file passed its checks.
"""

from __future__ import annotations

import getpass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from streamer.config import VigilConfig
from streamer.errors import ConfigError
from watchlists.embedders import KindEmbedders
from watchlists.errors import EntryNotFoundError
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
    """The SQLite path; a server URL is a config error until the PostgreSQL store exists."""
    path = settings.watchlist.database
    if "://" in path:
        raise ConfigError(f"watchlist.database: {path.split('://')[0]} is not supported yet; give a SQLite path")
    return path


def existing_store(settings: VigilConfig) -> WatchlistStore:
    """The store, or ``entry_not_found`` when there is no database yet (reading must not create one)."""
    if not Path(database(settings)).exists():
        raise EntryNotFoundError(f"the watchlist is empty (no database at {database(settings)})")
    return WatchlistStore(database(settings))


def kind_embedders(settings: VigilConfig, *, show_progress: bool = True) -> KindEmbedders:
    """The configured model of each kind, loaded on first use."""
    return KindEmbedders.from_models(settings.models, show_progress=show_progress)


def default_actor(actor: str | None = None) -> str:
    """``actor`` when given, else ``cli:<login name>`` for the audit log."""
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"
