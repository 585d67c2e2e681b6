"""``vigil watchlist``: add, list, show and remove watchlist entries."""

from __future__ import annotations

import typer

watchlist_app = typer.Typer(help="Manage the watchlist: the faces and anomaly references Vigil alerts on.",
                            no_args_is_help=True)
